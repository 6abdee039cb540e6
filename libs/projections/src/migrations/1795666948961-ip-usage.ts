import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Billing read model: address holdings per (owner, ip, vm) with the IpAllocated / IpReleased event times.
 * Backfilled from vm_history (which records both events with their occurredAt) so a live read model that is
 * already past those events gets the same rows a rebuild from sequence 1 would.
 */
export class IpUsage1795666948961 implements MigrationInterface {
  name = 'IpUsage1795666948961';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(
      `CREATE TABLE "${s}"."ip_usage" ("owner_id" text NOT NULL, "ip" text NOT NULL, "vm_id" uuid NOT NULL, "cluster_id" uuid NOT NULL, "family" integer NOT NULL, "allocated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "released_at" TIMESTAMP WITH TIME ZONE, "allocated_seq" bigint NOT NULL, "released_seq" bigint, CONSTRAINT "PK_9303704f5fc9ecdb9a7c8d29716" PRIMARY KEY ("owner_id", "ip", "vm_id"))`,
    );
    await q.query(`CREATE INDEX "IDX_39bf515ef7e8d401165617c9ca" ON "${s}"."ip_usage"  ("allocated_at") `);
    // vm_history.detail is the address for IpAllocated and '<ip> released' for IpReleased (see the projector).
    await q.query(
      `INSERT INTO "${s}"."ip_usage" (owner_id, ip, vm_id, cluster_id, family, allocated_at, released_at, allocated_seq, released_seq)
       SELECT v.owner_id, a.detail, a.vm_id, v.cluster_id, CASE WHEN position(':' in a.detail) > 0 THEN 6 ELSE 4 END, a.at, r.at, a.seq, r.seq
       FROM "${s}"."vm_history" a
       JOIN "${s}"."vms" v ON v.id = a.vm_id
       LEFT JOIN LATERAL (SELECT h.at, h.seq FROM "${s}"."vm_history" h WHERE h.vm_id = a.vm_id AND h.event = 'IpReleased' AND h.seq > a.seq ORDER BY h.seq LIMIT 1) r ON true
       WHERE a.event = 'IpAllocated'
       ON CONFLICT DO NOTHING`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DROP TABLE "${s}"."ip_usage"`);
  }
}
