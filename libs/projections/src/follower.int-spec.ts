/**
 * A gateway whose projector runs in another process follows the checkpoint: notified at each commit, polled as a
 * safety net. Real JetStream and Postgres; the listening connection is killed from the server side.
 */
import { type DataSource } from 'typeorm';
import { type FabricEvent } from '@fabric/contracts';
import { EventStore, type Nats } from '@fabric/eventstore';
import { closeTestNats, createTestDatabase, dropTestDatabase, eventually, openTestNats } from '@fabric/testing/infra';
import { CheckpointFollower, openDatabase, positionChannel, ProjectionRunner } from '@fabric/projections';

const clusterId = '6f1d2c1e-0000-4000-8000-00000000f001';
const nodeId = (i: number) => `6f1d2c1e-0000-4000-8000-${(0xf0000 + i).toString(16).padStart(12, '0')}`;
const joined = (i: number): FabricEvent => ({
  type: 'NodeJoined',
  data: { nodeId: nodeId(i), clusterId, name: `f${i}`, underlayIp: `198.18.9.${i + 1}` },
});

describe('CheckpointFollower', () => {
  let nats: Nats;
  let store: EventStore;
  let db: { name: string; url: string };
  let projectorDs: DataSource;
  let gatewayDs: DataSource;
  let runner: ProjectionRunner | undefined;
  let follower: CheckpointFollower | undefined;

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    db = await createTestDatabase();
    projectorDs = await openDatabase({ url: db.url, schema: 'fabric' });
    gatewayDs = await openDatabase({ url: db.url, schema: 'fabric' });
  });
  afterAll(async () => {
    await follower?.stop();
    await runner?.stop();
    for (const d of [projectorDs, gatewayDs]) if (d?.isInitialized) await d.destroy();
    await closeTestNats(nats);
    await dropTestDatabase(db.name);
  });

  const append = async (i: number) => (await store.append(store.subjects.evt('node', nodeId(i)), [{ id: `f-${i}`, event: joined(i) }])).seqs[0];

  it('given a projector in another connection, when it commits, then a waiting read is released with the rows there', async () => {
    runner = new ProjectionRunner(store, projectorDs, { notify: true });
    await runner.start();
    // a long poll: only the notification can release the wait in time
    follower = new CheckpointFollower(gatewayDs, { pollMs: 60_000 });
    await follower.start();
    const seq = await append(1);
    const t0 = Date.now();
    expect(await follower.waitFor(seq, 10_000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(follower.currentPosition).toBeGreaterThanOrEqual(seq);
    // notified at commit, never before: the row is readable once the wait ends
    expect(await gatewayDs.query(`SELECT name FROM fabric.nodes WHERE id = $1`, [nodeId(1)])).toEqual([{ name: 'f1' }]);
  });

  it('starts at the stored checkpoint and catches up by polling when its listening connection was lost', async () => {
    await follower!.stop();
    follower = new CheckpointFollower(gatewayDs, { pollMs: 200 });
    await follower.start();
    expect(follower.currentPosition).toBe(runner!.currentPosition);
    // the listener's backend is terminated by the server (a Postgres restart, a proxy dropping it)
    const killed: unknown[] = await gatewayDs.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'projection-follower' AND datname = current_database()`,
    );
    expect(killed.length).toBeGreaterThanOrEqual(1);
    const seq = await append(2);
    expect(await follower.waitFor(seq, 10_000)).toBe(true);
    // and it listens again: a commit is seen without waiting for the next poll
    await eventually(
      async () =>
        (
          await gatewayDs.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'projection-follower' AND datname = current_database()`,
          )
        )[0].n === 1
          ? true
          : undefined,
      10_000,
      50,
      'listener back',
    );
  });

  it('keeps the notification channel a valid identifier for any schema name', () => {
    expect(positionChannel('fabric')).toBe('fabric_projection_fabric');
    const long = positionChannel('r'.repeat(63));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9_]+$/);
  });
});
