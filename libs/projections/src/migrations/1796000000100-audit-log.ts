import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * audit_log: one row per event a command caused (meta.commandId + meta.actor on a cluster/node/vm/ipam subject).
 * Events already projected are not backfilled here: `rebuild` replays from sequence 1 and fills it.
 */
export class AuditLog1796000000100 implements MigrationInterface {
  name = 'AuditLog1796000000100';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(
      `CREATE TABLE "${s}"."audit_log" ("seq" bigint NOT NULL, "idx" integer NOT NULL, "at" TIMESTAMP WITH TIME ZONE NOT NULL, "actor" text NOT NULL, "command" text, "command_id" text NOT NULL, "event" text NOT NULL, "aggregate" text NOT NULL, "aggregate_id" text NOT NULL, "cluster_id" uuid, "detail" jsonb NOT NULL, CONSTRAINT "PK_audit_log" PRIMARY KEY ("seq", "idx"))`,
    );
    await q.query(`CREATE INDEX "IDX_audit_log_at" ON "${s}"."audit_log" ("at")`);
    await q.query(`CREATE INDEX "IDX_audit_log_actor_at" ON "${s}"."audit_log" ("actor", "at")`);
    await q.query(`CREATE INDEX "IDX_audit_log_cluster_at" ON "${s}"."audit_log" ("cluster_id", "at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DROP TABLE "${s}"."audit_log"`);
  }
}
