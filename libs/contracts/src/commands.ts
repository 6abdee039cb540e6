/**
 * Write commands sent by the gateway (or any client) to inventory and IPAM over NATS request/reply.
 * The same classes validate the HTTP bodies, so a bad field is refused before anything is written
 * (hence the OpenAPI decorators here: they double as the HTTP DTOs).
 */
import 'reflect-metadata';
import { Type } from 'class-transformer';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsOptional, Matches, Max, Min, ValidateNested } from 'class-validator';
import { IsAsn, IsCanonicalUuid, IsCidrBlock, IsCommunity, IsCoreCommunity, IsFabricName, IsIpAddress, IsMacAddress, IsOwnerId } from './decorators';
import { BLACKHOLE_REASON_PATTERN, MD5_OPT_OUT_PATTERN, PASSWORD_PATTERN, PREFIX_LIMIT_ACTIONS, PrefixLimitAction } from './validation';
import { CLUSTER_TOPOLOGIES, type ClusterTopology, ROUTER_VENDORS, RouterVendor, VM_ADDRESSING, type VmAddressing, VM_DRIVERS, VmDriver } from './events';
import type { ErrorBody } from './errors';

export class GatewayInput {
  @ApiProperty({ example: '203.0.113.1', description: 'gateway IPv4 shared by every VM of the cluster' })
  @IsIpAddress(4)
  ip: string;
  @ApiProperty({ example: 'fe:ff:ff:ff:ff:ff' })
  @IsMacAddress()
  mac: string;
}
export class RouteReflectorInput {
  @ApiProperty({ example: 'rr1' })
  @IsFabricName()
  name: string;
  @ApiProperty({ example: '198.18.0.11' })
  @IsIpAddress()
  ip: string;
}
export class CoreRouterInput {
  @ApiProperty({ example: 'core' })
  @IsFabricName()
  name: string;
  @ApiProperty({ example: '198.18.0.1' })
  @IsIpAddress()
  ip: string;
  @ApiProperty({ example: 'frr', enum: ROUTER_VENDORS })
  @IsIn(ROUTER_VENDORS)
  vendor: RouterVendor;
}
export class BgpOptionsInput {
  @ApiPropertyOptional({ example: 's3cret', description: 'TCP MD5 password of the BGP sessions (never returned)' })
  @IsOptional()
  @Matches(PASSWORD_PATTERN, { message: 'md5Password must be 1-80 printable characters without quotes, spaces or backslashes' })
  md5Password?: string;
  @ApiPropertyOptional({ example: true })
  @IsOptional()
  @IsBoolean()
  gracefulRestart?: boolean;
  @ApiPropertyOptional({ example: false })
  @IsOptional()
  @IsBoolean()
  bfd?: boolean;
  @ApiPropertyOptional({
    example: 'no md5 on this lab core',
    description: 'create the cluster WITHOUT MD5 on purpose (the reason is recorded). Without it and without md5Password, a password is generated',
  })
  @IsOptional()
  @Matches(MD5_OPT_OUT_PATTERN, { message: 'md5OptOut must be a 3-200 character reason (letters, digits, spaces and . , : ( ) _ + - /)' })
  md5OptOut?: string;
  @ApiPropertyOptional({
    enum: PREFIX_LIMIT_ACTIONS,
    example: 'restart',
    description:
      'what the route reflectors do when a node announces more prefixes than its limit (default restart: the session is cut and comes back once the node is sane)',
  })
  @IsOptional()
  @IsIn(PREFIX_LIMIT_ACTIONS)
  prefixLimitAction?: PrefixLimitAction;
  @ApiPropertyOptional({
    example: 'no-export',
    description:
      'community the route reflectors add to every fabric route sent to the core: "no-export" (default), "none", or an "asn:value" of your border policy',
  })
  @IsOptional()
  @IsCoreCommunity()
  coreCommunity?: string;
}
export class PoolInput {
  @ApiProperty({ example: '203.0.113.10' })
  @IsIpAddress()
  start: string;
  @ApiProperty({ example: '203.0.113.200' })
  @IsIpAddress()
  end: string;
}

