/**
 * Every event of the fabric: a typed, versioned class with class-validator rules.
 * The envelope carries type + schemaVersion (also in the `Fabric-Event-Type` header).
 */
import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { IsAsn, IsCidrBlock, IsCommunity, IsCoreCommunity, IsFabricName, IsIpAddress, IsMacAddress, IsOwnerId } from './decorators';
import { BLACKHOLE_REASON_PATTERN, MD5_OPT_OUT_PATTERN, PASSWORD_PATTERN, PREFIX_LIMIT_ACTIONS, PrefixLimitAction } from './validation';
import type { AggregateKind } from './subjects';
import { PRIVATE_NETWORK_EVENT_AGGREGATE, PRIVATE_NETWORK_EVENT_CLASSES } from './private-network-events';
import { FLOATING_ADDRESS_EVENT_AGGREGATE, FLOATING_ADDRESS_EVENT_CLASSES } from './floating-address-events';

/** Generations are stored as Postgres `int` by the read model: a larger one is invalid, not a crash. */
export const MAX_GENERATION = 2147483647;

export type RouterVendor = 'junos' | 'frr';
export const ROUTER_VENDORS: RouterVendor[] = ['junos', 'frr'];
/**
 * How the nodes reach the core: through route reflectors (the default, production), or `direct` — every node
 * peers the core itself (lab/test stands only; docs/operations/direct-topology.md).
 */
export type ClusterTopology = 'route-reflectors' | 'direct';
export const CLUSTER_TOPOLOGIES: ClusterTopology[] = ['route-reflectors', 'direct'];
/** Shown by the API, fabricctl and the dashboard for every direct cluster. */
export const DIRECT_TOPOLOGY_WARNING = 'lab/test stand only: every node peers the core directly (no route reflectors); never use it in production';
/** RFC 7999 BLACKHOLE well-known community: the default RTBH community of a cluster. */
export const DEFAULT_BLACKHOLE_COMMUNITY = '65535:666';
export type VmDriver = 'tap' | 'veth' | 'netns';
export const VM_DRIVERS: VmDriver[] = ['tap', 'veth', 'netns'];
/**
 * Which addresses a new VM gets: one of each family (the primary and an extra address of the other family) or
 * one of the family. Default: dual-stack when the cluster has pools of both families and the request names no
 * family or address.
 */
export const VM_ADDRESSING = ['dual-stack', 'ipv4', 'ipv6'] as const;
export type VmAddressing = (typeof VM_ADDRESSING)[number];

export class GatewaySettings {
  @IsIpAddress(4) ip: string;
  @IsMacAddress() mac: string;
}
export class RouteReflectorRef {
  @IsFabricName() name: string;
  @IsIpAddress() ip: string;
}
export class CoreRouterRef {
  @IsFabricName() name: string;
  @IsIpAddress() ip: string;
  @IsIn(ROUTER_VENDORS) vendor: RouterVendor;
}
/** The BMP collector (RFC 7854) the core router reports its post-policy routes to (docs/operations/bmp.md). */
export class BmpStationRef {
  @IsIpAddress() address: string;
  @IsInt() @Min(1) @Max(65535) port: number;
}
export class BgpOptions {
  @IsOptional()
  @Matches(PASSWORD_PATTERN, { message: 'md5Password must be 1-80 printable characters without quotes, spaces or backslashes' })
  md5Password?: string;
  @IsBoolean() gracefulRestart: boolean;
  @IsBoolean() bfd: boolean;
  /** Absent in events written before prefix limits existed: DEFAULT_PREFIX_LIMIT_ACTION applies. */
  @IsOptional() @IsIn(PREFIX_LIMIT_ACTIONS) prefixLimitAction?: PrefixLimitAction;
  /** Absent in older events: DEFAULT_CORE_COMMUNITY applies. */
  @IsOptional() @IsCoreCommunity() coreCommunity?: string;
  /** Set when the cluster was created without MD5 on purpose: the operator's reason. */
  @IsOptional() @Matches(MD5_OPT_OUT_PATTERN) md5OptOut?: string;
  /** Timers (bgp-settings.ts bounds); absent: the daemons' defaults. Set by ClusterBgpSettingsChanged. */
  @IsOptional() @IsInt() @Min(0) @Max(65535) holdTime?: number;
  @IsOptional() @IsInt() @Min(1) @Max(65535) keepaliveTime?: number;
  @IsOptional() @IsInt() @Min(1) @Max(4095) gracefulRestartTime?: number;
  @IsOptional() @IsInt() @Min(1) @Max(255000) bfdMinRxMs?: number;
  @IsOptional() @IsInt() @Min(1) @Max(255000) bfdMinTxMs?: number;
  @IsOptional() @IsInt() @Min(1) @Max(255) bfdMultiplier?: number;
  /** The core's BMP station; absent: the core reports to none. Rendered in the core config only. */
  @IsOptional() @ValidateNested() @Type(() => BmpStationRef) bmpStation?: BmpStationRef;
}

