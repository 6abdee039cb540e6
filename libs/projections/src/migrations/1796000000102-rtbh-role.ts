import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** API token role `rtbh` (a DDoS detector: reads VMs, blackholes and lifts their addresses, nothing else). */
export class RtbhRole1796000000102 implements MigrationInterface {
  name = 'RtbhRole1796000000102';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."api_tokens" DROP CONSTRAINT "CHK_api_tokens_role"`);
    await q.query(`ALTER TABLE "${s}"."api_tokens" ADD CONSTRAINT "CHK_api_tokens_role" CHECK ("role" IN ('admin', 'operator', 'billing', 'rtbh'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DELETE FROM "${s}"."api_tokens" WHERE role = 'rtbh'`);
    await q.query(`ALTER TABLE "${s}"."api_tokens" DROP CONSTRAINT "CHK_api_tokens_role"`);
    await q.query(`ALTER TABLE "${s}"."api_tokens" ADD CONSTRAINT "CHK_api_tokens_role" CHECK ("role" IN ('admin', 'operator', 'billing'))`);
  }
}
