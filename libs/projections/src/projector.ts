/**
 * How each event changes the read model. Plain SQL on purpose: it runs inside the runner's
 * transaction, batch after batch, and must stay cheap. Every statement is idempotent per event
 * (upserts, guarded updates) but the runner's checkpoint already makes redelivery a no-op.
 */
import type { EntityManager } from 'typeorm';
import {
  type EventHandlers,
  type StoredEvent,
  type StoredEventOf,
  type EventOf,
  subjectTarget,
  dispatchEvent,
  EVENT_AGGREGATE,
  REDACTED,
  SECRET_REF,
} from '@fabric/contracts';
import { rangeSize } from './range-size';

export type VmStatus = 'requested' | 'ip-allocated' | 'applied' | 'announced' | 'at-core' | 'failed' | 'migrating' | 'deleted';

type Target = NonNullable<ReturnType<typeof subjectTarget>>;

export interface VmAtCore {
  vmId: string;
  createdAt: Date;
  at: Date;
}

export class Projector {
  constructor(private readonly schema: string) {}

  t(table: string): string {
    return `"${this.schema}"."${table}"`;
  }

  /**
   * Rows written in bulk at the end of a batch (or before any statement that could read them): the
   * history is append-only and read by nobody inside a batch; new VM rows are only read by later events.
   * Cuts a VM's projection from ~6 round trips to ~2.
   */
  private pendingHistory: unknown[][] = [];
  private pendingVms: unknown[][] = [];
  private pendingAllocs: unknown[][] = [];

  /** Writes what apply() buffered; the runner calls it before the checkpoint update of every batch. */
  async flush(em: EntityManager): Promise<void> {
    await this.flushVms(em);
    await this.insertMany(em, 'vm_history', ['vm_id', 'stream', 'seq', 'status', 'event', 'at', 'detail'], this.pendingHistory, 'ON CONFLICT DO NOTHING');
    this.pendingHistory = [];
    await this.insertMany(em, 'audit_log', AUDIT_COLUMNS, this.pendingAudit, 'ON CONFLICT DO NOTHING');
    this.pendingAudit = [];
  }

  private pendingAudit: unknown[][] = [];

  /**
   * Events a command caused (an API token's or a service's write): only on the subjects of the write
   * services (agents cannot publish there), and only with a command id and an actor in their meta.
   * Meta is not part of the validated contract: its strings are checked and bounded here.
   */
  private audit(e: StoredEvent, aggregate: string | undefined): void {
    if (!aggregate || !AUDITED_AGGREGATES.has(aggregate)) return;
    const m = (e.meta ?? {}) as Record<string, unknown>;
    const text = (v: unknown, max: number) => (typeof v === 'string' && v.length > 0 ? v.slice(0, max) : undefined);
    const actor = text(m.actor, 200);
    const commandId = text(m.commandId, 200);
    if (!actor || !commandId) return;
    const command = text(m.command, 64) ?? null;
    const aggregateId = e.subject.split('.').pop() ?? '';
    const d: object = e.data ?? {};
    const clusterId = 'clusterId' in d && typeof d.clusterId === 'string' && UUID.test(d.clusterId) ? d.clusterId : null;
    this.pendingAudit.push([
      e.seq,
      e.index ?? 0,
      e.occurredAt,
      actor,
      command,
      commandId,
      e.type,
      aggregate,
      aggregateId,
      clusterId,
      JSON.stringify(auditDetail(d)),
    ]);
  }

  /** Forgets what a failed transaction buffered. */
  reset(): void {
    this.pendingHistory = [];
    this.pendingVms = [];
    this.pendingAllocs = [];
    this.pendingAudit = [];
  }

  /**
   * New VMs, then their allocations. Applying all buffered inserts before all buffered allocations is
   * the same as applying them interleaved: an IpAllocated always follows its VmCreated, and anything
   * else that touches these rows flushes the buffers before it runs.
   */
  private async flushVms(em: EntityManager): Promise<void> {
    await this.flushNewVms(em);
    await this.flushAllocations(em);
  }

  private async flushAllocations(em: EntityManager): Promise<void> {
    if (!this.pendingAllocs.length) return;
    const rows = this.pendingAllocs;
    this.pendingAllocs = [];
    const types = ['uuid', 'text', 'timestamptz', 'uuid', 'bigint', 'text', 'uuid', 'int'];
    for (let i = 0; i < rows.length; i += 5000) {
      const chunk = rows.slice(i, i + 5000);
      const values = chunk.map((_, r) => `(${types.map((t, c) => `$${r * types.length + c + 1}::${t}`).join(',')})`).join(',');
      await em.query(
        `WITH a (vm_id, ip, at, pool_id, seq, owner_id, cluster_id, family) AS (VALUES ${values}),
              v AS (UPDATE ${this.t('vms')} SET ip = a.ip, pool_id = a.pool_id, allocated_seq = a.seq, updated_at = a.at, family = a.family,
                      status = CASE WHEN ${this.t('vms')}.status IN ('requested', 'failed') THEN 'ip-allocated' ELSE ${this.t('vms')}.status END,
                      reason = CASE WHEN ${this.t('vms')}.status = 'failed' THEN NULL ELSE ${this.t('vms')}.reason END
                    FROM a WHERE ${this.t('vms')}.id = a.vm_id RETURNING 1),
              p AS (UPDATE ${this.t('pools')} SET used = used + c.n FROM (SELECT pool_id, count(*) AS n FROM a GROUP BY pool_id) c
                    WHERE ${this.t('pools')}.id = c.pool_id RETURNING 1)
         INSERT INTO ${this.t('ip_usage')} (owner_id, ip, vm_id, cluster_id, family, allocated_at, allocated_seq)
         SELECT owner_id, ip, vm_id, cluster_id, family, at, seq FROM a ON CONFLICT DO NOTHING`,
        chunk.flat(),
      );
    }
  }

