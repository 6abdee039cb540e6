import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** router_configs.rollback_of: the earlier version a version re-publishes (a core config rollback), null otherwise. */
export class RouterConfigRollback1799000000000 implements MigrationInterface {
  name = 'RouterConfigRollback1799000000000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."router_configs" ADD "rollback_of" int`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."router_configs" DROP COLUMN "rollback_of"`);
  }
}
