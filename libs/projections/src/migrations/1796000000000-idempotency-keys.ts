import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Idempotency-Key claims of the HTTP API: which request (method, path, body hash) a key was first used
 * for, per token. Not derived from events (not in PROJECTED_TABLES): swapSchemas carries it over.
 */
export class IdempotencyKeys1796000000000 implements MigrationInterface {
  name = 'IdempotencyKeys1796000000000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(
      `CREATE TABLE "${s}"."idempotency_keys" ("scope" text NOT NULL, "fingerprint" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_idempotency_keys" PRIMARY KEY ("scope"))`,
    );
    await q.query(`CREATE INDEX "IDX_idempotency_keys_created" ON "${s}"."idempotency_keys" ("created_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DROP TABLE "${s}"."idempotency_keys"`);
  }
}
