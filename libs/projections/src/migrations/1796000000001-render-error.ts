import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** agent_targets.render_error: the deriver cannot render the target (TargetRenderFailed), shown as drift. */
export class RenderError1796000000001 implements MigrationInterface {
  name = 'RenderError1796000000001';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."agent_targets" ADD "render_error" text`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."agent_targets" DROP COLUMN "render_error"`);
  }
}
