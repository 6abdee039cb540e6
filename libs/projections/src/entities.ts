/**
 * The read model (Postgres). Written only by the projector, read by the gateway.
 * Every table is derived from the event stream and can be rebuilt from sequence 1.
 */
import type { BgpTimers } from '@fabric/contracts';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity('projection_checkpoints')
export class CheckpointRow {
  @PrimaryColumn('text') name: string;
  @Column('bigint', { transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) position: number;
}

@Entity('clusters')
export class ClusterRow {
  @PrimaryColumn('uuid') id: string;
  @Index({ unique: true }) @Column('text') name: string;
  @Column('bigint', { name: 'fabric_asn', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) fabricAsn: number;
  @Column('bigint', { name: 'core_asn', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) coreAsn: number;
  @Column('text') community: string;
  @Column('jsonb') gateway: { ip: string; mac: string };
  @Column('jsonb', { name: 'core_router' }) coreRouter: { name: string; ip: string; vendor: string };
  @Column('text', { name: 'rr_cluster_id' }) rrClusterId: string;
  @Column('jsonb') bgp: BgpTimers & {
    md5Password?: string;
    gracefulRestart: boolean;
    bfd: boolean;
    md5OptOut?: string;
    prefixLimitAction?: string;
    coreCommunity?: string;
    bmpStation?: { address: string; port: number };
  };
  @Column('jsonb', { name: 'route_reflectors' }) routeReflectors: { name: string; ip: string }[];
  /** RTBH community; null: the RFC 7999 default (65535:666). */
  @Column('text', { name: 'blackhole_community', nullable: true }) blackholeCommunity: string | null;
  /** 'direct': lab/test stand, nodes peer the core without RRs. */
  @Column('text', { default: 'route-reflectors' }) topology: string;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}

@Entity('networks')
export class NetworkRow {
  @PrimaryColumn('uuid') id: string;
  @Index() @Column('uuid', { name: 'cluster_id' }) clusterId: string;
  @Column('text') cidr: string;
  @Column('int') family: number;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}

@Entity('pools')
export class PoolRow {
  @PrimaryColumn('uuid') id: string;
  @Index() @Column('uuid', { name: 'network_id' }) networkId: string;
  @Index() @Column('uuid', { name: 'cluster_id' }) clusterId: string;
  @Column('text', { name: 'start_ip' }) startIp: string;
  @Column('text', { name: 'end_ip' }) endIp: string;
  @Column('numeric', { precision: 40, scale: 0 }) size: string;
  @Column('int', { default: 0 }) used: number;
}

@Entity('nodes')
export class NodeRow {
  @PrimaryColumn('uuid') id: string;
  @Index() @Column('uuid', { name: 'cluster_id' }) clusterId: string;
  @Column('text') name: string;
  @Column('text', { name: 'underlay_ip' }) underlayIp: string;
  @Column('text', { name: 'underlay_ip6', nullable: true }) underlayIp6: string | null;
  @Column('text') status: string;
  @Column('timestamptz', { name: 'joined_at' }) joinedAt: Date;
}

@Entity('vms')
@Index(['clusterId', 'name'])
export class VmRow {
  @PrimaryColumn('uuid') id: string;
  @Column('uuid', { name: 'cluster_id' }) clusterId: string;
  @Index() @Column('uuid', { name: 'node_id' }) nodeId: string;
  @Column('uuid', { name: 'previous_node_id', nullable: true }) previousNodeId: string | null;
  @Column('text') name: string;
  @Index() @Column('text', { name: 'owner_id' }) ownerId: string;
  @Column('text', { nullable: true }) ip: string | null;
  @Column('uuid', { name: 'pool_id', nullable: true }) poolId: string | null;
  @Column('bigint', {
    name: 'allocated_seq',
    nullable: true,
    transformer: { to: (v: number | null) => v, from: (v: string | null) => (v === null ? null : Number(v)) },
  })
  allocatedSeq: number | null;
  @Column('int') family: number;
  @Column('text') driver: string;
  @Column('text') status: string;
  @Column('text', { nullable: true }) reason: string | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
  @Column('bigint', { name: 'created_seq', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) createdSeq: number;
  /** RTBH in force (VmBlackholed, until VmBlackholeLifted), null when none. */
  @Column('jsonb', { nullable: true }) blackhole: { reason: string; actor: string | null; since: string } | null;
}

@Entity('vm_history')
export class VmHistoryRow {
  @PrimaryColumn('uuid', { name: 'vm_id' }) vmId: string;
  /** `events` or `observations` (route statuses): `seq` is a sequence of that stream; order rows by `at`. */
  @PrimaryColumn('text', { default: 'events' }) stream: string;
  @PrimaryColumn('bigint', { transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) seq: number;
  @Column('text') status: string;
  @Column('text') event: string;
  @Column('timestamptz') at: Date;
  @Column('text', { nullable: true }) detail: string | null;
}

@Entity('agent_targets')
export class AgentTargetRow {
  @PrimaryColumn('text') kind: string;
  @PrimaryColumn('text', { name: 'target_id' }) targetId: string;
  @Column('uuid', { name: 'cluster_id', nullable: true }) clusterId: string | null;
  @Column('int', { name: 'desired_generation', default: 0 }) desiredGeneration: number;
  @Column('text', { name: 'desired_hash', nullable: true }) desiredHash: string | null;
  @Column('bigint', { name: 'desired_source_seq', default: 0, transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) desiredSourceSeq: number;
  @Column('int', { name: 'applied_generation', default: 0 }) appliedGeneration: number;
  @Column('text', { name: 'applied_hash', nullable: true }) appliedHash: string | null;
  @Column('int', { name: 'last_changes', nullable: true }) lastChanges: number | null;
  @Column('int', { name: 'last_duration_ms', nullable: true }) lastDurationMs: number | null;
  @Column('timestamptz', { name: 'applied_at', nullable: true }) appliedAt: Date | null;
  @Column('text', { name: 'last_error', nullable: true }) lastError: string | null;
  /** Why the deriver cannot render this target's desired state (TargetRenderFailed), null when it can. */
  @Column('text', { name: 'render_error', nullable: true }) renderError: string | null;
  /** Routes the target holds (rr, router; rows in observed_routes). */
  @Column('int', { name: 'route_count', default: 0 }) routeCount: number;
}

/** A route an RR or the core holds (RoutesChanged deltas); `stale`: not confirmed yet by a resync under way. */
@Entity('observed_routes')
export class ObservedRouteRow {
  @PrimaryColumn('text') kind: string;
  @PrimaryColumn('text', { name: 'target_id' }) targetId: string;
  @PrimaryColumn('text') prefix: string;
  /** '' when the router shows none. */
  @PrimaryColumn('text', { name: 'next_hop' }) nextHop: string;
  /** The prefix's address (joins with vms.ip). */
  @Column('text') ip: string;
  @Column('boolean', { default: false }) stale: boolean;
}

@Entity('bgp_sessions')
export class BgpSessionRow {
  @PrimaryColumn('text') kind: string;
  @PrimaryColumn('text', { name: 'target_id' }) targetId: string;
  @PrimaryColumn('text') protocol: string;
  @Column('text', { name: 'peer_ip', nullable: true }) peerIp: string | null;
  @Column('text') state: string;
  @Column('text', { nullable: true }) info: string | null;
  @Column('timestamptz') since: Date;
}

/** BFD sessions each target reports (BfdSessionStateChanged); a 'removed' session's row is deleted. */
@Entity('bfd_sessions')
export class BfdSessionRow {
  @PrimaryColumn('text') kind: string;
  @PrimaryColumn('text', { name: 'target_id' }) targetId: string;
  @PrimaryColumn('text', { name: 'peer_ip' }) peerIp: string;
  /** '' for a multihop session (no interface). */
  @PrimaryColumn('text') interface: string;
  @Column('text') state: string;
  @Column('int', { name: 'interval_ms', nullable: true }) intervalMs: number | null;
  @Column('int', { name: 'timeout_ms', nullable: true }) timeoutMs: number | null;
  @Column('text', { nullable: true }) info: string | null;
  @Column('timestamptz') since: Date;
}

@Entity('router_configs')
export class RouterConfigRow {
  @PrimaryColumn('uuid', { name: 'cluster_id' }) clusterId: string;
  @PrimaryColumn('int') version: number;
  @Column('text') hash: string;
  @Column('jsonb') configs: Record<string, string>;
  @Column('jsonb') diffs: Record<string, string>;
  @Column('int', { name: 'rollback_of', nullable: true }) rollbackOf: number | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}

@Entity('dead_letters')
export class DeadLetterRow {
  @PrimaryColumn('bigint', { transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) seq: number;
  @Column('text') consumer: string;
  @Column('bigint', { name: 'stream_seq', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) streamSeq: number;
  @Column('text', { name: 'event_type', nullable: true }) eventType: string | null;
  @Column('text') error: string;
  @Column('timestamptz') at: Date;
}

/** Billing: one row per address a VM held, from IpAllocated to IpReleased (event times, not arrival times). */
@Entity('ip_usage')
export class IpUsageRow {
  @PrimaryColumn('text', { name: 'owner_id' }) ownerId: string;
  @PrimaryColumn('text') ip: string;
  @PrimaryColumn('uuid', { name: 'vm_id' }) vmId: string;
  @Column('uuid', { name: 'cluster_id' }) clusterId: string;
  @Column('int') family: number;
  @Index() @Column('timestamptz', { name: 'allocated_at' }) allocatedAt: Date;
  /** NULL while held: a deleted VM's address still counts during the IPAM cool-down. */
  @Column('timestamptz', { name: 'released_at', nullable: true }) releasedAt: Date | null;
  @Column('bigint', { name: 'allocated_seq', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) allocatedSeq: number;
  @Column('bigint', {
    name: 'released_seq',
    nullable: true,
    transformer: { to: (v: number | null) => v, from: (v: string | null) => (v === null ? null : Number(v)) },
  })
  releasedSeq: number | null;
}

/** Who did what: one row per event caused by a command (API token or service), with that command. */
@Entity('audit_log')
@Index(['actor', 'at'])
@Index(['clusterId', 'at'])
export class AuditRow {
  @PrimaryColumn('bigint', { transformer: { to: (v: number) => v, from: (v: string) => Number(v) } }) seq: number;
  /** Position inside a multi-event message (0 for a single event). */
  @PrimaryColumn('int') idx: number;
  @Index() @Column('timestamptz') at: Date;
  @Column('text') actor: string;
  @Column('text', { nullable: true }) command: string | null;
  @Column('text', { name: 'command_id' }) commandId: string;
  @Column('text') event: string;
  @Column('text') aggregate: string;
  @Column('text', { name: 'aggregate_id' }) aggregateId: string;
  @Column('uuid', { name: 'cluster_id', nullable: true }) clusterId: string | null;
  @Column('jsonb') detail: Record<string, unknown>;
}

/** A tenant's private network (L2, VXLAN/EVPN) and its VNI; the row goes when the network is deleted. */
@Entity('private_networks')
@Index('IDX_private_networks_cluster', ['clusterId', 'ownerId'])
export class PrivateNetworkRow {
  @PrimaryColumn('uuid') id: string;
  @Column('uuid', { name: 'cluster_id' }) clusterId: string;
  @Column('text', { name: 'owner_id' }) ownerId: string;
  @Column('text') name: string;
  @Column('text') cidr: string;
  @Column('int') family: number;
  @Column('int') vni: number;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}

/** A VM's address in a private network: `attached`, then `releasing` (cool-down after a detach) until released. */
@Entity('private_attachments')
export class PrivateAttachmentRow {
  @PrimaryColumn('uuid', { name: 'network_id' }) networkId: string;
  @Index('IDX_private_attachments_vm') @PrimaryColumn('uuid', { name: 'vm_id' }) vmId: string;
  @PrimaryColumn('text') ip: string;
  @Column('uuid', { name: 'cluster_id' }) clusterId: string;
  @Column('text', { name: 'owner_id' }) ownerId: string;
  @Column('int') family: number;
  @Column('int') vni: number;
  @Column('text') mac: string;
  @Column('text') status: 'attached' | 'releasing';
  @Column('timestamptz', { name: 'attached_at' }) attachedAt: Date;
  @Column('timestamptz', { name: 'release_at', nullable: true }) releaseAt: Date | null;
}

/** An extra address of a VM, per request: `requested` → `allocated` | `failed`; `releasing` (removed or VM deleted) until released. */
@Entity('vm_addresses')
export class VmAddressRow {
  @PrimaryColumn('uuid', { name: 'request_id' }) requestId: string;
  @Index('IDX_vm_addresses_vm') @Column('uuid', { name: 'vm_id' }) vmId: string;
  @Column('uuid', { name: 'cluster_id' }) clusterId: string;
  @Column('int') family: number;
  @Column('text', { name: 'requested_ip', nullable: true }) requestedIp: string | null;
  @Column('text', { nullable: true }) ip: string | null;
  @Column('uuid', { name: 'pool_id', nullable: true }) poolId: string | null;
  @Column('text') status: 'requested' | 'allocated' | 'failed' | 'releasing';
  @Column('text', { nullable: true }) reason: string | null;
  @Column('bigint', {
    name: 'allocated_seq',
    nullable: true,
    transformer: { to: (v: number | null) => v, from: (v: string | null) => (v === null ? null : Number(v)) },
  })
  allocatedSeq: number | null;
  @Column('timestamptz', { name: 'requested_at' }) requestedAt: Date;
  @Column('timestamptz', { name: 'release_at', nullable: true }) releaseAt: Date | null;
}

const bigintCol = { to: (v: number) => v, from: (v: string) => Number(v) };
const bigintNullCol = { to: (v: number | null) => v, from: (v: string | null) => (v === null ? null : Number(v)) };

/** A floating address held by its owner: `allocated` → `attached` ⇄ `moving` → … → `releasing`; the row goes at its release. */
@Entity('floating_addresses')
@Index('IDX_floating_addresses_owner', ['ownerId', 'clusterId'])
export class FloatingAddressRow {
  @PrimaryColumn('uuid') id: string;
  @Column('uuid', { name: 'cluster_id' }) clusterId: string;
  @Column('text', { name: 'owner_id' }) ownerId: string;
  @Column('text') ip: string;
  @Column('int') family: number;
  @Column('uuid', { name: 'pool_id' }) poolId: string;
  @Column('text') status: 'allocated' | 'attached' | 'moving' | 'releasing';
  @Index('IDX_floating_addresses_vm') @Column('uuid', { name: 'vm_id', nullable: true }) vmId: string | null;
  /** During a move: the VM it leaves (still routed there until the new node's route is at the RRs). */
  @Column('uuid', { name: 'from_vm_id', nullable: true }) fromVmId: string | null;
  @Column('bigint', { name: 'allocated_seq', transformer: bigintCol }) allocatedSeq: number;
  @Column('timestamptz', { name: 'allocated_at' }) allocatedAt: Date;
  @Column('timestamptz', { name: 'release_at', nullable: true }) releaseAt: Date | null;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
}

/** Billing intervals of floating addresses: `owner` (allocated → released) and `vm` (attached → detached / moved away). */
@Entity('floating_usage')
@Index('IDX_floating_usage_owner', ['ownerId', 'startedAt'])
export class FloatingUsageRow {
  @PrimaryColumn('uuid', { name: 'floating_id' }) floatingId: string;
  @PrimaryColumn('bigint', { name: 'start_seq', transformer: bigintCol }) startSeq: number;
  @Column('text') kind: 'owner' | 'vm';
  @Column('text', { name: 'owner_id' }) ownerId: string;
  @Column('text') ip: string;
  @Column('uuid', { name: 'cluster_id' }) clusterId: string;
  @Column('uuid', { name: 'vm_id', nullable: true }) vmId: string | null;
  @Column('timestamptz', { name: 'started_at' }) startedAt: Date;
  @Column('timestamptz', { name: 'ended_at', nullable: true }) endedAt: Date | null;
  @Column('bigint', { name: 'ended_seq', nullable: true, transformer: bigintNullCol }) endedSeq: number | null;
}

export const ENTITIES = [
  CheckpointRow,
  ClusterRow,
  NetworkRow,
  PoolRow,
  NodeRow,
  VmRow,
  VmHistoryRow,
  AgentTargetRow,
  ObservedRouteRow,
  BgpSessionRow,
  BfdSessionRow,
  RouterConfigRow,
  DeadLetterRow,
  IpUsageRow,
  AuditRow,
  PrivateNetworkRow,
  PrivateAttachmentRow,
  VmAddressRow,
  FloatingAddressRow,
  FloatingUsageRow,
];
/** Tables compared by the rebuild check (everything but the checkpoint). */
export const PROJECTED_TABLES = [
  'clusters',
  'networks',
  'pools',
  'nodes',
  'vms',
  'vm_history',
  'agent_targets',
  'observed_routes',
  'bgp_sessions',
  'bfd_sessions',
  'router_configs',
  'dead_letters',
  'ip_usage',
  'audit_log',
  'private_networks',
  'private_attachments',
  'vm_addresses',
  'floating_addresses',
  'floating_usage',
];
