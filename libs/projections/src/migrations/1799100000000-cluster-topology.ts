import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** clusters.topology: 'route-reflectors' (every older cluster) or 'direct' (lab/test stands: nodes peer the core). */
export class ClusterTopology1799100000000 implements MigrationInterface {
  name = 'ClusterTopology1799100000000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."clusters" ADD "topology" text NOT NULL DEFAULT 'route-reflectors'`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."clusters" DROP COLUMN "topology"`);
  }
}
