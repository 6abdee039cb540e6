import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * VM history rows name the stream their sequence belongs to: route statuses (announced, at-core) come from
 * the observations stream, whose sequences overlap the events stream's. Existing rows are all from events.
 */
export class VmHistoryStream1797100000000 implements MigrationInterface {
  name = 'VmHistoryStream1797100000000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."vm_history" ADD "stream" text NOT NULL DEFAULT 'events'`);
    await q.query(`ALTER TABLE "${s}"."vm_history" DROP CONSTRAINT "PK_3322101529c80434be60aa86c07"`);
    await q.query(`ALTER TABLE "${s}"."vm_history" ADD CONSTRAINT "PK_vm_history" PRIMARY KEY ("vm_id", "stream", "seq")`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DELETE FROM "${s}"."vm_history" WHERE stream <> 'events'`);
    await q.query(`ALTER TABLE "${s}"."vm_history" DROP CONSTRAINT "PK_vm_history"`);
    await q.query(`ALTER TABLE "${s}"."vm_history" ADD CONSTRAINT "PK_3322101529c80434be60aa86c07" PRIMARY KEY ("vm_id", "seq")`);
    await q.query(`ALTER TABLE "${s}"."vm_history" DROP COLUMN "stream"`);
  }
}
