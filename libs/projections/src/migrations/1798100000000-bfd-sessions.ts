import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** BFD sessions each target reports (BfdSessionStateChanged observations), one row per (peer, interface). */
export class BfdSessions1798100000000 implements MigrationInterface {
  name = 'BfdSessions1798100000000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(
      `CREATE TABLE "${s}"."bfd_sessions" ("kind" text NOT NULL, "target_id" text NOT NULL, "peer_ip" text NOT NULL, "interface" text NOT NULL,
        "state" text NOT NULL, "interval_ms" integer, "timeout_ms" integer, "info" text, "since" TIMESTAMP WITH TIME ZONE NOT NULL,
        CONSTRAINT "PK_bfd_sessions" PRIMARY KEY ("kind", "target_id", "peer_ip", "interface"))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DROP TABLE "${s}"."bfd_sessions"`);
  }
}
