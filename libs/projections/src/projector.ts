/**
 * How each event changes the read model. Plain SQL on purpose: it runs inside the runner's
 * transaction, batch after batch, and must stay cheap. Every statement is idempotent per event
 * (upserts, guarded updates) but the runner's checkpoint already makes redelivery a no-op.
 */
import type { EntityManager } from 'typeorm';
import { StoredEvent, EventOf } from '@fabric/contracts';
import { rangeSize } from './range-size';

export type VmStatus = 'requested' | 'ip-allocated' | 'applied' | 'announced' | 'at-core' | 'failed' | 'migrating' | 'deleted';

export class Projector {
  constructor(private readonly schema: string) {}

  t(table: string): string {
    return `"${this.schema}"."${table}"`;
  }

  async apply(em: EntityManager, e: StoredEvent): Promise<void> {
    const at = e.occurredAt;
    switch (e.type) {
      case 'ClusterCreated': {
        const d = e.data as EventOf<'ClusterCreated'>['data'];
        await em.query(
          `INSERT INTO ${this.t('clusters')} (id, name, fabric_asn, core_asn, community, gateway, core_router, rr_cluster_id, bgp, route_reflectors, created_at)
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'[]',$10) ON CONFLICT (id) DO NOTHING`,
          [d.clusterId, d.name, d.fabricAsn, d.coreAsn, d.community, JSON.stringify(d.gateway), JSON.stringify(d.coreRouter), d.rrClusterId, JSON.stringify(d.bgp), at],
        );
        return;
      }
      case 'RouteReflectorAdded': {
        const d = e.data as EventOf<'RouteReflectorAdded'>['data'];
        await em.query(
          `UPDATE ${this.t('clusters')} SET route_reflectors = route_reflectors || $2::jsonb
           WHERE id = $1 AND NOT route_reflectors @> $3::jsonb`,
          [d.clusterId, JSON.stringify([{ name: d.name, ip: d.ip }]), JSON.stringify([{ name: d.name }])],
        );
        return;
      }
      case 'RouteReflectorRemoved': {
        const d = e.data as EventOf<'RouteReflectorRemoved'>['data'];
        await em.query(
          `UPDATE ${this.t('clusters')} SET route_reflectors = COALESCE((SELECT jsonb_agg(r) FROM jsonb_array_elements(route_reflectors) r WHERE r->>'name' <> $2), '[]'::jsonb) WHERE id = $1`,
          [d.clusterId, d.name],
        );
        return;
      }
      case 'NodeJoined': {
        const d = e.data as EventOf<'NodeJoined'>['data'];
        await em.query(
          `INSERT INTO ${this.t('nodes')} (id, cluster_id, name, underlay_ip, underlay_ip6, status, joined_at) VALUES ($1,$2,$3,$4,$5,'active',$6) ON CONFLICT (id) DO NOTHING`,
          [d.nodeId, d.clusterId, d.name, d.underlayIp, d.underlayIp6 ?? null, at],
        );
        return;
      }
      case 'NodeDrained':
      case 'NodeLeft': {
        const d = e.data as { nodeId: string };
        await em.query(`UPDATE ${this.t('nodes')} SET status = $2 WHERE id = $1`, [d.nodeId, e.type === 'NodeDrained' ? 'drained' : 'left']);
        return;
      }
      case 'NetworkAdded': {
        const d = e.data as EventOf<'NetworkAdded'>['data'];
        await em.query(`INSERT INTO ${this.t('networks')} (id, cluster_id, cidr, family, created_at) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (id) DO NOTHING`, [
          d.networkId, d.clusterId, d.cidr, d.family, at,
        ]);
        return;
      }
      case 'PoolAdded': {
        const d = e.data as EventOf<'PoolAdded'>['data'];
        await em.query(
          `INSERT INTO ${this.t('pools')} (id, network_id, cluster_id, start_ip, end_ip, size, used) VALUES ($1,$2,$3,$4,$5,$6,0) ON CONFLICT (id) DO NOTHING`,
          [d.poolId, d.networkId, d.clusterId, d.start, d.end, rangeSize(d.start, d.end).toString()],
        );
        return;
      }
      case 'VmCreated': {
        const d = e.data as EventOf<'VmCreated'>['data'];
        await em.query(
          `INSERT INTO ${this.t('vms')} (id, cluster_id, node_id, name, owner_id, ip, family, driver, status, created_at, updated_at, created_seq)
           VALUES ($1,$2,$3,$4,$5,NULL,$6,$7,'requested',$8,$8,$9) ON CONFLICT (id) DO NOTHING`,
          [d.vmId, d.clusterId, d.nodeId, d.name, d.ownerId, d.family, d.driver, at, e.seq],
        );
        await this.history(em, d.vmId, e, 'requested', d.requestedIp ? `requested ${d.requestedIp}` : null);
        return;
      }
      case 'IpAllocated': {
        const d = e.data as EventOf<'IpAllocated'>['data'];
        await em.query(`UPDATE ${this.t('vms')} SET ip = $2, pool_id = $4, status = CASE WHEN status = 'requested' THEN 'ip-allocated' ELSE status END, updated_at = $3 WHERE id = $1`, [
          d.vmId, d.ip, at, d.poolId,
        ]);
        await em.query(`UPDATE ${this.t('pools')} SET used = used + 1 WHERE id = $1`, [d.poolId]);
        await this.history(em, d.vmId, e, 'ip-allocated', d.ip);
        return;
      }
      case 'IpAllocationFailed': {
        const d = e.data as EventOf<'IpAllocationFailed'>['data'];
        await em.query(`UPDATE ${this.t('vms')} SET status = 'failed', reason = $2, updated_at = $3 WHERE id = $1 AND status <> 'deleted'`, [
          d.vmId, `${d.reason}: ${d.message}`, at,
        ]);
        await this.history(em, d.vmId, e, 'failed', `${d.reason}: ${d.message}`);
        return;
      }
      case 'VmDeleted': {
        const d = e.data as EventOf<'VmDeleted'>['data'];
        await em.query(`UPDATE ${this.t('vms')} SET status = 'deleted', updated_at = $2 WHERE id = $1`, [d.vmId, at]);
        await this.history(em, d.vmId, e, 'deleted', null);
        return;
      }
      case 'IpReleaseScheduled': {
        const d = e.data as EventOf<'IpReleaseScheduled'>['data'];
        await this.history(em, d.vmId, e, 'deleted', `${d.ip} held until ${d.releaseAt}`);
        return;
      }
      case 'IpReleased': {
        const d = e.data as EventOf<'IpReleased'>['data'];
        await em.query(`UPDATE ${this.t('pools')} SET used = used - 1 WHERE id = (SELECT pool_id FROM ${this.t('vms')} WHERE id = $1)`, [d.vmId]);
        await this.history(em, d.vmId, e, 'deleted', `${d.ip} released`);
        return;
      }
      case 'VmMigrationRequested': {
        const d = e.data as EventOf<'VmMigrationRequested'>['data'];
        await em.query(`UPDATE ${this.t('vms')} SET previous_node_id = node_id, node_id = $2, status = 'migrating', updated_at = $3 WHERE id = $1`, [d.vmId, d.toNodeId, at]);
        await this.history(em, d.vmId, e, 'migrating', `${d.fromNodeId} -> ${d.toNodeId}`);
        return;
      }
      case 'VmMigrationCompleted': {
        const d = e.data as EventOf<'VmMigrationCompleted'>['data'];
        await em.query(`UPDATE ${this.t('vms')} SET previous_node_id = NULL, status = 'applied', updated_at = $2 WHERE id = $1 AND status = 'migrating'`, [d.vmId, at]);
        await this.history(em, d.vmId, e, 'applied', `now on ${d.toNodeId}`);
        return;
      }
      case 'MessageDeadLettered': {
        const d = e.data as EventOf<'MessageDeadLettered'>['data'];
        await em.query(`INSERT INTO ${this.t('dead_letters')} (seq, consumer, stream_seq, event_type, error, at) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (seq) DO NOTHING`, [
          e.seq, d.consumer, d.streamSeq, d.eventType ?? null, d.error, at,
        ]);
        return;
      }
      default:
        return;
    }
  }

  private async history(em: EntityManager, vmId: string, e: StoredEvent, status: VmStatus, detail: string | null) {
    await em.query(`INSERT INTO ${this.t('vm_history')} (vm_id, seq, status, event, at, detail) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`, [
      vmId, e.seq, status, e.type, e.occurredAt, detail,
    ]);
  }
}
