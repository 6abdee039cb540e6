import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * API tokens of the HTTP API. Not derived from events (not in PROJECTED_TABLES): a rebuild does not
 * replay it; swapSchemas carries it over. Only the sha256 of each token is stored.
 */
export class ApiTokens1764300000000 implements MigrationInterface {
  name = 'ApiTokens1764300000000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(
      `CREATE TABLE "${s}"."api_tokens" ("id" uuid NOT NULL, "name" text NOT NULL, "role" text NOT NULL, "token_hash" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "last_used_at" TIMESTAMP WITH TIME ZONE, "revoked_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_api_tokens" PRIMARY KEY ("id"), CONSTRAINT "CHK_api_tokens_role" CHECK ("role" IN ('admin', 'operator', 'billing')))`,
    );
    await q.query(`CREATE UNIQUE INDEX "IDX_api_tokens_hash" ON "${s}"."api_tokens" ("token_hash")`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DROP TABLE "${s}"."api_tokens"`);
  }
}