export class CreateCluster {
  static readonly command = 'CreateCluster';
  @ApiPropertyOptional({ format: 'uuid', description: 'client-chosen id (optional)' })
  @IsOptional()
  @IsCanonicalUuid()
  clusterId?: string;
  @ApiProperty({ example: 'lab' })
  @IsFabricName()
  name: string;
  @ApiProperty({ example: 65000, description: 'ASN of nodes and route reflectors' })
  @IsAsn()
  fabricAsn: number;
  @ApiProperty({ example: 65001, description: 'ASN of the core/border router' })
  @IsAsn()
  coreAsn: number;
  @ApiProperty({ example: '65000:100' })
  @IsCommunity()
  community: string;
  @ApiPropertyOptional({ type: () => GatewayInput })
  @IsOptional()
  @ValidateNested()
  @Type(() => GatewayInput)
  gateway?: GatewayInput;
  @ApiPropertyOptional({
    enum: CLUSTER_TOPOLOGIES,
    example: 'route-reflectors',
    description:
      'route-reflectors (default): nodes peer the RRs, the RRs the core. direct: LAB/TEST STANDS ONLY, every node peers the core directly (routeReflectors must be empty); the answer carries a warning',
  })
  @IsOptional()
  @IsIn(CLUSTER_TOPOLOGIES)
  topology?: ClusterTopology;
  @ApiProperty({ type: () => [RouteReflectorInput], description: 'the route reflectors (empty for topology direct)' })
  @IsArray()
  @ArrayMaxSize(16)
  @ValidateNested({ each: true })
  @Type(() => RouteReflectorInput)
  routeReflectors: RouteReflectorInput[];
  @ApiProperty({ type: () => CoreRouterInput })
  @ValidateNested()
  @Type(() => CoreRouterInput)
  coreRouter: CoreRouterInput;
  @ApiPropertyOptional({ example: '198.18.0.11', description: 'BGP cluster id of the route reflectors (default: the first RR address)' })
  @IsOptional()
  @IsIpAddress(4)
  rrClusterId?: string;
  @ApiPropertyOptional({ type: () => BgpOptionsInput })
  @IsOptional()
  @ValidateNested()
  @Type(() => BgpOptionsInput)
  bgp?: BgpOptionsInput;
  @ApiPropertyOptional({
    example: '65535:666',
    description: 'RTBH community of blackholed VM routes (default RFC 7999 BLACKHOLE 65535:666; must differ from community)',
  })
  @IsOptional()
  @IsCommunity()
  blackholeCommunity?: string;
}
export class AddRouteReflector {
  static readonly command = 'AddRouteReflector';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ example: 'rr3' })
  @IsFabricName()
  name: string;
  @ApiProperty({ example: '198.18.0.13' })
  @IsIpAddress()
  ip: string;
}
export class RemoveRouteReflector {
  static readonly command = 'RemoveRouteReflector';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ example: 'rr3' })
  @IsFabricName()
  name: string;
}
/** A new BGP MD5 password for every session of the cluster (RRs, nodes, core). */
export class ChangeBgpPassword {
  static readonly command = 'ChangeBgpPassword';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ example: 'n3w-s3cret', description: 'TCP MD5 password (never returned)' })
  @Matches(PASSWORD_PATTERN, { message: 'md5Password must be 1-80 printable characters without quotes, spaces or backslashes' })
  md5Password: string;
}
/**
 * Change a cluster's BGP settings (PATCH /clusters/:id/bgp): only the fields given change; a timer set to
 * null goes back to the daemon's default. Bounds and consistency (keepalive < hold, …) are the decider's.
 */