// ---- cluster.<clusterId>
export class ClusterCreated {
  static readonly type = 'ClusterCreated';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsFabricName() name: string;
  @IsAsn() fabricAsn: number;
  @IsAsn() coreAsn: number;
  @IsCommunity() community: string;
  @ValidateNested() @Type(() => GatewaySettings) gateway: GatewaySettings;
  @ValidateNested() @Type(() => CoreRouterRef) coreRouter: CoreRouterRef;
  /** Shared `rr cluster id` of every RR of the cluster (dotted quad). */
  @IsIpAddress(4) rrClusterId: string;
  @ValidateNested() @Type(() => BgpOptions) bgp: BgpOptions;
  /** RTBH community the fabric adds to a blackholed VM's route (absent: RFC 7999 BLACKHOLE, 65535:666). */
  @IsOptional() @IsCommunity() blackholeCommunity?: string;
  /** Only `direct` is written (absent: route reflectors, as in every older event). */
  @IsOptional() @IsIn(['direct']) topology?: 'direct';
}
export class RouteReflectorAdded {
  static readonly type = 'RouteReflectorAdded';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsFabricName() name: string;
  @IsIpAddress() ip: string;
}
/** The cluster's MD5 password changed (rotation); `md5Password` is a secret reference, never the value. */
export class BgpPasswordChanged {
  static readonly type = 'BgpPasswordChanged';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @Matches(PASSWORD_PATTERN) md5Password: string;
}
export class RouteReflectorRemoved {
  static readonly type = 'RouteReflectorRemoved';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsFabricName() name: string;
}

// ---- cluster.<clusterId>: BGP settings changed (PATCH /clusters/:id/bgp)
/**
 * The cluster's non-secret BGP settings after a change, whole (`bgp` never holds md5Password: a rotation is a
 * BgpPasswordChanged in the same append). `changed` names the fields that differ from before.
 */
export class ClusterBgpSettingsChanged {
  static readonly type = 'ClusterBgpSettingsChanged';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsCommunity() community: string;
  @ValidateNested() @Type(() => BgpOptions) bgp: BgpOptions;
  @IsArray() @ArrayMaxSize(32) @IsString({ each: true }) changed: string[];
}

// ---- cluster.<clusterId>: core router config rollback (POST /clusters/:id/router/rollback)
/**
 * Pin the core router's desired config to an earlier version: router-config publishes that version's
 * configs as a new version (`rollbackOf`). The pin holds until the cluster's router inputs change again.
 */
export class RouterConfigRollbackRequested {
  static readonly type = 'RouterConfigRollbackRequested';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  /** The version whose configs become desired again. */
  @IsInt() @Min(1) toVersion: number;
  /** The version current when the rollback was asked for. */
  @IsInt() @Min(1) fromVersion: number;
  @IsOptional() @IsString() @MaxLength(200) reason?: string;
}

// ---- node.<nodeId>
export class NodeJoined {
  static readonly type = 'NodeJoined';
  static readonly version = 1;
  @IsUUID() nodeId: string;
  @IsUUID() clusterId: string;
  @IsFabricName() name: string;
  @IsIpAddress(4) underlayIp: string;
  /** Needed for IPv6 VMs: IPv6 routes carry the node's IPv6 underlay address as next hop. */
  @IsOptional() @IsIpAddress(6) underlayIp6?: string;
}
export class NodeDrained {
  static readonly type = 'NodeDrained';
  static readonly version = 1;
  @IsUUID() nodeId: string;
  @IsUUID() clusterId: string;
}
/** The node's VMs are being moved away (the node is drained); `vmCount` VMs were on it when it started. */
export class NodeEvacuationStarted {
  static readonly type = 'NodeEvacuationStarted';
  static readonly version = 1;
  @IsUUID() nodeId: string;
  @IsUUID() clusterId: string;
  @IsInt() @Min(0) vmCount: number;
}
/** No VM is left on the node (it stays drained). */
export class NodeEvacuated {
  static readonly type = 'NodeEvacuated';
  static readonly version = 1;
  @IsUUID() nodeId: string;
  @IsUUID() clusterId: string;
}
/** The node takes new VMs again (an evacuation in progress stops starting migrations). */
export class NodeUndrained {
  static readonly type = 'NodeUndrained';
  static readonly version = 1;
  @IsUUID() nodeId: string;
  @IsUUID() clusterId: string;
}
export class NodeLeft {
  static readonly type = 'NodeLeft';
  static readonly version = 1;
  @IsUUID() nodeId: string;
  @IsUUID() clusterId: string;
}

