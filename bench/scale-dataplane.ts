/**
 * The scale bench's data plane (bench/README.md, "scale"): one real route reflector — the product's RR agent
 * (its own process, as `--role rr` runs it) driving BIRD in the namespace `<ns>rr1` — and a node simulator: one
 * BIRD in `<ns>sim` speaking from every node's underlay address (one `protocol bgp` per node, `local <underlay>`),
 * connected to the RR by one veth pair. Each simulated node announces what its node desired state
 * (`<ns>.cmd.node.<nodeId>`, what a node agent applies) lists: the bench keeps one kernel routing table per node
 * (`ip -batch`, only the difference to the last state) that the node's `protocol kernel` learns into the node's
 * BIRD table, which its BGP session exports with the cluster community. MD5, BFD and graceful restart are off in
 * the cluster (no password to hand to the simulator; BFD would add 1,000 more sessions to the measurement).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type Msg, type Subscription } from '@nats-io/nats-core';
import { rrNodeProtocol } from '@fabric/renderers';
import { run } from '../agents/src/drivers/exec';
import { BirdDriver } from '../agents/src/drivers/bird';
import { isAlive, killAndWait } from '../agents/src/drivers/proc';

const ROOT = path.resolve(__dirname, '..');
export const RR_IP = '198.18.0.11';
/** The simulator's own router id (no node has it). */
const SIM_ROUTER_ID = '198.18.0.200';
/** Kernel table of simulated node i. */
const table = (i: number) => 1000 + i;
/**
 * BIRD 2.0 locks a BGP session on (neighbor address, neighbor port, interface): sessions of one BIRD to the same
 * RR address wait for each other whatever their local address. So node i's session dials the RR at port
 * PORT_BASE + i, and the simulator's namespace rewrites that to 179 (nftables, output DNAT).
 */
const PORT_BASE = 20000;
export const MAX_SIM_NODES = 40000;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** Underlay address of node i: 198.18.1.1 … (250 per /24). */
export const nodeIp = (i: number) => `198.18.${1 + Math.floor(i / 250)}.${(i % 250) + 1}`;

/** CPU seconds (user + system) and RSS of a process. */
export function procUsage(pid: number | undefined): { cpuS: number; rssMb: number } {
  if (!pid) return { cpuS: NaN, rssMb: NaN };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14 and 15 of stat (utime, stime) are 11 and 12 after the state; clock ticks of 10 ms
    const cpuS = (Number(f[11]) + Number(f[12])) / 100;
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuS, rssMb: m ? Number(m[1]) / 1024 : NaN };
  } catch {
    return { cpuS: NaN, rssMb: NaN };
  }
}

/**
 * A BIRD control-socket client that stays connected: polling a route every few milliseconds with a birdc
 * process each time would measure process starts.
 */
