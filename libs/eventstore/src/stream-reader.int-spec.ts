/**
 * The one stream-reading primitive against real JetStream: poison messages are dead-lettered once and
 * skipped, failing handlers are retried (transient) or dead-lettered (for good), a loop whose consumer
 * disappears is restarted by itself, and multi-event decisions are one message, read as all their events.
 */
import { headers as natsHeaders } from '@nats-io/nats-core';
import { type FabricEvent, type StoredEvent } from '@fabric/contracts';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { EventStore, type Nats, processLoops, StreamReader } from '@fabric/eventstore';

const cluster = '6f1d2c1e-0000-4000-8000-000000000c01';
const rr = (name: string): FabricEvent => ({ type: 'RouteReflectorAdded', data: { clusterId: cluster, name, ip: '198.18.0.2' } });
const target = { kind: 'rr' as const, id: 'c1_rr1' };

describe('StreamReader', () => {
  let nats: Nats;
  let store: EventStore;
  const readers: StreamReader[] = [];
  const reader = (r: StreamReader) => (readers.push(r), r);

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
  });
  afterEach(async () => {
    for (const r of readers.splice(0)) await r.stop();
  });
  afterAll(() => closeTestNats(nats));

  const publishRaw = async (subject: string, body: string, type: string) => {
    const h = natsHeaders();
    h.set('Fabric-Event-Type', type);
    return (await nats.js.publish(subject, new TextEncoder().encode(body), { headers: h })).seq;
  };
  const deadLetters = (name: string) => store.read(`${store.subjects.ns}.evt.deadletter.${name.replace(/[^A-Za-z0-9_-]/g, '_')}.>`);

  it('dead-letters invalid and undecodable messages once, skips them and handles what follows', async () => {
    const agentSubject = store.subjects.evt('agent', 'rr', 'c1_rr1');
    const before = await store.append(store.subjects.evt('cluster', cluster), [{ id: 'sr-1', event: rr('a') }]);
    const badPrefix = await publishRaw(
      agentSubject,
      JSON.stringify({
        id: 'bad-1',
        type: 'RoutesObserved',
        schemaVersion: 1,
        occurredAt: new Date().toISOString(),
        data: { target, routes: [{ prefix: 42 }] },
      }),
      'RoutesObserved',
    );
    const bigGeneration = await publishRaw(
      agentSubject,
      JSON.stringify({
        id: 'bad-2',
        type: 'ConfigApplied',
        schemaVersion: 1,
        occurredAt: new Date().toISOString(),
        data: { target, generation: 2 ** 31 + 5, hash: 'h', changes: 0, durationMs: 1 },
      }),
      'ConfigApplied',
    );
    const notJson = await publishRaw(agentSubject, '{not json', 'RoutesObserved');
    const after = await store.append(store.subjects.evt('cluster', cluster), [{ id: 'sr-2', event: rr('b') }]);

    const seen: number[] = [];
    const r = reader(
      new StreamReader(store, {
        name: 'test:poison',
        handle: async (b) => void seen.push(...b.events.filter((e) => e.type !== 'MessageDeadLettered').map((e) => e.seq)),
      }),
    );
    await r.start();
    await eventually(() => r.position >= after.seqs[0], 10000, 20, 'reader past the poison');
    expect(seen).toEqual([before.seqs[0], after.seqs[0]]);
    const dl = await deadLetters('test:poison');
    expect(dl.map((e) => (e.data as { streamSeq: number }).streamSeq).sort((a, b) => a - b)).toEqual([badPrefix, bigGeneration, notJson]);
    expect(dl.find((e) => (e.data as { streamSeq: number }).streamSeq === badPrefix)!.data).toMatchObject({
      consumer: 'test:poison',
      eventType: 'RoutesObserved',
      error: expect.stringMatching(/routes\.0\.prefix/),
    });
    expect((await r.status()).deadLettered).toBe(3);

    // A reader replaying the same stream under the same name (a restarted process) records nothing twice.
    await r.stop();
    const again = reader(new StreamReader(store, { name: 'test:poison', handle: async () => undefined }));
    await again.start();
    const head = await store.headSeq();
    await eventually(() => again.position >= head, 10000, 20, 'replay done');
    expect(await deadLetters('test:poison')).toHaveLength(3);
  });

  it('retries a transient failure until it heals, dead-letters a message that keeps failing, and continues', async () => {
    const s = store.subjects.evt('cluster', '6f1d2c1e-0000-4000-8000-000000000c02');
    const start = await store.headSeq();
    const a = await store.append(s, [{ id: 'tf-1', event: rr('ok1') }]);
    const poison = await store.append(s, [{ id: 'tf-2', event: rr('poison') }]);
    const b = await store.append(s, [{ id: 'tf-3', event: rr('ok2') }]);
    let transientLeft = 3;
    const handled: string[] = [];
    const r = reader(
      new StreamReader(store, {
        name: 'test:failing',
        filter: s,
        from: start,
        maxAttempts: 3,
        retryMs: { min: 10, max: 50 },
        isTransient: (err) => (err as Error).message === 'db away',
        handle: async (batch) => {
          if (transientLeft > 0) {
            transientLeft--;
            throw new Error('db away');
          }
          if (batch.events.some((e) => (e.data as { name: string }).name === 'poison')) throw new Error('cannot project this one');
          handled.push(...batch.events.map((e) => (e.data as { name: string }).name));
        },
      }),
    );
    await r.start();
    await eventually(() => r.position >= b.seqs[0], 10000, 20, 'past the failing message');
    expect(handled).toEqual(['ok1', 'ok2']);
    const dl = await deadLetters('test:failing');
    expect(dl.map((e) => e.data)).toEqual([
      expect.objectContaining({ streamSeq: poison.seqs[0], error: expect.stringMatching(/failed: cannot project this one/) }),
    ]);
    const st = await r.status();
    expect(st).toMatchObject({ state: 'running', deadLettered: 1, lag: 0 });
    expect(st.failed).toBeGreaterThanOrEqual(3 + 3);
    expect(a.seqs[0]).toBeLessThan(poison.seqs[0]);
  });

  it('restarts a durable loop whose consumer was deleted under it, and handles later events', async () => {
    const s = store.subjects.evt('cluster', '6f1d2c1e-0000-4000-8000-000000000c03');
    const got: number[] = [];
    const r = reader(
      new StreamReader(store, {
        name: 'test_restart',
        filter: s,
        durable: { name: 'test_restart', ackWaitMs: 5000 },
        restartMs: { min: 50, max: 500 },
        handle: async (b) => void got.push(...b.events.map((e) => e.seq)),
      }),
    );
    await r.start();
    expect(processLoops.list(store.subjects.ns)).toContain(r);
    const first = await store.append(s, [{ id: 'rs-1', event: rr('x1') }]);
    await eventually(() => got.includes(first.seqs[0]), 10000, 20, 'first event');
    await nats.jsm.consumers.delete(store.subjects.eventsStream, store.subjects.durable('test_restart'));
    await eventually(async () => (await r.status()).restarts >= 1, 20000, 50, 'loop restarted');
    const second = await store.append(s, [{ id: 'rs-2', event: rr('x2') }]);
    await eventually(() => got.includes(second.seqs[0]), 20000, 50, 'event after the restart');
    expect((await r.status()).state).toBe('running');
    await r.stop();
    await nats.jsm.consumers.delete(store.subjects.eventsStream, store.subjects.durable('test_restart')).catch(() => undefined);
  });

  it('reads a multi-event decision (one EventBatch message) as all its events, at one sequence', async () => {
    const s = store.subjects.evt('cluster', '6f1d2c1e-0000-4000-8000-000000000c04');
    const start = await store.headSeq();
    const res = await store.appendAtomic(
      s,
      [
        { id: 'mb:0', event: rr('m1') },
        { id: 'mb:1', event: rr('m2') },
        { id: 'mb:2', event: rr('m3') },
      ],
      0,
    );
    expect(new Set(res.seqs).size).toBe(1);
    const got: StoredEvent[] = [];
    const r = reader(new StreamReader(store, { name: 'test:batch', filter: s, from: start, handle: async (b) => void got.push(...b.events) }));
    await r.start();
    await eventually(() => got.length === 3, 10000, 20, 'three events');
    expect(got.map((e) => [e.seq, e.index, (e.data as { name: string }).name])).toEqual([
      [res.seqs[0], 0, 'm1'],
      [res.seqs[0], 1, 'm2'],
      [res.seqs[0], 2, 'm3'],
    ]);
    expect((await store.read(s)).map((e) => e.id)).toEqual(['mb:0', 'mb:1', 'mb:2']);
  });

  it('takes a slow handler for slow, not for a silent consumer: no reopen, no restart, every event once', async () => {
    const env = { reopen: process.env.FABRIC_READER_REOPEN_MS, beat: process.env.FABRIC_LOOP_HEARTBEAT_MS };
    process.env.FABRIC_READER_REOPEN_MS = '300';
    process.env.FABRIC_LOOP_HEARTBEAT_MS = '50';
    try {
      const s = store.subjects.evt('cluster', '6f1d2c1e-0000-4000-8000-000000000c05');
      const start = await store.headSeq();
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) seqs.push((await store.append(s, [{ id: `slow-${i}`, event: rr(`s${i}`) }])).seqs[0]);
      const got: number[] = [];
      const logs: string[] = [];
      const r = reader(
        new StreamReader(store, {
          name: 'test:slow',
          from: start,
          batch: 1,
          log: (_l, msg) => void logs.push(msg),
          // Each call outlasts the reopen window while the stream is ahead of the reader.
          handle: async (b) => {
            await new Promise((res) => setTimeout(res, 500));
            got.push(...b.events.filter((e) => e.subject === s).map((e) => e.seq));
          },
        }),
      );
      await r.start();
      await eventually(() => r.position >= seqs[seqs.length - 1], 20000, 20, 'every slow event handled');
      expect(got).toEqual(seqs);
      expect((await r.status()).restarts).toBe(0);
      expect(logs.filter((m) => /reopening|restarting/.test(m))).toEqual([]);
    } finally {
      process.env.FABRIC_READER_REOPEN_MS = env.reopen;
      process.env.FABRIC_LOOP_HEARTBEAT_MS = env.beat;
      if (env.reopen === undefined) delete process.env.FABRIC_READER_REOPEN_MS;
      if (env.beat === undefined) delete process.env.FABRIC_LOOP_HEARTBEAT_MS;
    }
  });
});
