import { type Decider, DomainError, type FabricEvent } from '@fabric/contracts';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { AggregateRepository, ConcurrencyError, DurableConsumer, EventStore, type Nats, PoisonMessageError } from '@fabric/eventstore';

// A tiny aggregate: a cluster's route reflectors, enough to exercise the store.
type Cmd = { type: 'Add'; name: string } | { type: 'Remove'; name: string };
type State = { rrs: string[] };
const id = '6f1d2c1e-0000-4000-8000-000000000001';
const decider: Decider<Cmd, State, FabricEvent> = {
  initialState: () => ({ rrs: [] }),
  decide: (c, s) => {
    if (c.type === 'Add') {
      if (s.rrs.includes(c.name)) throw new DomainError(409, 'rr-exists', `${c.name} exists`);
      return [{ type: 'RouteReflectorAdded', data: { clusterId: id, name: c.name, ip: '198.18.0.2' } }];
    }
    if (!s.rrs.includes(c.name)) throw new DomainError(404, 'rr-not-found', c.name);
    return [{ type: 'RouteReflectorRemoved', data: { clusterId: id, name: c.name } }];
  },
  evolve: (s, e) =>
    e.type === 'RouteReflectorAdded'
      ? { rrs: [...s.rrs, e.data.name] }
      : e.type === 'RouteReflectorRemoved'
        ? { rrs: s.rrs.filter((n) => n !== e.data.name) }
        : s,
};

