import { promises as fs } from 'fs';
import { run, waitFor } from './exec';
import { IpBatch, IpBatchError, ipLine } from './ip-batch';
import { NetlinkDriver, type NodeDesiredState } from './netlink';
import { isAlive } from './proc';

// Network namespaces need root: without it these tests fail (they are never skipped).
if (process.getuid?.() !== 0) throw new Error('the ip batch tests need root (network namespaces)');
const tag = Math.random().toString(36).slice(2, 6).padEnd(4, '0');
const ns = `ipb${tag}-node`;
const nsExists = (n: string) =>
  fs.access(`/run/netns/${n}`).then(
    () => true,
    () => false,
  );
const ip = (...args: string[]) => run('ip', ['-n', ns, ...args]);
const ipj = async <T>(...args: string[]): Promise<T> => JSON.parse((await run('ip', ['-j', '-n', ns, ...args])).stdout || '[]') as T;

async function freshNamespace(): Promise<void> {
  if (await nsExists(ns)) await run('ip', ['netns', 'del', ns]);
  await run('ip', ['netns', 'add', ns]);
  await ip('link', 'set', 'lo', 'up');
}

const taps = (names: string[]) => run('ip', ['-n', ns, '-batch', '-'], { input: names.map((n) => `tuntap add dev ${n} mode tap\n`).join('') });

describe('IpBatch: one long-lived ip -batch process', () => {
  let b: IpBatch;
  beforeAll(freshNamespace);
  afterAll(async () => {
    await b?.close();
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  });
  beforeEach(() => {
    b = new IpBatch({ namespace: ns });
  });
  afterEach(() => b.close());

  it('runs every line, attributes each error to its own line and keeps the process', async () => {
    const r = await b.run([
      ['link', 'add', 'bx0', 'type', 'veth', 'peer', 'name', 'bx1'],
      ['route', 'add', '203.0.113.7/32', 'dev', 'nosuchdev'],
      ['link', 'set', 'dev', 'bx0', 'up'],
      // (address dumps, not link dumps: iproute2 keeps a link dump's filter for later address dumps of a process.)
      ['address', 'show', 'dev', 'nosuch2'],
      ['address', 'show', 'dev', 'bx0'],
      ['address', 'add', '203.0.113.1/32', 'dev', 'bx0'],
      ['address', 'add', '203.0.113.1/32', 'dev', 'bx0'],
    ]);
    expect(r.map((x) => x.ok)).toEqual([true, false, true, false, true, true, false]);
    expect(r[1].error).toMatch(/nosuchdev|Cannot find device/);
    expect(r[3].error).toMatch(/nosuch2.*does not exist/);
    expect(r[4].output).toEqual([expect.objectContaining({ ifname: 'bx0', flags: expect.arrayContaining(['UP']) })]);
    expect(r[6].error).toMatch(/already assigned|exists/);
    const pid = b.pid;
    expect(pid).toBeDefined();
    // The same process serves the next request, with its line numbers continuing.
    const again = await b.run([
      ['address', 'show', 'dev', 'nosuch3'],
      ['address', 'show', 'dev', 'bx0'],
    ]);
    expect(again[0].ok).toBe(false);
    expect(again[1].output).toEqual([expect.objectContaining({ addr_info: expect.arrayContaining([expect.objectContaining({ local: '203.0.113.1' })]) })]);
    expect(b.pid).toBe(pid);
    expect(b.starts).toBe(1);
    await expect(
      b.runOrThrow([
        ['link', 'del', 'dev', 'bx0'],
        ['link', 'del', 'dev', 'bx0'],
      ]),
    ).rejects.toThrow(/1 ip operation\(s\) failed: `link del dev bx0`/);
  });

  it('a large dump is read whole', async () => {
    await taps(Array.from({ length: 300 }, (_, i) => `bt${i}`));
    const [links, lo] = await b.run([
      ['link', 'show'],
      ['link', 'show', 'dev', 'lo'],
    ]);
    expect((links.output as { ifname: string }[]).filter((l) => l.ifname.startsWith('bt')).length).toBe(300);
    expect(lo.output).toEqual([expect.objectContaining({ ifname: 'lo' })]);
    await run('ip', ['-n', ns, '-batch', '-'], { input: Array.from({ length: 300 }, (_, i) => `link del bt${i}\n`).join('') });
  });

  it('starts a new process when the old one died (between requests and in the middle of one)', async () => {
    await b.run([['link', 'show', 'dev', 'lo']]);
    const pid1 = b.pid!;
    process.kill(pid1, 'SIGKILL');
    await waitFor(async () => !(await isAlive(pid1)) && b.pid === undefined, 5000, 'ip -batch gone and seen gone');
    const r = await b.run([['link', 'show', 'dev', 'lo']]);
    expect(r[0].ok).toBe(true);
    expect(b.pid).not.toBe(pid1);
    expect(b.starts).toBe(2);

    // Killed while it works on a long request: that request fails, naming where it was; the next one runs.
    const long = Array.from({ length: 20000 }, () => ['link', 'show', 'dev', 'lo']);
    const p = b.run(long);
    await waitFor(async () => b.busy, 5000, 'request in flight', 2);
    process.kill(b.pid!, 'SIGKILL');
    await expect(p).rejects.toThrow(/ip -batch exited \(SIGKILL\) at or after line \d+ of 20000/);
    expect((await b.run([['link', 'show', 'dev', 'lo']]))[0].ok).toBe(true);
    expect(b.starts).toBe(3);
  });

  it('follows a namespace deleted and created again under the same name', async () => {
    await b.run([['link', 'add', 'old0', 'type', 'veth', 'peer', 'name', 'old1']]);
    const pid = b.pid;
    await freshNamespace();
    const [r] = await b.run([['link', 'show', 'dev', 'old0']]);
    expect(r.ok).toBe(false); // the new namespace has no old0: the process moved with the name
    expect(b.pid).not.toBe(pid);
  });

  it('refuses tokens that could add, continue or comment out a batch line, before writing anything', async () => {
    for (const bad of ['vm1\nlink del dev lo', 'vm1 up', 'vm"1', "vm'1", 'vm1#', 'vm1\\', 'vm1;x', '-force', '', 'a'.repeat(65), 'vm1\r']) {
      await expect(b.run([['link', 'set', 'dev', bad, 'up']])).rejects.toBeInstanceOf(IpBatchError);
    }
    expect(() => ipLine(['fabric-sync'])).toThrow(IpBatchError);
    expect(b.pid).toBeUndefined(); // nothing was ever started, so nothing was written
  });
});