  private async flushNewVms(em: EntityManager): Promise<void> {
    if (!this.pendingVms.length) return;
    const rows = this.pendingVms;
    this.pendingVms = [];
    await this.insertMany(
      em,
      'vms',
      ['id', 'cluster_id', 'node_id', 'name', 'owner_id', 'family', 'driver', 'status', 'created_at', 'updated_at', 'created_seq'],
      rows,
      'ON CONFLICT (id) DO NOTHING',
    );
  }

  private async insertMany(em: EntityManager, table: string, cols: string[], rows: unknown[][], suffix: string): Promise<void> {
    // Postgres takes at most 65535 parameters per statement.
    const per = Math.floor(60000 / cols.length);
    for (let i = 0; i < rows.length; i += per) {
      const chunk = rows.slice(i, i + per);
      const values = chunk.map((_, r) => `(${cols.map((__, c) => `$${r * cols.length + c + 1}`).join(',')})`).join(',');
      await em.query(`INSERT INTO ${this.t(table)} (${cols.join(', ')}) VALUES ${values} ${suffix}`, chunk.flat());
    }
  }

  async apply(em: EntityManager, e: StoredEvent): Promise<void> {
    // Agent reports and desired states are about the target of their subject (who published), never the payload's.
    const aggregate = EVENT_AGGREGATE[e.type];
    const target = subjectTarget(e.subject);
    if ((aggregate === 'agent' || aggregate === 'desired') && !target) return;
    if (e.type !== 'VmCreated' && e.type !== 'IpAllocated') await this.flushVms(em);
    this.audit(e, aggregate);
    await dispatchEvent(this.handlers, e, em, target);
  }