// ---- vm.<vmId>
export class VmCreated {
  static readonly type = 'VmCreated';
  static readonly version = 1;
  @IsUUID() vmId: string;
  @IsUUID() clusterId: string;
  @IsUUID() nodeId: string;
  @IsFabricName() name: string;
  @IsOwnerId() ownerId: string;
  @IsOptional() @IsIpAddress() requestedIp?: string;
  @IsIn([4, 6]) family: 4 | 6;
  @IsIn(VM_DRIVERS) driver: VmDriver;
}
export class VmDeleted {
  static readonly type = 'VmDeleted';
  static readonly version = 1;
  @IsUUID() vmId: string;
  @IsUUID() clusterId: string;
  @IsUUID() nodeId: string;
  @IsOwnerId() ownerId: string;
}
export class VmMigrationRequested {
  static readonly type = 'VmMigrationRequested';
  static readonly version = 1;
  @IsUUID() vmId: string;
  @IsUUID() clusterId: string;
  @IsUUID() fromNodeId: string;
  @IsUUID() toNodeId: string;
  /** Set when the migration is part of the evacuation of `fromNodeId`. */
  @IsOptional() @IsBoolean() evacuation?: boolean;
}
/** The new node announced the VM; the old placement can now be withdrawn (make-before-break). */
export class VmMigrationCompleted {
  static readonly type = 'VmMigrationCompleted';
  static readonly version = 1;
  @IsUUID() vmId: string;
  @IsUUID() clusterId: string;
  @IsUUID() fromNodeId: string;
  @IsUUID() toNodeId: string;
}

/** RTBH: the VM's address is announced with the cluster's blackhole community; the core discards its traffic. */
export class VmBlackholed {
  static readonly type = 'VmBlackholed';
  static readonly version = 1;
  @IsUUID() vmId: string;
  @IsUUID() clusterId: string;
  @Matches(BLACKHOLE_REASON_PATTERN) reason: string;
}
/** RTBH lifted: the VM's route is announced normally again. */
export class VmBlackholeLifted {
  static readonly type = 'VmBlackholeLifted';
  static readonly version = 1;
  @IsUUID() vmId: string;
  @IsUUID() clusterId: string;
  @IsOptional() @Matches(BLACKHOLE_REASON_PATTERN) reason?: string;
}

/** Extra addresses of a VM (beyond its primary): at most this many, requested or held, per VM. */
export const MAX_EXTRA_ADDRESSES = 16;
/** An extra address asked for (IPAM allocates it: VmAddressAllocated or VmAddressAllocationFailed, same `requestId`). */
export class VmAddressRequested {
  static readonly type = 'VmAddressRequested';
  static readonly version = 1;
  @IsUUID() vmId: string;
  @IsUUID() clusterId: string;
  @IsOwnerId() ownerId: string;
  /** Identifies the request (derived from the command id): the allocation answers with it. */
  @IsUUID() requestId: string;
  @IsIn([4, 6]) family: 4 | 6;
  @IsOptional() @IsIpAddress() requestedIp?: string;
  /**
   * The second address of a dual-stack VM (CreateVm). When the VM's first family could not be allocated, IPAM
   * allocates this one as the VM's primary address instead (IpAllocated) and fails the first family on this request.
   */
  @IsOptional() @IsBoolean() dualStack?: boolean;
}
/** An extra address removed from the VM: withdrawn at once; IPAM holds it for the release cool-down. */
export class VmAddressRemoved {
  static readonly type = 'VmAddressRemoved';
  static readonly version = 1;
  @IsUUID() vmId: string;
  @IsUUID() clusterId: string;
  @IsOwnerId() ownerId: string;
  @IsIpAddress() ip: string;
}

