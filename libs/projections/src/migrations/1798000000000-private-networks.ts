import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Tenant private networks (one row per live network, with its VNI) and VM attachments (one row per VM and
 * network while the address is held: `attached`, then `releasing` during the cool-down after a detach).
 */
export class PrivateNetworks1798000000000 implements MigrationInterface {
  name = 'PrivateNetworks1798000000000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`CREATE TABLE "${s}"."private_networks" ("id" uuid NOT NULL, "cluster_id" uuid NOT NULL, "owner_id" text NOT NULL, "name" text NOT NULL,
      "cidr" text NOT NULL, "family" integer NOT NULL, "vni" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL,
      CONSTRAINT "PK_private_networks" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "IDX_private_networks_cluster" ON "${s}"."private_networks" ("cluster_id", "owner_id")`);
    await q.query(`CREATE TABLE "${s}"."private_attachments" ("network_id" uuid NOT NULL, "vm_id" uuid NOT NULL, "ip" text NOT NULL,
      "cluster_id" uuid NOT NULL, "owner_id" text NOT NULL, "family" integer NOT NULL, "vni" integer NOT NULL, "mac" text NOT NULL,
      "status" text NOT NULL, "attached_at" TIMESTAMP WITH TIME ZONE NOT NULL, "release_at" TIMESTAMP WITH TIME ZONE,
      CONSTRAINT "PK_private_attachments" PRIMARY KEY ("network_id", "vm_id", "ip"))`);
    await q.query(`CREATE INDEX "IDX_private_attachments_vm" ON "${s}"."private_attachments" ("vm_id")`);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DROP TABLE "${s}"."private_attachments"`);
    await q.query(`DROP TABLE "${s}"."private_networks"`);
  }
}
