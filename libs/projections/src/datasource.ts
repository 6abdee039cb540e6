import { DataSource } from 'typeorm';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

export interface DbOptions {
  /** postgres://… (DATABASE_URL). */
  url?: string;
  /** Schema holding the read model (DB_SCHEMA, default `fabric`); rebuilds use their own. */
  schema?: string;
  poolSize?: number;
}

export const databaseUrl = () => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const databaseSchema = () => process.env.DB_SCHEMA ?? 'fabric';

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

export function createDataSource(opts: DbOptions = {}): DataSource {
  const schema = opts.schema ?? databaseSchema();
  if (!SCHEMA.test(schema)) throw new Error(`invalid schema name ${schema}`);
  return new DataSource({
    type: 'postgres',
    url: opts.url ?? databaseUrl(),
    schema,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'typeorm_migrations',
    synchronize: false,
    extra: { max: opts.poolSize ?? 10 },
  });
}

/** Connects, creates the schema if needed and runs pending migrations. */
export async function openDatabase(opts: DbOptions = {}): Promise<DataSource> {
  const ds = createDataSource(opts);
  await ds.initialize();
  const schema = (ds.options as { schema: string }).schema;
  await ds.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  await ds.runMigrations({ transaction: 'all' });
  return ds;
}

/**
 * Connects without migrating and waits until every migration of this build has run (another process — the
 * gateway — is the migrator: one at a time). Throws after `timeoutMs`.
 */
export async function openMigratedDatabase(opts: DbOptions & { timeoutMs?: number } = {}): Promise<DataSource> {
  const ds = createDataSource(opts);
  await ds.initialize();
  const schema = (ds.options as { schema: string }).schema;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    const done = await ds.query(`SELECT count(*)::int AS n FROM "${schema}"."typeorm_migrations"`).then(
      (r: { n: number }[]) => r[0].n,
      () => 0,
    );
    if (done >= MIGRATIONS.length) return ds;
    if (Date.now() > deadline) {
      await ds.destroy();
      throw new Error(`the read model in schema ${schema} is not migrated (${done} of ${MIGRATIONS.length}) after ${opts.timeoutMs ?? 120_000} ms`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