// ---- ipam.<clusterId>
export class NetworkAdded {
  static readonly type = 'NetworkAdded';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() networkId: string;
  @IsCidrBlock() cidr: string;
  @IsIn([4, 6]) family: 4 | 6;
}
export class PoolAdded {
  static readonly type = 'PoolAdded';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() networkId: string;
  @IsUUID() poolId: string;
  @IsIpAddress() start: string;
  @IsIpAddress() end: string;
}
export class IpAllocated {
  static readonly type = 'IpAllocated';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() vmId: string;
  @IsOwnerId() ownerId: string;
  @IsIpAddress() ip: string;
  @IsIn([4, 6]) family: 4 | 6;
  @IsUUID() networkId: string;
  @IsUUID() poolId: string;
}
/** no-primary-address: an extra address of a VM whose own (primary) allocation failed. */
export const ALLOCATION_FAILURE_REASONS = ['pool-exhausted', 'address-taken', 'outside-pools', 'no-network', 'family-mismatch', 'no-primary-address'] as const;
export type AllocationFailureReason = (typeof ALLOCATION_FAILURE_REASONS)[number];
export class IpAllocationFailed {
  static readonly type = 'IpAllocationFailed';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() vmId: string;
  @IsIn(ALLOCATION_FAILURE_REASONS as unknown as string[]) reason: AllocationFailureReason;
  @IsString() @MaxLength(300) message: string;
}
/** The VM is gone; its address stays held until `releaseAt` (cool-down against stale ARP/BGP/abuse). */
export class IpReleaseScheduled {
  static readonly type = 'IpReleaseScheduled';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() vmId: string;
  @IsIpAddress() ip: string;
  @IsISO8601() releaseAt: string;
}
export class IpReleased {
  static readonly type = 'IpReleased';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() vmId: string;
  @IsOwnerId() ownerId: string;
  @IsIpAddress() ip: string;
}

/** An extra address of a VM allocated (billing starts, like IpAllocated; the primary stays IpAllocated's). */
export class VmAddressAllocated {
  static readonly type = 'VmAddressAllocated';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() vmId: string;
  @IsOwnerId() ownerId: string;
  @IsUUID() requestId: string;
  @IsIpAddress() ip: string;
  @IsIn([4, 6]) family: 4 | 6;
  @IsUUID() networkId: string;
  @IsUUID() poolId: string;
}
export class VmAddressAllocationFailed {
  static readonly type = 'VmAddressAllocationFailed';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() vmId: string;
  @IsUUID() requestId: string;
  @IsIn(ALLOCATION_FAILURE_REASONS as unknown as string[]) reason: AllocationFailureReason;
  @IsString() @MaxLength(300) message: string;
  /**
   * The family that failed, set when it is not the request's: a dual-stack VM whose first family was exhausted got
   * this request's address as its primary, and the request now stands for the first family.
   */
  @IsOptional() @IsIn([4, 6]) family?: 4 | 6;
}
/** An extra address removed (or its VM deleted): held until `releaseAt` (the same cool-down as a primary address). */
export class VmAddressReleaseScheduled {
  static readonly type = 'VmAddressReleaseScheduled';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() vmId: string;
  @IsIpAddress() ip: string;
  @IsISO8601() releaseAt: string;
}
/** An extra address back in its pool (billing stops, like IpReleased). */
export class VmAddressReleased {
  static readonly type = 'VmAddressReleased';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() vmId: string;
  @IsOwnerId() ownerId: string;
  @IsIpAddress() ip: string;
}

// ---- agent.<kind>.<id> (reports from node, RR and router agents)
export class TargetRef {
  @IsIn(['node', 'rr', 'router']) kind: 'node' | 'rr' | 'router';
  @IsString() @Matches(/^[A-Za-z0-9_-]{1,64}$/) id: string;
}
export class ConfigApplied {
  static readonly type = 'ConfigApplied';
  static readonly version = 1;
  @ValidateNested() @Type(() => TargetRef) target: TargetRef;
  @IsInt() @Min(0) @Max(MAX_GENERATION) generation: number;
  @IsString() hash: string;
  @IsInt() @Min(0) changes: number;
  @IsInt() @Min(0) durationMs: number;
}
export class ConfigApplyFailed {
  static readonly type = 'ConfigApplyFailed';
  static readonly version = 1;
  @ValidateNested() @Type(() => TargetRef) target: TargetRef;
  @IsInt() @Min(0) @Max(MAX_GENERATION) generation: number;
  @IsString() hash: string;
  @IsString() @MaxLength(2000) error: string;
}
/**
 * A BGP session went up or down (agents report transitions, not FSM steps): `state` is 'Established'
 * (up) or 'Down' (with the FSM state and the daemon's last error in `info`), 'Removed' when the session
 * left the config, 'Unknown' when the daemon cannot be read. Older agents reported every FSM state.
 */
