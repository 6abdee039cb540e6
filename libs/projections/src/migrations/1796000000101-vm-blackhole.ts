import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * RTBH: vms.blackhole is the blackhole in force on the VM's address (who, why, since when), null when none;
 * clusters.blackhole_community the cluster's RTBH community (null: the RFC 7999 default).
 */
export class VmBlackhole1796000000101 implements MigrationInterface {
  name = 'VmBlackhole1796000000101';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."vms" ADD "blackhole" jsonb`);
    await q.query(`ALTER TABLE "${s}"."clusters" ADD "blackhole_community" text`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."vms" DROP COLUMN "blackhole"`);
    await q.query(`ALTER TABLE "${s}"."clusters" DROP COLUMN "blackhole_community"`);
  }
}
