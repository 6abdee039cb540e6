/**
 * A decision that yields several events (CreateCluster: ClusterCreated + one RouteReflectorAdded per RR)
 * is one message: a crash at any point leaves all of it or nothing on the stream, and the retry of the
 * same command (a new process, nothing cached) completes it without a 409.
 */
import { type Decider, DomainError, type FabricEvent } from '@fabric/contracts';
import { closeTestNats, openTestNats } from '@fabric/testing/infra';
import { AggregateRepository, EventStore, type Nats, type NewEvent, type AppendResult } from '@fabric/eventstore';

type Cmd = { type: 'Create'; clusterId: string; rrs: string[] } | { type: 'AddRr'; name: string };
type State = { exists: boolean; rrs: string[] };

const decider: Decider<Cmd, State, FabricEvent> = {
  initialState: () => ({ exists: false, rrs: [] }),
  decide(c, s) {
    if (c.type === 'Create') {
      if (s.exists) throw new DomainError(409, 'cluster-exists', 'cluster exists');
      return [
        {
          type: 'ClusterCreated',
          data: {
            clusterId: c.clusterId,
            name: 'lab',
            fabricAsn: 65000,
            coreAsn: 65001,
            community: '65000:100',
            gateway: { ip: '203.0.113.1', mac: 'fe:ff:ff:ff:ff:ff' },
            coreRouter: { name: 'core', ip: '198.18.0.1', vendor: 'frr' },
            rrClusterId: '198.18.0.11',
            bgp: { gracefulRestart: true, bfd: false },
          },
        },
        ...c.rrs.map((name, i): FabricEvent => ({ type: 'RouteReflectorAdded', data: { clusterId: c.clusterId, name, ip: `198.18.0.${11 + i}` } })),
      ];
    }
    if (!s.exists) throw new DomainError(404, 'no-cluster', 'no cluster');
    return [{ type: 'RouteReflectorAdded', data: { clusterId: 'x', name: c.name, ip: '198.18.0.30' } }];
  },
  evolve(s, e) {
    // Mutates in place, as hot aggregates do: a half-done fold leaves a corrupt state behind.
    if (e.type === 'ClusterCreated') s.exists = true;
    if (e.type === 'RouteReflectorAdded') {
      if (e.data.name === 'boom') throw new Error('cannot fold this event');
      s.rrs.push(e.data.name);
    }
    return s;
  },
};

/** The process dies before (`before`) or after (`after`) the server stored the decision. */
class CrashingStore extends EventStore {
  crash?: 'before' | 'after';
  override async appendAtomic(subject: string, events: NewEvent[], expectedSeq?: number): Promise<AppendResult> {
    if (this.crash === 'before') throw new Error('crash before the write');
    const res = await super.appendAtomic(subject, events, expectedSeq);
    if (this.crash === 'after') throw new Error('crash after the write, before the reply');
    return res;
  }
}

describe('atomic multi-event decisions', () => {
  let nats: Nats;
  beforeAll(async () => {
    nats = await openTestNats();
  });
  afterAll(() => closeTestNats(nats));

  const subjectOf = (store: EventStore) => (id: string) => store.subjects.evt('cluster', id);

  for (const cache of [true, false]) {
    it(`a crash after the write leaves the whole cluster; the retry answers it as a duplicate, no 409 (cache ${cache})`, async () => {
      const id = cache ? '6f1d2c1e-0000-4000-8000-00000000a001' : '6f1d2c1e-0000-4000-8000-00000000a002';
      const crashing = new CrashingStore(nats);
      crashing.crash = 'after';
      const cmd: Cmd = { type: 'Create', clusterId: id, rrs: ['rr1', 'rr2'] };
      await expect(new AggregateRepository(crashing, decider, subjectOf(crashing), { cache }).handle(id, cmd, { commandId: `create-${id}` })).rejects.toThrow(
        /crash after/,
      );

      const store = new EventStore(nats);
      const stored = await store.read(subjectOf(store)(id));
      expect(stored.map((e) => e.type)).toEqual(['ClusterCreated', 'RouteReflectorAdded', 'RouteReflectorAdded']);
      expect(new Set(stored.map((e) => e.seq)).size).toBe(1);

      // The retry runs in a new process: nothing cached.
      const repo = new AggregateRepository(store, decider, subjectOf(store), { cache });
      const retry = await repo.handle(id, cmd, { commandId: `create-${id}` });
      expect(retry.duplicate).toBe(true);
      expect(await store.read(subjectOf(store)(id))).toHaveLength(3);
      expect((await repo.load(id)).state).toEqual({ exists: true, rrs: ['rr1', 'rr2'] });
      // Another command with the same content is a real conflict.
      await expect(repo.handle(id, cmd, { commandId: `other-${id}` })).rejects.toMatchObject({ status: 409 });
    });
  }

  it('a crash before the write leaves nothing; the retry writes the whole decision', async () => {
    const id = '6f1d2c1e-0000-4000-8000-00000000a003';
    const crashing = new CrashingStore(nats);
    crashing.crash = 'before';
    const cmd: Cmd = { type: 'Create', clusterId: id, rrs: ['rr1', 'rr2'] };
    await expect(
      new AggregateRepository(crashing, decider, subjectOf(crashing), { cache: true }).handle(id, cmd, { commandId: `create-${id}` }),
    ).rejects.toThrow(/crash before/);
    const store = new EventStore(nats);
    expect(await store.read(subjectOf(store)(id))).toEqual([]);
    const res = await new AggregateRepository(store, decider, subjectOf(store), { cache: true }).handle(id, cmd, { commandId: `create-${id}` });
    expect(res).toMatchObject({ duplicate: false });
    expect(res.events).toHaveLength(3);
    expect((await store.read(subjectOf(store)(id))).map((e) => e.index)).toEqual([0, 1, 2]);
  });

  it('a fold that throws half-way evicts the cached state instead of keeping it', async () => {
    const id = '6f1d2c1e-0000-4000-8000-00000000a004';
    const store = new EventStore(nats);
    const repo = new AggregateRepository(store, decider, subjectOf(store), { cache: true });
    await repo.handle(id, { type: 'Create', clusterId: id, rrs: ['rr1'] }, { commandId: `create-${id}` });
    expect(repo.isCached(id)).toBe(true);
    // Another process appends an event this one cannot fold, after one it can.
    await store.append(subjectOf(store)(id), [
      { id: `ext-${id}-1`, event: { type: 'RouteReflectorAdded', data: { clusterId: id, name: 'rr2', ip: '198.18.0.12' } } },
      { id: `ext-${id}-2`, event: { type: 'RouteReflectorAdded', data: { clusterId: id, name: 'boom', ip: '198.18.0.13' } } },
    ]);
    await expect(repo.load(id)).rejects.toThrow(/cannot fold/);
    expect(repo.isCached(id)).toBe(false);
  });
});
