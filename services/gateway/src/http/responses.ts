/** Response shapes for the OpenAPI document (what ReadModel returns). */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

class GatewayDto {
  @ApiProperty({ example: '203.0.113.1' }) ip: string;
  @ApiProperty({ example: 'fe:ff:ff:ff:ff:ff' }) mac: string;
}
class NamedIpDto {
  @ApiProperty({ example: 'rr1' }) name: string;
  @ApiProperty({ example: '198.18.0.11' }) ip: string;
}
class CoreRouterDto extends NamedIpDto {
  @ApiProperty({ enum: ['junos', 'frr'] }) vendor: string;
}
class BmpStationDto {
  @ApiProperty({ example: '198.18.254.1' }) address: string;
  @ApiProperty({ example: 11019 }) port: number;
}
class BgpDto {
  @ApiProperty() gracefulRestart: boolean;
  @ApiProperty() bfd: boolean;
  @ApiProperty({ description: 'an MD5 password is set (never returned)' }) md5: boolean;
  @ApiPropertyOptional({ description: 'why the cluster runs without MD5 (only when created with bgp.md5OptOut)' }) md5OptOut?: string;
  @ApiProperty({ enum: ['restart', 'disable', 'block', 'warn'], description: 'what the RRs do when a node exceeds its prefix limit' })
  prefixLimitAction: string;
  @ApiProperty({ example: 'no-export', description: 'community the RRs add to every route sent to the core' }) coreCommunity: string;
  @ApiPropertyOptional({ example: 90, description: 'hold time in s (absent: daemon default)' }) holdTime?: number;
  @ApiPropertyOptional({ example: 30 }) keepaliveTime?: number;
  @ApiPropertyOptional({ example: 120 }) gracefulRestartTime?: number;
  @ApiPropertyOptional({ example: 100 }) bfdMinRxMs?: number;
  @ApiPropertyOptional({ example: 100 }) bfdMinTxMs?: number;
  @ApiPropertyOptional({ example: 3 }) bfdMultiplier?: number;
  @ApiPropertyOptional({ type: BmpStationDto, description: "the core's BMP station (absent: none)" }) bmpStation?: BmpStationDto;
}
export class ClusterDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'lab' }) name: string;
  @ApiProperty({ example: 65000 }) fabricAsn: number;
  @ApiProperty({ example: 65001 }) coreAsn: number;
  @ApiProperty({ example: '65000:100' }) community: string;
  @ApiProperty({ type: GatewayDto }) gateway: GatewayDto;
  @ApiProperty({ type: [NamedIpDto] }) routeReflectors: NamedIpDto[];
  @ApiProperty({ type: CoreRouterDto }) coreRouter: CoreRouterDto;
  @ApiProperty({ example: '198.18.0.11' }) rrClusterId: string;
  @ApiProperty({ type: BgpDto }) bgp: BgpDto;
  @ApiProperty({ enum: ['route-reflectors', 'direct'], example: 'route-reflectors' }) topology: string;
  @ApiPropertyOptional({ description: 'only for topology direct: lab/test stand only, every node peers the core' }) warning?: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
}
class PoolDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: '203.0.113.10' }) start: string;
  @ApiProperty({ example: '203.0.113.200' }) end: string;
  @ApiProperty({ example: '191', description: 'addresses in the pool (decimal string: IPv6 pools are huge)' }) size: string;
  @ApiProperty({ example: 3 }) used: number;
}
export class NetworkDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) clusterId: string;
  @ApiProperty({ example: '203.0.113.0/24' }) cidr: string;
  @ApiProperty({ enum: [4, 6] }) family: number;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ type: [PoolDto] }) pools: PoolDto[];
}
export class NodeDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) clusterId: string;
  @ApiProperty({ example: 'node1' }) name: string;
  @ApiProperty({ example: '198.18.0.101' }) underlayIp: string;
  @ApiPropertyOptional({ example: '2001:db8:ffff::101' }) underlayIp6?: string;
  @ApiProperty({ enum: ['active', 'drained', 'evacuating', 'left'] }) status: string;
  @ApiProperty({ format: 'date-time' }) joinedAt: string;
}
class BgpSessionDto {
  @ApiProperty({ example: 'rr_rr1' }) protocol: string;
  @ApiProperty({ example: '198.18.0.11', nullable: true }) peerIp: string | null;
  @ApiProperty({ example: 'Established' }) state: string;
  @ApiProperty({ nullable: true }) info: string | null;
  @ApiProperty({ format: 'date-time' }) since: string;
}
class BfdSessionDto {
  @ApiProperty({ example: '198.18.0.11' }) peerIp: string;
  @ApiProperty({ example: 'ul0', nullable: true, description: 'null for a multihop session' }) interface: string | null;
  @ApiProperty({ example: 'up', description: "the daemon's state, lower-case: up, down, init, admindown; unknown when the daemon cannot be read" })
  state: string;
  @ApiProperty({ example: 100, nullable: true, description: 'negotiated transmit interval (ms)' }) intervalMs: number | null;
  @ApiProperty({ example: 300, nullable: true, description: 'detection time (ms)' }) timeoutMs: number | null;
  @ApiProperty({ nullable: true }) info: string | null;
  @ApiProperty({ format: 'date-time', description: 'when the session entered this state (as reported)' }) since: string;
}
class EvacuationDto {
  @ApiProperty({ description: 'VMs still on the node, not yet moving' }) waiting: number;
  @ApiProperty({ description: 'VMs migrating away (make-before-break in progress)' }) migrating: number;
}
export class NodeStatusDto extends NodeDto {
  @ApiProperty() desiredGeneration: number;
  @ApiProperty() appliedGeneration: number;
  @ApiProperty({ description: 'desired and applied generations differ' }) drift: boolean;
  @ApiProperty({
    nullable: true,
    type: 'object',
    additionalProperties: true,
    example: { at: '2025-01-01T00:00:00.000Z', changes: 2, durationMs: 35, hash: 'sha256…' },
  })
  lastApply: object | null;
  @ApiProperty({ nullable: true }) lastError: string | null;
  @ApiProperty({ type: [BgpSessionDto] }) bgpSessions: BgpSessionDto[];
  @ApiProperty({ type: [BfdSessionDto], description: 'BFD sessions the node reports (empty when BFD is off)' }) bfdSessions: BfdSessionDto[];
  @ApiProperty({ description: 'live VMs placed on the node' }) vmCount: number;
  @ApiProperty({ nullable: true, type: EvacuationDto, description: 'progress while the node is evacuating' }) evacuation: EvacuationDto | null;
}
const VM_STATUSES = ['requested', 'ip-allocated', 'applied', 'announced', 'at-core', 'failed', 'migrating', 'deleted'];
class VmHistoryDto {
  @ApiProperty({ description: 'stream sequence of the event' }) seq: number;
  @ApiProperty({ enum: VM_STATUSES }) status: string;
  @ApiProperty({ example: 'IpAllocated' }) event: string;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiPropertyOptional() detail?: string;
}
class VmBlackholeDto {
  @ApiProperty({ example: 'udp flood 12 Gbit/s' }) reason: string;
  @ApiProperty({ example: 'token:ddos-detector(rtbh)', nullable: true }) actor: string | null;
  @ApiProperty({ format: 'date-time' }) since: string;
}
export class VmDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) clusterId: string;
  @ApiProperty({ format: 'uuid' }) nodeId: string;
  @ApiPropertyOptional({ format: 'uuid' }) previousNodeId?: string;
  @ApiProperty({ example: 'web1' }) name: string;
  @ApiProperty({ example: 'customer-1' }) ownerId: string;
  @ApiProperty({ example: '203.0.113.10', nullable: true }) ip: string | null;
  @ApiProperty({ enum: [4, 6] }) family: number;
  @ApiProperty({ enum: ['tap', 'veth', 'netns'] }) driver: string;
  @ApiProperty({ enum: VM_STATUSES }) status: string;
  @ApiPropertyOptional() reason?: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
  @ApiProperty({ type: () => VmBlackholeDto, nullable: true, description: 'RTBH in force on the address (null: none)' }) blackhole: VmBlackholeDto | null;
  @ApiPropertyOptional({ type: () => [VmAddressDto], description: 'every address of the VM, the primary first, then the extra ones (GET /vms and /vms/:id)' })
  addresses?: VmAddressDto[];
}
export const VM_ADDRESS_STATUSES = ['requested', 'allocated', 'applied', 'announced', 'at-core', 'failed', 'releasing', 'migrating', 'deleted'];
class VmAddressDto {
  @ApiProperty({ example: '203.0.113.51', nullable: true, description: 'the address (while requested: the one asked for, or null)' }) ip: string | null;
  @ApiProperty({ enum: [4, 6] }) family: number;
  @ApiProperty({ description: "the VM's primary address (IpAllocated; removed only with the VM)" }) primary: boolean;
  @ApiProperty({
    enum: VM_ADDRESS_STATUSES,
    description: "the primary: the VM's status; an extra address: requested → allocated → applied → announced → at-core, failed, releasing",
  })
  status: string;
  @ApiPropertyOptional({ format: 'uuid', description: 'extra addresses: the request (POST /vms/:id/addresses answer)' }) requestId?: string;
  @ApiPropertyOptional({ description: 'failed: why IPAM did not allocate it' }) reason?: string;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, description: 'releasing: when IPAM frees it' }) releaseAt?: string | null;
}
class VmFloatingAddressDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: '203.0.113.60' }) ip: string;
  @ApiProperty({ enum: ['attached', 'moving'] }) status: string;
  @ApiProperty({ format: 'uuid', nullable: true }) vmId: string | null;
  @ApiProperty({ format: 'uuid', nullable: true }) fromVmId: string | null;
  @ApiProperty({ enum: ['at-core', 'announced', 'none'] }) route: string;
}
export class VmWithHistoryDto extends VmDto {
  @ApiProperty({ type: [VmHistoryDto] }) history: VmHistoryDto[];
  @ApiProperty({ type: [VmFloatingAddressDto], description: 'floating addresses attached to the VM (or leaving it during a move)' })
  floatingAddresses: VmFloatingAddressDto[];
}
export class VmAddressAcceptedDto {
  @ApiProperty({ format: 'uuid' }) vmId: string;
  @ApiProperty({ format: 'uuid' }) requestId: string;
  @ApiProperty({ enum: [4, 6] }) family: number;
  @ApiPropertyOptional({ example: '203.0.113.51' }) ip?: string;
  @ApiProperty({ example: 'requested' }) status: string;
  @ApiPropertyOptional({ example: { self: '/api/v1/vms/7d7e…' } }) links?: Record<string, string>;
}
export class VmAcceptedDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'requested' }) status: string;
  @ApiPropertyOptional({ format: 'uuid' }) nodeId?: string;
  @ApiPropertyOptional({ example: { self: '/api/v1/vms/7d7e…' } }) links?: Record<string, string>;
  @ApiPropertyOptional({
    type: () => [VmRequestedAddressDto],
    description: 'POST /vms: the addresses asked for (a dual-stack VM: the primary and the other family as an extra address)',
  })
  addresses?: VmRequestedAddressDto[];
}
class VmRequestedAddressDto {
  @ApiProperty({ enum: [4, 6] }) family: number;
  @ApiProperty() primary: boolean;
  @ApiProperty({ example: 'requested' }) status: string;
  @ApiPropertyOptional({ description: 'the address asked for' }) ip?: string;
  @ApiPropertyOptional({ format: 'uuid', description: 'the extra address: its request (addresses[].requestId of GET /vms/:id)' }) requestId?: string;
}

