/**
 * Rebuild: replay the stream from sequence 1 into a fresh schema, then (optionally) swap it in.
 * `compareSchemas` is how tests and operators prove a rebuild equals the live read model.
 */
import { DataSource } from 'typeorm';
import { EventStore } from '@fabric/eventstore';
import { openDatabase } from './datasource';
import { PROJECTED_TABLES } from './entities';
import { ProjectionRunner } from './runner';

export async function rebuildInto(store: EventStore, url: string, schema: string, upToSeq?: number): Promise<{ ds: DataSource; position: number }> {
  const admin = new DataSource({ type: 'postgres', url });
  await admin.initialize();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.destroy();
  const ds = await openDatabase({ url, schema });
  const runner = new ProjectionRunner(store, ds);
  let position: number;
  if (upToSeq !== undefined) {
    const events = (await store.read(store.subjects.evtAll())).filter((e) => e.seq <= upToSeq);
    await runner.readCheckpoint();
    for (let i = 0; i < events.length; i += 1000) await runner.commit(events.slice(i, i + 1000));
    position = upToSeq;
  } else {
    position = await runner.catchUp();
  }
  return { ds, position };
}

/** Rows of every projected table, in a stable order, as JSON text (for equality checks). */
export async function dumpSchema(ds: DataSource, schema: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of PROJECTED_TABLES) {
    const rows = await ds.query(`SELECT row_to_json(t)::text AS j FROM "${schema}"."${table}" t`);
    out[table] = rows.map((r: { j: string }) => r.j).sort();
  }
  return out;
}

/** Swaps a rebuilt schema in place of the live one (live is kept as `<live>_old` until next swap). */
/** Tables in the read-model schema that no event produces (see the api-tokens migration). */
export const NOT_PROJECTED_TABLES = ['api_tokens', 'idempotency_keys'];

export async function swapSchemas(ds: DataSource, live: string, rebuilt: string): Promise<void> {
  await ds.transaction(async (em) => {
    await em.query(`DROP SCHEMA IF EXISTS "${live}_old" CASCADE`);
    // Not derived from events (API tokens): carried over, a rebuild must not log everyone out.
    for (const table of NOT_PROJECTED_TABLES) {
      const [r] = await em.query(`SELECT to_regclass($1) IS NOT NULL AS a, to_regclass($2) IS NOT NULL AS b`, [`"${live}"."${table}"`, `"${rebuilt}"."${table}"`]);
      if (r.a && r.b) await em.query(`INSERT INTO "${rebuilt}"."${table}" SELECT * FROM "${live}"."${table}" ON CONFLICT DO NOTHING`);
    }
    await em.query(`ALTER SCHEMA "${live}" RENAME TO "${live}_old"`);
    await em.query(`ALTER SCHEMA "${rebuilt}" RENAME TO "${live}"`);
  });
}