export class BgpSettingsInput {
  @ApiPropertyOptional({ example: 90, nullable: true, description: 'BGP hold time in s: 0 (no keepalives) or 3-65535; null: daemon default' })
  @IsOptional()
  @IsInt()
  holdTime?: number | null;
  @ApiPropertyOptional({ example: 30, nullable: true, description: 'keepalive in s, below holdTime (default: holdTime / 3)' })
  @IsOptional()
  @IsInt()
  keepaliveTime?: number | null;
  @ApiPropertyOptional({ example: true })
  @IsOptional()
  @IsBoolean()
  gracefulRestart?: boolean;
  @ApiPropertyOptional({ example: 120, nullable: true, description: 'graceful-restart time in s (1-1800)' })
  @IsOptional()
  @IsInt()
  gracefulRestartTime?: number | null;
  @ApiPropertyOptional({ example: true })
  @IsOptional()
  @IsBoolean()
  bfd?: boolean;
  @ApiPropertyOptional({ example: 100, nullable: true, description: 'BFD minimum receive interval in ms (10-60000)' })
  @IsOptional()
  @IsInt()
  bfdMinRxMs?: number | null;
  @ApiPropertyOptional({ example: 100, nullable: true, description: 'BFD minimum transmit interval in ms (10-60000)' })
  @IsOptional()
  @IsInt()
  bfdMinTxMs?: number | null;
  @ApiPropertyOptional({ example: 3, nullable: true, description: 'BFD detect multiplier (2-255)' })
  @IsOptional()
  @IsInt()
  bfdMultiplier?: number | null;
  @ApiPropertyOptional({ example: 'n3w-s3cret', description: 'rotate the MD5 password to this value (never returned)' })
  @IsOptional()
  @Matches(PASSWORD_PATTERN, { message: 'md5Password must be 1-80 printable characters without quotes, spaces or backslashes' })
  md5Password?: string;
  @ApiPropertyOptional({ example: true, description: 'rotate the MD5 password to a generated one (not with md5Password)' })
  @IsOptional()
  @IsBoolean()
  rotateMd5?: boolean;
  @ApiPropertyOptional({ example: '65000:100', description: 'community every VM route carries' })
  @IsOptional()
  @IsCommunity()
  community?: string;
  @ApiPropertyOptional({ example: 'no-export', description: 'community the RRs add towards the core: no-export, none or asn:value' })
  @IsOptional()
  @IsCoreCommunity()
  coreCommunity?: string;
  @ApiPropertyOptional({ enum: PREFIX_LIMIT_ACTIONS, example: 'restart' })
  @IsOptional()
  @IsIn(PREFIX_LIMIT_ACTIONS)
  prefixLimitAction?: PrefixLimitAction;
  @ApiPropertyOptional({
    type: () => BmpStationInput,
    nullable: true,
    description: "the core router's BMP station (the product's collector, docs/operations/bmp.md); null: none",
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => BmpStationInput)
  bmpStation?: BmpStationInput | null;
}
export class BmpStationInput {
  @ApiProperty({ example: '198.18.254.1', description: "the collector's address (IPv4 or IPv6)" })
  @IsIpAddress()
  address: string;
  @ApiProperty({ example: 11019, description: 'TCP port 1-65535' })
  @IsInt()
  @Min(1)
  @Max(65535)
  port: number;
}
export class ChangeBgpSettings extends BgpSettingsInput {
  static readonly command = 'ChangeBgpSettings';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  /** Validate and answer what would change; nothing is written. */
  @IsOptional()
  @IsBoolean()
  dryRun?: boolean;
}
/** Make an earlier core router config version desired again (POST /clusters/:id/router/rollback). */
export class RollbackRouterConfig {
  static readonly command = 'RollbackRouterConfig';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ example: 3, description: 'the version to go back to (an earlier version of GET /clusters/:id/router/configs)' })
  @IsInt()
  @Min(1)
  toVersion: number;
  @ApiPropertyOptional({ example: 'v5 dropped the uplink sessions', description: 'why (audit)' })
  @IsOptional()
  @Matches(BLACKHOLE_REASON_PATTERN, { message: 'reason must be 1-200 printable characters' })
  reason?: string;
}
export class JoinNode {
  static readonly command = 'JoinNode';
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsCanonicalUuid()
  nodeId?: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ example: 'node1' })
  @IsFabricName()
  name: string;
  @ApiProperty({ example: '198.18.0.101' })
  @IsIpAddress(4)
  underlayIp: string;
  @ApiPropertyOptional({ example: '2001:db8:ffff::101' })
  @IsOptional()
  @IsIpAddress(6)
  underlayIp6?: string;
}
export class DrainNode {
  static readonly command = 'DrainNode';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  nodeId: string;
  @ApiPropertyOptional({ example: true, description: 'also move every VM of the node away (see EvacuateNode)' })
  @IsOptional()
  @IsBoolean()
  evacuate?: boolean;
}
/** Drain the node and migrate each of its VMs to the active node with the fewest VMs, a few at a time. */
export class EvacuateNode {
  static readonly command = 'EvacuateNode';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  nodeId: string;
}
/** Make a drained node take new VMs again; stops an evacuation (migrations already started finish). */
export class UndrainNode {
  static readonly command = 'UndrainNode';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  nodeId: string;
}
export class RemoveNode {
  static readonly command = 'RemoveNode';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  nodeId: string;
}
export class CreateVm {
  static readonly command = 'CreateVm';
  @ApiPropertyOptional({ format: 'uuid', description: 'client-chosen id (optional)' })
  @IsOptional()
  @IsCanonicalUuid()
  vmId?: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  nodeId: string;
  @ApiProperty({ example: 'web1' })
  @IsFabricName()
  name: string;
  @ApiProperty({ example: 'customer-1' })
  @IsOwnerId()
  ownerId: string;
  @ApiPropertyOptional({ example: '203.0.113.50', description: 'a specific address (default: the next free one)' })
  @IsOptional()
  @IsIpAddress()
  ip?: string;
  @ApiPropertyOptional({ example: 4, enum: [4, 6], description: 'the primary address family; alone, the VM gets only this family' })
  @IsOptional()
  @IsIn([4, 6])
  family?: 4 | 6;
  @ApiPropertyOptional({
    example: 'dual-stack',
    enum: VM_ADDRESSING,
    description:
      "dual-stack: an address of each family (the second one an extra address); default dual-stack when the cluster has pools of both families and neither family nor ip is given. The primary's family exhausted, the second family's address becomes the VM's primary and the first family's shows `failed` with the reason in `addresses`; the second family exhausted, the VM keeps its primary and that address is `failed`",
  })
  @IsOptional()
  @IsIn(VM_ADDRESSING as unknown as string[])
  addressing?: VmAddressing;
  @ApiPropertyOptional({ example: 'netns', enum: VM_DRIVERS })
  @IsOptional()
  @IsIn(VM_DRIVERS)
  driver?: VmDriver;
}
export class DeleteVm {
  static readonly command = 'DeleteVm';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  vmId: string;
}
export class MigrateVm {
  static readonly command = 'MigrateVm';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  vmId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  nodeId: string;
}
/** Internal: the target node of a migration announced the VM (sent by route-announcer). */
export class CompleteMigration {
  static readonly command = 'CompleteMigration';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  vmId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  nodeId: string;
}
/** An extra address for a running VM (IPAM allocates it; the node routes it on the VM's interface). */
export class AddVmAddress {
  static readonly command = 'AddVmAddress';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  vmId: string;
  @ApiPropertyOptional({ example: 4, enum: [4, 6], description: "the address family (default: the requested ip's, else 4)" })
  @IsOptional()
  @IsIn([4, 6])
  family?: 4 | 6;
  @ApiPropertyOptional({ example: '203.0.113.51', description: 'a specific address of a pool of the cluster (default: the next free one)' })
  @IsOptional()
  @IsIpAddress()
  ip?: string;
}
export class RemoveVmAddress {
  static readonly command = 'RemoveVmAddress';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  vmId: string;
  @ApiProperty({ example: '203.0.113.51', description: 'an extra address of the VM (the primary cannot be removed)' })
  @IsIpAddress()
  ip: string;
}
/** RTBH: announce the VM's address with the blackhole community (the core discards its traffic). */
export class BlackholeVm {
  static readonly command = 'BlackholeVm';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  vmId: string;
  @ApiProperty({ example: 'udp flood 12 Gbit/s', description: 'why (kept in the audit), 1-200 printable characters' })
  @Matches(BLACKHOLE_REASON_PATTERN, { message: 'reason must be 1-200 printable characters' })
  reason: string;
}
export class LiftBlackhole {
  static readonly command = 'LiftBlackhole';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  vmId: string;
  @ApiPropertyOptional({ example: 'attack over' })
  @IsOptional()
  @Matches(BLACKHOLE_REASON_PATTERN, { message: 'reason must be 1-200 printable characters' })
  reason?: string;
}
export class AddNetwork {
  static readonly command = 'AddNetwork';
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsCanonicalUuid()
  networkId?: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ example: '203.0.113.0/24' })
  @IsCidrBlock()
  cidr: string;
  @ApiPropertyOptional({ type: () => [PoolInput] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @ValidateNested({ each: true })
  @Type(() => PoolInput)
  pools?: PoolInput[];
}
export class AddPool {
  static readonly command = 'AddPool';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  networkId: string;
  @ApiProperty({ example: '203.0.113.10' })
  @IsIpAddress()
  start: string;
  @ApiProperty({ example: '203.0.113.200' })
  @IsIpAddress()
  end: string;
}

/**
 * Dry run only (`CommandRequest.dryRun`): the address IPAM would give a VM of the cluster now (the requested one,
 * or the next free one), decided as for its VmCreated, nothing allocated. Used by the gateway's VM create dry run.
 */
export class PreviewAllocation {
  static readonly command = 'PreviewAllocation';
  @IsCanonicalUuid()
  clusterId: string;
  @IsCanonicalUuid()
  vmId: string;
  @IsOwnerId()
  ownerId: string;
  @IsIn([4, 6])
  family: 4 | 6;
  @IsOptional()
  @IsIpAddress()
  ip?: string;
}

/** Tenant private networks (IPAM): see docs/adr/0014-private-networks-vni-ipam.md. */
export class CreatePrivateNetwork {
  static readonly command = 'CreatePrivateNetwork';
  @ApiPropertyOptional({ format: 'uuid', description: 'client-chosen id (optional)' })
  @IsOptional()
  @IsCanonicalUuid()
  networkId?: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ example: 'customer-1' })
  @IsOwnerId()
  ownerId: string;
  @ApiProperty({ example: 'backend' })
  @IsFabricName()
  name: string;
  @ApiProperty({ example: '192.168.10.0/24', description: 'private IPv4 (RFC 1918, RFC 6598) /16-/29 or unique local IPv6 (fc00::/7) /48-/124' })
  @IsCidrBlock()
  cidr: string;
}
export class DeletePrivateNetwork {
  static readonly command = 'DeletePrivateNetwork';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  networkId: string;
}
export class AttachPrivateNetwork {
  static readonly command = 'AttachPrivateNetwork';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  networkId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  vmId: string;
}
export class DetachPrivateNetwork {
  static readonly command = 'DetachPrivateNetwork';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  networkId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  vmId: string;
}

