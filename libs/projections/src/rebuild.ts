/**
 * Rebuild: replay the events stream from sequence 1, then the observations stream from its oldest retained
 * message, into a fresh schema, then (optionally) swap it in. `compareSchemas` is how tests and operators
 * prove a rebuild equals the live read model (observations trimmed by retention since the live one projected
 * them are the one expected difference: the agents' next resync restates them).
 */
import { DataSource } from 'typeorm';
import { type EventStore, isNotFound, loopToken } from '@fabric/eventstore';
import { openDatabase } from './datasource';
import { PROJECTED_TABLES } from './entities';
import { checkpointName, ProjectionRunner } from './runner';

export async function rebuildInto(
  store: EventStore,
  url: string,
  schema: string,
  upToSeq?: number,
  upToObservation?: number,
): Promise<{ ds: DataSource; position: number; observationPosition: number }> {
  const admin = new DataSource({ type: 'postgres', url });
  await admin.initialize();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.destroy();
  const ds = await openDatabase({ url, schema });
  const { position, observationPosition } = await catchUpAll(store, ds, upToSeq, upToObservation);
  return { ds, position, observationPosition };
}

/** Brings both runners of a read model (events, observations) to the given positions or the heads. */
export async function catchUpAll(
  store: EventStore,
  ds: DataSource,
  upToSeq?: number,
  upToObservation?: number,
): Promise<{ position: number; observationPosition: number }> {
  const runner = new ProjectionRunner(store, ds);
  const position = await runner.catchUp(1000, upToSeq, await deadLettered(store, runner.loopName));
  const obs = new ProjectionRunner(store, ds, { stream: 'observations' });
  // A restored backup holds the stream of record only: observations come back with the agents' next resync.
  const hasObservations = await obs.store.bounds().then(
    () => true,
    (err) => {
      if (isNotFound(err)) return false;
      throw err;
    },
  );
  const observationPosition = hasObservations ? await obs.catchUp(1000, upToObservation, await deadLettered(store, obs.loopName)) : 0;
  return { position, observationPosition };
}

/** Stream sequences a reader dead-lettered (the live read model skipped them: so does a rebuild). */
export async function deadLettered(store: EventStore, reader: string): Promise<Set<number>> {
  const out = new Set<number>();
  await store.forEach(
    `${store.subjects.evtAll('deadletter').slice(0, -1)}${loopToken(reader)}.>`,
    0,
    (e) => {
      if (e.type === 'MessageDeadLettered' && typeof e.data?.streamSeq === 'number') out.add(e.data.streamSeq);
    },
    1000,
    () => undefined,
  );
  return out;
}

/** A DataSource or a QueryRunner's query: rows come back untyped. */
type Query = (sql: string, params?: unknown[]) => Promise<unknown>;

/** Rows of every projected table, in a stable order, as JSON text (for equality checks). */
export async function dumpSchema(ds: { query: Query }, schema: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of PROJECTED_TABLES) {
    const rows = (await ds.query(`SELECT row_to_json(t)::text AS j FROM "${schema}"."${table}" t`)) as { j: string }[];
    out[table] = rows.map((r) => r.j).sort();
  }
  return out;
}

export interface LiveSnapshot {
  /** Checkpoint of the live read model in the snapshot (null: the schema has no checkpoint yet). */
  position: number | null;
  /** Its checkpoint in the observations stream (0 when none). */
  observationPosition: number;
  rows: Record<string, string[]>;
}

/**
 * A consistent snapshot of the live read model while it keeps projecting: the checkpoint and every row
 * read in one REPEATABLE READ transaction. The projector commits rows and checkpoint together, so the
 * rows are exactly those of the events up to that checkpoint.
 */
export async function snapshotLive(ds: DataSource, schema: string, name = checkpointName()): Promise<LiveSnapshot> {
  const qr = ds.createQueryRunner();
  await qr.connect();
  try {
    await qr.startTransaction('REPEATABLE READ');
    await qr.query('SET TRANSACTION READ ONLY');
    const cp = await qr.query(`SELECT position FROM "${schema}"."projection_checkpoints" WHERE name = $1`, [name]).catch(() => []);
    const position = cp[0] ? Number(cp[0].position) : null;
    const ocp = await qr
      .query(`SELECT position FROM "${schema}"."projection_checkpoints" WHERE name = $1`, [checkpointName('observations', name)])
      .catch(() => []);
    const observationPosition = ocp[0] ? Number(ocp[0].position) : 0;
    const rows = position === null ? {} : await dumpSchema({ query: (sql: string, p?: unknown[]) => qr.query(sql, p) }, schema);
    await qr.commitTransaction();
    return { position, observationPosition, rows };
  } catch (err) {
    if (qr.isTransactionActive) await qr.rollbackTransaction().catch(() => undefined);
    throw err;
  } finally {
    await qr.release();
  }
}

export interface RebuildComparison {
  /** Position the rebuild stopped at: the live snapshot's checkpoint (or the head when there is no live one). */
  position: number;
  livePosition: number | null;
  /** Tables whose rows differ (empty: equal); null when there was no live read model to compare with. */
  differs: string[] | null;
  ds: DataSource;
}

/**
 * Rebuild and compare while events keep flowing: snapshot the live read model, replay the stream into
 * `target` up to the snapshot's checkpoint, compare the rows with the snapshot.
 */
export async function rebuildAndCompare(store: EventStore, url: string, live: string, target: string, liveDs: DataSource): Promise<RebuildComparison> {
  const snap = await snapshotLive(liveDs, live);
  const { ds, position } = await rebuildInto(store, url, target, snap.position ?? undefined, snap.position === null ? undefined : snap.observationPosition);
  if (snap.position === null) return { position, livePosition: null, differs: null, ds };
  const rebuilt = await dumpSchema(ds, target);
  const differs = Object.keys(snap.rows).filter((t) => JSON.stringify(snap.rows[t]) !== JSON.stringify(rebuilt[t]));
  return { position, livePosition: snap.position, differs, ds };
}

/** Swaps a rebuilt schema in place of the live one (live is kept as `<live>_old` until next swap). */
/** Tables in the read-model schema that no event produces (see the api-tokens migration). */
export const NOT_PROJECTED_TABLES = ['api_tokens', 'idempotency_keys'];

export async function swapSchemas(ds: DataSource, live: string, rebuilt: string): Promise<void> {
  await ds.transaction(async (em) => {
    await em.query(`DROP SCHEMA IF EXISTS "${live}_old" CASCADE`);
    // Not derived from events (API tokens): carried over, a rebuild must not log everyone out.
    for (const table of NOT_PROJECTED_TABLES) {
      const [r] = await em.query(`SELECT to_regclass($1) IS NOT NULL AS a, to_regclass($2) IS NOT NULL AS b`, [
        `"${live}"."${table}"`,
        `"${rebuilt}"."${table}"`,
      ]);
      if (r.a && r.b) await em.query(`INSERT INTO "${rebuilt}"."${table}" SELECT * FROM "${live}"."${table}" ON CONFLICT DO NOTHING`);
    }
    await em.query(`ALTER SCHEMA "${live}" RENAME TO "${live}_old"`);
    await em.query(`ALTER SCHEMA "${rebuilt}" RENAME TO "${live}"`);
  });
}
