import { EventStore, type Nats, SnapshotStore } from '@fabric/eventstore';
import { closeTestNats, openTestNats } from '@fabric/testing/infra';
import { CLUSTER, NODE1, appendEvents, baseFabric, ev, vm } from '@fabric/testing/fabric';
import { IpamService } from './app/ipam-service';
import { IpamRuntime } from './app/ipam.module';

const settings = { releaseCooldownMs: 60_000 };

describe('IPAM restarts from its snapshot (real NATS)', () => {
  let nats: Nats;
  let store: EventStore;
  let runtime: IpamRuntime | undefined;
  const allocate = (svc: IpamService, n: number) => svc.onVmCreated({ ...ev.vmCreated(vm(n), NODE1), seq: 0 } as never);
  const ips = async () => {
    const events = await store.read(store.subjects.evt('ipam', CLUSTER));
    return events.filter((e) => e.type === 'IpAllocated').map((e) => (e.data as { ip: string }).ip);
  };

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    await appendEvents(store, baseFabric());
  });
  afterAll(async () => {
    await runtime?.onApplicationShutdown();
    await closeTestNats(nats);
  });

  it('given a snapshot, a restart folds only the IPAM events after it and allocates on from the restored state', async () => {
    const first = new IpamService(store, settings);
    runtime = new IpamRuntime(store, first);
    await runtime.onModuleInit();
    expect(runtime.replayed).toBe(4); // the base fabric's networks and pools
    for (let n = 1; n <= 10; n++) await allocate(first, n);
    await runtime.onApplicationShutdown(); // the lease holder writes a snapshot at a graceful stop
    runtime = undefined;
    const head = (await new SnapshotStore(nats.nc, nats.subjects, 'ipam').head('aggregates'))!;
    expect(head.seq).toBe(await store.headSeq());

    // Another instance allocates two more meanwhile.
    const other = new IpamService(store, settings);
    await allocate(other, 11);
    await allocate(other, 12);

    const second = new IpamService(store, settings);
    runtime = new IpamRuntime(store, second);
    await runtime.onModuleInit();
    expect(runtime.replayed).toBe(2);
    // The restored aggregate is at the snapshot's version: the next allocation catches it up, never reuses an address.
    expect(second.repo.isCached(CLUSTER)).toBe(true);
    await allocate(second, 13);
    const all = await ips();
    expect(all).toHaveLength(13);
    expect(new Set(all).size).toBe(13);
  });
});
