/**
 * Tenant private networks (L2 over VXLAN/EVPN): events of the IPAM aggregate `ipam.<clusterId>`, which
 * decides the VNI and every private address of the cluster (docs/adr/0014-private-networks-vni-ipam.md).
 * Kept apart from events.ts, which only spreads these into its tables.
 */
import 'reflect-metadata';
import { IsIn, IsInt, IsISO8601, IsOptional, IsUUID, Max, Min } from 'class-validator';
import { IsCidrBlock, IsFabricName, IsIpAddress, IsMacAddress, IsOwnerId } from './decorators';

/** VNIs the control plane hands out: 24-bit (RFC 7348), below 10000 left to the operator's static use. */
export const PRIVATE_VNI_MIN = 10000;
export const PRIVATE_VNI_MAX = 16777215;

export class PrivateNetworkCreated {
  static readonly type = 'PrivateNetworkCreated';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() networkId: string;
  @IsOwnerId() ownerId: string;
  @IsFabricName() name: string;
  @IsCidrBlock() cidr: string;
  @IsIn([4, 6]) family: 4 | 6;
  @IsInt() @Min(PRIVATE_VNI_MIN) @Max(PRIVATE_VNI_MAX) vni: number;
}
/** The network is gone (no VM was attached); its VNI is free again. */
export class PrivateNetworkDeleted {
  static readonly type = 'PrivateNetworkDeleted';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() networkId: string;
  @IsOwnerId() ownerId: string;
  @IsInt() @Min(PRIVATE_VNI_MIN) @Max(PRIVATE_VNI_MAX) vni: number;
}
/** A VM got a second interface in the network: its private address and that interface's MAC. */
export class PrivateNetworkAttached {
  static readonly type = 'PrivateNetworkAttached';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() networkId: string;
  @IsUUID() vmId: string;
  @IsOwnerId() ownerId: string;
  @IsInt() @Min(PRIVATE_VNI_MIN) @Max(PRIVATE_VNI_MAX) vni: number;
  @IsIpAddress() ip: string;
  @IsIn([4, 6]) family: 4 | 6;
  @IsMacAddress() mac: string;
}
/** The VM left the network (detach, or the VM was deleted); its address stays held until `releaseAt`. */
export class PrivateNetworkDetached {
  static readonly type = 'PrivateNetworkDetached';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() networkId: string;
  @IsUUID() vmId: string;
  @IsIpAddress() ip: string;
  @IsISO8601() releaseAt: string;
  @IsOptional() @IsIn(['detached', 'vm-deleted']) reason?: 'detached' | 'vm-deleted';
}
/** The cool-down of a detached private address ended: it may be given to another VM of the network. */
export class PrivateIpReleased {
  static readonly type = 'PrivateIpReleased';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() networkId: string;
  @IsUUID() vmId: string;
  @IsIpAddress() ip: string;
}

export const PRIVATE_NETWORK_EVENT_CLASSES = {
  PrivateNetworkCreated,
  PrivateNetworkDeleted,
  PrivateNetworkAttached,
  PrivateNetworkDetached,
  PrivateIpReleased,
} as const;
export const PRIVATE_NETWORK_EVENT_AGGREGATE = {
  PrivateNetworkCreated: 'ipam',
  PrivateNetworkDeleted: 'ipam',
  PrivateNetworkAttached: 'ipam',
  PrivateNetworkDetached: 'ipam',
  PrivateIpReleased: 'ipam',
} as const;
