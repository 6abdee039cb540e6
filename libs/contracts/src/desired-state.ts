/**
 * Declarative config-apply commands: the WHOLE desired state of one target, on
 * `<ns>.cmd.<node|rr|router>.<targetId>` in the commands stream (last message per subject kept).
 * Agents apply it idempotently: same generation twice → no change; older generation → ignored.
 */
import type { VmDriver } from './events';

export interface DesiredBase {
  targetId: string;
  clusterId: string;
  /** Monotonic per target. */
  generation: number;
  /** contentHash of the payload without generation/hash/sourceSeq. */
  hash: string;
  /** Events-stream position this state reflects (for status: which VMs are included). */
  sourceSeq: number;
}

export interface DesiredVm {
  vmId: string;
  ifName: string;
  ip: string;
  family: 4 | 6;
  driver: VmDriver;
  /** Make-before-break: set on the OLD node while a migration is in progress (announced less preferred). */
  leaving?: boolean;
}

export interface NodeDesiredState extends DesiredBase {
  kind: 'node';
  nodeName: string;
  underlayIp: string;
  underlayIp6?: string;
  gateway: { ip: string; mac: string };
  /** Kernel route protocol number owned by the fabric (routes `proto <n>`). */
  protocolNumber: number;
  vms: DesiredVm[];
  /** Rendered BIRD config of the node. */
  bird: string;
}

export interface RrDesiredState extends DesiredBase {
  kind: 'rr';
  rrName: string;
  ip: string;
  bird: string;
}

export interface RouterDesiredState extends DesiredBase {
  kind: 'router';
  vendor: 'frr' | 'junos';
  /** Rendered config for the vendor (FRR frr.conf text / Junos set commands). */
  config: string;
}

export type DesiredState = NodeDesiredState | RrDesiredState | RouterDesiredState;

/** RR target ids combine cluster and RR name (an RR name is unique only within its cluster). */
export const rrTargetId = (clusterId: string, rrName: string) => `${clusterId}_${rrName}`;

/** Default kernel route protocol number of the fabric (see /etc/iproute2/rt_protos; 200 is unassigned). */
export const FABRIC_ROUTE_PROTOCOL = 200;