export class PrivateAttachmentDto {
  @ApiProperty({ format: 'uuid' }) networkId: string;
  @ApiProperty({ format: 'uuid' }) vmId: string;
  @ApiProperty({ example: 'customer-1' }) ownerId: string;
  @ApiProperty({ example: 10000 }) vni: number;
  @ApiProperty({ example: '192.168.10.2' }) ip: string;
  @ApiProperty({ enum: [4, 6] }) family: number;
  @ApiProperty({ example: '02:5e:1a:33:0c:7d', description: "MAC of the VM's interface in this network (stable)" }) mac: string;
  @ApiProperty({ enum: ['attached', 'releasing'], description: 'releasing: detached, the address is held for the cool-down until releaseAt' })
  status: string;
  @ApiProperty({ format: 'date-time' }) attachedAt: string;
  @ApiPropertyOptional({ format: 'date-time', nullable: true }) releaseAt: string | null;
}
export class VmPrivateAttachmentDto extends PrivateAttachmentDto {
  @ApiPropertyOptional({ example: 'backend', nullable: true }) name: string | null;
  @ApiPropertyOptional({ example: '192.168.10.0/24', nullable: true }) cidr: string | null;
}
export class PrivateNetworkDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) clusterId: string;
  @ApiProperty({ example: 'customer-1' }) ownerId: string;
  @ApiProperty({ example: 'backend' }) name: string;
  @ApiProperty({ example: '192.168.10.0/24' }) cidr: string;
  @ApiProperty({ enum: [4, 6] }) family: number;
  @ApiProperty({ example: 10000, description: 'VXLAN network identifier, allocated by the control plane (10000-16777215)' }) vni: number;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ example: 2 }) attachedVms: number;
  @ApiProperty({ type: [PrivateAttachmentDto] }) attachments: PrivateAttachmentDto[];
}
