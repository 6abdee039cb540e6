/**
 * Write commands sent by the gateway (or any client) to inventory and IPAM over NATS request/reply.
 * The same classes validate the HTTP bodies, so a bad field is refused before anything is written.
 */
import 'reflect-metadata';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsOptional, IsUUID, Matches, ValidateNested } from 'class-validator';
import { IsAsn, IsCidrBlock, IsCommunity, IsFabricName, IsIpAddress, IsMacAddress, IsOwnerId } from './decorators';
import { PASSWORD_PATTERN } from './validation';
import { ROUTER_VENDORS, RouterVendor, VM_DRIVERS, VmDriver } from './events';
import type { ErrorBody } from './errors';

export class GatewayInput {
  @IsIpAddress(4) ip: string;
  @IsMacAddress() mac: string;
}
export class RouteReflectorInput {
  @IsFabricName() name: string;
  @IsIpAddress() ip: string;
}
export class CoreRouterInput {
  @IsFabricName() name: string;
  @IsIpAddress() ip: string;
  @IsIn(ROUTER_VENDORS) vendor: RouterVendor;
}
export class BgpOptionsInput {
  @IsOptional() @Matches(PASSWORD_PATTERN, { message: 'md5Password must be 1-80 printable characters without quotes, spaces or backslashes' })
  md5Password?: string;
  @IsOptional() @IsBoolean() gracefulRestart?: boolean;
  @IsOptional() @IsBoolean() bfd?: boolean;
}
export class PoolInput {
  @IsIpAddress() start: string;
  @IsIpAddress() end: string;
}

export class CreateCluster {
  static readonly command = 'CreateCluster';
  @IsOptional() @IsUUID() clusterId?: string;
  @IsFabricName() name: string;
  @IsAsn() fabricAsn: number;
  @IsAsn() coreAsn: number;
  @IsCommunity() community: string;
  @IsOptional() @ValidateNested() @Type(() => GatewayInput) gateway?: GatewayInput;
  @IsArray() @ArrayMaxSize(16) @ValidateNested({ each: true }) @Type(() => RouteReflectorInput) routeReflectors: RouteReflectorInput[];
  @ValidateNested() @Type(() => CoreRouterInput) coreRouter: CoreRouterInput;
  @IsOptional() @IsIpAddress(4) rrClusterId?: string;
  @IsOptional() @ValidateNested() @Type(() => BgpOptionsInput) bgp?: BgpOptionsInput;
}
export class AddRouteReflector {
  static readonly command = 'AddRouteReflector';
  @IsUUID() clusterId: string;
  @IsFabricName() name: string;
  @IsIpAddress() ip: string;
}
export class RemoveRouteReflector {
  static readonly command = 'RemoveRouteReflector';
  @IsUUID() clusterId: string;
  @IsFabricName() name: string;
}
export class JoinNode {
  static readonly command = 'JoinNode';
  @IsOptional() @IsUUID() nodeId?: string;
  @IsUUID() clusterId: string;
  @IsFabricName() name: string;
  @IsIpAddress(4) underlayIp: string;
  @IsOptional() @IsIpAddress(6) underlayIp6?: string;
}
export class DrainNode {
  static readonly command = 'DrainNode';
  @IsUUID() nodeId: string;
}
export class RemoveNode {
  static readonly command = 'RemoveNode';
  @IsUUID() nodeId: string;
}
export class CreateVm {
  static readonly command = 'CreateVm';
  @IsOptional() @IsUUID() vmId?: string;
  @IsUUID() clusterId: string;
  @IsUUID() nodeId: string;
  @IsFabricName() name: string;
  @IsOwnerId() ownerId: string;
  @IsOptional() @IsIpAddress() ip?: string;
  @IsOptional() @IsIn([4, 6]) family?: 4 | 6;
  @IsOptional() @IsIn(VM_DRIVERS) driver?: VmDriver;
}
export class DeleteVm {
  static readonly command = 'DeleteVm';
  @IsUUID() vmId: string;
}
export class MigrateVm {
  static readonly command = 'MigrateVm';
  @IsUUID() vmId: string;
  @IsUUID() nodeId: string;
}
/** Internal: the target node of a migration announced the VM (sent by route-announcer). */
export class CompleteMigration {
  static readonly command = 'CompleteMigration';
  @IsUUID() vmId: string;
  @IsUUID() nodeId: string;
}
export class AddNetwork {
  static readonly command = 'AddNetwork';
  @IsOptional() @IsUUID() networkId?: string;
  @IsUUID() clusterId: string;
  @IsCidrBlock() cidr: string;
  @IsOptional() @IsArray() @ArrayMaxSize(64) @ValidateNested({ each: true }) @Type(() => PoolInput) pools?: PoolInput[];
}
export class AddPool {
  static readonly command = 'AddPool';
  @IsUUID() clusterId: string;
  @IsUUID() networkId: string;
  @IsIpAddress() start: string;
  @IsIpAddress() end: string;
}

export const INVENTORY_COMMANDS = { CreateCluster, AddRouteReflector, RemoveRouteReflector, JoinNode, DrainNode, RemoveNode, CreateVm, DeleteVm, MigrateVm, CompleteMigration } as const;
export const IPAM_COMMANDS = { AddNetwork, AddPool } as const;
export type InventoryCommandName = keyof typeof INVENTORY_COMMANDS;
export type IpamCommandName = keyof typeof IPAM_COMMANDS;

/** Envelope of a request to a write service. `commandId` doubles as the idempotency key (Nats-Msg-Id). */
export interface CommandRequest<T = unknown> {
  commandId: string;
  actor?: string;
  payload: T;
}
export type CommandReply<R = Record<string, unknown>> =
  | { ok: true; result: R; position: number }
  | { ok: false; error: ErrorBody };
