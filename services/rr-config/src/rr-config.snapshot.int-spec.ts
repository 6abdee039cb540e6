import { Kvm } from '@nats-io/kv';
import { EventStore, type Nats, SnapshotStore, snapshotsBucket } from '@fabric/eventstore';
import { snapshotOutcomes } from '@fabric/service-kit';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { NODE1, NODE2, baseFabric, ev, vm } from '@fabric/testing/fabric';
import { appendEvents } from '@fabric/testing/fabric';
import { RrConfig } from './app/rr-config';
import { RrConfigModel } from './domain';

/** Snapshots only when told (graceful stop): the test decides where the snapshot is. */
const policy = { enabled: true, everyEvents: 1e9, everyMs: 1e9 };
const vmEvents = (from: number, to: number, node = NODE1) =>
  Array.from({ length: to - from + 1 }, (_, i) => [ev.vmCreated(vm(from + i), node), ev.ipAllocated(vm(from + i), `203.0.113.${10 + from + i}`)]).flat();

describe('rr-config restarts from its snapshot (real NATS)', () => {
  let nats: Nats;
  let store: EventStore;
  let svc: RrConfig | undefined;
  const refused = async () => (await snapshotOutcomes.get()).values.find((v) => v.labels.service === 'rr-config' && v.labels.outcome === 'refused')?.value ?? 0;

  const start = async (enabled = true) => {
    svc = new RrConfig(store, { snapshotPolicy: { ...policy, enabled } });
    await svc.start();
    await eventually(() => svc!.idle(), 15000, 20, 'rr-config idle');
    return svc;
  };
  const stop = async () => {
    await svc?.stop();
    svc = undefined;
  };

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    await appendEvents(store, [...baseFabric(), ...vmEvents(1, 30)]);
  });
  afterAll(async () => {
    await stop();
    await closeTestNats(nats);
  });

  it('given no snapshot, the first start folds the whole stream; a graceful stop writes a snapshot at its position', async () => {
    // Stored before the start (the deriver's own DesiredStateChanged come after it is ready).
    const head = await store.headSeq();
    const s = await start();
    expect(s.replayed.events).toBe(head);
    const position = s.position;
    await stop();
    const written = await new SnapshotStore(nats.nc, nats.subjects, 'rr-config').head('rr-config');
    expect(written).toMatchObject({ seq: position, schema: RrConfigModel.SNAPSHOT_SCHEMA });
  });

  it('given a snapshot and new events, a restart folds only the events after the snapshot and ends where a full replay does', async () => {
    const snap = (await new SnapshotStore(nats.nc, nats.subjects, 'rr-config').head('rr-config'))!;
    await appendEvents(store, [...vmEvents(31, 33, NODE2), ev.migrationRequested(vm(1), NODE1, NODE2)]);
    const head = await store.headSeq();
    const s = await start();
    // The signal: exactly the tail after the snapshot was replayed, not the history.
    expect(s.replayed.events).toBe(head - snap.seq);
    expect(s.replayed.events).toBeLessThan(10);
    const resumed = s.model.snapshot();
    await stop();

    // The same stream folded from sequence 1 (snapshots off) gives the same model.
    const all = await store.headSeq();
    const full = await start(false);
    expect(full.replayed.events).toBe(all);
    expect(full.model.snapshot()).toEqual(resumed);
    await stop();
  });

  it('given a corrupt snapshot, the start ignores it, replays from sequence 1 and reports it', async () => {
    const kv = await new Kvm(nats.nc).open(snapshotsBucket(nats.subjects));
    const head = (await new SnapshotStore(nats.nc, nats.subjects, 'rr-config').head('rr-config'))!;
    await kv.put(`rr-config.rr-config.${head.slot}.0`, new TextEncoder().encode('not a snapshot'));
    const before = await refused();
    const all = await store.headSeq();
    const s = await start();
    expect(s.replayed.events).toBe(all);
    expect(await refused()).toBe(before + 1);
    expect(s.model.placement([...s.model.placementKeys()][0])).toBeDefined();
    await stop();
    // The graceful stop wrote a good one again.
    const again = await start();
    expect(again.replayed.events).toBe(0);
  });
});