describe('NetlinkDriver over ip -batch: work grows with the change', () => {
  let nl: NetlinkDriver;
  const gateway = { ip: '169.254.0.1', mac: '02:00:00:00:00:01' };
  const desired = (n: number, extra: NodeDesiredState['vms'] = []): NodeDesiredState => ({
    namespace: ns,
    protocolNumber: 200,
    ifPrefix: 'vm',
    gateway,
    vms: [...Array.from({ length: n }, (_, i) => ({ ifName: `vm${i}`, ip: `203.0.113.${i + 1}`, family: 4 as const, driver: 'tap' as const })), ...extra],
  });

  beforeAll(async () => {
    await freshNamespace();
    await taps(Array.from({ length: 22 }, (_, i) => `vm${i}`));
    nl = new NetlinkDriver({ namespace: ns, protocolNumber: 200, ifPrefix: 'vm' });
  });
  afterAll(async () => {
    await nl?.close();
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  });

  it('a cold reconcile reads once and writes everything; the same state again reads everything and changes nothing', async () => {
    const r = await nl.reconcile(desired(20));
    expect(r.missing).toEqual([]);
    expect(r.operations).toContain('route replace 203.0.113.20/32 dev vm19 scope link proto 200 metric 0');
    expect(nl.fullReads).toBe(1);
    expect(await nl.reconcile(desired(20))).toEqual({ changes: 0, operations: [], missing: [] });
    expect(nl.fullReads).toBe(2);
  });

  it('adding a VM writes only that VM, without a full read or a process spawn', async () => {
    const pids = nl.batchPids;
    const r = await nl.reconcile(desired(21));
    expect(r.operations).toEqual([
      'link set dev vm20 address 02:00:00:00:00:01 up',
      'address add 169.254.0.1/32 dev vm20',
      'route replace 203.0.113.21/32 dev vm20 scope link proto 200 metric 0',
    ]);
    expect(nl.fullReads).toBe(2);
    expect(nl.batchPids).toEqual(pids);
    expect(await ipj('route', 'show', '203.0.113.21/32', 'proto', '200')).toHaveLength(1);
  });

  it('removing a VM and changing another touches only those two', async () => {
    const d = desired(21);
    d.vms = d.vms.filter((v) => v.ifName !== 'vm3');
    d.vms[0] = { ...d.vms[0], metric: 4096 };
    const r = await nl.reconcile(d);
    expect(r.operations.sort()).toEqual([
      'address del 169.254.0.1/32 dev vm3',
      'route del 203.0.113.1/32 dev vm0 proto 200 metric 0',
      'route del 203.0.113.4/32 dev vm3 proto 200 metric 0',
      'route replace 203.0.113.1/32 dev vm0 scope link proto 200 metric 4096',
    ]);
    expect(nl.fullReads).toBe(2);
    expect(await nl.reconcile(d)).toEqual({ changes: 0, operations: [], missing: [] });
  });

  it('a tap the hypervisor creates later is picked up by the next reconcile', async () => {
    const d = desired(21, [{ ifName: 'vmlate', ip: '203.0.113.99', family: 4, driver: 'tap' }]);
    expect((await nl.reconcile(d)).missing).toEqual(['vmlate']);
    await taps(['vmlate']);
    const d2 = desired(21, [...d.vms.slice(21), { ifName: 'vm21', ip: '203.0.113.22', family: 4, driver: 'tap' }]);
    const reads = nl.fullReads;
    const r = await nl.reconcile(d2);
    expect(r.missing).toEqual([]);
    expect(r.operations).toEqual(
      expect.arrayContaining([
        'route replace 203.0.113.99/32 dev vmlate scope link proto 200 metric 0',
        'route replace 203.0.113.22/32 dev vm21 scope link proto 200 metric 0',
      ]),
    );
    expect(nl.fullReads).toBe(reads);
  });

  it('drift is repaired by the reconcile of an unchanged desired state (the resync)', async () => {
    const d = desired(22, [{ ifName: 'vmlate', ip: '203.0.113.99', family: 4, driver: 'tap' }]);
    d.vms = d.vms.filter((v) => v.ifName !== 'vm21').concat({ ifName: 'vm21', ip: '203.0.113.22', family: 4, driver: 'tap' });
    await nl.reconcile(d);
    await ip('route', 'del', '203.0.113.6/32', 'dev', 'vm5', 'proto', '200');
    await ip('link', 'set', 'dev', 'vm6', 'down');
    const r = await nl.reconcile(d);
    // A link going down takes its IPv4 routes with it: vm6's route is back too.
    expect(r.operations.sort()).toEqual([
      'link set dev vm6 up',
      'route replace 203.0.113.6/32 dev vm5 scope link proto 200 metric 0',
      'route replace 203.0.113.7/32 dev vm6 scope link proto 200 metric 0',
    ]);
  });

  it('an error in the middle of the batch: the other VMs are applied, the error names its line, the next reconcile reads everything', async () => {
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.vm7.disable_ipv6=1']);
    const d = desired(22, [{ ifName: 'vmlate', ip: '203.0.113.99', family: 4, driver: 'tap' }]);
    d.vms = d.vms.filter((v) => v.ifName !== 'vm7' && v.ifName !== 'vm8');
    d.vms.push({ ifName: 'vm7', ip: '2001:db8::7', family: 6, driver: 'tap' }, { ifName: 'vm8', ip: '2001:db8::8', family: 6, driver: 'tap' });
    const reads = nl.fullReads;
    await expect(nl.reconcile(d)).rejects.toThrow(/`address add fe80::1\/64 dev vm7 nodad`/);
    // vm8 (after vm7 in the batch) got its address and route all the same.
    expect(await ipj('-6', 'route', 'show', '2001:db8::8/128', 'proto', '200')).toHaveLength(1);
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.vm7.disable_ipv6=0']);
    const r = await nl.reconcile(d);
    expect(nl.fullReads).toBe(reads + 1);
    expect(r.operations).toEqual(expect.arrayContaining(['address add fe80::1/64 dev vm7 nodad']));
    expect(r.operations.join('\n')).not.toMatch(/vm8/);
    expect(await nl.reconcile(d)).toEqual({ changes: 0, operations: [], missing: [] });
  });

  it('addresses swapped between VMs and the address of a removed VM reused are applied without a full read; drift elsewhere waits for the resync', async () => {
    await nl.reconcile(desired(22));
    await nl.reconcile(desired(22)); // a resync: converged, as a full read sees it
    const reads = nl.fullReads;
    const d = desired(22);
    d.vms = d.vms
      .filter((v) => v.ifName !== 'vm4')
      .map((v) =>
        v.ifName === 'vm1'
          ? { ...v, ip: '203.0.113.3' }
          : v.ifName === 'vm2'
            ? { ...v, ip: '203.0.113.2' }
            : v.ifName === 'vm21'
              ? { ...v, ip: '203.0.113.5' }
              : v,
      );
    await nl.reconcile(d);
    expect(nl.fullReads).toBe(reads);
    const routes = await ipj<{ dst: string; dev: string }[]>('route', 'show', 'proto', '200');
    expect(routes.map((r) => `${r.dst} ${r.dev}`).sort()).toEqual(d.vms.map((v) => `${v.ip} ${v.ifName}`).sort());
    expect(await nl.reconcile(d, { full: true })).toEqual({ changes: 0, operations: [], missing: [] });

    // Drift on a VM the next command does not change: that command leaves it, the resync after it repairs it.
    await ip('route', 'del', '203.0.113.10/32', 'dev', 'vm9', 'proto', '200');
    const next = { ...d, vms: d.vms.map((v) => (v.ifName === 'vm0' ? { ...v, metric: 7 } : v)) };
    expect((await nl.reconcile(next)).operations.join('\n')).not.toMatch(/vm9/);
    expect(nl.fullReads).toBe(reads + 1);
    expect((await nl.reconcile(next)).operations).toEqual(['route replace 203.0.113.10/32 dev vm9 scope link proto 200 metric 0']);
    expect(nl.fullReads).toBe(reads + 2);
  });

  it('refuses desired states that could inject a batch line', async () => {
    const bad: NodeDesiredState[] = [
      desired(0, [{ ifName: 'vm1\nlink del dev lo', ip: '203.0.113.1', family: 4, driver: 'tap' }]),
      desired(0, [{ ifName: 'vm1 up', ip: '203.0.113.1', family: 4, driver: 'tap' }]),
      desired(0, [{ ifName: 'vm1', ip: '203.0.113.1 dev lo', family: 4, driver: 'tap' }]),
      desired(0, [{ ifName: 'vm1', ip: '203.0.113.1', family: 4, driver: 'netns', vmNamespace: 'x\nnetns del y' }]),
      { ...desired(0), gateway: { ip: '169.254.0.1', mac: '02:00:00:00:00:01\nlink del dev lo' } },
      { ...desired(0), gateway: { ip: '169.254.0.1/32 dev lo', mac: '02:00:00:00:00:01' } },
    ];
    for (const d of bad) await expect(nl.reconcile(d)).rejects.toThrow(/invalid|needs a valid/);
    expect(await ipj('link', 'show', 'dev', 'lo')).toHaveLength(1);
  });

  it('close ends the ip processes', async () => {
    const pids = nl.batchPids.filter((p): p is number => p !== undefined);
    expect(pids.length).toBe(2);
    await nl.close();
    for (const p of pids) await waitFor(async () => !(await isAlive(p)), 5000, 'ip -batch ended');
  });
});
