/**
 * Cross-aggregate facts the inventory deciders need (is the name taken, which node, how many VMs on it),
 * folded from cluster/node/vm events. Entries remember the sequence that last changed them, so applying
 * our own freshly written events first and the (older) tail later never goes backwards.
 */
import { restoreCollections, saveCollections, type StoredEventPick } from '@fabric/contracts';
import { canonical, isValidIp, parseIp } from '@fabric/ipam-math';
import type { NodeStatus } from '../domain/node.decider';

interface ClusterFacts {
  id: string;
  name: string;
  rrIps: string[];
  rrNames: string[];
  gatewayIp: string;
  coreRouterIp: string;
  seq: number;
}
interface NodeFactsRow {
  id: string;
  clusterId: string;
  name: string;
  underlayIp: string;
  underlayIp6?: string;
  status: NodeStatus;
  seq: number;
  /** Sequence of the NodeEvacuationStarted of an evacuation in progress. */
  evacuation?: number;
}
interface VmFacts {
  id: string;
  clusterId: string;
  nodeId: string;
  previousNodeId?: string;
  name: string;
  deleted: boolean;
  seq: number;
  /** Addresses (IPAM events): the primary, the extra addresses held, the extra address requests not answered yet. */
  primaryIp?: string;
  extraIps?: string[];
  pendingAddresses?: string[];
}

const lc = (s: string) => s.toLowerCase();
/** One spelling per address (2001:DB8::1 = 2001:db8:0::1); unparsable input compares as itself. */
const canon = (ip: string) => (isValidIp(ip) ? canonical(ip) : ip);

export class InventoryIndex {
  readonly clusters = new Map<string, ClusterFacts>();
  readonly nodes = new Map<string, NodeFactsRow>();
  readonly vms = new Map<string, VmFacts>();
  /** Address pools per cluster (VM addresses): no node or route reflector may sit inside one. */
  private readonly pools = new Map<string, { start: string; end: string; family: 4 | 6; first: bigint; last: bigint }[]>();
  /** `<clusterId>/<lower-case name>` → vm id, live VMs only (creating 10k VMs must not scan them all). */
  private readonly vmNames = new Map<string, string>();
  /** Live VMs per node: placed there, migrating to it or still migrating away from it. */
  private readonly byNode = new Map<string, Set<string>>();
  position = 0;
  /** Called with the node whose evacuation may have progressed (after the change is in the index). */
  onEvacuationChange?: (nodeId: string) => void;

  /** Version of the snapshot shape and of the fold's meaning: bump on any change to either. */
  static readonly SNAPSHOT_SCHEMA = 3;
  private static readonly SNAPSHOT_FIELDS = ['clusters', 'nodes', 'vms', 'pools', 'vmNames', 'byNode'];

  /**
   * The index for a snapshot (by reference: serialise it before applying more). It may already hold our own
   * writes past the tail's position: applying an event twice changes nothing (entries remember their sequence).
   */
  snapshot(): Record<string, unknown> {
    const saved = saveCollections(this, InventoryIndex.SNAPSHOT_FIELDS);
    // Names claimed by a command still in flight are not facts yet: only the names of live VMs are saved.
    const claimed = new Map([...this.vmNames].filter(([, id]) => this.vms.get(id)?.deleted === false));
    return { ...saved, vmNames: claimed, position: this.position };
  }

  /** Replaces the index with a snapshot's; throws, changing nothing, on data it does not recognise. */
  restore(data: unknown): void {
    restoreCollections(this, InventoryIndex.SNAPSHOT_FIELDS, data);
    const position = (data as { position?: unknown }).position;
    this.position = typeof position === 'number' ? position : 0;
    // Structured deserialisation gives every string its own copy: share the ids again, as the fold does.
    for (const [id, v] of this.vms) {
      v.id = id;
      v.clusterId = this.clusterKey(v.clusterId);
      v.nodeId = this.nodeKey(v.nodeId);
      if (v.previousNodeId) v.previousNodeId = this.nodeKey(v.previousNodeId);
    }
    for (const [nodeId, set] of this.byNode) this.byNode.set(nodeId, new Set([...set].map((id) => this.vms.get(id)?.id ?? id)));
    for (const [key, id] of this.vmNames) this.vmNames.set(key, this.vms.get(id)?.id ?? id);
  }