/** Floating addresses (IPAM): allocated to an owner, attached to one VM of the same cluster at a time. */
export class AllocateFloatingAddress {
  static readonly command = 'AllocateFloatingAddress';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ example: 'cust-42', description: 'who owns (and is billed for) the address' })
  @IsOwnerId()
  owner: string;
  @ApiPropertyOptional({ example: 4, enum: [4, 6], description: "the address family (default: the requested ip's, else 4)" })
  @IsOptional()
  @IsIn([4, 6])
  family?: 4 | 6;
  @ApiPropertyOptional({ example: '203.0.113.60', description: 'a specific address of a pool of the cluster (default: the next free one)' })
  @IsOptional()
  @IsIpAddress()
  ip?: string;
}
export class AttachFloatingAddress {
  static readonly command = 'AttachFloatingAddress';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  floatingId: string;
  @ApiProperty({ format: 'uuid', description: 'a VM of the same cluster and owner; attached elsewhere, the address moves' })
  @IsCanonicalUuid()
  vmId: string;
  @ApiPropertyOptional({ description: 'admin only: attach to a VM of another owner' })
  @IsOptional()
  @IsBoolean()
  allowOtherOwner?: boolean;
}
export class DetachFloatingAddress {
  static readonly command = 'DetachFloatingAddress';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  floatingId: string;
}
export class ReleaseFloatingAddress {
  static readonly command = 'ReleaseFloatingAddress';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  floatingId: string;
}
/** Sent by route-announcer once the new VM's node announces a moved floating address (make-before-break). */
export class CompleteFloatingMove {
  static readonly command = 'CompleteFloatingMove';
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  clusterId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  floatingId: string;
  @ApiProperty({ format: 'uuid' })
  @IsCanonicalUuid()
  vmId: string;
}

