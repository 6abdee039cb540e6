/**
 * IPAM scales out and survives crashes (docs/adr/0003-inventory-single-writer.md: one aggregate per cluster, optimistic concurrency,
 * deterministic Msg-Ids, publish before ack): with two IPAM processes sharing the durable, or one killed
 * with `kill -9` mid-stream and replaced, every VM ends with exactly one address and no address is held twice.
 */
import { type StoredEvent } from '@fabric/contracts';
import { eventually } from '@fabric/testing/infra';
import { parseIp } from '@fabric/ipam-math';
import { type ControlPlane, startControlPlane } from '../support/control-plane';
import { countByVm, createFixture, createVmsViaRpc, eventsOfType, subjectCount } from '../support/api-fixtures';
import { killAllChildren, type ServiceProcess, startIpamProcess } from '../support/processes';

describe('IPAM under concurrency and crashes', () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    // inventory and gateway in this process; IPAM only as separate OS processes.
    cp = await startControlPlane({ ipamProcesses: 0 });
  });
  afterAll(async () => {
    await killAllChildren();
    await cp?.close();
  });

  const ipamEvents = (clusterId: string) => cp.store.read(cp.store.subjects.evt('ipam', clusterId));

  /** Every VM has exactly one IpAllocated, the addresses are distinct and inside the pool; nothing failed. */
  function expectOneDistinctAddressEach(events: StoredEvent[], vmIds: string[], pool: { start: string; end: string }) {
    const allocated = events.filter((e) => e.type === 'IpAllocated');
    const perVm = countByVm(allocated);
    const missing = vmIds.filter((id) => !perVm.has(id));
    const twice = [...perVm].filter(([, n]) => n !== 1);
    expect({ missing: missing.length, twice }).toEqual({ missing: 0, twice: [] });
    expect(perVm.size).toBe(vmIds.length);
    const ips = allocated.map((e) => (e.data as { ip: string }).ip);
    expect(new Set(ips).size).toBe(ips.length);
    const lo = parseIp(pool.start).value;
    const hi = parseIp(pool.end).value;
    expect(ips.filter((ip) => parseIp(ip).value < lo || parseIp(ip).value > hi)).toEqual([]);
    expect(events.filter((e) => e.type === 'IpAllocationFailed')).toEqual([]);
  }

  async function durableDrained() {
    const info = await cp.nats.jsm.consumers.info(cp.nats.subjects.eventsStream, cp.nats.subjects.durable('ipam'));
    return info.num_pending === 0 && info.num_ack_pending === 0 && info.num_redelivered >= 0 ? info : undefined;
  }

  it('two IPAM processes at once: 2,000 VMs in a /21 → one address each, all distinct, none lost', async () => {
    const pool = { start: '100.64.0.1', end: '100.64.7.254' };
    const ipams: ServiceProcess[] = await Promise.all([startIpamProcess(cp.ns), startIpamProcess(cp.ns)]);
    const fx = await createFixture(cp, { name: 'pair', cidr: '100.64.0.0/21', pools: [pool] });
    // Both processes are pulling from the one shared durable before the burst starts.
    await eventually(
      async () => {
        const info = await cp.nats.jsm.consumers.info(cp.nats.subjects.eventsStream, cp.nats.subjects.durable('ipam'));
        return info.num_waiting >= 2;
      },
      30_000,
      100,
      'two IPAM processes pulling from the durable',
    );

    const names = Array.from({ length: 2000 }, (_, i) => `vm-${i}`);
    const vmIds = await createVmsViaRpc(cp, fx.clusterId, fx.nodeIds[0], names, 40);
    expect(new Set(vmIds).size).toBe(2000);

    const ipamSubject = cp.store.subjects.evt('ipam', fx.clusterId);
    // One message for AddNetwork (NetworkAdded + PoolAdded, one decision) + one decision per VM.
    await eventually(async () => (await subjectCount(cp.nats, ipamSubject)) >= 1 + 2000, 180_000, 250, '2,000 IPAM decisions');
    await eventually(durableDrained, 60_000, 250, 'IPAM durable drained');
    expect(ipams.every((p) => p.running)).toBe(true);

    const events = await ipamEvents(fx.clusterId);
    expectOneDistinctAddressEach(events, vmIds, pool);
    expect(events.length).toBe(2 + 2000);
    expect(await cp.store.read(cp.store.subjects.evtAll('deadletter'))).toEqual([]);

    await Promise.all(ipams.map((p) => p.stop()));
  });

  it('kill -9 of IPAM mid-stream, then a new IPAM process → every VM has exactly one address, none held twice', async () => {
    const pool = { start: '100.65.0.1', end: '100.65.7.254' };
    const first = await startIpamProcess(cp.ns);
    const fx = await createFixture(cp, { name: 'crash', cidr: '100.65.0.0/21', pools: [pool], underlayBase: 120 });
    const ipamSubject = cp.store.subjects.evt('ipam', fx.clusterId);
    // Messages on the subject minus the AddNetwork decision (one message).
    const allocatedSoFar = async () => (await subjectCount(cp.nats, ipamSubject)) - 1;

    const names = Array.from({ length: 1000 }, (_, i) => `crash-${i}`);
    // VMs keep arriving while IPAM works through them; IPAM is killed once some (not all) are allocated.
    const creating = createVmsViaRpc(cp, fx.clusterId, fx.nodeIds[0], names, 10);
    const creatingFailed = creating.then(
      () => undefined,
      (err) => err as Error,
    );
    await eventually(async () => (await allocatedSoFar()) >= 50, 60_000, 5, 'IPAM to have allocated some addresses');
    await first.kill9();
    const atKill = await allocatedSoFar();
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(1000);

    const vmIds = await creating;
    expect(await creatingFailed).toBeUndefined();
    // Nothing is allocated while no IPAM runs.
    expect(await allocatedSoFar()).toBe(atKill);

    const second = await startIpamProcess(cp.ns);
    // Messages the killed process held unacked come back after the ack wait; wait for all of them.
    await eventually(async () => (await allocatedSoFar()) >= 1000, 180_000, 250, 'every VM decided after the restart');
    await eventually(durableDrained, 120_000, 250, 'IPAM durable drained');

    const events = await ipamEvents(fx.clusterId);
    expectOneDistinctAddressEach(events, vmIds, pool);
    expect(events.length).toBe(2 + 1000);
    expect(await eventsOfType(cp.store, cp.store.subjects.evtAll('deadletter'), 'MessageDeadLettered')).toEqual([]);
    expect(second.running).toBe(true);
    await second.stop();
  });
});
