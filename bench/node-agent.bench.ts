/**
 * Node agent data plane (NetlinkDriver over long-lived `ip -batch` processes), in namespaces of its own with
 * 100.64.0.0/10 addresses, tap devices pre-created as libvirt would:
 *  - cold reconcile of N VMs (default 10,000) vs raw `ip -batch` installing the same routes (the floor), and vs
 *    raw `ip -batch` of the very lines the driver wrote (same work, no reads, no diff);
 *  - a reconcile adding one VM to a node holding 1,000 and 10,000 vs the same on an empty node (p50 of 20 each),
 *    with the kernel monitor keeping the driver's model (as the agent runs it) and, at 1,000, without it (targeted
 *    re-reads); the unchanged-state reconcile (resync, a full read) at 1,000 for reference;
 *  - the tap-appears → configured latency: the VM is in the desired state, `ip tuntap add` creates its tap (as
 *    libvirt does), the monitor reports it and the reconcile it starts installs the route (p50 of 20, node of 1,000);
 *  - above the driver, a command's in-process work (decode, JSON.parse, the node role's validation, the mapping to
 *    the driver's VMs) adding one VM at 1,000 vs empty, and the agent's state-file write (fsync'd) per command.
 * Needs root. Run it under the heavy lock.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NetlinkDriver, type NodeDesiredState, type DesiredVm } from '../agents/src/drivers/netlink';
import { NodeRole } from '../agents/src/roles/node';
import { writeAgentState } from '../agents/src/state-file';
import { report } from './summary';

const N_COLD = Number(process.env.BENCH_NODE_VMS ?? 10000);
const N_HELD = 1000;
const N_HELD_BIG = Number(process.env.BENCH_NODE_HELD_BIG ?? 10000);
const N_ADDS = 20;
const GATEWAY = { ip: '100.64.0.1', mac: '02:00:5e:00:00:01' };
const PROTO = 200;

function ipBatch(ns: string, lines: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const p = spawn('ip', ['-n', ns, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ip -batch in ${ns}: ${err.slice(0, 500)}`))));
    p.stdin!.on('error', () => undefined); // ip stopped at an error: reported by 'close'
    p.stdin!.end(lines.join('\n') + '\n');
  });
}

function ipCmd(args: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const p = spawn('ip', args, { stdio: 'ignore' });
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ip ${args.join(' ')} failed`))));
  });
}

/** 100.65.0.0 + i: inside 100.64.0.0/10, never the gateway. */
const vmIp = (i: number) => `100.${65 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const vm = (i: number): DesiredVm => ({ ifName: `vm${i}`, ip: vmIp(i), family: 4, driver: 'tap' });
const desired = (ns: string, vms: DesiredVm[]): NodeDesiredState => ({ namespace: ns, protocolNumber: PROTO, ifPrefix: 'vm', gateway: GATEWAY, vms });
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t) / 1e6, r];
}

async function withNamespace<T>(ns: string, fn: () => Promise<T>): Promise<T> {
  await ipCmd(['netns', 'add', ns]);
  try {
    await ipCmd(['-n', ns, 'link', 'set', 'lo', 'up']);
    return await fn();
  } finally {
    await ipCmd(['netns', 'del', ns]).catch(() => undefined);
  }
}

const taps = (ns: string, ids: number[]) =>
  ipBatch(
    ns,
    ids.map((i) => `tuntap add dev vm${i} mode tap`),
  );

async function cold(ns: string): Promise<{ ours: number; floorRoutes: number; floorSame: number; lines: number }> {
  const ids = range(1, N_COLD + 1);
  await taps(ns, ids);
  // Floor: the routes alone (links up first, untimed, as a route needs its device up).
  await ipBatch(
    ns,
    ids.map((i) => `link set dev vm${i} up`),
  );
  const routes = ids.map((i) => `route add ${vmIp(i)}/32 dev vm${i} scope link proto ${PROTO}`);
  const [floorRoutes] = await timed(() => ipBatch(ns, routes));
  await ipBatch(ns, [`route flush proto ${PROTO}`, ...ids.map((i) => `link set dev vm${i} down`)]);

  const nl = new NetlinkDriver({ namespace: ns, protocolNumber: PROTO, ifPrefix: 'vm' });
  try {
    const [ours, r] = await timed(() => nl.reconcile(desired(ns, ids.map(vm))));
    if (r.missing.length) throw new Error(`missing interfaces: ${r.missing.length}`);
    // Same work by hand: undo (never `address flush dev`: each dumps every address), then the very lines the driver wrote.
    await ipBatch(ns, [
      `route flush proto ${PROTO}`,
      ...ids.flatMap((i) => [`link set dev vm${i} down address 02:00:00:00:00:02`, `address del ${GATEWAY.ip}/32 dev vm${i}`]),
    ]);
    const lines = r.operations.filter((o) => /^(link|address|route) /.test(o)); // not the sysctl
    const [floorSame] = await timed(() => ipBatch(ns, lines));
    return { ours, floorRoutes, floorSame, lines: lines.length };
  } finally {
    await nl.close();
  }
}

async function addOne(ns: string, held: number, monitor: boolean): Promise<{ add: number; resync: number; reads: number }> {
  const ids = range(1, held + N_ADDS + 1);
  await taps(ns, ids);
  const nl = new NetlinkDriver({ namespace: ns, protocolNumber: PROTO, ifPrefix: 'vm' });
  // As the agent runs it: the kernel monitor keeps the model (its drift reports are not used here).
  if (monitor) nl.watchKernel(() => undefined);
  try {
    const vms = range(1, held + 1).map(vm);
    await nl.reconcile(desired(ns, vms));
    const adds: number[] = [];
    const reads = nl.refreshReads + nl.fullReads;
    for (const i of range(held + 1, held + N_ADDS + 1)) {
      vms.push(vm(i));
      const [t, r] = await timed(() => nl.reconcile(desired(ns, [...vms])));
      if (r.changes !== 3) throw new Error(`adding vm${i}: ${r.changes} changes (${r.operations.join('; ')})`);
      adds.push(t);
    }
    const addReads = nl.refreshReads + nl.fullReads - reads;
    const resyncs: number[] = [];
    for (let k = 0; k < 5; k++) resyncs.push((await timed(() => nl.reconcile(desired(ns, [...vms]))))[0]);
    return { add: p50(adds), resync: p50(resyncs), reads: addReads };
  } finally {
    await nl.close();
  }
}

/** The VM placed first, then its tap created: until the reconcile its kernel event started has installed the route. */
async function tapLatency(ns: string, held: number): Promise<{ fromStart: number; fromExit: number }> {
  const ids = range(1, held + 1);
  await taps(ns, ids);
  const nl = new NetlinkDriver({ namespace: ns, protocolNumber: PROTO, ifPrefix: 'vm' });
  let waiters: (() => void)[] = [];
  nl.watchKernel(() => {
    const w = waiters;
    waiters = [];
    for (const r of w) r();
  });
  try {
    const vms = ids.map(vm);
    await nl.reconcile(desired(ns, vms));
    const fromStart: number[] = [];
    const fromExit: number[] = [];
    for (const i of range(held + 1, held + N_ADDS + 1)) {
      vms.push(vm(i));
      const placed = await nl.reconcile(desired(ns, [...vms]));
      if (placed.missing.join() !== `vm${i}`) throw new Error(`vm${i} should be missing: ${placed.missing.join()}`);
      const drift = new Promise<void>((r) => waiters.push(r));
      const t0 = process.hrtime.bigint();
      await ipCmd(['-n', ns, 'tuntap', 'add', 'dev', `vm${i}`, 'mode', 'tap']);
      const t1 = process.hrtime.bigint();
      await drift;
      const r = await nl.reconcile(desired(ns, [...vms]), { incremental: true });
      const t2 = process.hrtime.bigint();
      if (r.changes !== 3) throw new Error(`tap vm${i}: ${r.changes} changes (${r.operations.join('; ')})`);
      fromStart.push(Number(t2 - t0) / 1e6);
      fromExit.push(Number(t2 - t1) / 1e6);
    }
    return { fromStart: p50(fromStart), fromExit: p50(fromExit) };
  } finally {
    await nl.close();
  }
}

/** A node command as the desired-state publisher sends it, with `n` VMs (BIRD text: one line, it lists no VM). */
function nodeCommand(n: number, generation: number): Uint8Array {
  const vms = range(1, n + 1).map((i) => ({ vmId: randomUUID(), ifName: `vm${i}`, ip: vmIp(i), family: 4, driver: 'tap' }));
  const payload = { kind: 'node', targetId: 'n1', clusterId: 'c', generation, hash: `h${generation}`, sourceSeq: generation, nodeName: 'node1' };
  const body = { ...payload, underlayIp: '198.18.0.101', gateway: GATEWAY, protocolNumber: PROTO, bird: 'router id 198.18.0.101;\n', vms };
  return new TextEncoder().encode(JSON.stringify(body));
}

/** The agent's work on a command before the driver: decode, parse, validate (after the previous command), map. */
function aboveDriver(held: number): number {
  const role = new NodeRole({ bird: { configPath: '/nonexistent/bird.conf', controlSocket: '/nonexistent/bird.ctl' } });
  const dec = new TextDecoder();
  const cmds = range(0, N_ADDS + 1).map((k) => nodeCommand(held + k, k + 1));
  const handle = (data: Uint8Array) => role.netlinkVms(role.validate(JSON.parse(dec.decode(data)), 'n1'));
  handle(cmds[0]);
  const ts = cmds.slice(1).map((c) => {
    const t = process.hrtime.bigint();
    handle(c);
    return Number(process.hrtime.bigint() - t) / 1e6;
  });
  return p50(ts);
}

async function stateFileWrite(): Promise<number> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bna-state-'));
  try {
    const ts: number[] = [];
    for (let g = 1; g <= N_ADDS; g++) {
      const rec = { version: 1 as const, kind: 'node', targetId: 'n1', generation: g, hash: `h${g}`, appliedAt: new Date().toISOString() };
      ts.push((await timed(() => writeAgentState(path.join(dir, 'state.json'), rec)))[0]);
    }
    return p50(ts);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export async function benchNodeAgent(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the node-agent bench needs root (network namespaces)');
  const tag = `bna${Math.random().toString(36).slice(2, 6)}`;
  // A namespace left over by an interrupted run of this bench has our prefix and no process: tell, never guess.
  const left = (await fs.readdir('/run/netns').catch(() => [] as string[])).filter((n) => /^bna[a-z0-9]{4}-/.test(n));
  if (left.length) console.log(`note: namespaces of an earlier interrupted node-agent bench: ${left.join(', ')}`);

  console.log(`\nnode agent (NetlinkDriver over ip -batch), tap devices pre-created, 100.64.0.0/10`);
  const c = await withNamespace(`${tag}-cold`, () => cold(`${tag}-cold`));
  console.log(
    `  cold reconcile, ${N_COLD} VMs:            ours ${ms(c.ours)}   floor (routes only, raw ip -batch) ${ms(c.floorRoutes)}   ratio ${(c.ours / c.floorRoutes).toFixed(2)}`,
  );
  console.log(
    `    same ${c.lines} lines by raw ip -batch:  ${ms(c.floorSame)}   ratio ${(c.ours / c.floorSame).toFixed(2)} (the driver's own overhead: read + diff)`,
  );
  report({
    figure: `node agent cold reconcile, ${N_COLD} VMs`,
    ours: ms(c.ours),
    floor: `${ms(c.floorRoutes)} raw ip -batch routes; ${ms(c.floorSame)} same lines`,
    ratio: `${(c.ours / c.floorRoutes).toFixed(2)}; ${(c.ours / c.floorSame).toFixed(2)}`,
    target: '≤ 2',
    met: c.ours / c.floorSame <= 2,
  });
  const empty = await withNamespace(`${tag}-e`, () => addOne(`${tag}-e`, 0, true));
  const held = await withNamespace(`${tag}-h`, () => addOne(`${tag}-h`, N_HELD, true));
  const big = await withNamespace(`${tag}-b`, () => addOne(`${tag}-b`, N_HELD_BIG, true));
  console.log(
    `  add one VM, p50 of ${N_ADDS} (kernel monitor keeps the model; reads back: ${held.reads + big.reads + empty.reads}):  ` +
      `holding ${N_HELD} ${ms(held.add)} (ratio ${(held.add / empty.add).toFixed(2)})   holding ${N_HELD_BIG} ${ms(big.add)} (ratio ${(big.add / empty.add).toFixed(2)})   empty ${ms(empty.add)}`,
  );
  const emptyRead = await withNamespace(`${tag}-e`, () => addOne(`${tag}-e`, 0, false));
  const heldRead = await withNamespace(`${tag}-h`, () => addOne(`${tag}-h`, N_HELD, false));
  console.log(
    `    without the monitor (targeted re-reads, ${heldRead.reads} of them):  holding ${N_HELD} ${ms(heldRead.add)}   empty ${ms(emptyRead.add)}   ratio ${(heldRead.add / emptyRead.add).toFixed(2)}`,
  );
  console.log(
    `  unchanged state (resync, full read), p50 of 5:  ${N_HELD} VMs ${ms(held.resync)}   ${N_HELD_BIG} VMs ${ms(big.resync)}   empty ${ms(empty.resync)}`,
  );
  const tap = await withNamespace(`${tag}-t`, () => tapLatency(`${tag}-t`, N_HELD));
  console.log(
    `  tap appears → configured (route installed), p50 of ${N_ADDS}, node holding ${N_HELD}:  ${ms(tap.fromExit)} after \`ip tuntap add\` exited   (${ms(tap.fromStart)} from its spawn)`,
  );
  for (const [n, r] of [
    [N_HELD, held],
    [N_HELD_BIG, big],
  ] as const) {
    report({
      figure: `node agent add one VM (holding ${n} vs empty)`,
      ours: ms(r.add),
      floor: `${ms(empty.add)} on an empty node`,
      ratio: (r.add / empty.add).toFixed(2),
      target: '≈ 1 ("about the same")',
      met: r.add / empty.add <= 1.5,
    });
  }
  const above = { held: aboveDriver(N_HELD), empty: aboveDriver(0) };
  console.log(
    `  above the driver, a command adding one VM (decode, JSON.parse, validate, map), p50 of ${N_ADDS}:  holding ${N_HELD} ${ms(above.held)}   empty ${ms(above.empty)}`,
  );
  console.log(`  agent state file write per command (tmp, fsync, rename, dir fsync), p50 of ${N_ADDS}:  ${ms(await stateFileWrite())}`);
}
