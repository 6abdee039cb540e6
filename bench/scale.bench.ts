/**
 * Scale of one cluster (`npm run bench -- scale`): BENCH_SCALE_NODES nodes (default 1,000) ×
 * BENCH_SCALE_VMS_PER_NODE VMs (default 100) created over RPC through the real services, each its own OS
 * process as `npm start` runs them (inventory, ipam, route-announcer, rr-config, router-config, gateway with
 * the projector), and (unless BENCH_SCALE_BIRD=0) the data plane of bench/scale-dataplane.ts: the product's RR
 * agent with a real BIRD holding one session per node, and one simulator BIRD announcing, per node, the VMs of
 * its node desired state, plus rogue announcements the RR must refuse.
 * Prints: time to place all; per-VM CreateVm → key in the placements KV, and → route accepted at the RR, p50/p99
 * on an empty cluster and at 1k/10k/all VMs; RSS of each service; RR agent and RR BIRD CPU and RSS; RR config size
 * and `birdc configure` time; time until every session is Established; rogue routes accepted (must be 0); the RR
 * command's size and the RR config render time at this node count; the largest message on the bus; restart
 * time of each service with everything placed. With BENCH_SCALE_EVENTS=N (default 0: off), VMs are then created and
 * deleted through the real services (CreateVm, DeleteVm) until the events stream holds N messages, so the restarts
 * are timed at that history length (the churn's rate and the RSS after it are printed too; BENCH_SCALE_CHURN_MS
 * bounds its time, default 20 min).
 * Addresses: VMs in 100.64.0.0/14, node underlay in 198.18.0.0/15. Everything it creates (NATS namespace,
 * database, processes) is removed at the end, also on failure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort, stop } from './fabric-processes';
import { SERVICE_MEMORY_ENV } from '../deploy/service-memory';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Msg, type Subscription } from '@nats-io/nats-core';
import { rrTargetId } from '@fabric/contracts';
import { Kvm } from '@nats-io/kv';
import { placementsBucket, RpcClient, rrNodesBucket, snapshotsBucket } from '@fabric/eventstore';
import { renderRrBird } from '@fabric/renderers';
import { nodeIp, procUsage, RR_IP, ScaleDataPlane } from './scale-dataplane';
// the renderer tests' input (a valid RR with a core), given this run's nodes
import { rrInput } from '../libs/renderers/src/fixtures';
import { closeTestNats, createTestDatabase, dropTestDatabase, openTestNats, uniqueNs } from '@fabric/testing/infra';

const ROOT = path.resolve(__dirname, '..');
const NODES = Number(process.env.BENCH_SCALE_NODES ?? 1000);
const VMS_PER_NODE = Number(process.env.BENCH_SCALE_VMS_PER_NODE ?? 100);
const CONCURRENCY = Number(process.env.BENCH_SCALE_CONCURRENCY ?? 32);
const PROBES = Number(process.env.BENCH_SCALE_PROBES ?? 50);
/** 0: no data plane (no BIRD, no RR agent; "placed" = key in the placements KV). */
const BIRD = process.env.BENCH_SCALE_BIRD !== '0';
/** Events in the stream of record before the restarts (create/delete churn through the services); 0: no churn. */
const EVENTS = Number(process.env.BENCH_SCALE_EVENTS ?? 0);
/** Time budget of that churn: it stops there (the restarts are then timed at the history reached, and say so). */
const CHURN_MS = Number(process.env.BENCH_SCALE_CHURN_MS ?? 20 * 60_000);
/** Simulated nodes that also announce addresses they do not hold (2 placed on other nodes, 2 unplaced each). */
const ROGUES = Number(process.env.BENCH_SCALE_ROGUE_NODES ?? 10);
/** Hard bound on the whole run. */
const DEADLINE_MS = Number(process.env.BENCH_SCALE_TIMEOUT_MS ?? 40 * 60_000);
/** Bound on any single wait (one restart, one probe). */
const STEP_MS = 120_000;
const SERVICES = ['inventory', 'ipam', 'route-announcer', 'rr-config', 'router-config', 'gateway'] as const;
type Service = (typeof SERVICES)[number];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x: number) => `${x.toFixed(1)} ms`;
const kb = (n: number) => `${(n / 1024).toFixed(1)} kB`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** Polls `ok` until it holds (a daemon's state has no event to wait on). */
async function until(ok: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

function rssMb(pid: number | undefined): number {
  if (!pid) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** `100.64.1.2` → the address token of a placements key. */
const ipToken = (ip: string) => ip.replace(/\./g, '-');

/** Probe addresses: a second pool the load never draws from (IPAM fills the lowest pool first). */
const probeIp = (i: number) => `100.66.${Math.floor(i / 250)}.${(i % 250) + 1}`;

/** Watches the namespace's subjects and the placements bucket: largest payload, and when each key appeared. */
class BusWatcher {
  readonly largest = new Map<string, { bytes: number; subject: string }>();
  readonly keys = new Set<string>();
  private readonly keyWaiters = new Map<string, () => void>();
  private readonly subWaiters: { match: (m: Msg) => boolean; done: () => void }[] = [];
  private readonly subs: Subscription[] = [];
  private countWaiter?: { n: number; done: () => void };

  constructor(
    private readonly nc: { subscribe(s: string, o?: { callback: (e: unknown, m: Msg) => void }): Subscription },
    ns: string,
    private readonly bucket: string,
  ) {
    for (const subject of [`${ns}.>`, `$KV.${bucket}.>`]) this.subs.push(nc.subscribe(subject, { callback: (_e, m) => this.on(m) }));
  }

  /** Subject class: the namespace/bucket and ids dropped, so the table shows kinds of messages. */
  private kind(subject: string): string {
    const t = subject.split('.');
    if (subject.startsWith('$KV.')) return `$KV.${t[1]}`;
    return t.slice(1, 4).join('.');
  }

  private on(m: Msg) {
    const k = this.kind(m.subject);
    const cur = this.largest.get(k);
    if (!cur || m.data.length > cur.bytes) this.largest.set(k, { bytes: m.data.length, subject: m.subject });
    if (m.subject.startsWith('$KV.')) {
      const op = m.headers?.get('KV-Operation');
      if (op === 'DEL' || op === 'PURGE') return;
      // key = <clusterId>.<address token>.<origin tag>: keep `<clusterId>.<address token>`
      const key = m.subject.split('.').slice(2, 4).join('.');
      this.keys.add(key);
      this.keyWaiters.get(key)?.();
      this.keyWaiters.delete(key);
      if (this.countWaiter && this.keys.size >= this.countWaiter.n) {
        this.countWaiter.done();
        this.countWaiter = undefined;
      }
    }
    for (let i = this.subWaiters.length - 1; i >= 0; i--) {
      if (this.subWaiters[i].match(m)) {
        this.subWaiters[i].done();
        this.subWaiters.splice(i, 1);
      }
    }
  }

  key(clusterId: string, ip: string, timeoutMs = 60000): Promise<number> {
    const key = `${clusterId}.${ipToken(ip)}`;
    if (this.keys.has(key)) return Promise.resolve(performance.now());
    return this.wait(timeoutMs, `placement of ${ip}`, (done) => this.keyWaiters.set(key, done));
  }

  count(n: number, timeoutMs: number): Promise<number> {
    if (this.keys.size >= n) return Promise.resolve(performance.now());
    return this.wait(timeoutMs, `${n} placements (have ${this.keys.size})`, (done) => (this.countWaiter = { n, done }));
  }

  message(match: (m: Msg) => boolean, timeoutMs: number, what: string): Promise<number> {
    return this.wait(timeoutMs, what, (done) => this.subWaiters.push({ match, done }));
  }

  private wait(timeoutMs: number, what: string, register: (done: () => void) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      register(() => (clearTimeout(timer), resolve(performance.now())));
    });
  }

  close() {
    for (const s of this.subs) s.unsubscribe();
  }
}

export async function benchScale() {
  const total = NODES * VMS_PER_NODE;
  if (total > 130_000) throw new Error('BENCH_SCALE_NODES × BENCH_SCALE_VMS_PER_NODE must stay ≤ 130,000 (the load pool)');
  const runDeadline = Date.now() + DEADLINE_MS;
  const ns = uniqueNs('bs');
  const nats = await openTestNats(ns);
  const db = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fabric-scale-'));
  if (BIRD && process.getuid?.() !== 0) throw new Error('the data plane needs root (network namespaces); BENCH_SCALE_BIRD=0 runs without it');
  const dp = BIRD
    ? new ScaleDataPlane({ ns, nodes: NODES, dir: mkdtempSync(path.join(os.tmpdir(), 'fabric-scaledp-')), nc: nats.nc, log: console.log })
    : undefined;
  const port = await freePort();
  const token = `fab_${randomBytes(32).toString('base64url')}`;
  const env = {
    ...process.env,
    ...SERVICE_MEMORY_ENV,
    FABRIC_NS: ns,
    DATABASE_URL: db.url,
    DB_SCHEMA: 'fabric',
    GATEWAY_PORT: String(port),
    FABRIC_ADMIN_TOKEN: token,
    FABRIC_DATA_DIR: dataDir,
    IPAM_RELEASE_COOLDOWN_MS: '0',
    IPAM_MIN_PREFIX_V4: '14',
    LOG_LEVEL: 'warn',
    METRICS_PORT: '',
  };
  const procs = new Map<Service, ChildProcess>();
  const launch = (name: Service) => {
    const p = spawn(process.execPath, ['-r', path.join(ROOT, 'deploy/register.js'), path.join(ROOT, `services/${name}/src/main.ts`)], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    procs.set(name, p);
    return performance.now();
  };
  const watcher = new BusWatcher(nats.nc, ns, placementsBucket(nats.subjects));
  // Bytes published for the RRs' config: the commands and the node parts (docs/adr/rr-split-desired-state.md).
  const rrBytes = { cmd: 0, part: 0, parts: 0 };
  let onPart: ((subject: string) => void) | undefined;
  const rrSubs = [
    nats.nc.subscribe(`${ns}.cmd.rr.>`, { callback: (_e, m) => void (rrBytes.cmd += m.data.length) }),
    nats.nc.subscribe(`$KV.${rrNodesBucket(nats.subjects)}.>`, {
      callback: (_e, m) => {
        rrBytes.part += m.data.length;
        rrBytes.parts++;
        onPart?.(m.subject);
      },
    }),
  ];
  const rpc = new RpcClient(nats, 30000);
  // polls a restarting inventory: a request it took while not ready must not cost a 30 s timeout
  const quick = new RpcClient(nats, 1000);
  const stepMs = () => Math.max(1000, Math.min(STEP_MS, runDeadline - Date.now()));
  const api = `http://127.0.0.1:${port}/api/v1`;
  const auth = { Authorization: `Bearer ${token}` };
  const call = async <R>(service: 'inventory' | 'ipam', command: string, payload: Record<string, unknown>): Promise<R> => {
    const r = await rpc.request<R>(service, command, { commandId: randomUUID(), payload });
    if (!r.ok) throw new Error(`${command}: ${JSON.stringify(r.error)}`);
    return r.result;
  };
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      watcher.close();
      for (const sub of rrSubs) sub.unsubscribe();
      await dp?.down().catch((e: unknown) => console.log(`  ! data plane cleanup: ${String(e)}`));
      await Promise.all([...procs.values()].map(stop));
      await closeTestNats(nats);
      await dropTestDatabase(db.name);
      rmSync(dataDir, { recursive: true, force: true });
    })());
  // Interrupted (Ctrl-C, a timeout): still remove the processes, streams and database.
  const onSignal = (sig: NodeJS.Signals) => void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await dp?.up();
    for (const s of SERVICES) launch(s);
    for (;;) {
      const ok = await fetch(`${api}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > runDeadline) throw new Error('gateway did not come up');
      await sleep(200);
    }
    const { clusterId } = await call<{ clusterId: string }>('inventory', 'CreateCluster', {
      name: `scale${Date.now()}`,
      fabricAsn: 65000,
      coreAsn: 65001,
      community: '65000:100',
      routeReflectors: [{ name: 'rr1', ip: RR_IP }],
      coreRouter: { name: 'core', ip: '198.18.0.1', vendor: 'frr' },
      // the simulator has no MD5 secret and BFD would double the sessions measured
      bgp: { md5OptOut: 'scale bench: simulated nodes', bfd: false, gracefulRestart: false },
    });
    await call('ipam', 'AddNetwork', {
      clusterId,
      cidr: '100.64.0.0/14',
      pools: [
        { start: '100.64.0.10', end: '100.65.255.250' },
        { start: '100.66.0.1', end: '100.66.255.250' },
      ],
    });

    // nodes: 198.18.1.1 … (250 per /24)
    const tJoin = performance.now();
    const nodeIds: string[] = new Array<string>(NODES);
    let nextNode = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (nextNode < NODES) {
          const i = nextNode++;
          const ip = nodeIp(i);
          nodeIds[i] = (await call<{ nodeId: string }>('inventory', 'JoinNode', { clusterId, name: `n${i}`, underlayIp: ip })).nodeId;
        }
      }),
    );
    const joinMs = performance.now() - tJoin;
    console.log(`  … ${NODES} nodes joined in ${(joinMs / 1000).toFixed(1)} s`);

    // The RR agent applies its config (all node sessions), then the simulator opens every session at once.
    const sessions = { configMs: NaN, establishedMs: NaN };
    if (dp) {
      const t0 = performance.now();
      dp.startAgent(rrTargetId(clusterId, 'rr1'), env);
      await until(
        async () => (await dp.rrSessions().catch(() => ({ configured: 0 }))).configured >= NODES,
        stepMs(),
        `the RR's BIRD configured with ${NODES} node sessions`,
      );
      sessions.configMs = performance.now() - t0;
      const t1 = performance.now();
      await dp.startSim();
      await until(
        async () => (await dp.rrSessions()).established >= NODES,
        Math.min(5 * STEP_MS, Math.max(1000, runDeadline - Date.now())),
        `${NODES} sessions Established`,
        250,
      );
      sessions.establishedMs = performance.now() - t1;
      console.log(
        `  … RR agent configured ${NODES} sessions in ${(sessions.configMs / 1000).toFixed(1)} s; all Established ${(sessions.establishedMs / 1000).toFixed(1)} s after the simulator started`,
      );
    }

    let probeNo = 0;
    let created = 0;
    /**
     * Sequential probe VMs (requested address, so the key is known): CreateVm sent → key in the placements KV, and
     * → route accepted at the RR (its BIRD polled every 5 ms over the control socket).
     */
    const probe = async (n: number): Promise<{ kv: number[]; rr: number[] }> => {
      const out = { kv: [] as number[], rr: [] as number[] };
      for (let k = 0; k < n; k++) {
        const i = probeNo++;
        const ip = probeIp(i);
        const t0 = performance.now();
        await call('inventory', 'CreateVm', { clusterId, nodeId: nodeIds[i % NODES], name: `probe${i}`, ownerId: 'bench', ip });
        out.kv.push((await watcher.key(clusterId, ip, stepMs())) - t0);
        if (dp) out.rr.push((await dp.waitAccepted(ip, stepMs())) - t0);
      }
      return out;
    };
    const placed = () => created + probeNo;

    // empty cluster (nodes only)
    const latency: { at: number; xs: number[]; rr: number[] }[] = [];
    const p0 = await probe(PROBES);
    latency.push({ at: 0, xs: p0.kv, rr: p0.rr });
    const rtrAtStart = dp ? await dp.rtrStatus() : '';
    const usage0 = dp ? { agent: procUsage(dp.agentPid), bird: procUsage(await dp.rrBirdPid()), sim: procUsage(await dp.simBirdPid()) } : undefined;
    let acceptedAllMs = NaN;

    const tLoad = performance.now();
    let loadMs = 0;
    const milestones = [1000, 10_000, total].filter((m, i, a) => m <= total && a.indexOf(m) === i);
    for (const m of milestones) {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (created < m) {
            const i = created++;
            await call('inventory', 'CreateVm', { clusterId, nodeId: nodeIds[i % NODES], name: `v${i}`, ownerId: 'bench' });
          }
        }),
      );
      await watcher.count(placed(), Math.max(1000, runDeadline - Date.now()));
      if (m === total) loadMs = performance.now() - tLoad;
      if (dp) {
        await dp.waitRouteCount(placed(), Math.max(1000, runDeadline - Date.now()));
        if (m === total) acceptedAllMs = performance.now() - tLoad;
      }
      const { kv: xs, rr } = await probe(PROBES);
      latency.push({ at: m, xs, rr });
      console.log(
        `  … ${placed()} VMs placed after ${((performance.now() - tLoad) / 1000).toFixed(1)} s; probes → KV p50 ${ms(pct(xs, 50))} p99 ${ms(pct(xs, 99))}` +
          (dp ? `; → RR p50 ${ms(pct(rr, 50))} p99 ${ms(pct(rr, 99))}` : ''),
      );
    }

    const rss = Object.fromEntries(SERVICES.map((s) => [s, rssMb(procs.get(s)?.pid)])) as Record<Service, number>;
    const loadS = (performance.now() - tLoad) / 1000;
    const rtrAtEnd = dp ? await dp.rtrStatus() : '';
    const usage1 = dp ? { agent: procUsage(dp.agentPid), bird: procUsage(await dp.rrBirdPid()), sim: procUsage(await dp.simBirdPid()) } : undefined;

    // The RR at this size: config bytes, `birdc configure` of it, then rogue announcements.
    let rrConf: { main: number; nodes: number } | undefined;
    const configures: number[] = [];
    const rogue = { announced: 0, accepted: 0, filtered: 0, unseen: 0, stolen: 0, unplaced: 0 };
    if (dp) {
      rrConf = dp.rrConfigBytes();
      for (let k = 0; k < 3; k++) configures.push(await dp.configureMs());
      // rogue node r announces 2 probe addresses placed on other nodes and 2 addresses nobody holds
      const list: { node: number; ip: string }[] = [];
      const rogues = Math.min(ROGUES, NODES > 1 ? NODES : 0);
      for (let r = 0; r < rogues; r++) {
        const node = (r * 7) % NODES;
        const ips: string[] = [];
        for (let k = 0; k < 2; k++) {
          const pi = r * 2 + k;
          if (pi >= probeNo) break;
          // probe pi lives on node pi % NODES; steal it only if that is another node
          if (pi % NODES !== node) (ips.push(probeIp(pi)), rogue.stolen++);
        }
        for (let k = 0; k < 2; k++) (ips.push(`100.67.255.${((r * 2 + k) % 250) + 1}`), rogue.unplaced++);
        await dp.announceRogue(node, ips);
        for (const ip of ips) list.push({ node, ip });
      }
      rogue.announced = list.length;
      // Every rogue route must reach the RR (kept as filtered, or accepted) before it is counted.
      const state = new Map<string, string>();
      await until(
        async () => {
          for (const x of list) {
            const k = `${x.node}|${x.ip}`;
            if (state.get(k) !== 'filtered' && state.get(k) !== 'accepted') state.set(k, await dp.fromNode(x.node, x.ip));
          }
          return [...state.values()].every((v) => v !== 'none');
        },
        60_000,
        'the rogue routes at the RR',
        200,
      ).catch(() => undefined);
      // and once more after an RTR refresh would have had its chance (accepted later would be a leak too)
      await sleep(2000);
      for (const x of list) {
        const v = await dp.fromNode(x.node, x.ip);
        if (v === 'accepted') rogue.accepted++;
        else if (v === 'filtered') rogue.filtered++;
        else rogue.unseen++;
      }
    }

    // RR config at this node count: the command on the bus and a render of the same shape
    const rrCmd = watcher.largest.get('cmd.rr.' + rrTargetId(clusterId, 'rr1')) ?? [...watcher.largest.entries()].find(([k]) => k.startsWith('cmd.rr'))?.[1];
    const base = rrInput();
    const nodes = nodeIds.map((id, i) => ({ id, name: `n${i}`, underlayIp: nodeIp(i), originTag: 4200000000 + i }));
    const renders: number[] = [];
    for (let k = 0; k < 5; k++) {
      const t = performance.now();
      renderRrBird({ ...base, nodes, exportPrefixes: ['100.64.0.0/14'] });
      renders.push(performance.now() - t);
    }

    // One node change with everything placed: a node joins; bytes on the bus for the RRs' config until its
    // node part arrives, and for 2 s after (a republished command would show there).
    const before = { ...rrBytes };
    const partSeen = new Promise<void>((resolve) => (onPart = () => resolve()));
    const tNode = performance.now();
    await call('inventory', 'JoinNode', { clusterId, name: 'n-extra', underlayIp: '198.19.255.1' });
    await partSeen;
    const nodeChangeMs = performance.now() - tNode;
    onPart = undefined;
    await new Promise((r) => setTimeout(r, 2000));
    const nodeChange = { cmd: rrBytes.cmd - before.cmd, part: rrBytes.part - before.part, parts: rrBytes.parts - before.parts };

    // History without growth of the current state: VMs created and deleted until the stream holds EVENTS messages.
    const streamHead = async () => (await nats.jsm.streams.info(nats.subjects.eventsStream)).state.messages;
    const churn = { from: await streamHead(), cycles: 0, ms: 0, to: 0 };
    if (EVENTS > churn.from) {
      const t = performance.now();
      let head = churn.from;
      let lastLog = t;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (head < EVENTS && performance.now() - t < CHURN_MS) {
            const i = churn.cycles++;
            const r = await call<{ vmId: string }>('inventory', 'CreateVm', { clusterId, nodeId: nodeIds[i % NODES], name: `c${i}`, ownerId: 'bench' });
            await call('inventory', 'DeleteVm', { vmId: r.vmId });
            if (i % 500 === 0) {
              head = await streamHead();
              if (performance.now() - lastLog > 30_000) {
                lastLog = performance.now();
                console.log(
                  `  … churn: ${churn.cycles} create/delete cycles, ${head} events, ${((head - churn.from) / ((lastLog - t) / 1000)).toFixed(0)} events/s`,
                );
              }
            }
          }
        }),
      );
      // the services' own events (allocations, releases, desired state) settle after the last cycle
      await sleep(5000);
      churn.ms = performance.now() - t;
      churn.to = await streamHead();
    }
    const rssAfterChurn = churn.ms ? (Object.fromEntries(SERVICES.map((s) => [s, rssMb(procs.get(s)?.pid)])) as Record<Service, number>) : undefined;

    const head = await streamHead();

    console.log(`scale: ${NODES} nodes × ${VMS_PER_NODE} VMs = ${total} VMs (+ ${probeNo} probes), ${head} events in the stream of record`);
    console.log(`  join ${NODES} nodes                 ${(joinMs / 1000).toFixed(1)} s`);
    console.log(
      `  place all ${total} VMs          ${(loadMs / 1000).toFixed(1)} s = ${((total * 1000) / loadMs).toFixed(0)} VMs/s (CreateVm → key in the placements KV, ${CONCURRENCY} in flight)`,
    );
    for (const l of latency)
      console.log(`  CreateVm → KV at ${String(l.at).padStart(6)} VMs  p50 ${ms(pct(l.xs, 50))}  p99 ${ms(pct(l.xs, 99))}  (${l.xs.length} sequential probes)`);
    if (dp && usage0 && usage1) {
      const empty = pct(latency[0].rr, 50);
      for (const l of latency)
        console.log(
          `  CreateVm → accepted at the RR at ${String(l.at).padStart(6)} VMs  p50 ${ms(pct(l.rr, 50))}  p99 ${ms(pct(l.rr, 99))}  (${(pct(l.rr, 50) / empty).toFixed(2)} × empty)`,
        );
      console.log(`  all ${placed()} routes accepted at the RR ${(acceptedAllMs / 1000).toFixed(1)} s after the load started`);
      console.log(
        `  RR sessions: ${NODES} configured by the agent in ${(sessions.configMs / 1000).toFixed(1)} s, all Established ${(sessions.establishedMs / 1000).toFixed(1)} s after the simulator started`,
      );
      const cpu = (k: 'agent' | 'bird' | 'sim') =>
        `${(usage1[k].cpuS - usage0[k].cpuS).toFixed(1)} s CPU (${((100 * (usage1[k].cpuS - usage0[k].cpuS)) / loadS).toFixed(0)} %), RSS ${usage1[k].rssMb.toFixed(0)} MB`;
      console.log(`  during the load (${loadS.toFixed(0)} s): RR agent ${cpu('agent')}; RR BIRD ${cpu('bird')}; simulator BIRD ${cpu('sim')}`);
      console.log(
        `  RR config ${kb(rrConf!.main)} + ${kb(rrConf!.nodes)} node sessions; birdc configure (unchanged, ${NODES} sessions) p50 ${ms(pct(configures, 50))} (${configures.map((x) => x.toFixed(0)).join(', ')} ms)`,
      );
      console.log(
        `  rogue routes: ${rogue.announced} announced by ${Math.min(ROGUES, NODES)} nodes (${rogue.stolen} placed on other nodes, ${rogue.unplaced} unplaced): ${rogue.accepted} accepted, ${rogue.filtered} filtered, ${rogue.unseen} not seen at the RR`,
      );
      console.log(`  node simulator: ${dp.feed.routes} kernel route changes in ${dp.feed.batches} ip -batch runs, ${dp.feed.errors} failed`);
      console.log(`  RR's RTR session at the end of the load: ${rtrAtEnd} (opened ${rtrAtStart})`);
      const sess = await dp.rrSessions();
      console.log(`  RR node sessions now: ${sess.established} of ${sess.configured} Established`);
      const warns = [...dp.agentLog].sort((x, y) => y[1].n - x[1].n);
      console.log(
        `  RR agent warnings/errors: ${warns.length ? warns.map(([m, e]) => `${e.n}× "${m}"${e.maxWaitedMs ? ` (waited up to ${e.maxWaitedMs} ms)` : ''}`).join('; ') : 'none'}`,
      );
    }
    console.log(`  RSS at ${total} VMs: ${SERVICES.map((s) => `${s} ${rss[s].toFixed(0)} MB`).join(', ')}`);
    if (rssAfterChurn) {
      const rate = (churn.to - churn.from) / (churn.ms / 1000);
      console.log(
        `  churn: ${churn.cycles} VM create/delete cycles through the services, ${churn.from} → ${churn.to} events in ${(churn.ms / 1000).toFixed(1)} s = ${rate.toFixed(0)} events/s (${((churn.to - churn.from) / churn.cycles).toFixed(1)} events per cycle)${churn.to < EVENTS ? `; stopped by BENCH_SCALE_CHURN_MS before ${EVENTS}` : ''}`,
      );
      console.log(`  RSS after the churn (${churn.to} events): ${SERVICES.map((s) => `${s} ${rssAfterChurn[s].toFixed(0)} MB`).join(', ')}`);
    }
    console.log(`  RR command ${rrCmd ? kb(rrCmd.bytes) : 'not seen'}; RR config render (${NODES} nodes) p50 ${ms(pct(renders, 50))}`);
    console.log(
      `  one node joins: ${nodeChange.parts} node part(s), ${kb(nodeChange.part)} on $KV.<NS>_RR_NODES, ${kb(nodeChange.cmd)} on cmd.rr (JoinNode → part ${ms(nodeChangeMs)})`,
    );
    const largest = [...watcher.largest.values()].sort((a, b) => b.bytes - a.bytes);
    console.log(
      `  largest bus messages: ${largest
        .slice(0, 4)
        .map((x) => `${kb(x.bytes)} on ${x.subject.replace(ns, '<ns>')}`)
        .join('; ')}`,
    );
    // restart of each service with everything placed: SIGTERM, start, then the first thing only it can do
    let extraNet = 0;
    let failures = 0;
    const restartOne = async (s: Service): Promise<{ ms: number; signal: string }> => {
      await stop(procs.get(s)!, 10_000);
      const t0 = launch(s);
      const i = probeNo++;
      const ip = probeIp(i);
      const vm = { clusterId, nodeId: nodeIds[i % NODES], name: `probe${i}`, ownerId: 'bench', ip };
      let t1: number;
      let signal: string;
      if (s === 'inventory') {
        // answers CreateVm (it refuses nothing while it replays: no responder, then the answer)
        for (;;) {
          const r = await quick.request('inventory', 'CreateVm', { commandId: randomUUID(), payload: vm }).catch(() => undefined);
          if (r?.ok || (r && !r.ok && r.error.code === 'vm-name-taken')) break; // an earlier try that timed out took it
          if (Date.now() > runDeadline) throw new Error('inventory did not come back');
          await sleep(20);
        }
        t1 = performance.now();
        signal = 'CreateVm answered';
      } else if (s === 'ipam' || s === 'rr-config') {
        await call('inventory', 'CreateVm', vm);
        t1 = await watcher.key(clusterId, ip, stepMs());
        signal = 'new VM placed in the KV';
      } else if (s === 'route-announcer') {
        const seen = watcher.message((m) => m.subject.includes('.node.') && new TextDecoder().decode(m.data).includes(ip), stepMs(), 'node desired state');
        await call('inventory', 'CreateVm', vm);
        t1 = await seen;
        signal = "new VM in its node's desired state";
      } else if (s === 'router-config') {
        // the core peers with the RRs, not the nodes: a new network is what changes its config
        const seen = watcher.message((m) => m.subject.includes('.cmd.router.'), stepMs(), 'router desired state');
        const k = extraNet++;
        await call('ipam', 'AddNetwork', { clusterId, cidr: `100.${68 + k}.0.0/16`, pools: [{ start: `100.${68 + k}.0.10`, end: `100.${68 + k}.0.250` }] });
        t1 = await seen;
        signal = "new network in the core's desired state";
      } else {
        const r = await call<{ vmId: string }>('inventory', 'CreateVm', vm);
        for (;;) {
          const res = await fetch(`${api}/vms/${r.vmId}`, { headers: auth }).catch(() => undefined);
          if (res?.ok) break;
          if (Date.now() > runDeadline) throw new Error('gateway did not show the new VM');
          await sleep(20);
        }
        t1 = performance.now();
        signal = 'new VM readable over HTTP';
      }
      return { ms: t1 - t0, signal };
    };
    for (const s of SERVICES) {
      try {
        const r = await restartOne(s);
        console.log(`  restart ${s.padEnd(15)} ${ms(r.ms)} (until: ${r.signal})`);
      } catch (err) {
        failures++;
        console.log(`  restart ${s.padEnd(15)} FAILED: ${(err as Error).message}`);
      }
    }
    // What the restarts started from: each model's snapshot head (written at the graceful stop, docs/adr/model-snapshots.md).
    const snaps = await new Kvm(nats.nc).open(snapshotsBucket(nats.subjects));
    for (const key of ['inventory.index', 'ipam.aggregates', 'route-announcer.node-routes', 'rr-config.rr-config', 'router-config.router-config']) {
      const e = await snaps.get(key).catch(() => null);
      const h = e?.operation === 'PUT' ? (JSON.parse(e.string()) as { seq: number; bytes: number; chunks: number }) : undefined;
      console.log(`  snapshot ${key.padEnd(28)} ${h ? `at seq ${h.seq}, ${kb(h.bytes)} in ${h.chunks} chunk(s)` : 'none'}`);
    }
    if (failures) throw new Error(`${failures} service(s) did not come back`);
    if (rogue.accepted) throw new Error(`${rogue.accepted} rogue route(s) accepted at the RR`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}