export class BgpSessionStateChanged {
  static readonly type = 'BgpSessionStateChanged';
  static readonly version = 1;
  @ValidateNested() @Type(() => TargetRef) target: TargetRef;
  @IsString() @MaxLength(64) protocol: string;
  @IsOptional() @IsIpAddress() peerIp?: string;
  @IsString() @MaxLength(32) state: string;
  @IsOptional() @IsString() @MaxLength(200) info?: string;
}
/**
 * A BFD session changed (agents report changes only: state, negotiated interval or detection time): `state`
 * is the daemon's, lower-case ('up', 'down', 'init', 'admindown'), 'removed' when the session is gone (BFD
 * off or the peer left the config), 'unknown' when the daemon cannot be read. `peerIp` identifies the session
 * on its target; `intervalMs` is the negotiated transmit interval and `timeoutMs` the detection time.
 */
export class BfdSessionStateChanged {
  static readonly type = 'BfdSessionStateChanged';
  static readonly version = 1;
  @ValidateNested() @Type(() => TargetRef) target: TargetRef;
  @IsIpAddress() peerIp: string;
  @IsOptional() @IsString() @MaxLength(64) interface?: string;
  @IsString() @MaxLength(32) state: string;
  @IsOptional() @IsInt() @Min(0) @Max(3_600_000) intervalMs?: number;
  @IsOptional() @IsInt() @Min(0) @Max(3_600_000) timeoutMs?: number;
  @IsOptional() @IsString() @MaxLength(200) info?: string;
}
export class ObservedRoute {
  @IsCidrBlock() prefix: string;
  @IsOptional() @IsIpAddress() nextHop?: string;
}
/**
 * Legacy (agents before deltas): the full set a route reflector or the core held. Still projected for
 * streams written by older agents; agents now report RoutesChanged.
 */
export class RoutesObserved {
  static readonly type = 'RoutesObserved';
  static readonly version = 1;
  @ValidateNested() @Type(() => TargetRef) target: TargetRef;
  @IsArray() @ValidateNested({ each: true }) @Type(() => ObservedRoute) routes: ObservedRoute[];
}
/** Most routes (added + withdrawn) one RoutesChanged carries: ≤ ~25 kB even with IPv6 next hops. */
export const ROUTES_CHANGED_MAX = 250;
/**
 * Routes a route reflector or the core started or stopped holding since the agent's previous report
 * (bounded batch). A full-state resync (agent start) is a sequence of batches: the first has
 * `resync: 'start'` (consumers mark the target's routes stale), every batch of it only adds (confirms),
 * the last has `resync: 'end'` (stale routes are withdrawn); one batch may be both (`'full'`).
 * Adding a held route or withdrawing an absent one is a no-op (a repeated batch is harmless).
 */
export class RoutesChanged {
  static readonly type = 'RoutesChanged';
  static readonly version = 1;
  @ValidateNested() @Type(() => TargetRef) target: TargetRef;
  @IsArray() @ArrayMaxSize(ROUTES_CHANGED_MAX) @ValidateNested({ each: true }) @Type(() => ObservedRoute) added: ObservedRoute[];
  @IsArray() @ArrayMaxSize(ROUTES_CHANGED_MAX) @ValidateNested({ each: true }) @Type(() => ObservedRoute) withdrawn: ObservedRoute[];
  @IsOptional() @IsIn(['start', 'part', 'end', 'full']) resync?: 'start' | 'part' | 'end' | 'full';
  /** Digest: routes the agent holds after this batch (a consumer whose count differs is out of step). */
  @IsInt() @Min(0) total: number;
}

