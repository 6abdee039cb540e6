import { EventStore, Nats, fenceMode } from '@fabric/eventstore';
import { eventually, startNatsCluster, type TestNatsCluster, uniqueNs } from '@fabric/testing/infra';
import { CLUSTER, NODE1, appendEvents, baseFabric, ev, vm } from '@fabric/testing/fabric';
import { IpamService } from './app/ipam-service';

/**
 * Four IPAM instances (active-active) on a 3-server NATS cluster whose events stream has three replicas. The
 * server's own expected-sequence check is not exact there under concurrent appends (append-fence.ts): without
 * the fence this allocation gave two VMs the same address.
 */
describe('IPAM active-active on a replicated events stream (3-server NATS cluster)', () => {
  let cluster: TestNatsCluster | undefined;
  const conns: Nats[] = [];

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
  }, 60_000);
  afterAll(async () => {
    await conns[0]?.destroyStreams().catch(() => undefined);
    for (const c of conns) await c.close();
    await cluster?.stop();
  });

  it('given four instances on three servers allocating for 300 VMs at once, when the server leading the events stream is lost halfway, then every VM has an address of its own', async () => {
    const ns = uniqueNs('ipamr3');
    // Each instance connected first to a server of its own (three hosts), with the others as its seed list.
    const urls = cluster!.urls;
    for (let k = 0; k < 4; k++) conns.push(await Nats.connect({ servers: [...urls.slice(k % 3), ...urls.slice(0, k % 3)].join(','), ns }));
    await conns[0].ensureStreams(3);
    const stores = conns.map((c) => new EventStore(c));
    expect(await stores[0].fence.isEnabled()).toBe(fenceMode() !== 'off');
    await appendEvents(stores[0], baseFabric());
    const ipams = stores.map((s) => new IpamService(s, { releaseCooldownMs: 60_000 }));

    const vms = Array.from({ length: 300 }, (_, i) => i + 1);
    // As the durable consumer does: a VmCreated whose handling failed (a timeout while the stream elects a leader) comes again.
    const deliver = async (ipam: IpamService, n: number) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await ipam.onVmCreated({ ...ev.vmCreated(vm(n), NODE1, n <= 80 ? 4 : 6), seq: 0 } as never);
        } catch (err) {
          if (attempt >= 50) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    // Halfway, the server leading the events stream is lost (kill -9): a leader change with appends in flight.
    let done = 0;
    let killed: Promise<void> | undefined;
    const progress = () => {
      if (++done !== 150) return;
      killed = (async () => {
        const leader = (await conns[0].jsm.streams.info(conns[0].subjects.eventsStream)).cluster!.leader!;
        await cluster!.kill(Number(leader.slice(1)));
      })();
    };
    // The instances work through the VMs at once (as consumers of one durable would), several in flight each.
    await Promise.all(
      ipams.map(async (ipam, k) => {
        const mine = vms.filter((n) => n % ipams.length === k);
        for (let i = 0; i < mine.length; i += 4) await Promise.all(mine.slice(i, i + 4).map((n) => deliver(ipam, n).then(progress)));
      }),
    );

    await killed;
    // Read once the stream has its new leader (a read during the election times out).
    const events = await eventually(() => stores[0].read(stores[0].subjects.evt('ipam', CLUSTER)).catch(() => undefined), 60_000, 200, 'IPAM events readable');
    const allocated = events.filter((e) => e.type === 'IpAllocated').map((e) => e.data as { vmId: string; ip: string });
    const byIp = new Map<string, string[]>();
    for (const a of allocated) byIp.set(a.ip, [...(byIp.get(a.ip) ?? []), a.vmId]);
    const shared = [...byIp].filter(([, holders]) => holders.length > 1);
    expect(shared).toEqual([]);
    expect(new Set(allocated.map((a) => a.vmId)).size).toBe(300);
    expect(allocated).toHaveLength(300);
  }, 120_000);
});
