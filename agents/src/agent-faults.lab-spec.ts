/**
 * Agent fault tolerance against the real lab (namespaces, BIRD, FRR) and a NATS server of its own (so it can
 * be killed): operator-owned files survive applies, a failed apply keeps the previous config and is retried,
 * the data plane stays as it is while NATS is away, the last applied generation survives a restart, and a
 * second agent for the same target or box cannot take over.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import {
  type ConfigApplied,
  type ConfigApplyFailed,
  type DesiredState,
  type NodeDesiredState,
  type RouterDesiredState,
  type RrDesiredState,
  type StoredEvent,
  type TargetKind,
  rrTargetId,
  vmInterfaceName,
} from '@fabric/contracts';
import { EventStore, Nats } from '@fabric/eventstore';
import { contentHash, renderFrrCore, renderNodeBird, renderRrBird } from '@fabric/renderers';
import { eventually } from '@fabric/testing/infra';
import { labDown, labUp, type LabState } from '../../deploy/lab/topology';
import { type AgentHandle, type AgentOptions, startAgent } from './agent';
import { run } from './drivers/exec';
import { LockBusyError } from './host-lock';
import { FencedError, LeaseBusyError, leaseBucket } from './lease';
import { Kvm } from '@nats-io/kv';
import { setPlacements } from './rtr/test-placements';

if (process.getuid?.() !== 0) throw new Error('the lab tests need root (network namespaces, BIRD, FRR)');

const prefix = `f${randomBytes(2).toString('hex')}-`;
const enc = new TextEncoder();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const clusterId = randomUUID();
const nodeId = randomUUID();
const rrId = rrTargetId(clusterId, 'rr1');
const routerId = clusterId;
const vm1 = { vmId: randomUUID(), ip: '203.0.113.40' };
const vm2 = { vmId: randomUUID(), ip: '203.0.113.41' };
const bgp = { gracefulRestart: false, bfd: false };
const pools = ['203.0.113.0/24', '198.51.100.0/24', '2001:db8::/32'];
const community = '65000:100';
const UPLINK = '198.18.0.250';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** A nats-server -js of this test only: killed and restarted on the same port and store. */
class PrivateNats {
  proc?: ChildProcess;
  constructor(
    readonly port: number,
    readonly storeDir: string,
  ) {}
  get url() {
    return `127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.proc = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.storeDir], { stdio: 'ignore' });
    await eventually(async () => (await run('nats-server', ['--version'])) && (await canConnect(this.port)), 15_000, 50, 'private NATS up');
  }
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = require('node:net').connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

describe('agent faults on the lab', () => {
  let natsServer: PrivateNats;
  let nats: Nats;
  let store: EventStore;
  let s: LabState;
  let work: string;
  const agents: Record<'core' | 'rr1' | 'node1', AgentHandle | undefined> = { core: undefined, rr1: undefined, node1: undefined };
  const opts: Partial<Record<keyof typeof agents, AgentOptions>> = {};
  const birdLocal = () => path.join(path.dirname(s.nodes[0].bird.configPath), 'bird.local.conf');
  const frrLocal = () => path.join(s.core.frr.configDir, 'frr.conf.local');

  const agentEvents = (kind: TargetKind, id: string, afterSeq = 0): Promise<StoredEvent[]> => store.read(nats.subjects.evt('agent', kind, id), afterSeq);
  const ofType = <T>(events: StoredEvent[], type: string) => events.filter((e) => e.type === type).map((e) => ({ ...(e.data as T), seq: e.seq }));
  const appliedGen = (kind: TargetKind, id: string, generation: number, after = 0) =>
    eventually(
      async () => ofType<ConfigApplied>(await agentEvents(kind, id, after), 'ConfigApplied').find((e) => e.generation === generation),
      180_000,
      100,
      `ConfigApplied gen ${generation} of ${kind}`,
    );

  async function publish(kind: TargetKind, d: Omit<DesiredState, 'hash' | 'sourceSeq'>): Promise<number> {
    const { generation: _g, ...content } = d as DesiredState;
    const ack = await nats.js.publish(nats.subjects.cmd(kind, d.targetId), enc.encode(JSON.stringify({ ...d, hash: contentHash(content), sourceSeq: 0 })));
    return ack.seq;
  }

  const nodeState = (generation: number, vms: { vmId: string; ip: string }[]): Omit<NodeDesiredState, 'hash' | 'sourceSeq'> => {
    const n = s.nodes[0];
    const rr = s.routeReflectors[0];
    return {
      kind: 'node',
      targetId: nodeId,
      clusterId,
      generation,
      nodeName: n.name,
      underlayIp: n.ipv4,
      underlayIp6: n.ipv6,
      gateway: s.gateway,
      protocolNumber: n.routeProtocol,
      vms: vms.map((vm) => ({ vmId: vm.vmId, ifName: vmInterfaceName(vm.vmId), ip: vm.ip, family: 4 as const, driver: 'netns' as const })),
      bird: renderNodeBird({
        nodeName: n.name,
        routerId: n.ipv4,
        fabricAsn: s.fabricAsn,
        community,
        kernelProtocolNumber: n.routeProtocol,
        routeReflectors: [{ name: rr.name, ip: rr.ipv4 }],
        bgp,
        localIp: n.ipv4,
        localIp6: n.ipv6,
      }),
    };
  };
  // Placements are ROAs fed over RTR (setPlacements); node1's origin tag is 4200000000 + generation, so a
  // generation admits exactly the VMs placed under its tag: gen 1 and 3 vm1, gen 2 vm1 and vm2.
  const rrState = (generation: number, _admits: { ip: string }[]): Omit<RrDesiredState, 'hash' | 'sourceSeq'> => {
    const rr = s.routeReflectors[0];
    return {
      kind: 'rr',
      targetId: rrId,
      clusterId,
      generation,
      rrName: rr.name,
      ip: rr.ipv4,
      bird: renderRrBird({
        rrName: rr.name,
        routerId: rr.ipv4,
        fabricAsn: s.fabricAsn,
        coreAsn: s.coreAsn,
        community,
        rrClusterId: rr.ipv4,
        localIp: rr.ipv4,
        localIp6: rr.ipv6,
        core: { name: 'core', ip: s.core.ipv4 },
        nodes: [{ id: nodeId, name: 'node1', underlayIp: s.nodes[0].ipv4, originTag: 4200000000 + generation }],
        exportPrefixes: pools,
        bgp,
      }),
      rtrNodes: { [4200000000 + generation]: 'node_node1' },
    };
  };
  const routerState = (generation: number, extra = ''): Omit<RouterDesiredState, 'hash' | 'sourceSeq'> => {
    const rr = s.routeReflectors[0];
    const config = renderFrrCore({
      hostname: 'core',
      routerId: s.core.ipv4,
      coreAsn: s.coreAsn,
      fabricAsn: s.fabricAsn,
      community,
      routeReflectors: [{ name: rr.name, ip: rr.ipv4 }],
      exportPrefixes: pools,
      bgp,
    });
    return {
      kind: 'router',
      targetId: routerId,
      clusterId,
      generation,
      vendor: 'frr',
      config: extra ? config.replace(/^(router bgp \d+\n)/m, `$1${extra}\n`) : config,
    };
  };

  const coreRoute = async (dst: string) => {
    const { stdout } = await run('ip', ['-j', '-n', s.core.namespace, 'route', 'show', dst]);
    return (JSON.parse(stdout || '[]') as { dst: string; gateway?: string }[])[0];
  };
  const birdc = (sock: string, ...args: string[]) => run('birdc', ['-s', sock, ...args]).then((r) => r.stdout);
  const coreRunning = async () => (await run('vtysh', ['-N', s.core.namespace, '-c', 'show running-config'])).stdout;

  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(tmpdir(), 'agent-faults-'));
    natsServer = new PrivateNats(await freePort(), path.join(work, 'nats'));
    await natsServer.start();
    nats = await Nats.connect({ servers: natsServer.url, ns: `t${randomBytes(4).toString('hex')}` });
    await nats.ensureStreams();
    store = new EventStore(nats);
    try {
      s = await labUp({ prefix, nodes: 1, rrs: 1 });
    } catch (e) {
      await labDown(prefix).catch(() => undefined);
      throw e;
    }
    const common = {
      ns: nats.subjects.ns,
      natsUrl: natsServer.url,
      pollMs: 200,
      resyncMs: 1500,
      leaseTtlMs: 3000,
      logger: log,
      stateDir: path.join(work, 'state'),
      lockDir: path.join(work, 'locks'),
    };
    const n = s.nodes[0];
    const rr = s.routeReflectors[0];
    // frr-reload is a python process: a slower resync keeps the shared machine's CPU for the others.
    opts.core = { ...common, resyncMs: 5000, role: 'frr-router', targetId: routerId, namespace: s.core.namespace };
    opts.rr1 = { ...common, role: 'rr', targetId: rrId, namespace: rr.namespace, bird: { ...rr.bird, commandTimeoutMs: 5000 } };
    opts.node1 = { ...common, role: 'node', targetId: nodeId, namespace: n.namespace, bird: n.bird, vmNamespacePrefix: n.vmNamespacePrefix };
    // The operators' own configuration, there before the agents start.
    await fs.writeFile(birdLocal(), 'protocol static operator_static {\n  ipv4;\n  route 198.19.255.0/24 blackhole;\n}\n');
    await fs.writeFile(
      frrLocal(),
      [
        'frr defaults traditional',
        'hostname border1',
        'ip route 198.19.254.0/24 blackhole',
        '!',
        `router bgp ${s.coreAsn}`,
        ` bgp router-id ${s.core.ipv4}`,
        ` neighbor ${UPLINK} remote-as 64999`,
        ` neighbor ${UPLINK} description uplink`,
        ' !',
        ' address-family ipv4 unicast',
        `  neighbor ${UPLINK} activate`,
        ' exit-address-family',
        'exit',
        '!',
        '',
      ].join('\n'),
    );
    agents.core = await startAgent(opts.core);
    agents.rr1 = await startAgent(opts.rr1);
    agents.node1 = await startAgent(opts.node1);
  }, 180_000);

  afterAll(async () => {
    for (const a of Object.values(agents)) await a?.stop().catch(() => undefined);
    await labDown(prefix).catch(() => undefined);
    await nats?.destroyStreams().catch(() => undefined);
    await nats?.close().catch(() => undefined);
    await natsServer?.kill();
    if (work) await fs.rm(work, { recursive: true, force: true });
  }, 120_000);

  it('operator-owned files survive applies: the BIRD include and the FRR base with its own uplink', async () => {
    const frrBase = await fs.readFile(frrLocal(), 'utf8');
    const tag = (g: number) => 4200000000 + g;
    await setPlacements(nats, clusterId, [
      { ip: vm1.ip, tag: tag(1) },
      { ip: vm1.ip, tag: tag(2) },
      { ip: vm2.ip, tag: tag(2) },
      { ip: vm1.ip, tag: tag(3) },
    ]);
    await publish('router', routerState(1));
    await publish('rr', rrState(1, [vm1]));
    await publish('node', nodeState(1, [vm1]));
    await appliedGen('router', routerId, 1);
    await appliedGen('node', nodeId, 1);
    await eventually(() => coreRoute(vm1.ip), 60_000, 100, 'VM route at the core');

    const check = async () => {
      expect(await birdc(s.nodes[0].bird.controlSocket, 'show', 'protocols')).toMatch(/operator_static\s+Static\s+master4\s+up/);
      expect(await fs.readFile(s.nodes[0].bird.configPath, 'utf8')).toContain(`include "${birdLocal()}";`);
      const running = await coreRunning();
      expect(running).toContain(`neighbor ${UPLINK} remote-as 64999`);
      expect(running).toContain('ip route 198.19.254.0/24 blackhole');
      expect(running).toContain(`neighbor ${s.routeReflectors[0].ipv4} remote-as ${s.fabricAsn}`);
      expect(await fs.readFile(s.core.frr.configPath, 'utf8')).toMatch(/^hostname border1$/m);
      expect(await fs.readFile(frrLocal(), 'utf8')).toBe(frrBase);
    };
    await check();
    // A later generation (a second VM) keeps them.
    const head = await store.headSeq();
    await publish('node', nodeState(2, [vm1, vm2]));
    await publish('router', routerState(2, ` neighbor ${s.routeReflectors[0].ipv4} description rr rr1 (gen 2)`));
    await appliedGen('node', nodeId, 2, head);
    await appliedGen('router', routerId, 2, head);
    expect(await coreRunning()).toContain('description rr rr1 (gen 2)');
    await check();
  });

  it('a BIRD configure that fails keeps the previous file, is reported, and is retried until it succeeds', async () => {
    const rr = s.routeReflectors[0];
    const before = await fs.readFile(rr.bird.configPath, 'utf8');
    const away = `${rr.bird.controlSocket}.away`;
    await fs.rename(rr.bird.controlSocket, away); // BIRD runs on, unreachable: birdc configure fails
    try {
      const head = await store.headSeq();
      await publish('rr', rrState(2, [vm1, vm2])); // admits vm2 from node1
      const failed = await eventually(
        async () => ofType<ConfigApplyFailed>(await agentEvents('rr', rrId, head), 'ConfigApplyFailed')[0],
        30_000,
        100,
        'ConfigApplyFailed',
      );
      expect(failed).toMatchObject({ generation: 2 });
      expect(failed.error).toMatch(/birdc configure failed/);
      expect(await fs.readFile(rr.bird.configPath, 'utf8')).toBe(before);
      expect(await coreRoute(vm2.ip)).toBeUndefined();
    } finally {
      await fs.rename(away, rr.bird.controlSocket);
    }
    // The retry applies it: the file changes only now, and the filter admits vm2 up to the core.
    await appliedGen('rr', rrId, 2);
    expect(await fs.readFile(rr.bird.configPath, 'utf8')).not.toBe(before);
    await eventually(() => coreRoute(vm2.ip), 30_000, 100, 'vm2 at the core after the retry');
  });

  it('an FRR config that fails half-way is rolled back: FRR keeps the previous config, the next one applies', async () => {
    const before = await coreRunning();
    const file = await fs.readFile(s.core.frr.configPath, 'utf8');
    const head = await store.headSeq();
    // Parses, but bgpd refuses it: the peer-group does not exist.
    await publish('router', routerState(3, ` neighbor 198.18.0.251 remote-as 65000\n neighbor 198.18.0.251 peer-group NO-SUCH-GROUP`));
    const failed = await eventually(
      async () => ofType<ConfigApplyFailed>(await agentEvents('router', routerId, head), 'ConfigApplyFailed')[0],
      180_000,
      100,
      'ConfigApplyFailed of the router',
    );
    expect(failed).toMatchObject({ generation: 3 });
    expect(failed.error).toMatch(/rolled back to the previous frr.conf/);
    // Stopping waits for an apply in flight (a retry): then nothing moves while we look.
    await agents.core!.stop();
    agents.core = undefined;
    expect(await coreRunning()).toBe(before);
    expect(await fs.readFile(s.core.frr.configPath, 'utf8')).toBe(file);
    const head2 = await store.headSeq();
    await publish('router', routerState(4));
    agents.core = await startAgent(opts.core!);
    await appliedGen('router', routerId, 4, head2);
    expect(await coreRunning()).toContain(`neighbor ${UPLINK} remote-as 64999`);
    expect(await coreRunning()).not.toContain('198.18.0.251');
    expect(await coreRoute(vm1.ip)).toBeDefined();
  });

  it('fail static: while NATS is away nothing changes; the agents reconnect and resume', async () => {
    const nodeNs = s.nodes[0].namespace;
    const snapshot = async () => {
      const routes = async (ns: string) => (await run('ip', ['-j', '-n', ns, '-4', 'route', 'show', 'table', 'all'])).stdout;
      return [
        await routes(nodeNs),
        (await run('ip', ['-j', '-n', nodeNs, 'link', 'show'])).stdout,
        await routes(s.core.namespace),
        await birdc(s.routeReflectors[0].bird.controlSocket, 'show', 'route', 'table', 'all'),
        await fs.readFile(s.nodes[0].bird.configPath, 'utf8'),
        await fs.readFile(s.routeReflectors[0].bird.configPath, 'utf8'),
        await fs.readFile(s.core.frr.configPath, 'utf8'),
      ].join('\n');
    };
    await eventually(async () => (await coreRoute(vm1.ip)) && (await coreRoute(vm2.ip)), 30_000, 100, 'both VMs at the core');
    const before = await snapshot();
    await natsServer.kill();
    const all = Object.values(agents) as AgentHandle[];
    await eventually(() => all.every((a) => !a.status().connected), 30_000, 50, 'agents see NATS gone');
    // Resyncs come due (every 1.5 s) and are skipped; polls go on; the lease TTL (3 s) passes.
    const marks = all.map((a) => a.status());
    await eventually(
      () => all.every((a, i) => a.status().pausedReconciles >= marks[i].pausedReconciles + 3 && a.status().polls >= marks[i].polls + 10),
      60_000,
      100,
      'resyncs skipped while NATS is away',
    );
    // A manual reconcile does nothing either.
    expect((await agents.node1!.reconcileNow()).paused).toBe(true);
    expect(await snapshot()).toBe(before);
    await run('ip', ['netns', 'exec', s.core.namespace, 'ping', '-c1', '-W2', vm1.ip]);

    await natsServer.start();
    await eventually(() => all.every((a) => a.status().connected && a.status().applying), 60_000, 100, 'agents resumed');
    const head = await store.headSeq();
    await publish('node', nodeState(3, [vm1]));
    await publish('rr', rrState(3, [vm1]));
    await appliedGen('node', nodeId, 3, head);
    await eventually(async () => !(await coreRoute(vm2.ip)), 30_000, 100, 'vm2 withdrawn after the resume');
    expect(await coreRoute(vm1.ip)).toBeDefined();
  });

  it('a restarted agent remembers the last applied generation and ignores an older one', async () => {
    await agents.node1!.stop();
    agents.node1 = undefined;
    const stateFile = path.join(work, 'state', `node-${nodeId}`, 'state.json');
    expect(JSON.parse(await fs.readFile(stateFile, 'utf8'))).toMatchObject({ kind: 'node', targetId: nodeId, generation: 3 });
    // An older desired state becomes the latest on the subject (e.g. a stale publisher): not applied.
    const head = await store.headSeq();
    await publish('node', nodeState(2, [vm1, vm2]));
    agents.node1 = await startAgent(opts.node1!);
    expect(agents.node1.status()).toMatchObject({ desiredGeneration: null, appliedGeneration: 3 });
    expect(await agents.node1.reconcileNow()).toMatchObject({ generation: null, changes: 0 });
    expect(ofType<ConfigApplied>(await agentEvents('node', nodeId, head), 'ConfigApplied')).toEqual([]);
    expect((await run('ip', ['-n', s.nodes[0].namespace, 'link', 'show', vmInterfaceName(vm2.vmId)], { allowFailure: true })).code).not.toBe(0);
    const head2 = await store.headSeq();
    await publish('node', nodeState(4, [vm1]));
    expect(await appliedGen('node', nodeId, 4, head2)).toMatchObject({ changes: 0 });
    await eventually(async () => JSON.parse(await fs.readFile(stateFile, 'utf8')).generation === 4, 10_000, 50, 'state file at gen 4');
  });

  it('a second agent for the same target or the same box cannot take over while the first runs', async () => {
    // Same target, same host: the target lock.
    await expect(startAgent(opts.node1!)).rejects.toThrow(LockBusyError);
    await expect(startAgent(opts.node1!)).rejects.toThrow(/locked by another agent.*"targetId":"[^"]+"/);
    // Another target on the same box (an agent left over from another run): the box lock.
    await expect(startAgent({ ...opts.node1!, targetId: randomUUID() })).rejects.toThrow(/node@.*node1\.lock is locked by another agent/);
    // Same target from "another host" (own state and lock dirs): the lease on the bus.
    const elsewhere = { ...opts.node1!, stateDir: path.join(work, 'state2'), lockDir: path.join(work, 'locks2'), hostId: 'another-host' };
    await expect(startAgent(elsewhere)).rejects.toThrow(LeaseBusyError);
    // The first one is still in charge.
    expect(agents.node1!.status()).toMatchObject({ applying: true, fenced: false });
    expect((await agents.node1!.reconcileNow()).paused).toBeUndefined();
  });

  it('an agent whose lease was taken over is fenced: it stops without touching anything', async () => {
    let fatal: Error | undefined;
    await agents.node1!.stop();
    agents.node1 = await startAgent({ ...opts.node1!, onFatal: (e) => (fatal = e) });
    const kv = await new Kvm(nats.nc).open(leaseBucket(nats.subjects.ns));
    const entry = await kv.get(`node.${nodeId}`);
    expect(entry?.operation).toBe('PUT');
    // Another host takes the target (e.g. after a partition outlived the lease).
    await kv.put(`node.${nodeId}`, JSON.stringify({ instance: 'other', host: 'elsewhere', pid: 1, startedAt: new Date().toISOString(), box: 'node@x' }));
    await eventually(() => fatal, 15_000, 50, 'fenced');
    expect(fatal).toBeInstanceOf(FencedError);
    expect(agents.node1!.status().fenced).toBe(true);
    await expect(agents.node1!.reconcileNow()).rejects.toThrow(/stopped/);
    expect(await coreRoute(vm1.ip)).toBeDefined();
    agents.node1 = undefined;
    await kv.delete(`node.${nodeId}`);
  });
});