describe('event store on JetStream', () => {
  let nats: Nats;
  let store: EventStore;
  const subject = () => store.subjects.evt('cluster', id);

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
  });
  afterAll(() => closeTestNats(nats));

  it('rejects an append whose expected sequence is stale', async () => {
    const sub = store.subjects.evt('cluster', '6f1d2c1e-0000-4000-8000-0000000000aa');
    const e = (n: string): FabricEvent => ({ type: 'RouteReflectorRemoved', data: { clusterId: id, name: n } });
    await store.append(sub, [{ id: 'a1', event: e('a') }], 0);
    await expect(store.append(sub, [{ id: 'a2', event: e('b') }], 0)).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await store.read(sub)).map((x) => x.id)).toEqual(['a1']);
  });

  it('given two writers racing on one aggregate, when both decide, then the conflict is detected and retried and both land', async () => {
    const a = new AggregateRepository(store, decider, (i) => store.subjects.evt('cluster', i));
    const b = new AggregateRepository(store, decider, (i) => store.subjects.evt('cluster', i));
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).handle(id, { type: 'Add', name: `rr${i}` }, { commandId: `c-add-${i}` })),
    );
    expect(results.every((r) => r.events.length === 1)).toBe(true);
    const loaded = await a.load(id);
    expect(loaded.state.rrs.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `rr${i}`).sort());
    expect(loaded.version).toBe(await store.lastSeq(subject()));
  });

  it('gives up with a clear error after bounded retries', async () => {
    const repo = new AggregateRepository(store, decider, (i) => store.subjects.evt('cluster', i));
    // A command factory that writes a competing event itself before each decision: always stale.
    let n = 0;
    const realAppend = store.append.bind(store);
    let competing: Promise<unknown> = Promise.resolve();
    const sabotage = (s: State): Cmd => {
      competing = realAppend(subject(), [
        { id: `sab-${n}`, event: { type: 'RouteReflectorAdded', data: { clusterId: id, name: `x${n++}`, ip: '198.18.0.9' } } },
      ]);
      return { type: 'Add', name: `never-${s.rrs.length}` };
    };
    jest.spyOn(store, 'append').mockImplementation(async (sub, evs, exp) => {
      await competing; // the competing write lands first
      return realAppend(sub, evs, exp);
    });
    try {
      await expect(repo.handle(id, sabotage, { commandId: 'c-sabotaged', maxRetries: 3 })).rejects.toThrow(/gave up after 3/);
    } finally {
      jest.restoreAllMocks();
    }
  });

  it('given the same command twice, then only one event is stored', async () => {
    const repo = new AggregateRepository(store, decider, (i) => store.subjects.evt('cluster', i));
    const other = new AggregateRepository(store, decider, (i) => store.subjects.evt('cluster', i));
    const before = (await store.read(subject())).length;
    const first = await repo.handle(id, { type: 'Remove', name: 'rr0' }, { commandId: 'c-remove-rr0' });
    // A second process that did not see the first write retries the very same command id.
    const stale = await other.load(id);
    expect(stale.state.rrs).not.toContain('rr0');
    const again = await store.append(subject(), [{ id: 'c-remove-rr0:0', event: first.events[0] }], 0);
    expect(again.duplicate).toBe(true);
    expect(again.seqs).toEqual(first.seqs);
    expect((await store.read(subject())).length).toBe(before + 1);
  });

  it('redelivers a failed message, then acks; poison goes to the dead-letter subject and is terminated', async () => {
    const seen: number[] = [];
    const attempts = new Map<number, number>();
    const consumer = new DurableConsumer(
      store,
      { durable: 'test_reactor', filterSubject: store.subjects.evtAll('node'), maxDeliver: 3, nakDelayMs: 50 },
      async (evt) => {
        const n = (attempts.get(evt.seq) ?? 0) + 1;
        attempts.set(evt.seq, n);
        if (evt.type === 'NodeDrained') throw new PoisonMessageError('cannot handle drained in this test');
        if (n === 1) throw new Error('transient failure');
        seen.push(evt.seq);
      },
    );
    await consumer.start();
    try {
      const nodeId = '6f1d2c1e-0000-4000-8000-0000000000b1';
      const { seqs } = await store.append(store.subjects.evt('node', nodeId), [
        { id: 'n1', event: { type: 'NodeJoined', data: { nodeId, clusterId: id, name: 'n1', underlayIp: '198.18.0.11' } } },
        { id: 'n2', event: { type: 'NodeDrained', data: { nodeId, clusterId: id } } },
      ]);
      await eventually(() => seen.includes(seqs[0]), 10000, 50, 'redelivered message handled');
      expect(attempts.get(seqs[0])).toBe(2);
      const dlq = await eventually(
        async () => {
          const d = await store.read(`${store.subjects.evt('deadletter', consumer.durableName)}.>`);
          return d.length ? d : undefined;
        },
        10000,
        50,
        'dead letter',
      );
      expect(dlq[0].data).toMatchObject({ streamSeq: seqs[1], eventType: 'NodeDrained' });
      const info = await nats.jsm.consumers.info(store.subjects.eventsStream, consumer.durableName);
      await eventually(async () => {
        return (await nats.jsm.consumers.info(store.subjects.eventsStream, consumer.durableName)).num_ack_pending === 0;
      }, 5000);
      expect(info.config.max_deliver).toBe(3);
      expect(attempts.get(seqs[1])).toBe(1);
    } finally {
      await consumer.stop();
      await consumer.delete();
    }
  });
});

