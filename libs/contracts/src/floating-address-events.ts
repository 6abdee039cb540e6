/**
 * Floating addresses: an address owned by an owner (not a VM), attached to one VM at a time and moved between
 * VMs make-before-break. Events of the IPAM aggregate `ipam.<clusterId>`, which alone decides that no address is
 * held twice (docs/architecture.md, "Floating addresses"). Kept apart from events.ts, which spreads these in.
 */
import 'reflect-metadata';
import { IsIn, IsISO8601, IsOptional, IsUUID } from 'class-validator';
import { IsIpAddress, IsOwnerId } from './decorators';

/** Allocated to its owner (billing: the owner interval starts). */
export class FloatingAddressAllocated {
  static readonly type = 'FloatingAddressAllocated';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() floatingId: string;
  @IsOwnerId() ownerId: string;
  @IsIpAddress() ip: string;
  @IsIn([4, 6]) family: 4 | 6;
  @IsUUID() networkId: string;
  @IsUUID() poolId: string;
}
/**
 * Attached to a VM (billing: an attachment interval starts). With `fromVmId` it is a move: both VMs carry the
 * address until FloatingAddressMoveCompleted (make-before-break, the old VM's node withdraws last).
 */
export class FloatingAddressAttached {
  static readonly type = 'FloatingAddressAttached';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() floatingId: string;
  @IsOwnerId() ownerId: string;
  @IsIpAddress() ip: string;
  @IsUUID() vmId: string;
  @IsOptional() @IsUUID() fromVmId?: string;
}
/** A move is over: the new VM's route was seen at the route reflectors, the old VM gives the address up. */
export class FloatingAddressMoveCompleted {
  static readonly type = 'FloatingAddressMoveCompleted';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() floatingId: string;
  @IsOwnerId() ownerId: string;
  @IsIpAddress() ip: string;
  @IsUUID() vmId: string;
  @IsUUID() fromVmId: string;
}
/** Detached (by the operator, or its VM deleted): withdrawn at once; the address stays its owner's. */
export class FloatingAddressDetached {
  static readonly type = 'FloatingAddressDetached';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() floatingId: string;
  @IsOwnerId() ownerId: string;
  @IsIpAddress() ip: string;
  @IsUUID() vmId: string;
  /** A move in progress when detached: that VM gives the address up too. */
  @IsOptional() @IsUUID() fromVmId?: string;
  @IsIn(['detached', 'vm-deleted']) reason: 'detached' | 'vm-deleted';
}
/** Deleted (detached first): held until `releaseAt` (the same cool-down as a VM address). */
export class FloatingAddressReleaseScheduled {
  static readonly type = 'FloatingAddressReleaseScheduled';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() floatingId: string;
  @IsOwnerId() ownerId: string;
  @IsIpAddress() ip: string;
  @IsISO8601() releaseAt: string;
}
/** Back in its pool (billing: the owner interval ends). */
export class FloatingAddressReleased {
  static readonly type = 'FloatingAddressReleased';
  static readonly version = 1;
  @IsUUID() clusterId: string;
  @IsUUID() floatingId: string;
  @IsOwnerId() ownerId: string;
  @IsIpAddress() ip: string;
}

export const FLOATING_ADDRESS_EVENT_CLASSES = {
  FloatingAddressAllocated,
  FloatingAddressAttached,
  FloatingAddressMoveCompleted,
  FloatingAddressDetached,
  FloatingAddressReleaseScheduled,
  FloatingAddressReleased,
} as const;
export const FLOATING_ADDRESS_EVENT_AGGREGATE = {
  FloatingAddressAllocated: 'ipam',
  FloatingAddressAttached: 'ipam',
  FloatingAddressMoveCompleted: 'ipam',
  FloatingAddressDetached: 'ipam',
  FloatingAddressReleaseScheduled: 'ipam',
  FloatingAddressReleased: 'ipam',
} as const;