  // `self`: the id the command would create; finding itself is a retried command, not a conflict.
  clusterNameTaken(name: string, self?: string): boolean {
    return [...this.clusters.values()].some((c) => c.id !== self && lc(c.name) === lc(name));
  }
  nodeNameTaken(clusterId: string, name: string, self?: string): boolean {
    return [...this.nodes.values()].some((n) => n.id !== self && n.clusterId === clusterId && n.status !== 'left' && lc(n.name) === lc(name));
  }
  underlayTaken(clusterId: string, ip: string, self?: string): boolean {
    const c = canon(ip);
    return [...this.nodes.values()].some(
      (n) =>
        n.id !== self && n.clusterId === clusterId && n.status !== 'left' && (canon(n.underlayIp) === c || (!!n.underlayIp6 && canon(n.underlayIp6) === c)),
    );
  }
  /** The pool (`start-end`) of the cluster that contains `ip`, if any. */
  poolContaining(clusterId: string, ip: string | undefined): string | undefined {
    if (!ip || !isValidIp(ip)) return undefined;
    const a = parseIp(ip);
    const p = this.pools.get(clusterId)?.find((x) => x.family === a.family && a.value >= x.first && a.value <= x.last);
    return p && `${p.start}-${p.end}`;
  }
  /** The families the cluster has VM address pools of (a dual-stack VM needs both). */
  poolFamilies(clusterId: string): (4 | 6)[] {
    const list = this.pools.get(clusterId) ?? [];
    return ([4, 6] as const).filter((f) => list.some((p) => p.family === f));
  }
  vmNameTaken(clusterId: string, name: string): boolean {
    return this.vmNames.has(`${clusterId}/${lc(name)}`);
  }
  /** Claims a VM name synchronously (before the append's round trip); false when taken. */
  reserveVmName(clusterId: string, name: string, vmId: string): boolean {
    const key = `${clusterId}/${lc(name)}`;
    const holder = this.vmNames.get(key);
    if (holder && holder !== vmId) return false;
    this.vmNames.set(key, vmId);
    return true;
  }
  releaseVmName(clusterId: string, name: string, vmId: string): void {
    const key = `${clusterId}/${lc(name)}`;
    if (this.vmNames.get(key) === vmId && !this.vms.has(vmId)) this.vmNames.delete(key);
  }

  /** What the VM deciders need about a VM's addresses (set semantics: applying an event twice changes nothing). */
  addressesOf(vmId: string): { primaryIp?: string; extraIps: string[]; pending: number } {
    const v = this.vms.get(vmId);
    return { ...(v?.primaryIp ? { primaryIp: v.primaryIp } : {}), extraIps: [...(v?.extraIps ?? [])], pending: v?.pendingAddresses?.length ?? 0 };
  }

  vmCountOnNode(nodeId: string): number {
    return this.byNode.get(nodeId)?.size ?? 0;
  }
  /** The live VMs on a node (see byNode). */
  vmsOnNode(nodeId: string): VmFacts[] {
    return [...(this.byNode.get(nodeId) ?? [])].map((id) => this.vms.get(id)!).filter(Boolean);
  }
  /** Active nodes of a cluster, with their VM counts. */
  activeNodes(clusterId: string): { nodeId: string; name: string; vmCount: number }[] {
    return [...this.nodes.values()]
      .filter((n) => n.clusterId === clusterId && n.status === 'active')
      .map((n) => ({ nodeId: n.id, name: n.name, vmCount: this.vmCountOnNode(n.id) }));
  }
  evacuatingNodes(): NodeFactsRow[] {
    return [...this.nodes.values()].filter((n) => n.evacuation !== undefined);
  }