// Facts about the stream itself (docs/architecture.md, Streams and subjects) that the cases above do not cover.
describe('event streams as docs/architecture.md defines them', () => {
  let nats: Nats;
  let store: EventStore;

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
  });
  afterAll(() => closeTestNats(nats));

  it('the events stream is file-backed, denies delete and purge, allows direct get, dedupes for at least 10 minutes', async () => {
    const { config } = await nats.jsm.streams.info(nats.subjects.eventsStream);
    expect(config).toMatchObject({ storage: 'file', deny_delete: true, deny_purge: true, allow_direct: true, subjects: [`${nats.subjects.ns}.evt.>`] });
    expect(config.duplicate_window).toBeGreaterThanOrEqual(10 * 60 * 1e9);
  });

  it('stored events can be neither purged nor deleted', async () => {
    const sub = store.subjects.evt('cluster', '6f1d2c1e-0000-4000-8000-0000000000c1');
    const { seqs } = await store.append(sub, [{ id: 'keep-1', event: { type: 'RouteReflectorRemoved', data: { clusterId: id, name: 'x' } } }], 0);
    await expect(nats.jsm.streams.purge(nats.subjects.eventsStream)).rejects.toThrow();
    await expect(nats.jsm.streams.deleteMessage(nats.subjects.eventsStream, seqs[0])).rejects.toThrow();
    expect((await store.read(sub)).map((e) => e.id)).toEqual(['keep-1']);
  });

  it('an event carries its type in a header and in the body, with schemaVersion, on its aggregate subject', async () => {
    const nodeId = '6f1d2c1e-0000-4000-8000-0000000000c2';
    const sub = store.subjects.evt('node', nodeId);
    expect(sub).toBe(`${nats.subjects.ns}.evt.node.${nodeId}`);
    const { seqs } = await store.append(
      sub,
      [
        {
          id: 'env-1',
          event: { type: 'NodeJoined', data: { nodeId, clusterId: id, name: 'n1', underlayIp: '198.18.0.21' } },
          meta: { actor: 'test', commandId: 'c-env' },
        },
      ],
      0,
    );
    const m = await nats.jsm.streams.getMessage(nats.subjects.eventsStream, { seq: seqs[0] });
    expect(m!.subject).toBe(sub);
    expect(m!.header.get('Fabric-Event-Type')).toBe('NodeJoined');
    expect(m!.header.get('Nats-Msg-Id')).toBe('env-1');
    const body = m!.json<Record<string, unknown>>();
    expect(body).toMatchObject({
      id: 'env-1',
      type: 'NodeJoined',
      schemaVersion: 1,
      meta: { actor: 'test', commandId: 'c-env' },
      data: { nodeId, underlayIp: '198.18.0.21' },
    });
    expect(Number.isNaN(Date.parse(body.occurredAt as string))).toBe(false);
    const [read] = await store.read(sub);
    expect(read).toMatchObject({ seq: seqs[0], subject: sub, type: 'NodeJoined', schemaVersion: 1 });
  });

  it('the commands stream keeps only the latest desired state per target', async () => {
    const subject = nats.subjects.cmd('node', 'n-latest');
    for (const generation of [1, 2, 3]) await nats.js.publish(subject, JSON.stringify({ generation }));
    await nats.js.publish(nats.subjects.cmd('node', 'n-other'), JSON.stringify({ generation: 7 }));
    const info = await nats.jsm.streams.info(nats.subjects.commandsStream);
    expect(info.state.messages).toBe(2);
    const latest = await nats.jsm.streams.getMessage(nats.subjects.commandsStream, { last_by_subj: subject });
    expect(latest!.json()).toEqual({ generation: 3 });
  });

  it('ensureStreams is safe to call from every process at start: same config, nothing lost', async () => {
    const sub = store.subjects.evt('cluster', '6f1d2c1e-0000-4000-8000-0000000000c3');
    await store.append(sub, [{ id: 'again-1', event: { type: 'RouteReflectorRemoved', data: { clusterId: id, name: 'y' } } }], 0);
    const before = await nats.jsm.streams.info(nats.subjects.eventsStream);
    await nats.ensureStreams();
    await nats.ensureStreams();
    const after = await nats.jsm.streams.info(nats.subjects.eventsStream);
    expect(after.state.messages).toBe(before.state.messages);
    expect(after.config).toMatchObject({ deny_delete: true, deny_purge: true, duplicate_window: before.config.duplicate_window });
    expect((await store.read(sub)).map((e) => e.id)).toEqual(['again-1']);
  });

  it('a reactor durable is a pull consumer with explicit ack and bounded max_deliver', async () => {
    const consumer = new DurableConsumer(store, { durable: 'cfg_check', filterSubject: store.subjects.evtAll('vm') }, async () => undefined);
    await consumer.ensure();
    try {
      const info = await nats.jsm.consumers.info(nats.subjects.eventsStream, consumer.durableName);
      expect(info.config.ack_policy).toBe('explicit');
      expect(info.config.max_deliver).toBeGreaterThan(0);
      expect(info.config.deliver_subject).toBeUndefined(); // pull
      expect(info.config.filter_subject).toBe(store.subjects.evtAll('vm'));
    } finally {
      await consumer.delete();
    }
  });
});
