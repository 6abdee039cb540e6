/**
 * The HTTP API's response bodies as its clients read them (the gateway's read model; its OpenAPI document at
 * /api/docs-json describes the same shapes). Types only, no imports: fabricctl ships without the services' code
 * and the dashboard compiles it with its own browser settings (tag `scope:ui-safe`).
 */

export type VmStatus = 'requested' | 'ip-allocated' | 'applied' | 'announced' | 'at-core' | 'failed' | 'migrating' | 'deleted';

export interface Cluster {
  id: string;
  name: string;
  fabricAsn: number;
  coreAsn: number;
  community: string;
  gateway: { ip: string; mac: string };
  routeReflectors: { name: string; ip: string }[];
  coreRouter: { name: string; ip: string; vendor: 'junos' | 'frr' };
  rrClusterId: string;
  bgp: {
    gracefulRestart: boolean;
    bfd: boolean;
    md5: boolean;
    md5OptOut?: string;
    prefixLimitAction: string;
    coreCommunity: string;
    holdTime?: number;
    keepaliveTime?: number;
    gracefulRestartTime?: number;
    bfdMinRxMs?: number;
    bfdMinTxMs?: number;
    bfdMultiplier?: number;
    /** The core's BMP station (absent: none). */
    bmpStation?: { address: string; port: number };
  };
  /** direct: lab/test stand, every node peers the core (no route reflectors). */
  topology: 'route-reflectors' | 'direct';
  /** Present for a direct cluster: show it loudly. */
  warning?: string;
  createdAt: string;
}

export interface Pool {
  id: string;
  start: string;
  end: string;
  /** Decimal string: IPv6 pools do not fit a number. */
  size: string;
  used: number;
}
export interface Network {
  id: string;
  clusterId: string;
  cidr: string;
  family: 4 | 6;
  createdAt: string;
  pools: Pool[];
}

export interface Node {
  id: string;
  clusterId: string;
  name: string;
  underlayIp: string;
  underlayIp6?: string;
  status: 'active' | 'drained' | 'evacuating' | 'left';
  joinedAt: string;
}
export interface BgpSession {
  protocol: string;
  peerIp: string | null;
  state: string;
  info: string | null;
  since: string | null;
}
/** A BFD session as one target reports it (state lower-case: up, down, init, admindown, unknown). */
export interface BfdSession {
  peerIp: string;
  interface: string | null;
  state: string;
  intervalMs: number | null;
  timeoutMs: number | null;
  info: string | null;
  since: string | null;
}
export interface NodeStatus extends Node {
  desiredGeneration: number;
  appliedGeneration: number;
  drift: boolean;
  renderError: string | null;
  lastApply: { at: string; changes: number | null; durationMs: number | null; hash: string | null } | null;
  lastError: string | null;
  bgpSessions: BgpSession[];
  bfdSessions: BfdSession[];
  vmCount: number;
  /** While evacuating: VMs still waiting on the node and VMs migrating away. */
  evacuation: { waiting: number; migrating: number } | null;
}

export interface Vm {
  id: string;
  clusterId: string;
  nodeId: string;
  previousNodeId?: string;
  name: string;
  ownerId: string;
  ip: string | null;
  family: 4 | 6;
  driver: 'tap' | 'veth' | 'netns';
  status: VmStatus;
  reason?: string;
  createdAt: string;
  updatedAt: string;
  /** RTBH in force on the address, null when none. */
  blackhole?: { reason: string; actor: string | null; since: string } | null;
  /** Every address of the VM, the primary first (absent from older gateways). */
  addresses?: VmAddress[];
}
export interface VmHistoryEntry {
  seq: number;
  status: VmStatus;
  event: string;
  at: string;
  detail?: string;
}
/** GET /vms/:id. */
/** One address of a VM (GET /vms/:id `addresses`): the primary first, then the extra ones. */
export interface VmAddress {
  ip: string | null;
  family: 4 | 6;
  primary: boolean;
  /** The primary: the VM's status; an extra address: requested → allocated → applied → announced → at-core, failed, releasing. */
  status: string;
  requestId?: string;
  reason?: string;
  releaseAt?: string | null;
}
export interface VmWithHistory extends Vm {
  history: VmHistoryEntry[];
  /** Every address of the VM (absent from older gateways). */
  addresses?: VmAddress[];
  /** Floating addresses attached to the VM, or leaving it during a move (absent from older gateways). */
  floatingAddresses?: FloatingAddress[];
}
/** GET /floating-addresses[/:id]: an address held by an owner, attached to at most one VM (two during a move). */
export interface FloatingAddress {
  id: string;
  clusterId: string;
  ownerId: string;
  ip: string;
  family: 4 | 6;
  status: 'allocated' | 'attached' | 'moving' | 'releasing';
  vmId: string | null;
  /** Moving: the VM it leaves once the new node's route is at the route reflectors. */
  fromVmId: string | null;
  route: 'at-core' | 'announced' | 'none';
  /** Next hops the core holds for it (two during a move). */
  coreNextHops: string[];
  allocatedAt: string;
  releaseAt: string | null;
}
/** 202 of POST /vms, DELETE /vms/:id, POST /vms/:id/migrate. */
export interface VmAccepted {
  id: string;
  status: VmStatus;
  nodeId?: string;
  links?: Record<string, string>;
  /** POST /vms: the addresses asked for (dual-stack: the primary and the other family's, an extra address). */
  addresses?: { family: 4 | 6; primary: boolean; status: string; ip?: string; requestId?: string }[];
}
/** POST /vms `addressing`: an address of each family, or one of the family (default: dual-stack when the cluster has pools of both). */
export type VmAddressing = 'dual-stack' | 'ipv4' | 'ipv6';

