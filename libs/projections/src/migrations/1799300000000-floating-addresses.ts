import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Floating addresses: one row per address held by an owner (`allocated`, `attached`, `moving`, `releasing`; gone
 * once released), and their billing intervals in `floating_usage`: one `owner` interval per allocation, one `vm`
 * interval per attachment (a move closes the old VM's at its completion).
 */
export class FloatingAddresses1799300000000 implements MigrationInterface {
  name = 'FloatingAddresses1799300000000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`CREATE TABLE "${s}"."floating_addresses" ("id" uuid NOT NULL, "cluster_id" uuid NOT NULL, "owner_id" text NOT NULL,
      "ip" text NOT NULL, "family" integer NOT NULL, "pool_id" uuid NOT NULL, "status" text NOT NULL, "vm_id" uuid, "from_vm_id" uuid,
      "allocated_seq" bigint NOT NULL, "allocated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "release_at" TIMESTAMP WITH TIME ZONE,
      "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_floating_addresses" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_floating_addresses_owner" ON "${s}"."floating_addresses" ("owner_id", "cluster_id")`);
    await q.query(`CREATE INDEX "IDX_floating_addresses_vm" ON "${s}"."floating_addresses" ("vm_id")`);
    await q.query(`CREATE TABLE "${s}"."floating_usage" ("floating_id" uuid NOT NULL, "start_seq" bigint NOT NULL, "kind" text NOT NULL,
      "owner_id" text NOT NULL, "ip" text NOT NULL, "cluster_id" uuid NOT NULL, "vm_id" uuid, "started_at" TIMESTAMP WITH TIME ZONE NOT NULL,
      "ended_at" TIMESTAMP WITH TIME ZONE, "ended_seq" bigint, CONSTRAINT "PK_floating_usage" PRIMARY KEY ("floating_id", "start_seq"))`);
    await q.query(`CREATE INDEX "IDX_floating_usage_owner" ON "${s}"."floating_usage" ("owner_id", "started_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DROP TABLE "${s}"."floating_usage"`);
    await q.query(`DROP TABLE "${s}"."floating_addresses"`);
  }
}