  /** The id string the index already holds for a cluster / node: each event parses its own copy, ~110 bytes per VM. */
  private clusterKey(id: string): string {
    return this.clusters.get(id)?.id ?? id;
  }
  private nodeKey(id: string): string {
    return this.nodes.get(id)?.id ?? id;
  }

  private place(nodeId: string | undefined, vmId: string, on: boolean): void {
    if (!nodeId) return;
    const set = this.byNode.get(nodeId) ?? new Set<string>();
    if (on) set.add(vmId);
    else set.delete(vmId);
    if (set.size) this.byNode.set(nodeId, set);
    else this.byNode.delete(nodeId);
    if (!on && this.nodes.get(nodeId)?.evacuation !== undefined) this.onEvacuationChange?.(nodeId);
  }

  /** `fromTail`: the event comes from the tail of the stream (in order), not from our own append ahead of it. */
  apply(e: StoredEventPick<'seq' | 'index'>, fromTail = false): void {
    this.position = Math.max(this.position, e.seq);
    // The events of one decision share their message's sequence: order them by their index within it.
    const at = e.seq + (e.index ?? 0) / 1_000_000;
    switch (e.type) {
      case 'ClusterCreated': {
        const d = e.data;
        if (!this.clusters.has(d.clusterId))
          this.clusters.set(d.clusterId, {
            id: d.clusterId,
            name: d.name,
            rrIps: [],
            rrNames: [],
            gatewayIp: d.gateway.ip,
            coreRouterIp: d.coreRouter.ip,
            seq: at,
          });
        return;
      }
      case 'RouteReflectorAdded': {
        const d = e.data;
        const c = this.clusters.get(d.clusterId);
        if (c && at > c.seq && !c.rrNames.includes(d.name)) Object.assign(c, { rrIps: [...c.rrIps, d.ip], rrNames: [...c.rrNames, d.name], seq: at });
        return;
      }
      case 'RouteReflectorRemoved': {
        const d = e.data;
        const c = this.clusters.get(d.clusterId);
        const i = c ? c.rrNames.indexOf(d.name) : -1;
        if (c && at > c.seq && i >= 0) Object.assign(c, { rrIps: c.rrIps.filter((_, j) => j !== i), rrNames: c.rrNames.filter((_, j) => j !== i), seq: at });
        return;
      }
      case 'PoolAdded': {
        const d = e.data;
        if (!isValidIp(d.start) || !isValidIp(d.end)) return;
        const s = parseIp(d.start);
        const list = this.pools.get(d.clusterId) ?? [];
        if (!list.some((p) => p.start === d.start && p.end === d.end))
          list.push({ start: d.start, end: d.end, family: s.family, first: s.value, last: parseIp(d.end).value });
        this.pools.set(d.clusterId, list);
        return;
      }
      case 'NodeJoined': {
        const d = e.data;
        if (!this.nodes.has(d.nodeId))
          this.nodes.set(d.nodeId, {
            id: d.nodeId,
            clusterId: d.clusterId,
            name: d.name,
            underlayIp: d.underlayIp,
            ...(d.underlayIp6 ? { underlayIp6: d.underlayIp6 } : {}),
            status: 'active',
            seq: at,
          });
        return;
      }
      case 'NodeDrained':
      case 'NodeLeft': {
        const n = this.nodes.get(e.data.nodeId);
        if (n && at > n.seq)
          Object.assign(n, { status: e.type === 'NodeDrained' ? 'drained' : 'left', seq: at, ...(e.type === 'NodeLeft' ? { evacuation: undefined } : {}) });
        return;
      }
      case 'NodeEvacuationStarted': {
        const n = this.nodes.get(e.data.nodeId);
        if (n && at > n.seq) Object.assign(n, { status: 'drained', evacuation: e.seq, seq: at });
        if (n) this.onEvacuationChange?.(n.id);
        return;
      }
      case 'NodeEvacuated':
      case 'NodeUndrained': {
        const n = this.nodes.get(e.data.nodeId);
        if (n && at > n.seq) Object.assign(n, { evacuation: undefined, seq: at, ...(e.type === 'NodeUndrained' ? { status: 'active' } : {}) });
        // A node back in service may take VMs of another evacuation that had nowhere to go.
        if (n && e.type === 'NodeUndrained')
          for (const other of this.evacuatingNodes()) if (other.clusterId === n.clusterId) this.onEvacuationChange?.(other.id);
        return;
      }
      case 'VmCreated': {
        const d = e.data;
        if (this.vms.has(d.vmId)) return;
        this.vms.set(d.vmId, { id: d.vmId, clusterId: this.clusterKey(d.clusterId), nodeId: this.nodeKey(d.nodeId), name: d.name, deleted: false, seq: at });
        this.place(d.nodeId, d.vmId, true);
        this.vmNames.set(`${d.clusterId}/${lc(d.name)}`, d.vmId);
        return;
      }
      case 'VmDeleted': {
        const v = this.vms.get(e.data.vmId);
        if (!v) return;
        if (at > v.seq) {
          Object.assign(v, { deleted: true, seq: at });
          this.place(v.nodeId, v.id, false);
          this.place(v.previousNodeId, v.id, false);
          const key = `${v.clusterId}/${lc(v.name)}`;
          if (this.vmNames.get(key) === v.id) this.vmNames.delete(key);
        }
        // The tail delivers a VM's events in order: once it has its VmDeleted, no older event of the VM can come
        // back, so the entry goes (the index would otherwise grow with every VM ever deleted). Commands on a
        // deleted VM load its aggregate instead. Our own write of it keeps the entry until the tail gets there.
        if (fromTail) this.vms.delete(v.id);
        return;
      }
      case 'VmMigrationRequested': {
        const d = e.data;
        const v = this.vms.get(d.vmId);
        if (v && at > v.seq) {
          Object.assign(v, { nodeId: this.nodeKey(d.toNodeId), previousNodeId: this.nodeKey(d.fromNodeId), seq: at });
          if (!v.deleted) this.place(d.toNodeId, v.id, true);
        }
        return;
      }
      case 'IpAllocated': {
        const v = this.vms.get(e.data.vmId);
        if (v) v.primaryIp = canon(e.data.ip);
        return;
      }
      case 'VmAddressRequested': {
        const v = this.vms.get(e.data.vmId);
        if (v && !v.deleted && !(v.pendingAddresses ?? []).includes(e.data.requestId)) v.pendingAddresses = [...(v.pendingAddresses ?? []), e.data.requestId];
        return;
      }
      case 'VmAddressAllocated':
      case 'VmAddressAllocationFailed': {
        const v = this.vms.get(e.data.vmId);
        if (!v) return;
        const rest = (v.pendingAddresses ?? []).filter((r) => r !== e.data.requestId);
        if (rest.length) v.pendingAddresses = rest;
        else delete v.pendingAddresses;
        if (e.type === 'VmAddressAllocated' && !v.deleted) {
          const ip = canon(e.data.ip);
          if (!(v.extraIps ?? []).includes(ip)) v.extraIps = [...(v.extraIps ?? []), ip];
        }
        return;
      }
      case 'VmAddressRemoved': {
        const v = this.vms.get(e.data.vmId);
        if (!v) return;
        const ip = canon(e.data.ip);
        const rest = (v.extraIps ?? []).filter((x) => x !== ip);
        if (rest.length) v.extraIps = rest;
        else delete v.extraIps;
        return;
      }
      case 'VmMigrationCompleted': {
        const v = this.vms.get(e.data.vmId);
        if (v && at > v.seq) {
          const from = v.previousNodeId;
          Object.assign(v, { previousNodeId: undefined, seq: at });
          if (from !== v.nodeId) this.place(from, v.id, false);
        }
        return;
      }
    }
  }
}