/** One router, RR or node agent's apply state. */
export interface Target {
  kind: 'router' | 'rr' | 'node';
  targetId: string;
  name: string;
  desiredGeneration: number;
  appliedGeneration: number;
  drift: boolean;
  appliedAt: string | null;
  lastChanges: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
  renderError?: string | null;
  routes: number;
}
export interface Endpoint {
  kind: 'router' | 'rr' | 'node';
  id: string;
  name: string;
}
export interface TopologySession {
  a: Endpoint;
  b: Endpoint;
  state: string;
  sides: (BgpSession & { kind: string; targetId: string })[];
  /** BFD between the two ends: state null when neither end runs BFD toward the other. */
  bfd?: { state: string | null; sides: (BfdSession & { kind: string; targetId: string })[] };
}
export interface Topology {
  clusterId: string;
  core: { id: string; name: string; ip: string; vendor: string; asn: number };
  routeReflectors: { id: string; name: string; ip: string; asn: number }[];
  nodes: Node[];
  sessions: TopologySession[];
}
export interface RouterConfigVersion {
  version: number;
  hash: string;
  formats: string[];
  createdAt: string;
  /** This version re-publishes that earlier one's configs (a rollback). */
  rollbackOf?: number;
}
/** POST /clusters/:id/router/rollback?dryRun=true */
export interface RouterRollbackPreview {
  clusterId: string;
  fromVersion: number;
  toVersion: number;
  dryRun: true;
  /** Unified diff per format (junos, frr), current version → toVersion, secrets redacted. */
  diffs: Record<string, string>;
}
/**
 * Any write with `?dryRun=true` (cluster create, MD5 password change, node join/drain/evacuate/undrain/remove, RR
 * add/remove, network/pool add, VM writes).
 */
export interface WriteDryRun {
  dryRun: true;
  /** The write's usual result (e.g. the id a new node or VM would get). */
  result: Record<string, unknown>;
  /** The events that would be appended. */
  events: { type: string; data: Record<string, unknown> }[];
  /**
   * Each node, RR and core whose config would change: its unified diff (secrets redacted), or null and why;
   * `secretChanged` when only a secret changes (the diff is empty).
   */
  targets: { kind: 'node' | 'rr' | 'router'; id: string; name: string; diff: string | null; diffError?: string; secretChanged?: true }[];
  /** What the dry run could not decide (the address IPAM would give a new VM). */
  notes?: string[];
}
/** `result.plan` of POST /nodes/:id/evacuate?dryRun=true (and drain with evacuate): where each VM would go now. */
export interface EvacuationPlanMove {
  vmId: string;
  vmName: string;
  clusterId: string;
  fromNodeId: string;
  toNodeId: string;
  toNodeName: string;
}
/** POST /clusters/:id/router/rollback (202) */
export interface RouterRollbackAccepted {
  clusterId: string;
  fromVersion: number | null;
  toVersion: number;
}
/** One event from GET /events (server-sent events). */
export interface FabricEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
  occurredAt: string;
  seq: number;
  subject: string;
  /** `observations`: an agent's route or session report; its seq is of the observations stream, not a position. */
  stream?: 'observations';
  meta?: Record<string, unknown>;
}

export interface Health {
  status: 'ok' | 'degraded';
  checks: {
    nats?: { ok: boolean; streamHead?: number; readModelPosition?: number; lag?: number; error?: string };
    postgres?: { ok: boolean; error?: string };
  };
}

/** GET /audit: one event a command caused. */
export interface AuditEntry {
  seq: number;
  index: number;
  at: string;
  actor: string;
  command: string | null;
  commandId: string;
  event: string;
  aggregate: string;
  aggregateId: string;
  clusterId: string | null;
  detail: Record<string, unknown>;
}
export interface AuditPage {
  items: AuditEntry[];
  next: string | null;
  readModelPosition: number;
}

export interface PrivateAttachment {
  networkId: string;
  vmId: string;
  ownerId: string;
  vni: number;
  ip: string;
  family: number;
  mac: string;
  status: 'attached' | 'releasing';
  attachedAt: string;
  releaseAt: string | null;
  /** Only on a VM's list. */
  name?: string | null;
  cidr?: string | null;
}
export interface PrivateNetwork {
  id: string;
  clusterId: string;
  ownerId: string;
  name: string;
  cidr: string;
  family: number;
  vni: number;
  createdAt: string;
  attachedVms: number;
  attachments: PrivateAttachment[];
}

/** GET /clusters/:id/router/status: the core's BMP station and where its BMP feed and its FRR agent's read disagree. */
export interface RouterStatus {
  clusterId: string;
  bmpStation: { address: string; port: number } | null;
  bmp: {
    /** Both sources compared: a BMP station set and the FRR core agent running. */
    compared: boolean;
    graceMs: number;
    /** Held by one source only for longer than graceMs. */
    disagreements: { prefix: string; heldBy: 'agent' | 'bmp'; since: string }[];
    pending: number;
    sampledAt: string | null;
  };
  /** Host routes (VM /32 and /128) the core holds now by each source: its FRR agent's read and its BMP feed. */
  routes: { agent: number; bmp: number };
}
