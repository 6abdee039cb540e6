import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Extra addresses of VMs (beyond the primary in `vms.ip`), one row per request: `requested`, then `allocated` (or
 * `failed`), `releasing` once removed (or the VM deleted) until IPAM releases it.
 */
export class VmAddresses1799200000000 implements MigrationInterface {
  name = 'VmAddresses1799200000000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`CREATE TABLE "${s}"."vm_addresses" ("request_id" uuid NOT NULL, "vm_id" uuid NOT NULL, "cluster_id" uuid NOT NULL,
      "family" integer NOT NULL, "requested_ip" text, "ip" text, "pool_id" uuid, "status" text NOT NULL, "reason" text,
      "allocated_seq" bigint, "requested_at" TIMESTAMP WITH TIME ZONE NOT NULL, "release_at" TIMESTAMP WITH TIME ZONE,
      CONSTRAINT "PK_vm_addresses" PRIMARY KEY ("request_id"))`);
    await q.query(`CREATE INDEX "IDX_vm_addresses_vm" ON "${s}"."vm_addresses" ("vm_id")`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DROP TABLE "${s}"."vm_addresses"`);
  }
}