// ---- desired.<kind>.<id> and router.<clusterId> (what the derivers decided)
export class DesiredStateChanged {
  static readonly type = 'DesiredStateChanged';
  static readonly version = 1;
  @ValidateNested() @Type(() => TargetRef) target: TargetRef;
  @IsInt() @Min(1) @Max(MAX_GENERATION) generation: number;
  @IsString() hash: string;
  @IsOptional() @IsUUID() clusterId?: string;
  /** Events-stream position the desired state reflects (which VMs it includes). */
  @IsOptional() @IsInt() @Min(0) sourceSeq?: number;
}
/**
 * A deriver cannot render a target's desired state from the current events (input that should have been
 * refused): no command is published, the target keeps its last config, and the read model shows drift.
 */
export class TargetRenderFailed {
  static readonly type = 'TargetRenderFailed';
  static readonly version = 1;
  @ValidateNested() @Type(() => TargetRef) target: TargetRef;
  @IsString() @MaxLength(500) reason: string;
  /** Events-stream position the failed render reflected. */
  @IsOptional() @IsInt() @Min(0) sourceSeq?: number;
}
/** The target renders again (its desired state may be unchanged, so no DesiredStateChanged follows). */
export class TargetRenderRecovered {
  static readonly type = 'TargetRenderRecovered';
  static readonly version = 1;
  @ValidateNested() @Type(() => TargetRef) target: TargetRef;
  @IsOptional() @IsInt() @Min(0) sourceSeq?: number;
}
export class RouterConfigRendered {
  static readonly type = 'RouterConfigRendered';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsInt() @Min(1) version: number;
  @IsString() hash: string;
  @IsObject() configs: Record<RouterVendor, string>;
  @IsObject() diffs: Record<RouterVendor, string>;
  /** Set when this version re-publishes an earlier one's configs (a rollback). */
  @IsOptional() @IsInt() @Min(1) rollbackOf?: number;
}

// ---- deadletter.<durable>
export class MessageDeadLettered {
  static readonly type = 'MessageDeadLettered';
  static readonly version = 1;
  @IsString() consumer: string;
  @IsInt() streamSeq: number;
  /** Position of the event inside a multi-event message (EventBatch); absent for a single event. */
  @IsOptional() @IsInt() @Min(0) index?: number;
  @IsString() subject: string;
  @IsOptional() @IsString() eventType?: string;
  @IsString() @MaxLength(2000) error: string;
}

export const EVENT_CLASSES = {
  ClusterCreated,
  RouteReflectorAdded,
  RouteReflectorRemoved,
  BgpPasswordChanged,
  ClusterBgpSettingsChanged,
  RouterConfigRollbackRequested,
  NodeJoined,
  NodeDrained,
  NodeEvacuationStarted,
  NodeEvacuated,
  NodeUndrained,
  NodeLeft,
  VmCreated,
  VmDeleted,
  VmMigrationRequested,
  VmMigrationCompleted,
  VmBlackholed,
  VmBlackholeLifted,
  VmAddressRequested,
  VmAddressRemoved,
  NetworkAdded,
  PoolAdded,
  IpAllocated,
  IpAllocationFailed,
  IpReleaseScheduled,
  IpReleased,
  VmAddressAllocated,
  VmAddressAllocationFailed,
  VmAddressReleaseScheduled,
  VmAddressReleased,
  ConfigApplied,
  ConfigApplyFailed,
  BgpSessionStateChanged,
  BfdSessionStateChanged,
  RoutesObserved,
  RoutesChanged,
  DesiredStateChanged,
  RouterConfigRendered,
  MessageDeadLettered,
  TargetRenderFailed,
  TargetRenderRecovered,
  ...PRIVATE_NETWORK_EVENT_CLASSES,
  ...FLOATING_ADDRESS_EVENT_CLASSES,
} as const;
export type EventType = keyof typeof EVENT_CLASSES;
export type EventData<T extends EventType> = InstanceType<(typeof EVENT_CLASSES)[T]>;
/** Keys of EVENT_CLASSES whose class states another `type`: must stay empty (the build fails otherwise). */
type MisfiledEvents = { [K in EventType]: (typeof EVENT_CLASSES)[K]['type'] extends K ? never : K }[EventType];
export type EventClassesMatchTheirTypes = AssertTrue<[MisfiledEvents] extends [never] ? true : false>;
type AssertTrue<T extends true> = T;

/** An event as a decider sees it: a discriminated union on `type`. */
export type FabricEvent = { [K in EventType]: { type: K; data: EventData<K> } }[EventType];
export type EventOf<K extends EventType> = Extract<FabricEvent, { type: K }>;

