/**
 * NetlinkDriver with its kernel monitor (watchKernel) in a namespace of its own: a VM's tap created after the
 * desired state placed it is reported at once (onDrift), and the reconcile that follows configures it without
 * reading anything back; an out-of-band route deletion is reported and repaired; a killed monitor is restarted
 * and the next reconcile reads everything.
 */
import { promises as fs } from 'fs';
import { run } from './exec';
import { NetlinkDriver, type DesiredVm, type NodeDesiredState } from './netlink';

// Network namespaces need root: without it these tests fail (they are never skipped).
if (process.getuid?.() !== 0) throw new Error('the kernel monitor tests need root (network namespaces)');
const tag = Math.random().toString(36).slice(2, 6).padEnd(4, '0');
const ns = `kmo${tag}-node`;
const PROTO = 200;
const GATEWAY = { ip: '100.64.0.1', mac: '02:00:5e:00:00:01' };
const ip = (...args: string[]) => run('ip', ['-n', ns, ...args]);
const routes = async () =>
  JSON.parse((await run('ip', ['-j', '-n', ns, 'route', 'show', 'proto', String(PROTO)])).stdout || '[]') as { dst: string; dev: string }[];
const vm = (i: number): DesiredVm => ({ ifName: `vm${i}`, ip: `100.65.0.${i}`, family: 4, driver: 'tap' });
const desired = (vms: DesiredVm[]): NodeDesiredState => ({ namespace: ns, protocolNumber: PROTO, ifPrefix: 'vm', gateway: GATEWAY, vms });

describe('NetlinkDriver.watchKernel: the node follows the kernel', () => {
  let d: NetlinkDriver;
  let drifts = 0;
  let waiters: (() => void)[] = [];
  /** Resolves at the next onDrift (call before causing it). */
  const nextDrift = () => new Promise<void>((resolve) => waiters.push(resolve));
  /** Resolves when the monitor has started `n` children. */
  const monitorStarted = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      const check = () =>
        d.monitorStarts >= n && d.monitorPid ? resolve() : Date.now() - t0 > 10_000 ? reject(new Error('monitor not restarted')) : setImmediate(check);
      check();
    });

  beforeAll(async () => {
    await fs.access(`/run/netns/${ns}`).then(
      () => run('ip', ['netns', 'del', ns]),
      () => undefined,
    );
    await run('ip', ['netns', 'add', ns]);
    await ip('link', 'set', 'lo', 'up');
    d = new NetlinkDriver({ namespace: ns, protocolNumber: PROTO, ifPrefix: 'vm' });
    d.watchKernel(() => {
      drifts++;
      const w = waiters;
      waiters = [];
      for (const r of w) r();
    });
  });

  afterAll(async () => {
    await d?.close();
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  });

  it('a tap created after the VM was placed is reported at once and configured without a read', async () => {
    const first = await d.reconcile(desired([vm(1)]));
    expect(first.missing).toEqual(['vm1']);
    const reads = { full: d.fullReads, refresh: d.refreshReads };
    const drift = nextDrift();
    const t0 = process.hrtime.bigint();
    await ip('tuntap', 'add', 'dev', 'vm1', 'mode', 'tap');
    await drift;
    const r = await d.reconcile(desired([vm(1)]), { incremental: true });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(r.missing).toEqual([]);
    expect(r.operations).toEqual([
      'link set dev vm1 address 02:00:5e:00:00:01 up',
      'address add 100.64.0.1/32 dev vm1',
      `route replace 100.65.0.1/32 dev vm1 scope link proto ${PROTO} metric 0`,
    ]);
    expect(await routes()).toEqual([expect.objectContaining({ dst: '100.65.0.1', dev: 'vm1' })]);
    expect({ full: d.fullReads, refresh: d.refreshReads }).toEqual(reads);
    // The events of our own writes do not report drift: converged means quiet.
    expect((await d.reconcile(desired([vm(1)]), { incremental: true })).changes).toBe(0);
    console.log(`tap created → configured: ${ms.toFixed(1)} ms`);
  });

  it('adding a VM reads nothing back; an out-of-band route deletion is reported and repaired', async () => {
    await ip('tuntap', 'add', 'dev', 'vm2', 'mode', 'tap');
    const reads = { full: d.fullReads, refresh: d.refreshReads };
    const r = await d.reconcile(desired([vm(1), vm(2)]));
    expect(r.changes).toBe(3);
    expect({ full: d.fullReads, refresh: d.refreshReads }).toEqual(reads);
    const before = drifts;
    const drift = nextDrift();
    await ip('route', 'del', '100.65.0.2/32', 'proto', String(PROTO));
    await drift;
    expect(drifts).toBeGreaterThan(before);
    const fix = await d.reconcile(desired([vm(1), vm(2)]), { incremental: true });
    expect(fix.operations).toEqual([`route replace 100.65.0.2/32 dev vm2 scope link proto ${PROTO} metric 0`]);
    expect((await routes()).map((x) => x.dst).sort()).toEqual(['100.65.0.1', '100.65.0.2']);
    // Someone else's route of our protocol is an orphan: reported and removed.
    const orphan = nextDrift();
    await ip('route', 'add', '100.65.0.99/32', 'dev', 'vm2', 'proto', String(PROTO));
    await orphan;
    expect((await d.reconcile(desired([vm(1), vm(2)]), { incremental: true })).operations).toEqual([
      `route del 100.65.0.99/32 dev vm2 proto ${PROTO} metric 0`,
    ]);
  });

  it('a killed monitor is restarted; the next reconcile reads everything, then follows events again', async () => {
    const pid = d.monitorPid!;
    const starts = d.monitorStarts;
    const drift = nextDrift(); // a restart reports drift: events may have been missed
    process.kill(pid, 'SIGKILL');
    await monitorStarted(starts + 1);
    await drift;
    expect(d.monitorPid).not.toBe(pid);
    const full = d.fullReads;
    expect((await d.reconcile(desired([vm(1), vm(2)]), { incremental: true })).changes).toBe(0);
    expect(d.fullReads).toBe(full + 1);
    const placed = await d.reconcile(desired([vm(1), vm(2), vm(3)]));
    expect(placed.missing).toEqual(['vm3']);
    const appeared = nextDrift();
    await ip('tuntap', 'add', 'dev', 'vm3', 'mode', 'tap');
    await appeared;
    const refresh = d.refreshReads;
    expect((await d.reconcile(desired([vm(1), vm(2), vm(3)]), { incremental: true })).changes).toBe(3);
    expect(d.refreshReads).toBe(refresh);
    expect((await routes()).map((x) => x.dst).sort()).toEqual(['100.65.0.1', '100.65.0.2', '100.65.0.3']);
    // No fence route is left behind.
    expect((await run('ip', ['-n', ns, 'route', 'show', 'table', 'all', 'proto', String(PROTO)])).stdout).not.toContain('192.0.2.255');
  });
});
