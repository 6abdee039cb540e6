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
  /**
   * Schema 1.2: the VM's extra addresses (either family; absent when none), each routed like `ip` (a /32 or /128
   * on the VM's interface, `proto <n>`, the same metric), announced and withdrawn with it.
   */
  extraIps?: string[];
  /** Make-before-break: set on the OLD node while a migration is in progress (announced less preferred). */
  leaving?: boolean;
}

/** A VM's interface in a private network, as the node must plug it into the network's bridge. */
export interface DesiredPrivateInterface {
  vmId: string;
  /** The VM's address in the network (the guest configures it; the node only uses it for ARP/ND suppression). */
  ip: string;
  /** Prefix length of the network (the guest's on-link route). */
  prefixLength: number;
  mac: string;
}
/**
 * A tenant private network (L2 EVPN, one VNI) a node must carry: present only on nodes with at least one
 * VM of it (both ends of a migration while it runs). In the node state as `privateNetworks` (schema 1.1);
 * the node agent builds `vx<vni>` (VXLAN) + `br<vni>` (bridge) and plugs each VM's `pn…` interface in.
 */
export interface DesiredPrivateNetwork {
  networkId: string;
  vni: number;
  cidr: string;
  family: 4 | 6;
  interfaces: DesiredPrivateInterface[];
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
  /** Schema 1.1: the private networks (VNIs) the node carries; absent or empty when none. */
  privateNetworks?: DesiredPrivateNetwork[];
  /**
   * Schema 1.1: FRR config (EVPN control plane, docs/adr/0015-evpn-frr-beside-bird.md), present while the node
   * carries a private network; absent = the node's FRR (if it runs one) is emptied.
   */
  evpn?: string;
}

export interface RrDesiredState extends DesiredBase {
  kind: 'rr';
  rrName: string;
  ip: string;
  bird: string;
  /**
   * Origin tag (decimal) → the node's BGP protocol in `bird`: after an RTR update the agent re-evaluates
   * (`birdc reload in`) only the sessions whose tags the update touched (docs/adr/rr-origin-validation.md).
   */
  rtrNodes?: Record<string, string>;
  /** Schema 1.1: FRR config of the RR's EVPN reflector (clients: the nodes carrying private networks); absent = none. */
  evpn?: string;
  /**
   * 'kv': `bird` is only the cluster-wide part; the node sessions are the values of the agent's cluster's keys
   * in the RR node-parts bucket (`<NS>_RR_NODES`, key `<clusterId>.<nodeId>`), which the agent includes
   * (docs/adr/rr-split-desired-state.md). Absent: `bird` is the whole config.
   */
  nodeParts?: 'kv';
}

/** The value under `<clusterId>.<nodeId>` in the RR node-parts bucket: one node's session on every RR of its cluster. */
export interface RrNodePartValue {
  /** BIRD protocol of the session (`node_<name>`): what the agent reloads after an RTR update for `originTag`. */
  protocol: string;
  originTag: number;
  /** `protocol bgp <protocol> from fabric_node_v4 { ... }` (no secret: the password is in the template). */
  bird: string;
}

export interface RouterDesiredState extends DesiredBase {
  kind: 'router';
  vendor: 'frr' | 'junos';
  /** Rendered config for the vendor (FRR frr.conf text / Junos set commands). */
  config: string;
}

export type DesiredState = NodeDesiredState | RrDesiredState | RouterDesiredState;

/** One placement (one ROA): the value under `<clusterId>.<address token>.<origin tag>` in the placements bucket. */
export interface Placement {
  prefix: string;
  maxLen: number;
  originTag: number;
}

/** KV key of one placement: dots separate tokens, so an address is written with `-` (IPv4) or as 32 hex digits (IPv6). */
export function placementKey(clusterId: string, ip: string, tag: number): string {
  const token = ip.includes(':') ? expand6(ip) : ip.replace(/\./g, '-');
  return `${clusterId}.${token}.${tag}`;
}

function expand6(ip: string): string {
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups
    .map((g) => g.padStart(4, '0'))
    .join('')
    .toLowerCase();
}

/** RR target ids combine cluster and RR name (an RR name is unique only within its cluster). */
export const rrTargetId = (clusterId: string, rrName: string) => `${clusterId}_${rrName}`;

/** Default kernel route protocol number of the fabric (see /etc/iproute2/rt_protos; 200 is unassigned). */
export const FABRIC_ROUTE_PROTOCOL = 200;

/**
 * Every desired-state message carries `<major>.<minor>` of its schema in this header. Minor changes are additive;
 * an agent refuses a major it does not know (ConfigApplyFailed, nothing applied) instead of guessing.
 */
export const DESIRED_SCHEMA_HEADER = 'Fabric-Desired-Schema';
export const DESIRED_SCHEMA_VERSION = '1.2';

/** Why a desired-state schema version must be refused, or undefined when it can be applied. No header = 1.0. */
export function unsupportedDesiredSchema(value: string | null | undefined, supported = DESIRED_SCHEMA_VERSION): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const m = /^(\d{1,4})\.(\d{1,4})$/.exec(value);
  if (!m) return `malformed desired-state schema version ${JSON.stringify(value.slice(0, 20))}`;
  const major = supported.split('.')[0];
  if (m[1] !== major) return `desired-state schema ${value} is not supported by this agent (it understands ${major}.x)`;
  return undefined;
}