/** Which aggregate subject each event is appended to. */
export const EVENT_AGGREGATE: Record<EventType, AggregateKind> = {
  ClusterCreated: 'cluster',
  RouteReflectorAdded: 'cluster',
  RouteReflectorRemoved: 'cluster',
  BgpPasswordChanged: 'cluster',
  ClusterBgpSettingsChanged: 'cluster',
  RouterConfigRollbackRequested: 'cluster',
  NodeJoined: 'node',
  NodeDrained: 'node',
  NodeEvacuationStarted: 'node',
  NodeEvacuated: 'node',
  NodeUndrained: 'node',
  NodeLeft: 'node',
  VmCreated: 'vm',
  VmDeleted: 'vm',
  VmMigrationRequested: 'vm',
  VmMigrationCompleted: 'vm',
  VmBlackholed: 'vm',
  VmBlackholeLifted: 'vm',
  VmAddressRequested: 'vm',
  VmAddressRemoved: 'vm',
  NetworkAdded: 'ipam',
  PoolAdded: 'ipam',
  IpAllocated: 'ipam',
  IpAllocationFailed: 'ipam',
  IpReleaseScheduled: 'ipam',
  IpReleased: 'ipam',
  VmAddressAllocated: 'ipam',
  VmAddressAllocationFailed: 'ipam',
  VmAddressReleaseScheduled: 'ipam',
  VmAddressReleased: 'ipam',
  ConfigApplied: 'agent',
  ConfigApplyFailed: 'agent',
  BgpSessionStateChanged: 'agent',
  BfdSessionStateChanged: 'agent',
  RoutesObserved: 'agent',
  RoutesChanged: 'agent',
  DesiredStateChanged: 'desired',
  RouterConfigRendered: 'router',
  MessageDeadLettered: 'deadletter',
  TargetRenderFailed: 'desired',
  TargetRenderRecovered: 'desired',
  ...PRIVATE_NETWORK_EVENT_AGGREGATE,
  ...FLOATING_ADDRESS_EVENT_AGGREGATE,
};

export interface EventMeta {
  /** Who asked (API token name / service name). */
  actor?: string;
  commandId?: string;
  /** Name of the command that caused the event (set by the write service from the RPC subject). */
  command?: string;
  /** Stream sequence of the event that caused this one (reactors). */
  causationSeq?: number;
}

interface EnvelopeFields {
  id: string;
  schemaVersion: number;
  occurredAt: string;
  meta?: EventMeta;
}

/**
 * What is stored in the stream (JSON body): a discriminated union on `type` (distributes over `E`), so
 * `switch (e.type)` narrows `e.data` to the event's class.
 */
export type EventEnvelope<E extends FabricEvent = FabricEvent> = E extends FabricEvent ? EnvelopeFields & { type: E['type']; data: E['data'] } : never;

interface StoredFields {
  seq: number;
  subject: string;
  /** Position inside a multi-event message (all events of one decision share its `seq`). */
  index?: number;
}

/** An envelope read back from the stream, with its position; narrowed by `type` like EventEnvelope. */
export type StoredEvent<E extends FabricEvent = FabricEvent> = E extends FabricEvent ? EventEnvelope<E> & StoredFields : never;
export type StoredEventOf<T extends EventType> = StoredEvent<EventOf<T>>;
/** Some fields of a stored event, still narrowed by `type` (a plain Pick of the union would lose that). */
export type StoredEventPick<K extends keyof StoredEvent> = { [T in EventType]: Pick<StoredEventOf<T>, K | 'type' | 'data'> }[EventType];

/** One handler per event type, each given the event narrowed to its type (projector, in-memory indexes). */
export type EventHandlers<R, A extends unknown[] = []> = { [T in EventType]?: (e: StoredEventOf<T>, ...args: A) => R };

/**
 * Runs the handler of `e.type` (undefined when there is none: an event the consumer does not care about,
 * or a type this build does not know). Only own keys count, so a type named like an Object method is ignored.
 */
export function dispatchEvent<R, A extends unknown[]>(handlers: EventHandlers<R, A>, e: StoredEvent, ...args: A): R | undefined {
  return dispatchTyped(handlers, e.type, e, args);
}

// Generic in the type so the handler looked up and the event it is given are known to match.
function dispatchTyped<K extends EventType, R, A extends unknown[]>(handlers: EventHandlers<R, A>, type: K, e: StoredEventOf<K>, args: A): R | undefined {
  if (!Object.hasOwn(handlers, type)) return undefined;
  return handlers[type]?.(e, ...args);
}
