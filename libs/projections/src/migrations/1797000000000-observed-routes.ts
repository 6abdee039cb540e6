import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Routes each RR and core holds, one row per (prefix, next hop), maintained from RoutesChanged deltas
 * (was agent_targets.routes, a JSON array rewritten with every full report). `stale` marks rows a
 * resync has not confirmed yet; agent_targets.route_count keeps the per-target count for the dashboard.
 */
export class ObservedRoutes1797000000000 implements MigrationInterface {
  name = 'ObservedRoutes1797000000000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`CREATE TABLE "${s}"."observed_routes" ("kind" text NOT NULL, "target_id" text NOT NULL, "prefix" text NOT NULL, "next_hop" text NOT NULL DEFAULT '',
      "ip" text NOT NULL, "stale" boolean NOT NULL DEFAULT false, CONSTRAINT "PK_observed_routes" PRIMARY KEY ("kind", "target_id", "prefix", "next_hop"))`);
    await q.query(`CREATE INDEX "IDX_observed_routes_ip" ON "${s}"."observed_routes" ("kind", "target_id", "ip")`);
    await q.query(`ALTER TABLE "${s}"."agent_targets" ADD "route_count" integer NOT NULL DEFAULT 0`);
    await q.query(
      `INSERT INTO "${s}"."observed_routes" (kind, target_id, prefix, next_hop, ip)
       SELECT t.kind, t.target_id, r->>'prefix', COALESCE(r->>'nextHop', ''), split_part(r->>'prefix', '/', 1)
       FROM "${s}"."agent_targets" t, jsonb_array_elements(t.routes) r ON CONFLICT DO NOTHING`,
    );
    await q.query(`UPDATE "${s}"."agent_targets" SET route_count = jsonb_array_length(routes)`);
    await q.query(`ALTER TABLE "${s}"."agent_targets" DROP COLUMN "routes"`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`ALTER TABLE "${s}"."agent_targets" ADD "routes" jsonb NOT NULL DEFAULT '[]'`);
    await q.query(
      `UPDATE "${s}"."agent_targets" t SET routes = COALESCE((SELECT jsonb_agg(CASE WHEN o.next_hop = '' THEN jsonb_build_object('prefix', o.prefix)
         ELSE jsonb_build_object('prefix', o.prefix, 'nextHop', o.next_hop) END) FROM "${s}"."observed_routes" o WHERE o.kind = t.kind AND o.target_id = t.target_id), '[]')`,
    );
    await q.query(`ALTER TABLE "${s}"."agent_targets" DROP COLUMN "route_count"`);
    await q.query(`DROP TABLE "${s}"."observed_routes"`);
  }
}