class BirdSocket {
  private sock?: net.Socket;
  private buf = '';
  private pending?: { resolve: (s: string) => void; reject: (e: Error) => void; lines: string[] };
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly socketPath: string) {}

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.socketPath);
      let greeted = false;
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        this.buf += d;
        let i: number;
        while ((i = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, i);
          this.buf = this.buf.slice(i + 1);
          if (!greeted) {
            greeted = true; // 0001 BIRD … ready.
            resolve();
            continue;
          }
          const p = this.pending;
          if (!p) continue;
          p.lines.push(line);
          // a reply ends with a line `<4 digits><space>…`; `<4 digits>-` and ` …` continue it
          if (/^\d{4} /.test(line)) {
            this.pending = undefined;
            p.resolve(p.lines.join('\n'));
          }
        }
      });
      s.once('error', (e) => {
        this.sock = undefined;
        this.pending?.reject(e);
        this.pending = undefined;
        reject(e);
      });
      s.once('close', () => {
        this.sock = undefined;
        this.pending?.reject(new Error('BIRD control socket closed'));
        this.pending = undefined;
      });
      this.sock = s;
    });
  }

  /** One command (its words were built by the bench, never from the bus); serialised. */
  cmd(line: string): Promise<string> {
    const next = this.queue.then(async () => {
      if (!this.sock) await this.connect();
      return new Promise<string>((resolve, reject) => {
        this.pending = { resolve, reject, lines: [] };
        this.sock!.write(line + '\n');
      });
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  close() {
    this.sock?.destroy();
    this.sock = undefined;
  }
}

export interface DataPlaneOptions {
  /** The bench's NATS namespace (also the prefix of the network namespaces). */
  ns: string;
  nodes: number;
  dir: string;
  nc: { subscribe(s: string, o?: { callback: (e: unknown, m: Msg) => void }): Subscription };
  log: (s: string) => void;
}

export class ScaleDataPlane {
  readonly rrNs: string;
  readonly simNs: string;
  readonly rrBird: BirdDriver;
  readonly simBird: BirdDriver;
  private readonly rrSock: BirdSocket;
  private agent?: ChildProcess;
  private agentExit?: Promise<void>;
  private readonly namespaces: string[] = [];
  private sub?: Subscription;
  /** Underlay address → node index. */
  private readonly byIp = new Map<string, number>();
  /** Per node: the last generation seen, what is in its kernel table, what it should hold. */
  private readonly gen = new Map<number, number>();
  private readonly current = new Map<number, Set<string>>();
  private readonly dirty = new Map<number, Set<string>>();
  private pumping?: Promise<void>;
  /** Kernel route changes written, and ip -batch runs. */
  readonly feed = { routes: 0, batches: 0, errors: 0 };

  constructor(private readonly o: DataPlaneOptions) {
    this.rrNs = `${o.ns}rr1`;
    this.simNs = `${o.ns}sim`;
    const bird = (n: string) => ({
      configPath: path.join(o.dir, n, 'bird.conf'),
      controlSocket: path.join(o.dir, n, 'bird.ctl'),
      pidFile: path.join(o.dir, n, 'bird.pid'),
    });
    this.rrBird = new BirdDriver({ namespace: this.rrNs, ...bird('rr1') });
    this.simBird = new BirdDriver({ namespace: this.simNs, ...bird('sim'), commandTimeoutMs: 120_000 });
    this.rrSock = new BirdSocket(this.rrBird.controlSocket);
    if (o.nodes > MAX_SIM_NODES) throw new Error(`the simulator takes at most ${MAX_SIM_NODES} nodes`);
    for (let i = 0; i < o.nodes; i++) this.byIp.set(nodeIp(i), i);
  }

  private ip(ns: string, lines: string[], force = false) {
    return run('ip', ['-n', ns, ...(force ? ['-force'] : []), '-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: 120_000 });
  }

  /** Namespaces, veth, addresses, the RR's BIRD (placeholder config until its agent applies one); starts following the node desired states. */
  async up(): Promise<void> {
    for (const n of [this.rrNs, this.simNs]) {
      await run('ip', ['netns', 'add', n]);
      this.namespaces.push(n);
    }
    await run('ip', ['-n', this.rrNs, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', this.simNs]);
    await this.ip(this.rrNs, ['link set dev lo up', `address add ${RR_IP}/15 dev ul0`, 'link set dev ul0 up']);
    // the nodes' underlay addresses, all on the simulator's end; VM routes point at lo in their own table (never forwarded)
    const sim = ['link set dev lo up', `address add ${SIM_ROUTER_ID}/15 dev ul0`];
    for (let i = 0; i < this.o.nodes; i++) sim.push(`address add ${nodeIp(i)}/15 dev ul0`);
    sim.push('link set dev ul0 up');
    await this.ip(this.simNs, sim);
    // Only the simulator dials: the RR's connections to a node address are refused (BIRD would hand an incoming
    // connection from the RR to the first of its 1,000 sessions with that neighbor).
    const nat = [
      'table ip fabric_sim {',
      `  chain out { type nat hook output priority -100; ip daddr ${RR_IP} tcp dport ${PORT_BASE}-${PORT_BASE + MAX_SIM_NODES - 1} dnat to ${RR_IP}:179; }`,
      '  chain in { type filter hook input priority 0; tcp dport 179 reject with tcp reset; }',
      '}',
    ];
    await run('ip', ['netns', 'exec', this.simNs, 'nft', '-f', '-'], { input: nat.join('\n') + '\n' });
    for (const n of ['rr1', 'sim']) mkdirSync(path.join(this.o.dir, n), { recursive: true });
    await this.rrBird.applyConfig(`router id ${RR_IP};\nprotocol device { }\n`);
    await this.rrBird.start();
    this.sub = this.o.nc.subscribe(`${this.o.ns}.cmd.node.>`, { callback: (_e, m) => this.onNodeState(m) });
  }

  /** A node desired state: the node's announced set becomes its VMs' IPv4 addresses (older generations ignored). */
  private onNodeState(m: Msg) {
    let d: { generation?: unknown; underlayIp?: unknown; vms?: unknown };
    try {
      d = JSON.parse(new TextDecoder().decode(m.data)) as typeof d;
    } catch {
      return;
    }
    const i = typeof d.underlayIp === 'string' ? this.byIp.get(d.underlayIp) : undefined;
    if (i === undefined || typeof d.generation !== 'number' || !Array.isArray(d.vms)) return;
    if ((this.gen.get(i) ?? -1) >= d.generation) return;
    this.gen.set(i, d.generation);
    const want = new Set<string>();
    for (const v of d.vms as { ip?: unknown; extraIps?: unknown; leaving?: unknown }[]) {
      for (const a of [v.ip, ...(Array.isArray(v.extraIps) ? (v.extraIps as unknown[]) : [])]) if (typeof a === 'string' && IPV4.test(a)) want.add(a);
    }
    this.dirty.set(i, want);
    this.pumping ??= this.pump().finally(() => (this.pumping = undefined));
  }

  /** Writes the differences of every node changed since the last batch in one `ip -batch`. */
  private async pump(): Promise<void> {
    while (this.dirty.size) {
      const work = [...this.dirty];
      this.dirty.clear();
      const lines: string[] = [];
      for (const [i, want] of work) {
        const cur = this.current.get(i) ?? new Set<string>();
        for (const a of want) if (!cur.has(a)) lines.push(`route replace ${a}/32 dev lo table ${table(i)} proto static`);
        for (const a of cur) if (!want.has(a)) lines.push(`route del ${a}/32 dev lo table ${table(i)}`);
        this.current.set(i, want);
      }
      if (!lines.length) continue;
      try {
        await this.ip(this.simNs, lines, true);
        this.feed.batches++;
        this.feed.routes += lines.length;
      } catch (e) {
        this.feed.errors++;
        this.o.log(`  ! node simulator: ip -batch failed: ${(e as Error).message.slice(0, 300)}`);
      }
    }
  }

  /** The RR agent (the product's, `--role rr`) in its own process. */
  startAgent(rrTarget: string, env: NodeJS.ProcessEnv): void {
    const dir = path.join(this.o.dir, 'agent');
    mkdirSync(dir, { recursive: true });
    const args = [
      '-r',
      path.join(ROOT, 'deploy/register.js'),
      path.join(ROOT, 'agents/src/main.ts'),
      ...['--role', 'rr', '--target', rrTarget, '--ns', this.o.ns, '--netns', this.rrNs],
      ...['--bird-config', this.rrBird.configPath, '--bird-socket', this.rrBird.controlSocket, '--bird-pid', this.rrBird.pidFile],
      ...['--state-dir', path.join(dir, 'state'), '--lock-dir', path.join(dir, 'lock')],
    ];
    const p = spawn(process.execPath, args, { cwd: ROOT, env: { ...env, LOG_LEVEL: 'warn', METRICS_PORT: '' }, stdio: ['ignore', 'pipe', 'inherit'] });
    // its JSON log (warnings and errors only): counted by message for the summary
    let rest = '';
    p.stdout?.setEncoding('utf8');
    p.stdout?.on('data', (d: string) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) this.onAgentLog(line);
    });
    this.agent = p;
    this.agentExit = new Promise((r) => p.once('exit', () => r()));
  }

  /** The agent's warnings and errors by message: count and the longest `waitedMs` they carry. */
  readonly agentLog = new Map<string, { n: number; maxWaitedMs: number }>();

  private onAgentLog(line: string) {
    let o: { msg?: unknown; waitedMs?: unknown };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      return;
    }
    const k = typeof o.msg === 'string' ? o.msg.slice(0, 80) : '?';
    const e = this.agentLog.get(k) ?? { n: 0, maxWaitedMs: 0 };
    e.n++;
    if (typeof o.waitedMs === 'number') e.maxWaitedMs = Math.max(e.maxWaitedMs, o.waitedMs);
    this.agentLog.set(k, e);
  }

  get agentPid() {
    return this.agent?.pid;
  }

  rrBirdPid() {
    return this.rrBird.pid();
  }

  simBirdPid() {
    return this.simBird.pid();
  }

  /** Node protocols the RR's BIRD has configured, and how many of them are Established. */
  async rrSessions(): Promise<{ configured: number; established: number }> {
    const out = await this.rrSock.cmd('show protocols');
    let configured = 0;
    let established = 0;
    for (const line of out.split('\n')) {
      const m = /^(?:\d{4}-| )?(node_\S+)\s+BGP\s+/.exec(line);
      if (!m) continue;
      configured++;
      if (/Established/.test(line)) established++;
    }
    return { configured, established };
  }

  /** The simulator's config: per node a kernel table, its BIRD table and a BGP session to the RR, from the node's address. */
  simConfig(): string {
    const out = [
      `router id ${SIM_ROUTER_ID};`,
      'protocol device { scan time 60; }',
      // what a node's BIRD adds: the cluster community (the RR refuses routes without it)
      'filter sim_out { bgp_community.add((65000,100)); accept; }',
      '',
    ];
    for (let i = 0; i < this.o.nodes; i++) {
      out.push(
        `ipv4 table t${i};`,
        `protocol kernel k${i} { ipv4 { table t${i}; import all; export none; }; kernel table ${table(i)}; learn; scan time 300; }`,
        `protocol bgp n${i} { local ${nodeIp(i)} as 65000; neighbor ${RR_IP} port ${PORT_BASE + i} as 65000; direct; connect retry time 2; error wait time 1, 5;`,
        `  ipv4 { table t${i}; import none; export filter sim_out; next hop self; }; }`,
      );
    }
    return out.join('\n') + '\n';
  }

  /** Starts the simulator's BIRD (every node's session at once). */
  async startSim(): Promise<void> {
    await this.simBird.applyConfig(this.simConfig());
    await this.simBird.start();
  }

  /** Whether the RR holds `ip`/32 as an accepted (imported, not filtered) route. */
  async accepted(ip: string): Promise<boolean> {
    if (!IPV4.test(ip)) throw new Error(`not an IPv4 address: ${ip}`);
    const out = await this.rrSock.cmd(`show route ${ip}/32 table master4`);
    return out.includes(`${ip}/32`);
  }

  /** Polls the RR every `everyMs` until `ip` is accepted; resolves with the time it was seen. */
  async waitAccepted(ip: string, timeoutMs: number, everyMs = 5): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await this.accepted(ip)) return performance.now();
      if (Date.now() > deadline) throw new Error(`${ip} not accepted at the RR within ${timeoutMs} ms`);
      await sleep(everyMs);
    }
  }

  /** Routes in the RR's master4 (accepted). */
  async rrRouteCount(): Promise<number> {
    const out = await this.rrSock.cmd('show route table master4 count');
    const m = /(\d+) of (\d+) routes/.exec(out);
    return m ? Number(m[1]) : 0;
  }

  /** Polls until the RR has accepted at least n routes. */
  async waitRouteCount(n: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = await this.rrRouteCount();
      if (c >= n) return performance.now();
      if (Date.now() > deadline) throw new Error(`the RR holds ${c} routes, expected ${n}`);
      await sleep(200);
    }
  }

  /** The RR BIRD's RTR session: its state line (since when) and serial; a restart shows as a late `since`. */
  async rtrStatus(): Promise<string> {
    const out = await this.rrSock.cmd('show protocols all fabric_rtr');
    const line = /fabric_rtr\s+RPKI\s+\S+\s+(\S+)\s+(\S+)\s+(.*)/.exec(out);
    const serial = /Serial number:\s*(\d+)/.exec(out);
    return line ? `${line[1]} since ${line[2]} (${line[3].trim()}), serial ${serial?.[1] ?? '?'}` : 'not found';
  }

  /** Bytes of the RR's config (main file and the node sessions it includes). */
  rrConfigBytes(): { main: number; nodes: number } {
    const size = (f: string) => {
      try {
        return statSync(f).size;
      } catch {
        return 0;
      }
    };
    return { main: size(this.rrBird.configPath), nodes: size(path.join(path.dirname(this.rrBird.configPath), 'rr-nodes.conf')) };
  }

  /** `birdc configure` of the RR's current config (unchanged: BIRD still parses all of it), ms. */
  async configureMs(): Promise<number> {
    const t = performance.now();
    await this.rrBird.configure();
    return performance.now() - t;
  }

  /** Adds routes to a node's kernel table outside its desired state (the rogue announcements). */
  async announceRogue(node: number, ips: string[]): Promise<void> {
    for (const a of ips) if (!IPV4.test(a)) throw new Error(`not an IPv4 address: ${a}`);
    await this.ip(
      this.simNs,
      ips.map((a) => `route replace ${a}/32 dev lo table ${table(node)} proto static`),
    );
  }

  /** Where the RR has `ip` from node `node`: accepted, filtered (kept, refused by the import filter) or not (yet). */
  async fromNode(node: number, ip: string): Promise<'accepted' | 'filtered' | 'none'> {
    if (!IPV4.test(ip)) throw new Error(`not an IPv4 address: ${ip}`);
    const proto = rrNodeProtocol(`n${node}`);
    const has = (out: string) => out.includes(`[${proto} `);
    // the exact prefix, not `for`: a longest-match lookup skips a network that holds only filtered routes
    if (has(await this.rrSock.cmd(`show route ${ip}/32 table master4 protocol ${proto}`))) return 'accepted';
    if (has(await this.rrSock.cmd(`show route ${ip}/32 table master4 filtered protocol ${proto}`))) return 'filtered';
    return 'none';
  }

  /** Removes the agent, both BIRDs, anything else running in the namespaces, the namespaces and the run dir. */
  async down(): Promise<void> {
    this.sub?.unsubscribe();
    this.rrSock.close();
    if (this.agent && this.agent.exitCode === null && this.agent.signalCode === null) {
      this.agent.kill('SIGTERM');
      await Promise.race([this.agentExit, sleep(10_000)]);
      if (this.agent.exitCode === null && this.agent.signalCode === null) this.agent.kill('SIGKILL');
    }
    await this.pumping?.catch(() => undefined);
    for (const b of [this.rrBird, this.simBird]) await b.stop().catch(() => undefined);
    for (const n of this.namespaces) {
      const r = await run('ip', ['netns', 'pids', n], { allowFailure: true });
      for (const s of r.stdout.split(/\s+/)) if (/^\d+$/.test(s) && Number(s) !== process.pid && (await isAlive(Number(s)))) await killAndWait(Number(s));
      await run('ip', ['netns', 'del', n], { allowFailure: true });
    }
    rmSync(this.o.dir, { recursive: true, force: true });
  }
}
