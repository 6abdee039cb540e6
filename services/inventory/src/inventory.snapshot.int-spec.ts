import { Kvm } from '@nats-io/kv';
import { EventStore, type Nats, SnapshotStore, snapshotsBucket } from '@fabric/eventstore';
import { closeTestNats, openTestNats } from '@fabric/testing/infra';
import { CLUSTER, NODE1, NODE2, baseFabric, ev, vm } from '@fabric/testing/fabric';
import { appendEvents } from '@fabric/testing/fabric';
import { InventoryModule } from './app/inventory.module';

const vmEvents = (from: number, to: number, node = NODE1) => Array.from({ length: to - from + 1 }, (_, i) => ev.vmCreated(vm(from + i), node));

describe('inventory restarts from its index snapshot (real NATS)', () => {
  let nats: Nats;
  let store: EventStore;
  let inv: InventoryModule | undefined;
  const start = async () => {
    inv = new InventoryModule(store);
    await inv.onModuleInit();
    return inv;
  };
  const stop = async () => {
    await inv?.onApplicationShutdown();
    inv = undefined;
  };

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    await appendEvents(store, [...baseFabric(), ...vmEvents(1, 20)]);
  });
  afterAll(async () => {
    await stop();
    await closeTestNats(nats);
  });

  it('given no snapshot the index folds everything; the leader writes one at a graceful stop; the next start folds only the tail', async () => {
    const all = await store.headSeq();
    const first = await start();
    expect(first.replayed).toBe(all);
    expect(first.leader).toBe(true);
    await stop();
    const head = (await new SnapshotStore(nats.nc, nats.subjects, 'inventory').head('index'))!;
    expect(head.seq).toBe(all);

    await appendEvents(store, [...vmEvents(21, 23, NODE2), ev.vmDeleted(vm(1), NODE1)]);
    const second = await start();
    expect(second.replayed).toBe(4);
    expect(second.commands.index.vmCountOnNode(NODE1)).toBe(19);
    expect(second.commands.index.vmCountOnNode(NODE2)).toBe(3);
    expect(second.commands.index.vmNameTaken(CLUSTER, `vm-${vm(5).slice(-4)}`)).toBe(true);
    await stop();
  });

  it('given a snapshot of another schema version, the start replays from sequence 1', async () => {
    const kv = await new Kvm(nats.nc).open(snapshotsBucket(nats.subjects));
    const head = (await new SnapshotStore(nats.nc, nats.subjects, 'inventory').head('index'))!;
    await kv.put('inventory.index', new TextEncoder().encode(JSON.stringify({ ...head, schema: 999 })));
    const all = await store.headSeq();
    const s = await start();
    expect(s.replayed).toBe(all);
    expect(s.commands.index.vmCountOnNode(NODE1)).toBe(19);
    await stop();
  });

  it('given a snapshot ahead of the events stream (another history), the start refuses it and replays from sequence 1', async () => {
    const kv = await new Kvm(nats.nc).open(snapshotsBucket(nats.subjects));
    const head = (await new SnapshotStore(nats.nc, nats.subjects, 'inventory').head('index'))!;
    await kv.put('inventory.index', new TextEncoder().encode(JSON.stringify({ ...head, seq: head.seq + 1000 })));
    const all = await store.headSeq();
    const s = await start();
    expect(s.replayed).toBe(all);
    expect(s.commands.index.vmCountOnNode(NODE1)).toBe(19);
  });
});
