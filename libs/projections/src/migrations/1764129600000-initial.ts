import { type MigrationInterface, type QueryRunner } from 'typeorm';

/** The first read model. Schema-qualified so the same migration builds live and rebuild schemas. */
export class Initial1764129600000 implements MigrationInterface {
  name = 'Initial1764129600000';

  async up(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(
      `CREATE TABLE "${s}"."projection_checkpoints" ("name" text NOT NULL, "position" bigint NOT NULL, CONSTRAINT "PK_0f69cb98ee85030b5da44336510" PRIMARY KEY ("name"))`,
    );
    await q.query(
      `CREATE TABLE "${s}"."clusters" ("id" uuid NOT NULL, "name" text NOT NULL, "fabric_asn" bigint NOT NULL, "core_asn" bigint NOT NULL, "community" text NOT NULL, "gateway" jsonb NOT NULL, "core_router" jsonb NOT NULL, "rr_cluster_id" text NOT NULL, "bgp" jsonb NOT NULL, "route_reflectors" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_56c8e201f375e1e961dcdd6831c" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE UNIQUE INDEX "IDX_9866753a0c6ffd4adebb5cc236" ON "${s}"."clusters"  ("name") `);
    await q.query(
      `CREATE TABLE "${s}"."networks" ("id" uuid NOT NULL, "cluster_id" uuid NOT NULL, "cidr" text NOT NULL, "family" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_61b1ee921bf79550d9d4742b9f7" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_f385269fae109d2c9ff2382b9d" ON "${s}"."networks"  ("cluster_id") `);
    await q.query(
      `CREATE TABLE "${s}"."pools" ("id" uuid NOT NULL, "network_id" uuid NOT NULL, "cluster_id" uuid NOT NULL, "start_ip" text NOT NULL, "end_ip" text NOT NULL, "size" numeric(40,0) NOT NULL, "used" integer NOT NULL DEFAULT '0', CONSTRAINT "PK_6708c86fc389259de3ee43230ee" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_65810a94d594be5dfcd0a304b2" ON "${s}"."pools"  ("network_id") `);
    await q.query(`CREATE INDEX "IDX_5d3eb311d2ae87cf641901f499" ON "${s}"."pools"  ("cluster_id") `);
    await q.query(
      `CREATE TABLE "${s}"."nodes" ("id" uuid NOT NULL, "cluster_id" uuid NOT NULL, "name" text NOT NULL, "underlay_ip" text NOT NULL, "underlay_ip6" text, "status" text NOT NULL, "joined_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_682d6427523a0fa43d062ea03ee" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_1e6db25be4b515e345ed165718" ON "${s}"."nodes"  ("cluster_id") `);
    await q.query(
      `CREATE TABLE "${s}"."vms" ("id" uuid NOT NULL, "cluster_id" uuid NOT NULL, "node_id" uuid NOT NULL, "previous_node_id" uuid, "name" text NOT NULL, "owner_id" text NOT NULL, "ip" text, "pool_id" uuid, "allocated_seq" bigint, "family" integer NOT NULL, "driver" text NOT NULL, "status" text NOT NULL, "reason" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_seq" bigint NOT NULL, CONSTRAINT "PK_cc4544535b57023c558e999ceb8" PRIMARY KEY ("id"))`,
    );
    await q.query(`CREATE INDEX "IDX_55b2f6583b59d97ebc6a4f271b" ON "${s}"."vms"  ("node_id") `);
    await q.query(`CREATE INDEX "IDX_03fd4e24c99ce925053e9745a1" ON "${s}"."vms"  ("owner_id") `);
    await q.query(`CREATE INDEX "IDX_bdca4e41ebd5aac5b42a480f1b" ON "${s}"."vms"  ("cluster_id", "name") `);
    await q.query(
      `CREATE TABLE "${s}"."vm_history" ("vm_id" uuid NOT NULL, "seq" bigint NOT NULL, "status" text NOT NULL, "event" text NOT NULL, "at" TIMESTAMP WITH TIME ZONE NOT NULL, "detail" text, CONSTRAINT "PK_3322101529c80434be60aa86c07" PRIMARY KEY ("vm_id", "seq"))`,
    );
    await q.query(
      `CREATE TABLE "${s}"."agent_targets" ("kind" text NOT NULL, "target_id" text NOT NULL, "cluster_id" uuid, "desired_generation" integer NOT NULL DEFAULT '0', "desired_hash" text, "desired_source_seq" bigint NOT NULL DEFAULT '0', "applied_generation" integer NOT NULL DEFAULT '0', "applied_hash" text, "last_changes" integer, "last_duration_ms" integer, "applied_at" TIMESTAMP WITH TIME ZONE, "last_error" text, "routes" jsonb NOT NULL DEFAULT '[]', CONSTRAINT "PK_a7c0d61dc01ba7bdf27c6f5a234" PRIMARY KEY ("kind", "target_id"))`,
    );
    await q.query(
      `CREATE TABLE "${s}"."bgp_sessions" ("kind" text NOT NULL, "target_id" text NOT NULL, "protocol" text NOT NULL, "peer_ip" text, "state" text NOT NULL, "info" text, "since" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_46de5412fb856114eacc2f9f294" PRIMARY KEY ("kind", "target_id", "protocol"))`,
    );
    await q.query(
      `CREATE TABLE "${s}"."router_configs" ("cluster_id" uuid NOT NULL, "version" integer NOT NULL, "hash" text NOT NULL, "configs" jsonb NOT NULL, "diffs" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_9439203646d635b2e99bec39516" PRIMARY KEY ("cluster_id", "version"))`,
    );
    await q.query(
      `CREATE TABLE "${s}"."dead_letters" ("seq" bigint NOT NULL, "consumer" text NOT NULL, "stream_seq" bigint NOT NULL, "event_type" text, "error" text NOT NULL, "at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_77253694e384e0fcdb61ba2c987" PRIMARY KEY ("seq"))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    const s = (q.connection.options as { schema: string }).schema;
    await q.query(`DROP TABLE "${s}"."dead_letters"`);
    await q.query(`DROP TABLE "${s}"."router_configs"`);
    await q.query(`DROP TABLE "${s}"."bgp_sessions"`);
    await q.query(`DROP TABLE "${s}"."agent_targets"`);
    await q.query(`DROP TABLE "${s}"."vm_history"`);
    await q.query(`DROP TABLE "${s}"."vms"`);
    await q.query(`DROP TABLE "${s}"."nodes"`);
    await q.query(`DROP TABLE "${s}"."pools"`);
    await q.query(`DROP TABLE "${s}"."networks"`);
    await q.query(`DROP TABLE "${s}"."clusters"`);
    await q.query(`DROP TABLE "${s}"."projection_checkpoints"`);
  }
}