export const INVENTORY_COMMANDS = {
  CreateCluster,
  AddRouteReflector,
  RemoveRouteReflector,
  ChangeBgpPassword,
  ChangeBgpSettings,
  RollbackRouterConfig,
  JoinNode,
  DrainNode,
  EvacuateNode,
  UndrainNode,
  RemoveNode,
  CreateVm,
  DeleteVm,
  MigrateVm,
  CompleteMigration,
  BlackholeVm,
  LiftBlackhole,
  AddVmAddress,
  RemoveVmAddress,
} as const;
export const IPAM_COMMANDS = {
  AddNetwork,
  AddPool,
  PreviewAllocation,
  CreatePrivateNetwork,
  DeletePrivateNetwork,
  AttachPrivateNetwork,
  DetachPrivateNetwork,
  AllocateFloatingAddress,
  AttachFloatingAddress,
  DetachFloatingAddress,
  ReleaseFloatingAddress,
  CompleteFloatingMove,
} as const;
export type InventoryCommandName = keyof typeof INVENTORY_COMMANDS;
export type IpamCommandName = keyof typeof IPAM_COMMANDS;

/** Envelope of a request to a write service. `commandId` doubles as the idempotency key (Nats-Msg-Id). */
export interface CommandRequest<T = unknown> {
  commandId: string;
  actor?: string;
  /** Set by the receiving service from the RPC subject (never trusted from the body). */
  command?: string;
  payload: T;
  /** Decide only: the reply lists the events the command would append; nothing is written (gateway `?dryRun=true`). */
  dryRun?: boolean;
}
export type CommandReply<R = Record<string, unknown>> = { ok: true; result: R; position: number } | { ok: false; error: ErrorBody };