  /**
   * One handler per event type, given the event narrowed to its type; types without one do not change the
   * read model. `target` is the subject's (set for agent reports and desired states: apply() checked it).
   */
  private readonly handlers: EventHandlers<Promise<void>, [EntityManager, Target | undefined]> = {
    ClusterCreated: async (e, em) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('clusters')} (id, name, fabric_asn, core_asn, community, gateway, core_router, rr_cluster_id, bgp, route_reflectors, created_at, blackhole_community, topology)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'[]',$10,$11,$12) ON CONFLICT (id) DO NOTHING`,
        [
          d.clusterId,
          d.name,
          d.fabricAsn,
          d.coreAsn,
          d.community,
          JSON.stringify(d.gateway),
          JSON.stringify(d.coreRouter),
          d.rrClusterId,
          JSON.stringify(readableBgp(d.bgp)),
          e.occurredAt,
          d.blackholeCommunity ?? null,
          d.topology ?? 'route-reflectors',
        ],
      );
    },
    BgpPasswordChanged: async (e, em) => {
      const d = e.data;
      await em.query(`UPDATE ${this.t('clusters')} SET bgp = bgp || $2::jsonb WHERE id = $1`, [
        d.clusterId,
        JSON.stringify({ md5Password: readableSecret(d.md5Password) }),
      ]);
    },
    ClusterBgpSettingsChanged: async (e, em) => {
      const d = e.data;
      // The event carries the whole non-secret settings: replace them, keep the password reference.
      await em.query(
        `UPDATE ${this.t('clusters')} SET community = $3,
           bgp = $2::jsonb || jsonb_strip_nulls(jsonb_build_object('md5Password', bgp->'md5Password'))
         WHERE id = $1`,
        [d.clusterId, JSON.stringify(d.bgp), d.community],
      );
    },
    RouteReflectorAdded: async (e, em) => {
      const d = e.data;
      await em.query(
        `UPDATE ${this.t('clusters')} SET route_reflectors = route_reflectors || $2::jsonb
         WHERE id = $1 AND NOT route_reflectors @> $3::jsonb`,
        [d.clusterId, JSON.stringify([{ name: d.name, ip: d.ip }]), JSON.stringify([{ name: d.name }])],
      );
    },
    RouteReflectorRemoved: async (e, em) => {
      const d = e.data;
      await em.query(
        `UPDATE ${this.t('clusters')} SET route_reflectors = COALESCE((SELECT jsonb_agg(r) FROM jsonb_array_elements(route_reflectors) r WHERE r->>'name' <> $2), '[]'::jsonb) WHERE id = $1`,
        [d.clusterId, d.name],
      );
    },
    NodeJoined: async (e, em) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('nodes')} (id, cluster_id, name, underlay_ip, underlay_ip6, status, joined_at) VALUES ($1,$2,$3,$4,$5,'active',$6) ON CONFLICT (id) DO NOTHING`,
        [d.nodeId, d.clusterId, d.name, d.underlayIp, d.underlayIp6 ?? null, e.occurredAt],
      );
    },
    NodeDrained: (e, em) => this.nodeStatus(em, e.data.nodeId, 'drained', false),
    NodeLeft: (e, em) => this.nodeStatus(em, e.data.nodeId, 'left', false),
    NodeEvacuationStarted: (e, em) => this.nodeStatus(em, e.data.nodeId, 'evacuating', true),
    NodeEvacuated: (e, em) => this.nodeStatus(em, e.data.nodeId, 'drained', true),
    NodeUndrained: (e, em) => this.nodeStatus(em, e.data.nodeId, 'active', true),
    NetworkAdded: async (e, em) => {
      const d = e.data;
      await em.query(`INSERT INTO ${this.t('networks')} (id, cluster_id, cidr, family, created_at) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (id) DO NOTHING`, [
        d.networkId,
        d.clusterId,
        d.cidr,
        d.family,
        e.occurredAt,
      ]);
    },
    PoolAdded: async (e, em) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('pools')} (id, network_id, cluster_id, start_ip, end_ip, size, used) VALUES ($1,$2,$3,$4,$5,$6,0) ON CONFLICT (id) DO NOTHING`,
        [d.poolId, d.networkId, d.clusterId, d.start, d.end, rangeSize(d.start, d.end).toString()],
      );
    },
    VmCreated: async (e, em) => {
      const d = e.data;
      const at = e.occurredAt;
      this.pendingVms.push([d.vmId, d.clusterId, d.nodeId, d.name, d.ownerId, d.family, d.driver, 'requested', at, at, e.seq]);
      await this.history(em, d.vmId, e, 'requested', d.requestedIp ? `requested ${d.requestedIp}` : null);
    },
    IpAllocated: async (e, em) => {
      const d = e.data;
      this.pendingAllocs.push([d.vmId, d.ip, e.occurredAt, d.poolId, e.seq, d.ownerId, d.clusterId, d.family]);
      await this.history(em, d.vmId, e, 'ip-allocated', d.ip);
    },
    IpAllocationFailed: async (e, em) => {
      const d = e.data;
      await em.query(`UPDATE ${this.t('vms')} SET status = 'failed', reason = $2, updated_at = $3 WHERE id = $1 AND status <> 'deleted'`, [
        d.vmId,
        `${d.reason}: ${d.message}`,
        e.occurredAt,
      ]);
      await this.history(em, d.vmId, e, 'failed', `${d.reason}: ${d.message}`);
    },
    VmDeleted: async (e, em) => {
      const d = e.data;
      await em.query(`UPDATE ${this.t('vms')} SET status = 'deleted', updated_at = $2 WHERE id = $1`, [d.vmId, e.occurredAt]);
      // Every extra address is withdrawn with the VM (IPAM holds the allocated ones for the cool-down).
      await em.query(`UPDATE ${this.t('vm_addresses')} SET status = 'releasing' WHERE vm_id = $1 AND status = 'allocated'`, [d.vmId]);
      await em.query(`DELETE FROM ${this.t('vm_addresses')} WHERE vm_id = $1 AND status = 'failed'`, [d.vmId]);
      await this.history(em, d.vmId, e, 'deleted', null);
    },
    IpReleaseScheduled: async (e, em) => {
      const d = e.data;
      await this.history(em, d.vmId, e, 'deleted', `${d.ip} held until ${d.releaseAt}`);
    },
    IpReleased: async (e, em) => {
      const d = e.data;
      await em.query(`UPDATE ${this.t('pools')} SET used = used - 1 WHERE id = (SELECT pool_id FROM ${this.t('vms')} WHERE id = $1)`, [d.vmId]);
      await this.history(em, d.vmId, e, 'deleted', `${d.ip} released`);
      // Billing stops at the release, not at VmDeleted: the address stays held during the cool-down.
      await em.query(
        `UPDATE ${this.t('ip_usage')} SET released_at = $4, released_seq = $5 WHERE owner_id = $1 AND ip = $2 AND vm_id = $3 AND released_at IS NULL`,
        [d.ownerId, d.ip, d.vmId, e.occurredAt, e.seq],
      );
    },
    VmAddressRequested: async (e, em) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('vm_addresses')} (request_id, vm_id, cluster_id, family, requested_ip, status, requested_at)
         VALUES ($1,$2,$3,$4,$5,'requested',$6) ON CONFLICT (request_id) DO NOTHING`,
        [d.requestId, d.vmId, d.clusterId, d.family, d.requestedIp ?? null, e.occurredAt],
      );
    },
    VmAddressAllocated: async (e, em) => {
      const d = e.data;
      // A VM deleted meanwhile: the address is held (and billed) until IPAM releases it, like the primary.
      await em.query(
        `UPDATE ${this.t('vm_addresses')} SET ip = $2, family = $3, pool_id = $4, allocated_seq = $5,
           status = CASE WHEN EXISTS (SELECT 1 FROM ${this.t('vms')} v WHERE v.id = $6 AND v.status = 'deleted') THEN 'releasing' ELSE 'allocated' END
         WHERE request_id = $1 AND status = 'requested'`,
        [d.requestId, d.ip, d.family, d.poolId, e.seq, d.vmId],
      );
      await em.query(`UPDATE ${this.t('pools')} SET used = used + 1 WHERE id = $1`, [d.poolId]);
      await em.query(
        `INSERT INTO ${this.t('ip_usage')} (owner_id, ip, vm_id, cluster_id, family, allocated_at, allocated_seq) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING`,
        [d.ownerId, d.ip, d.vmId, d.clusterId, d.family, e.occurredAt, e.seq],
      );
    },
    VmAddressAllocationFailed: async (e, em) => {
      const d = e.data;
      // family: a dual-stack VM's request that became its primary now stands for the first family, which failed.
      await em.query(
        `UPDATE ${this.t('vm_addresses')} SET status = 'failed', reason = $2, family = COALESCE($3, family) WHERE request_id = $1 AND status = 'requested'`,
        [d.requestId, `${d.reason}: ${d.message}`, d.family ?? null],
      );
    },
    VmAddressRemoved: async (e, em) => {
      const d = e.data;
      await em.query(`UPDATE ${this.t('vm_addresses')} SET status = 'releasing' WHERE vm_id = $1 AND ip = $2 AND status = 'allocated'`, [d.vmId, d.ip]);
    },
    VmAddressReleaseScheduled: async (e, em) => {
      const d = e.data;
      await em.query(
        `UPDATE ${this.t('vm_addresses')} SET status = 'releasing', release_at = $3 WHERE vm_id = $1 AND ip = $2 AND status IN ('allocated', 'releasing')`,
        [d.vmId, d.ip, d.releaseAt],
      );
    },
    VmAddressReleased: async (e, em) => {
      const d = e.data;
      const gone: { pool_id: string | null }[] = await em.query(`DELETE FROM ${this.t('vm_addresses')} WHERE vm_id = $1 AND ip = $2 RETURNING pool_id`, [
        d.vmId,
        d.ip,
      ]);
      for (const g of gone) if (g.pool_id) await em.query(`UPDATE ${this.t('pools')} SET used = used - 1 WHERE id = $1`, [g.pool_id]);
      // Billing of the extra address stops here, like IpReleased for the primary.
      await em.query(
        `UPDATE ${this.t('ip_usage')} SET released_at = $4, released_seq = $5 WHERE owner_id = $1 AND ip = $2 AND vm_id = $3 AND released_at IS NULL`,
        [d.ownerId, d.ip, d.vmId, e.occurredAt, e.seq],
      );
    },
    VmBlackholed: (e, em) => this.blackhole(em, e),
    VmBlackholeLifted: (e, em) => this.blackhole(em, e),
    VmMigrationRequested: async (e, em) => {
      const d = e.data;
      await em.query(`UPDATE ${this.t('vms')} SET previous_node_id = node_id, node_id = $2, status = 'migrating', updated_at = $3 WHERE id = $1`, [
        d.vmId,
        d.toNodeId,
        e.occurredAt,
      ]);
      await this.history(em, d.vmId, e, 'migrating', `${d.fromNodeId} -> ${d.toNodeId}${d.evacuation ? ' (evacuation)' : ''}`);
    },
    VmMigrationCompleted: async (e, em) => {
      const d = e.data;
      // The new node announces it already (that is what completed the migration): at core if the core holds it.
      const core = await em.query(
        `SELECT 1 FROM ${this.t('vms')} v JOIN ${this.t('observed_routes')} r ON r.kind IN ('router', 'router-bmp') AND r.target_id = $2 AND r.ip = v.ip WHERE v.id = $1 LIMIT 1`,
        [d.vmId, d.clusterId],
      );
      const atCore = core.length > 0;
      const status: VmStatus = atCore ? 'at-core' : 'announced';
      await em.query(`UPDATE ${this.t('vms')} SET previous_node_id = NULL, status = $3, updated_at = $2 WHERE id = $1 AND status = 'migrating'`, [
        d.vmId,
        e.occurredAt,
        status,
      ]);
      await this.history(em, d.vmId, e, status, `now on ${d.toNodeId}`);
    },
    DesiredStateChanged: async (e, em, target) => {
      const d = e.data;
      const rows = await em.query(
        `INSERT INTO ${this.t('agent_targets')} (kind, target_id, cluster_id, desired_generation, desired_hash, desired_source_seq) VALUES ($1,$2,$3,$4,$5,$6)
         ON CONFLICT (kind, target_id) DO UPDATE SET cluster_id = COALESCE(EXCLUDED.cluster_id, ${this.t('agent_targets')}.cluster_id), desired_generation = EXCLUDED.desired_generation,
           desired_hash = EXCLUDED.desired_hash, desired_source_seq = EXCLUDED.desired_source_seq
         WHERE ${this.t('agent_targets')}.desired_generation < EXCLUDED.desired_generation
         RETURNING applied_generation, desired_source_seq`,
        [target!.kind, target!.id, d.clusterId ?? null, d.generation, d.hash, d.sourceSeq ?? e.seq],
      );
      // The deriver sends the command before it appends this event: the node may have reported this generation
      // applied already (a slow or killed deriver), and no later ConfigApplied may come to move its VMs.
      if (target!.kind === 'node' && rows[0] && Number(rows[0].applied_generation) === d.generation) {
        await this.nodeApplied(em, e, target!.id, d.generation, Number(rows[0].desired_source_seq));
      }
    },
    ConfigApplied: async (e, em, target) => {
      const d = e.data;
      const rows = await em.query(
        `INSERT INTO ${this.t('agent_targets')} (kind, target_id, applied_generation, applied_hash, last_changes, last_duration_ms, applied_at, last_error) VALUES ($1,$2,$3,$4,$5,$6,$7,NULL)
         ON CONFLICT (kind, target_id) DO UPDATE SET applied_generation = EXCLUDED.applied_generation, applied_hash = EXCLUDED.applied_hash,
           last_changes = EXCLUDED.last_changes, last_duration_ms = EXCLUDED.last_duration_ms, applied_at = EXCLUDED.applied_at, last_error = NULL
         RETURNING desired_generation, desired_source_seq`,
        [target!.kind, target!.id, d.generation, d.hash, d.changes, d.durationMs, e.occurredAt],
      );
      // The node now has every VM the applied generation included: those move to "applied".
      if (target!.kind === 'node' && rows[0] && Number(rows[0].desired_generation) === d.generation) {
        await this.nodeApplied(em, e, target!.id, d.generation, Number(rows[0].desired_source_seq));
      }
    },
    TargetRenderFailed: (e, em) => this.renderError(em, e.data.target, e.data.reason),
    TargetRenderRecovered: (e, em) => this.renderError(em, e.data.target, null),
    ConfigApplyFailed: async (e, em, target) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('agent_targets')} (kind, target_id, last_error) VALUES ($1,$2,$3) ON CONFLICT (kind, target_id) DO UPDATE SET last_error = EXCLUDED.last_error`,
        [target!.kind, target!.id, `generation ${d.generation}: ${d.error}`],
      );
    },
    BgpSessionStateChanged: async (e, em, target) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('bgp_sessions')} (kind, target_id, protocol, peer_ip, state, info, since) VALUES ($1,$2,$3,$4,$5,$6,$7)
         ON CONFLICT (kind, target_id, protocol) DO UPDATE SET peer_ip = EXCLUDED.peer_ip, state = EXCLUDED.state, info = EXCLUDED.info, since = EXCLUDED.since`,
        [target!.kind, target!.id, d.protocol, d.peerIp ?? null, d.state, d.info ?? null, e.occurredAt],
      );
    },
    BfdSessionStateChanged: async (e, em, target) => {
      const d = e.data;
      const key = [target!.kind, target!.id, d.peerIp, d.interface ?? ''];
      if (d.state === 'removed') {
        await em.query(`DELETE FROM ${this.t('bfd_sessions')} WHERE kind = $1 AND target_id = $2 AND peer_ip = $3 AND interface = $4`, key);
        return;
      }
      // 'since' moves only with the state: a new interval on a session that stays up keeps its time.
      await em.query(
        `INSERT INTO ${this.t('bfd_sessions')} AS b (kind, target_id, peer_ip, interface, state, interval_ms, timeout_ms, info, since) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
         ON CONFLICT (kind, target_id, peer_ip, interface) DO UPDATE SET state = EXCLUDED.state, interval_ms = EXCLUDED.interval_ms,
           timeout_ms = EXCLUDED.timeout_ms, info = EXCLUDED.info, since = CASE WHEN b.state = EXCLUDED.state THEN b.since ELSE EXCLUDED.since END`,
        [...key, d.state, d.intervalMs ?? null, d.timeoutMs ?? null, d.info ?? null, e.occurredAt],
      );
    },
    // Legacy full set (older agents): a resync in one piece.
    RoutesObserved: (e, em, target) => this.routes(em, e, target!, e.data.routes, [], 'full'),
    RoutesChanged: (e, em, target) => this.routes(em, e, target!, e.data.added, e.data.withdrawn, e.data.resync, e.data.total),
    RouterConfigRendered: async (e, em) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('router_configs')} (cluster_id, version, hash, configs, diffs, rollback_of, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING`,
        [d.clusterId, d.version, d.hash, JSON.stringify(d.configs), JSON.stringify(d.diffs), d.rollbackOf ?? null, e.occurredAt],
      );
    },
    PrivateNetworkCreated: async (e, em) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('private_networks')} (id, cluster_id, owner_id, name, cidr, family, vni, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (id) DO NOTHING`,
        [d.networkId, d.clusterId, d.ownerId, d.name, d.cidr, d.family, d.vni, e.occurredAt],
      );
    },
    PrivateNetworkDeleted: async (e, em) => {
      await em.query(`DELETE FROM ${this.t('private_attachments')} WHERE network_id = $1`, [e.data.networkId]);
      await em.query(`DELETE FROM ${this.t('private_networks')} WHERE id = $1`, [e.data.networkId]);
    },
    PrivateNetworkAttached: async (e, em) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('private_attachments')} (network_id, vm_id, ip, cluster_id, owner_id, family, vni, mac, status, attached_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'attached',$9) ON CONFLICT DO NOTHING`,
        [d.networkId, d.vmId, d.ip, d.clusterId, d.ownerId, d.family, d.vni, d.mac, e.occurredAt],
      );
    },
    PrivateNetworkDetached: async (e, em) => {
      const d = e.data;
      await em.query(
        `UPDATE ${this.t('private_attachments')} SET status = 'releasing', release_at = $4 WHERE network_id = $1 AND vm_id = $2 AND ip = $3 AND status = 'attached'`,
        [d.networkId, d.vmId, d.ip, d.releaseAt],
      );
    },
    PrivateIpReleased: async (e, em) => {
      const d = e.data;
      await em.query(`DELETE FROM ${this.t('private_attachments')} WHERE network_id = $1 AND vm_id = $2 AND ip = $3 AND status = 'releasing'`, [
        d.networkId,
        d.vmId,
        d.ip,
      ]);
    },
    FloatingAddressAllocated: async (e, em) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('floating_addresses')} (id, cluster_id, owner_id, ip, family, pool_id, status, allocated_seq, allocated_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,'allocated',$7,$8,$8) ON CONFLICT DO NOTHING`,
        [d.floatingId, d.clusterId, d.ownerId, d.ip, d.family, d.poolId, e.seq, e.occurredAt],
      );
      await em.query(`UPDATE ${this.t('pools')} SET used = used + 1 WHERE id = $1`, [d.poolId]);
      await this.floatingInterval(em, e.seq, e.occurredAt, d, 'owner', null);
    },
    FloatingAddressAttached: async (e, em) => {
      const d = e.data;
      await em.query(`UPDATE ${this.t('floating_addresses')} SET status = $2, vm_id = $3, from_vm_id = $4, updated_at = $5 WHERE id = $1`, [
        d.floatingId,
        d.fromVmId ? 'moving' : 'attached',
        d.vmId,
        d.fromVmId ?? null,
        e.occurredAt,
      ]);
      await this.floatingInterval(em, e.seq, e.occurredAt, d, 'vm', d.vmId);
    },
    FloatingAddressMoveCompleted: async (e, em) => {
      const d = e.data;
      await em.query(`UPDATE ${this.t('floating_addresses')} SET status = 'attached', from_vm_id = NULL, updated_at = $2 WHERE id = $1`, [
        d.floatingId,
        e.occurredAt,
      ]);
      await this.endFloatingInterval(em, e, d.floatingId, d.fromVmId);
    },
    FloatingAddressDetached: async (e, em) => {
      const d = e.data;
      await em.query(`UPDATE ${this.t('floating_addresses')} SET status = 'allocated', vm_id = NULL, from_vm_id = NULL, updated_at = $2 WHERE id = $1`, [
        d.floatingId,
        e.occurredAt,
      ]);
      await this.endFloatingInterval(em, e, d.floatingId, d.vmId);
      if (d.fromVmId) await this.endFloatingInterval(em, e, d.floatingId, d.fromVmId);
    },
    FloatingAddressReleaseScheduled: async (e, em) => {
      const d = e.data;
      await em.query(`UPDATE ${this.t('floating_addresses')} SET status = 'releasing', release_at = $2, updated_at = $3 WHERE id = $1`, [
        d.floatingId,
        d.releaseAt,
        e.occurredAt,
      ]);
    },
    FloatingAddressReleased: async (e, em) => {
      const d = e.data;
      const gone: { pool_id: string }[] = await em.query(`DELETE FROM ${this.t('floating_addresses')} WHERE id = $1 RETURNING pool_id`, [d.floatingId]);
      for (const g of gone) await em.query(`UPDATE ${this.t('pools')} SET used = used - 1 WHERE id = $1`, [g.pool_id]);
      await this.endFloatingInterval(em, e, d.floatingId, null);
    },
    MessageDeadLettered: async (e, em) => {
      const d = e.data;
      await em.query(
        `INSERT INTO ${this.t('dead_letters')} (seq, consumer, stream_seq, event_type, error, at) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (seq) DO NOTHING`,
        [e.seq, d.consumer, d.streamSeq, d.eventType ?? null, d.error, e.occurredAt],
      );
    },
  };

  private async floatingInterval(
    em: EntityManager,
    seq: number,
    at: string,
    d: { floatingId: string; ownerId: string; ip: string; clusterId: string },
    kind: 'owner' | 'vm',
    vmId: string | null,
  ): Promise<void> {
    await em.query(
      `INSERT INTO ${this.t('floating_usage')} (floating_id, start_seq, kind, owner_id, ip, cluster_id, vm_id, started_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
       ON CONFLICT DO NOTHING`,
      [d.floatingId, seq, kind, d.ownerId, d.ip, d.clusterId, vmId, at],
    );
  }

  /** Ends the open interval of the address on `vmId` (null: its owner interval). */
  private async endFloatingInterval(em: EntityManager, e: { seq: number; occurredAt: string }, floatingId: string, vmId: string | null): Promise<void> {
    await em.query(
      `UPDATE ${this.t('floating_usage')} SET ended_at = $3, ended_seq = $4
       WHERE floating_id = $1 AND ended_at IS NULL AND ${vmId ? `kind = 'vm' AND vm_id = $2` : `kind = 'owner' AND $2::uuid IS NULL`}`,
      [floatingId, vmId, e.occurredAt, e.seq],
    );
  }

  /** Drain and leave set the status outright; the evacuation steps never bring a node back from 'left'. */
  private async nodeStatus(em: EntityManager, nodeId: string, status: string, unlessLeft: boolean): Promise<void> {
    await em.query(`UPDATE ${this.t('nodes')} SET status = $2 WHERE id = $1${unlessLeft ? ` AND status <> 'left'` : ''}`, [nodeId, status]);
  }

  private async blackhole(em: EntityManager, e: StoredEventOf<'VmBlackholed' | 'VmBlackholeLifted'>): Promise<void> {
    const d = e.data;
    const at = e.occurredAt;
    const actor = typeof e.meta?.actor === 'string' ? e.meta.actor.slice(0, 200) : null;
    const on = e.type === 'VmBlackholed';
    const rows: { status: string }[] = await em.query(
      `WITH u AS (UPDATE ${this.t('vms')} SET blackhole = $2::jsonb, updated_at = $3 WHERE id = $1 RETURNING status) SELECT status FROM u`,
      [d.vmId, on ? JSON.stringify({ reason: d.reason, actor, since: at }) : null, at],
    );
    // The history row keeps the VM's status: RTBH is about the route's fate at the core, not the VM's progress.
    const detail = `${on ? 'blackholed' : 'blackhole lifted'}${actor ? ` by ${actor}` : ''}${d.reason ? `: ${d.reason}` : ''}`;
    if (rows[0]) await this.history(em, d.vmId, e, rows[0].status as VmStatus, detail);
  }

  /** `target` is the payload's, which the event store has already set to the subject's. */
  private async renderError(em: EntityManager, target: { kind: string; id: string }, error: string | null): Promise<void> {
    await em.query(
      `INSERT INTO ${this.t('agent_targets')} (kind, target_id, render_error) VALUES ($1,$2,$3) ON CONFLICT (kind, target_id) DO UPDATE SET render_error = EXCLUDED.render_error`,
      [target.kind, target.id, error],
    );
  }

  /**
   * Folds a route delta of an RR or the core into observed_routes and derives VM statuses from it:
   * seen on an RR → announced; installed at the core → at-core; its last core route withdrawn →
   * back to announced. A resync marks the target's rows stale at its start, confirms rows as they come,
   * deletes the unconfirmed ones at its end (meanwhile they still count: no status flaps).
   */
  private async routes(
    em: EntityManager,
    e: StoredEvent,
    target: { kind: string; id: string; source?: 'bmp' },
    added: { prefix: string; nextHop?: string }[],
    withdrawn: { prefix: string; nextHop?: string }[],
    resync?: 'start' | 'part' | 'end' | 'full',
    total?: number,
  ): Promise<void> {
    if (target.kind !== 'rr' && target.kind !== 'router') return;
    const o = this.t('observed_routes');
    // A BMP collector's view of the core is a source of its own (its resyncs never drop the FRR agent's rows).
    const bmp = target.source === 'bmp';
    const key = [bmp ? 'router-bmp' : target.kind, target.id];
    let delta = 0;
    const gone: string[] = [];
    if (resync === 'start' || resync === 'full') await em.query(`UPDATE ${o} SET stale = true WHERE kind = $1 AND target_id = $2`, key);
    if (added.length) {
      const rows: { inserted: boolean }[] = await em.query(
        `INSERT INTO ${o} (kind, target_id, prefix, next_hop, ip) SELECT $1, $2, x.p, x.n, split_part(x.p, '/', 1) FROM unnest($3::text[], $4::text[]) AS x(p, n)
         ON CONFLICT (kind, target_id, prefix, next_hop) DO UPDATE SET stale = false RETURNING (xmax = 0) AS inserted`,
        [...key, added.map((r) => r.prefix), added.map((r) => r.nextHop ?? '')],
      );
      delta += rows.filter((r) => r.inserted).length;
    }
    if (withdrawn.length) {
      const rows: { ip: string }[] = await em.query(
        // In a CTE: TypeORM returns [rows, count] for a bare DELETE.
        `WITH d AS (DELETE FROM ${o} r USING unnest($3::text[], $4::text[]) AS x(p, n) WHERE r.kind = $1 AND r.target_id = $2 AND r.prefix = x.p AND r.next_hop = x.n RETURNING r.ip) SELECT ip FROM d`,
        [...key, withdrawn.map((r) => r.prefix), withdrawn.map((r) => r.nextHop ?? '')],
      );
      gone.push(...rows.map((r) => r.ip));
    }
    if (resync === 'end' || resync === 'full') {
      const rows: { ip: string }[] = await em.query(
        `WITH d AS (DELETE FROM ${o} WHERE kind = $1 AND target_id = $2 AND stale RETURNING ip) SELECT ip FROM d`,
        key,
      );
      gone.push(...rows.map((r) => r.ip));
    }
    delta -= gone.length;
    if (!bmp) {
      const counted: { route_count: number }[] = await em.query(
        `INSERT INTO ${this.t('agent_targets')} (kind, target_id, route_count) VALUES ($1,$2,GREATEST($3, 0)) ON CONFLICT (kind, target_id) DO UPDATE SET route_count = GREATEST(${this.t('agent_targets')}.route_count + $3, 0) RETURNING route_count`,
        [...key, delta],
      );
      // The report's digest: outside a resync the agent holds `total` routes after it. Another count means a report
      // was lost or folded out of order; the agent is asked to state its table again (runner, after the commit).
      const settled = resync === undefined || resync === 'end' || resync === 'full';
      if (settled && typeof total === 'number' && counted[0] && Number(counted[0].route_count) !== total)
        this.outOfStep.set(`${target.kind}:${target.id}`, { kind: target.kind, id: target.id, held: Number(counted[0].route_count), total });
    }
    const clusterId = target.kind === 'router' ? target.id : target.id.slice(0, 36);
    const ips = added.map((r) => r.prefix.split('/')[0]);
    if (target.kind === 'rr') {
      if (ips.length) {
        await this.transition(
          em,
          e,
          `cluster_id = $2 AND status IN ('ip-allocated', 'applied') AND ip = ANY($3)`,
          [clusterId, ips],
          'announced',
          `seen on ${target.id.slice(37)}`,
        );
        await this.settleFromRoutes(em, e, `cluster_id = $2 AND ip = ANY($3)`, [clusterId, ips]);
      }
      return;
    }
    if (ips.length)
      await this.transition(
        em,
        e,
        `cluster_id = $2 AND status IN ('ip-allocated', 'applied', 'announced') AND ip = ANY($3)`,
        [clusterId, ips],
        'at-core',
        bmp ? 'at the core (BMP)' : 'installed at the core',
      );
    // Proof works both ways: a VM whose (last) route left the core is no longer "at core".
    if (gone.length) {
      await this.transition(
        em,
        e,
        `cluster_id = $2 AND status = 'at-core' AND ip = ANY($3) AND NOT EXISTS (SELECT 1 FROM ${o} r WHERE r.kind IN ('router', 'router-bmp') AND r.target_id = $4 AND r.ip = ${this.t('vms')}.ip)`,
        [clusterId, [...new Set(gone)], target.id],
        'announced',
        'withdrawn from the core',
      );
    }
  }

  /** The node applied its desired generation (built from events up to `sourceSeq`): its VMs of it are applied. */
  private async nodeApplied(em: EntityManager, e: StoredEvent, nodeId: string, generation: number, sourceSeq: number) {
    await this.transition(
      em,
      e,
      `node_id = $2 AND status = 'ip-allocated' AND allocated_seq <= $3`,
      [nodeId, sourceSeq],
      'applied',
      `generation ${generation}`,
    );
    await this.settleFromRoutes(em, e, `node_id = $2`, [nodeId]);
  }

  /**
   * Deltas only say what changed: a VM whose route was already held when it reached `applied` or `announced`
   * gets no delta of its own (an address reused at once on the same node: the RR and the core never dropped
   * it). Its status comes from the routes held now: at the core → at-core; on an RR → announced.
   */
  private async settleFromRoutes(em: EntityManager, e: StoredEvent, where: string, params: unknown[]) {
    const o = this.t('observed_routes');
    const v = this.t('vms');
    await this.transition(
      em,
      e,
      `${where} AND status IN ('applied', 'announced') AND EXISTS (SELECT 1 FROM ${o} r WHERE r.kind IN ('router', 'router-bmp') AND r.target_id = ${v}.cluster_id::text AND r.ip = ${v}.ip)`,
      params,
      'at-core',
      'already installed at the core',
    );
    await this.transition(
      em,
      e,
      `${where} AND status = 'applied' AND EXISTS (SELECT 1 FROM ${o} r WHERE r.kind = 'rr' AND left(r.target_id, 36) = ${v}.cluster_id::text AND r.ip = ${v}.ip)`,
      params,
      'announced',
      'already seen on a route reflector',
    );
  }

  /** Moves the VMs matching `where` ($1 is the event time) to `status`, with one history row each. */
  private async transition(em: EntityManager, e: StoredEvent, where: string, params: unknown[], status: VmStatus, detail: string) {
    // The final SELECT sees vm_history as before this statement: "first" = never at-core before.
    const moved: { id: string; created_at: Date; first: boolean }[] = await em.query(
      `WITH moved AS (UPDATE ${this.t('vms')} SET status = '${status}', updated_at = $1 WHERE ${where} RETURNING id, created_at),
       hist AS (INSERT INTO ${this.t('vm_history')} (vm_id, stream, seq, status, event, at, detail) SELECT id, '${streamOf(e)}', ${Number(e.seq)}, '${status}', '${e.type}', $1, $${params.length + 2} FROM moved
       ON CONFLICT DO NOTHING)
       SELECT m.id, m.created_at, NOT EXISTS (SELECT 1 FROM ${this.t('vm_history')} h WHERE h.vm_id = m.id AND h.status = 'at-core') AS first FROM moved m`,
      [e.occurredAt, ...params, detail],
    );
    if (status === 'at-core') {
      for (const m of moved) if (m.first) this.atCore.push({ vmId: m.id, createdAt: new Date(m.created_at), at: new Date(e.occurredAt) });
    }
  }

  /** VMs that reached at-core for the first time in the current batch (the runner reports them after commit). */
  atCore: VmAtCore[] = [];

  /** Targets whose route count differs from their last report's digest in the current batch (the runner asks them to resync). */
  outOfStep = new Map<string, { kind: string; id: string; held: number; total: number }>();

  private async history(_em: EntityManager, vmId: string, e: StoredEvent, status: VmStatus, detail: string | null) {
    this.pendingHistory.push([vmId, streamOf(e), e.seq, status, e.type, e.occurredAt, detail]);
  }
}

