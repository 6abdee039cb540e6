/**
 * The projection against real JetStream and Postgres, with faults injected: poison events (invalid, or
 * valid but impossible to project) are dead-lettered and skipped while later events keep being projected;
 * a rebuild compares with a consistent snapshot of the live read model while events keep flowing.
 */
import { headers as natsHeaders } from '@nats-io/nats-core';
import { type DataSource } from 'typeorm';
import { type FabricEvent } from '@fabric/contracts';
import { EventStore, type Nats } from '@fabric/eventstore';
import { closeTestNats, createTestDatabase, dropTestDatabase, eventually, openTestNats } from '@fabric/testing/infra';
import { openDatabase, ProjectionRunner, rebuildAndCompare } from '@fabric/projections';

const clusterId = '6f1d2c1e-0000-4000-8000-00000000d001';
const nodeId = (i: number) => `6f1d2c1e-0000-4000-8000-${(0xe0000 + i).toString(16).padStart(12, '0')}`;
const joined = (i: number, name = `n${i}`): FabricEvent => ({
  type: 'NodeJoined',
  data: { nodeId: nodeId(i), clusterId, name, underlayIp: `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}` },
});

describe('projection faults', () => {
  let nats: Nats;
  let store: EventStore;
  let db: { name: string; url: string };
  let ds: DataSource;
  let runner: ProjectionRunner | undefined;
  const others: DataSource[] = [];

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    db = await createTestDatabase();
    ds = await openDatabase({ url: db.url, schema: 'fabric' });
  });
  afterAll(async () => {
    await runner?.stop();
    for (const d of [ds, ...others]) if (d.isInitialized) await d.destroy();
    await closeTestNats(nats);
    await dropTestDatabase(db.name);
  });

  const append = async (events: FabricEvent[], prefix: string) => {
    let last = 0;
    for (const [i, event] of events.entries()) {
      const d = event.data as { nodeId?: string; target?: { kind: string; id: string } };
      const subject = d.target ? store.subjects.evt('agent', d.target.kind as never, d.target.id) : store.subjects.evt('node', d.nodeId!);
      last = (await store.append(subject, [{ id: `${prefix}-${i}`, event }])).seqs[0];
    }
    return last;
  };
  const publishRaw = async (subject: string, envelope: unknown, type: string) => {
    const h = natsHeaders();
    h.set('Fabric-Event-Type', type);
    return (await nats.js.publish(subject, new TextEncoder().encode(JSON.stringify(envelope)), { headers: h })).seq;
  };
  const nodes = async () => (await ds.query(`SELECT name FROM fabric.nodes ORDER BY name`)).map((r: { name: string }) => r.name);

  it('a poison event no longer stops the projection: it is dead-lettered, visible, and later events are projected', async () => {
    // A database-level refusal the projector cannot get past: valid event, impossible row.
    await ds.query(`ALTER TABLE fabric.nodes ADD CONSTRAINT no_poison CHECK (name <> 'poison')`);
    runner = new ProjectionRunner(store, ds, { maxAttempts: 2 });
    await runner.start();
    await append([joined(1)], 'a');
    const target = { kind: 'rr', id: 'c1_rr1' };
    const agent = store.subjects.evt('agent', 'rr', 'c1_rr1');
    const now = () => new Date().toISOString();
    const badPrefix = await publishRaw(
      agent,
      { id: 'p-1', type: 'RoutesObserved', schemaVersion: 1, occurredAt: now(), data: { target, routes: [{ prefix: 42 }] } },
      'RoutesObserved',
    );
    const bigGeneration = await publishRaw(
      agent,
      {
        id: 'p-2',
        type: 'ConfigApplied',
        schemaVersion: 1,
        occurredAt: now(),
        data: { target, generation: 2 ** 31 + 1, hash: 'h', changes: 0, durationMs: 3 },
      },
      'ConfigApplied',
    );
    const refused = await append([joined(2, 'poison')], 'b');
    const last = await append(
      [joined(3), { type: 'ConfigApplied', data: { target: { kind: 'rr', id: 'c1_rr1' }, generation: 7, hash: 'h7', changes: 1, durationMs: 3 } }],
      'c',
    );

    await eventually(() => runner!.currentPosition >= last, 20000, 50, 'events after the poison projected');
    expect(await nodes()).toEqual(['n1', 'n3']);
    expect((await ds.query(`SELECT applied_generation FROM fabric.agent_targets WHERE target_id = 'c1_rr1'`))[0].applied_generation).toBe(7);
    const dead = await eventually(
      async () => {
        const rows = await ds.query(`SELECT stream_seq, consumer, event_type, error FROM fabric.dead_letters ORDER BY stream_seq`);
        return rows.length === 3 ? rows : undefined;
      },
      20000,
      50,
      'three dead letters projected',
    );
    expect(dead.map((r: { stream_seq: string }) => Number(r.stream_seq))).toEqual([badPrefix, bigGeneration, refused]);
    expect(dead.map((r: { consumer: string }) => r.consumer)).toEqual(Array(3).fill('projection:read-model'));
    expect(dead[0].error).toMatch(/invalid: .*routes\.0\.prefix/);
    expect(dead[1].error).toMatch(/generation/);
    expect(dead[2].error).toMatch(/failed: .*no_poison/);
    expect(runner.currentPosition).toBeGreaterThanOrEqual(last);
    expect(await runner.loop!.status()).toMatchObject({ state: 'running', deadLettered: 3, restarts: 0 });
    await ds.query(`ALTER TABLE fabric.nodes DROP CONSTRAINT no_poison`);
  });

  it('a database that drops its connections mid-stream is waited for: nothing lost, nothing dead-lettered', async () => {
    const { Client } = await import('pg');
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    try {
      const deadBefore = (await runner!.loop!.status()).deadLettered;
      let last = 0;
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 20; i++) last = await append([joined(1000 + round * 20 + i)], `outage-${round}-${i}`);
        // Every connection of the projection is killed (what a Postgres restart does to it).
        await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [db.name]);
      }
      await eventually(() => runner!.currentPosition >= last, 30000, 50, 'projection caught up after the outages');
      const n = (await ds.query(`SELECT count(*)::int AS n FROM fabric.nodes WHERE name LIKE 'n1%' AND length(name) = 5`))[0].n;
      expect(n).toBe(100);
      expect((await runner!.loop!.status()).deadLettered).toBe(deadBefore);
    } finally {
      await admin.end();
    }
  });

  it('rebuild compares with a snapshot of the live read model while events keep flowing', async () => {
    let flowing = true;
    let written = 0;
    const writer = (async () => {
      for (let i = 100; flowing; i++) {
        await append([joined(i)], `flow-${i}`);
        written++;
      }
    })();
    try {
      await eventually(() => written >= 20, 20000, 20, 'events flowing');
      const before = written;
      const cmp = await rebuildAndCompare(store, db.url, 'fabric', 'fabric_rebuild', ds);
      others.push(cmp.ds);
      expect(written).toBeGreaterThan(before); // still flowing during the rebuild
      expect(cmp.livePosition).not.toBeNull();
      expect(cmp.position).toBe(cmp.livePosition);
      expect(cmp.differs).toEqual([]);
      expect(await store.headSeq()).toBeGreaterThan(cmp.livePosition!);
      // The rebuild has no constraint, yet skips the node the live projection dead-lettered: equal.
      expect((await cmp.ds.query(`SELECT count(*)::int AS n FROM fabric_rebuild.dead_letters`))[0].n).toBe(3);
    } finally {
      flowing = false;
      await writer;
    }
  });
});