/** The stream an event's sequence belongs to (vm_history keys rows by both). */
function streamOf(e: StoredEvent): 'events' | 'observations' {
  return e.subject.split('.')[1] === 'obs' ? 'observations' : 'events';
}

const AUDIT_COLUMNS = ['seq', 'idx', 'at', 'actor', 'command', 'command_id', 'event', 'aggregate', 'aggregate_id', 'cluster_id', 'detail'];
const AUDITED_AGGREGATES = new Set(['cluster', 'node', 'vm', 'ipam']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the audit shows of an event: its data without secrets (a secret is only ever a reference, but never show it). */
function auditDetail(d: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d)) {
    if (k === 'md5Password') out[k] = REDACTED;
    else if (k === 'bgp' && v && typeof v === 'object') out[k] = { ...(v as object), ...('md5Password' in (v as object) ? { md5Password: REDACTED } : {}) };
    else out[k] = v;
  }
  return out;
}

/** The read model keeps a secret's reference, never a value (events written before references held it in clear). */
function readableBgp(bgp: EventOf<'ClusterCreated'>['data']['bgp']) {
  if (bgp?.md5Password === undefined) return bgp;
  return { ...bgp, md5Password: readableSecret(bgp.md5Password) };
}

function readableSecret(md5Password: string): string {
  return new RegExp(`^${SECRET_REF.source}$`).test(md5Password) ? md5Password : REDACTED;
}
