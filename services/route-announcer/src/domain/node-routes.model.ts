/**
 * Pure model of route-announcer: folds events into the desired state of every hypervisor node
 * (its VMs' /32 /128 routes and its BIRD config). No I/O; the app feeds it and publishes.
 */
import {
  type DesiredVm,
  type FabricEvent,
  type NodeDesiredState,
  type VmDriver,
  canonicalIp,
  vmInterfaceName,
  type PrefixLimitAction,
  restoreCollections,
  saveCollections,
} from '@fabric/contracts';
import { type BgpOptions, bgpOptionsOf, withPreviewBgp, renderNodeBird, renderNodeEvpn } from '@fabric/renderers';
import { PrivateNetworksModel } from './private-networks.model';

export type NodePayload = Omit<NodeDesiredState, 'generation' | 'hash' | 'sourceSeq'>;

export interface NodeRoutesSettings {
  /** Kernel route protocol number owned by the fabric (FABRIC_ROUTE_PROTOCOL). */
  protocolNumber: number;
}

/** A migration whose target node is seen announcing the VM on a route reflector. */
export interface MigrationReady {
  vmId: string;
  clusterId: string;
  toNodeId: string;
  /** Stream sequence of the VmMigrationRequested (distinguishes repeated migrations to the same node). */
  requestSeq: number;
}

/** A floating address moving to a VM whose node is seen announcing it (make-before-break: the old VM may let go). */
export interface FloatingMoveReady {
  clusterId: string;
  floatingId: string;
  vmId: string;
  /** Stream sequence of the FloatingAddressAttached (distinguishes repeated moves). */
  attachSeq: number;
}

interface FloatingMove extends FloatingMoveReady {
  ip: string;
  fromVmId: string;
}

interface Cluster {
  clusterId: string;
  fabricAsn: number;
  community: string;
  blackholeCommunity?: string;
  gateway: { ip: string; mac: string };
  bgp: BgpOptions;
  /** By lower-case name (RR names are unique case-insensitively). */
  rrs: Map<string, { name: string; ip: string }>;
  /** Direct topology (lab only): nodes peer this core router instead of RRs. */
  core?: { name: string; ip: string; asn: number };
}

interface Node {
  nodeId: string;
  clusterId: string;
  name: string;
  underlayIp: string;
  underlayIp6?: string;
  left: boolean;
  /** Frozen at NodeLeft: the final state (no VMs) is never re-rendered, so a left node gets no more commands. */
  final?: NodePayload | null;
}

interface Vm {
  vmId: string;
  clusterId: string;
  nodeId: string;
  driver: VmDriver;
  /** Source node of a migration in progress (make-before-break: announced there too, as leaving). */
  leavingNodeId?: string;
  requestSeq?: number;
}

export class NodeRoutesModel {
  private readonly clusters = new Map<string, Cluster>();
  private readonly nodes = new Map<string, Node>();
  private readonly vms = new Map<string, Vm>();
  /** IpAllocated may be folded before or after VmCreated; joined when rendering. */
  private readonly ips = new Map<string, string>();
  /** Extra addresses per VM (VmAddressAllocated until VmAddressRemoved / VmDeleted), canonical, sorted. */
  private readonly extras = new Map<string, string[]>();
  private readonly vmsByNode = new Map<string, Set<string>>();
  private readonly nodesByCluster = new Map<string, Set<string>>();
  private readonly migrating = new Set<string>();
  private readonly ready = new Map<string, MigrationReady>();
  /** Floating addresses moving (FloatingAddressAttached with fromVmId until MoveCompleted / Detached), and those ready. */
  private readonly floatingMoves = new Map<string, FloatingMove>();
  private readonly floatingReady = new Map<string, FloatingMoveReady>();
  /** Per RR target: `prefix|nextHop` it holds (from RoutesChanged deltas), and a resync's confirmed set. */
  private readonly seen = new Map<string, Set<string>>();
  private readonly resyncing = new Map<string, Set<string>>();
  /** RTBH in force (VmBlackholed until VmBlackholeLifted / VmDeleted). */
  private readonly blackholed = new Set<string>();
  /** Tenant private networks per node (VNIs, VM interfaces): `privateNetworks` + `evpn` of the node state. */
  private readonly privateNets = new PrivateNetworksModel((id) => this.nodeKey(id));

  constructor(private readonly settings: NodeRoutesSettings) {}

  /** Version of the snapshot shape and of the fold's meaning: bump on any change to either. */
  static readonly SNAPSHOT_SCHEMA = 5;
  private static readonly SNAPSHOT_FIELDS = [
    'clusters',
    'nodes',
    'vms',
    'ips',
    'extras',
    'vmsByNode',
    'nodesByCluster',
    'migrating',
    'ready',
    'floatingMoves',
    'floatingReady',
    'seen',
    'resyncing',
    'blackholed',
  ];

  /** The model's state for a snapshot (by reference: serialise it before folding further). */
  snapshot(): Record<string, unknown> {
    return { ...saveCollections(this, NodeRoutesModel.SNAPSHOT_FIELDS), privateNets: this.privateNets.snapshot() };
  }

  /** Replaces the state with a snapshot's (the model is as if it had folded the events the snapshot covers). */
  restore(data: unknown): void {
    // Check both parts before changing either (restoring into throwaway models): a refused snapshot leaves the model as it was.
    restoreCollections(new NodeRoutesModel(this.settings), NodeRoutesModel.SNAPSHOT_FIELDS, data);
    new PrivateNetworksModel().restore((data as { privateNets?: unknown }).privateNets);
    restoreCollections(this, NodeRoutesModel.SNAPSHOT_FIELDS, data);
    this.privateNets.restore((data as { privateNets: unknown }).privateNets);
    // Structured deserialisation gives every string its own copy: share the ids again, as the fold does.
    for (const [vmId, v] of this.vms) {
      Object.assign(v, { vmId, clusterId: this.clusters.get(v.clusterId)?.clusterId ?? v.clusterId, nodeId: this.nodeKey(v.nodeId), driver: shared(v.driver) });
      if (v.leavingNodeId) v.leavingNodeId = this.nodeKey(v.leavingNodeId);
    }
  }

  /** The node id string the model already holds: each event parses its own copy (~55 bytes per VM at 100,000). */
  private nodeKey(id: string): string {
    return this.nodes.get(id)?.nodeId ?? id;
  }

  /** Folds one event; returns the node ids whose desired state may have changed. */
  apply(event: FabricEvent, seq = 0): string[] {
    const privateDirty = this.privateNets.apply(event);
    const dirty = this.applyRoutes(event, seq);
    if (!privateDirty.length) return dirty;
    return [...new Set([...dirty, ...privateDirty])].filter((id) => this.nodes.has(id));
  }

  private applyRoutes(event: FabricEvent, seq: number): string[] {
    switch (event.type) {
      case 'ClusterCreated': {
        const d = event.data;
        const prev = this.clusters.get(d.clusterId);
        this.clusters.set(d.clusterId, {
          clusterId: d.clusterId,
          fabricAsn: d.fabricAsn,
          community: d.community,
          ...(d.blackholeCommunity ? { blackholeCommunity: d.blackholeCommunity } : {}),
          gateway: { ip: d.gateway.ip, mac: d.gateway.mac },
          bgp: bgpOptionsOf(d.bgp),
          rrs: prev?.rrs ?? new Map(),
          ...(d.topology === 'direct' ? { core: { name: d.coreRouter.name, ip: canonicalIp(d.coreRouter.ip), asn: d.coreAsn } } : {}),
        });
        return this.liveNodesOf(d.clusterId);
      }
      case 'RouteReflectorAdded': {
        const c = this.clusters.get(event.data.clusterId);
        if (!c) return [];
        c.rrs.set(event.data.name.toLowerCase(), { name: event.data.name, ip: event.data.ip });
        return this.liveNodesOf(c.clusterId);
      }
      case 'BgpPasswordChanged': {
        const c = this.clusters.get(event.data.clusterId);
        if (!c) return [];
        c.bgp = { ...c.bgp, md5Password: event.data.md5Password };
        return this.liveNodesOf(c.clusterId);
      }
      case 'ClusterBgpSettingsChanged': {
        const c = this.clusters.get(event.data.clusterId);
        if (!c) return [];
        c.community = event.data.community;
        c.bgp = { ...bgpOptionsOf(event.data.bgp), ...(c.bgp.md5Password !== undefined ? { md5Password: c.bgp.md5Password } : {}) };
        return this.liveNodesOf(c.clusterId);
      }
      case 'RouteReflectorRemoved': {
        const c = this.clusters.get(event.data.clusterId);
        if (!c || !c.rrs.delete(event.data.name.toLowerCase())) return [];
        return this.liveNodesOf(c.clusterId);
      }
      case 'NodeJoined': {
        const d = event.data;
        this.nodes.set(d.nodeId, {
          nodeId: d.nodeId,
          clusterId: d.clusterId,
          name: d.name,
          underlayIp: canonicalIp(d.underlayIp),
          ...(d.underlayIp6 ? { underlayIp6: canonicalIp(d.underlayIp6) } : {}),
          left: false,
        });
        setOf(this.nodesByCluster, d.clusterId).add(d.nodeId);
        return [d.nodeId];
      }
      case 'NodeDrained':
        // A drained node keeps its VMs until they are moved or deleted: nothing changes in its state.
        return [];
      case 'NodeLeft': {
        const n = this.nodes.get(event.data.nodeId);
        if (!n || n.left) return [];
        n.left = true;
        n.final = this.tryBuild(n, []);
        return [n.nodeId];
      }
      case 'VmCreated': {
        const d = event.data;
        const nodeId = this.nodeKey(d.nodeId);
        this.vms.set(d.vmId, {
          vmId: d.vmId,
          clusterId: this.clusters.get(d.clusterId)?.clusterId ?? d.clusterId,
          nodeId,
          driver: shared(d.driver),
        });
        setOf(this.vmsByNode, nodeId).add(d.vmId);
        return this.ips.has(d.vmId) ? [d.nodeId] : [];
      }
      case 'IpAllocated': {
        this.ips.set(this.vms.get(event.data.vmId)?.vmId ?? event.data.vmId, canonicalIp(event.data.ip));
        return this.placementsOf(event.data.vmId);
      }
      case 'IpReleased':
        this.ips.delete(event.data.vmId);
        return this.placementsOf(event.data.vmId);
      case 'VmAddressAllocated': {
        const { vmId } = event.data;
        const ip = canonicalIp(event.data.ip);
        const cur = this.extras.get(vmId) ?? [];
        if (cur.includes(ip) || !this.vms.has(vmId)) return []; // a redelivery, or the VM is deleted already
        this.extras.set(vmId, [...cur, ip].sort());
        return this.ips.has(vmId) ? this.placementsOf(vmId) : [];
      }
      case 'VmAddressRemoved':
      case 'VmAddressReleased': {
        // Withdrawn at the removal; IPAM holds the address during its cool-down, no route points at it.
        const { vmId } = event.data;
        const ip = canonicalIp(event.data.ip);
        const cur = this.extras.get(vmId);
        if (!cur?.includes(ip)) return [];
        const rest = cur.filter((x) => x !== ip);
        if (rest.length) this.extras.set(vmId, rest);
        else this.extras.delete(vmId);
        return this.ips.has(vmId) ? this.placementsOf(vmId) : [];
      }
      // A floating address is routed like an extra address of the VM(s) holding it: both during a move.
      case 'FloatingAddressAttached': {
        const d = event.data;
        const ip = canonicalIp(d.ip);
        const dirty = this.addExtra(d.vmId, ip);
        if (d.fromVmId) {
          this.floatingMoves.set(d.floatingId, { clusterId: d.clusterId, floatingId: d.floatingId, vmId: d.vmId, attachSeq: seq, ip, fromVmId: d.fromVmId });
          this.floatingReady.delete(d.floatingId);
          this.checkFloatingMoves();
        }
        return dirty;
      }
      case 'FloatingAddressMoveCompleted': {
        const d = event.data;
        this.floatingMoves.delete(d.floatingId);
        this.floatingReady.delete(d.floatingId);
        return this.removeExtra(d.fromVmId, canonicalIp(d.ip));
      }
      case 'FloatingAddressDetached': {
        const d = event.data;
        this.floatingMoves.delete(d.floatingId);
        this.floatingReady.delete(d.floatingId);
        const ip = canonicalIp(d.ip);
        return [...new Set([...this.removeExtra(d.vmId, ip), ...(d.fromVmId ? this.removeExtra(d.fromVmId, ip) : [])])];
      }
      case 'VmDeleted': {
        // Withdrawn at once; IPAM keeps the address during its cool-down, but no route may point at it.
        const dirty = this.placementsOf(event.data.vmId);
        const vm = this.vms.get(event.data.vmId);
        if (vm) {
          this.vmsByNode.get(vm.nodeId)?.delete(vm.vmId);
          if (vm.leavingNodeId) this.vmsByNode.get(vm.leavingNodeId)?.delete(vm.vmId);
        }
        this.vms.delete(event.data.vmId);
        this.extras.delete(event.data.vmId);
        this.blackholed.delete(event.data.vmId);
        this.migrating.delete(event.data.vmId);
        this.ready.delete(event.data.vmId);
        return dirty;
      }
      case 'VmBlackholed':
      case 'VmBlackholeLifted': {
        const on = event.type === 'VmBlackholed';
        if (on === this.blackholed.has(event.data.vmId)) return [];
        if (on) this.blackholed.add(event.data.vmId);
        else this.blackholed.delete(event.data.vmId);
        return this.ips.has(event.data.vmId) ? this.placementsOf(event.data.vmId) : [];
      }
      case 'VmMigrationRequested': {
        const d = event.data;
        const vm = this.vms.get(d.vmId);
        if (!vm) return [];
        vm.leavingNodeId = this.nodeKey(d.fromNodeId);
        vm.nodeId = this.nodeKey(d.toNodeId);
        vm.requestSeq = seq;
        setOf(this.vmsByNode, vm.nodeId).add(vm.vmId);
        this.migrating.add(vm.vmId);
        this.ready.delete(vm.vmId);
        return this.ips.has(vm.vmId) ? [d.fromNodeId, d.toNodeId] : [];
      }
      case 'VmMigrationCompleted': {
        const d = event.data;
        const vm = this.vms.get(d.vmId);
        if (!vm || !vm.leavingNodeId) return [];
        const from = vm.leavingNodeId;
        if (from !== vm.nodeId) this.vmsByNode.get(from)?.delete(vm.vmId);
        delete vm.leavingNodeId;
        delete vm.requestSeq;
        this.migrating.delete(vm.vmId);
        this.ready.delete(vm.vmId);
        return this.ips.has(vm.vmId) ? [from, vm.nodeId] : [];
      }
      case 'RoutesObserved':
        // Legacy full set: a resync in one piece.
        if (this.observed(event.data.target)) this.observe(event.data.target.id, event.data.routes, [], 'full');
        return [];
      case 'RoutesChanged':
        if (this.observed(event.data.target)) this.observe(event.data.target.id, event.data.added, event.data.withdrawn, event.data.resync);
        return [];
      default:
        return [];
    }
  }

  /** Where a migration's new route shows: an RR, or in a direct cluster the core itself (its target id is the cluster id). */
  private observed(target: { kind: string; id: string }): boolean {
    return target.kind === 'rr' || (target.kind === 'router' && this.clusters.get(target.id)?.core !== undefined);
  }

  /** Every node ever seen (the app publishes all of them once at start; unchanged content is skipped). */
  nodeIds(): string[] {
    return [...this.nodes.keys()];
  }

  /**
   * Desired state of a node without generation/hash/sourceSeq; undefined when the node or its cluster is
   * unknown. Throws when the BIRD config cannot be rendered (e.g. no RR, IPv6 RR without underlayIp6).
   */
  desired(nodeId: string): NodePayload | undefined {
    const n = this.nodes.get(nodeId);
    if (!n) return undefined;
    if (n.left) return n.final ?? undefined;
    return this.build(n, this.vmsOf(n));
  }

  /** Floating address moves whose new VM's node is announcing (seen on an RR with that node's next hop). */
  readyFloatingMoves(): FloatingMoveReady[] {
    return [...this.floatingReady.values()];
  }

  private addExtra(vmId: string, ip: string): string[] {
    const cur = this.extras.get(vmId) ?? [];
    if (cur.includes(ip) || !this.vms.has(vmId)) return [];
    this.extras.set(vmId, [...cur, ip].sort());
    return this.ips.has(vmId) ? this.placementsOf(vmId) : [];
  }

  private removeExtra(vmId: string, ip: string): string[] {
    const cur = this.extras.get(vmId);
    if (!cur?.includes(ip)) return [];
    const rest = cur.filter((x) => x !== ip);
    if (rest.length) this.extras.set(vmId, rest);
    else this.extras.delete(vmId);
    return this.ips.has(vmId) ? this.placementsOf(vmId) : [];
  }

  private checkFloatingMoves(): void {
    for (const m of this.floatingMoves.values()) {
      if (this.floatingReady.has(m.floatingId)) continue;
      const vm = this.vms.get(m.vmId);
      const to = vm && this.nodes.get(vm.nodeId);
      if (!to) continue;
      const family = familyOfIp(m.ip);
      const prefix = `${m.ip}/${family === 4 ? 32 : 128}`;
      if (nextHopsOf(to, family).some((nh) => [...this.seen.values()].some((s) => s.has(`${prefix}|${nh}`)))) {
        const { ip: _ip, fromVmId: _from, ...ready } = m;
        this.floatingReady.set(m.floatingId, ready);
      }
    }
  }

  /** Migrations whose new node is announcing (seen on an RR with the new node's next hop). */
  readyMigrations(): MigrationReady[] {
    return [...this.ready.values()];
  }

  private vmsOf(n: Node): DesiredVm[] {
    const out: DesiredVm[] = [];
    for (const vmId of this.vmsByNode.get(n.nodeId) ?? []) {
      const vm = this.vms.get(vmId);
      const ip = this.ips.get(vmId);
      if (!vm || !ip) continue; // no address yet (or IpAllocationFailed): nothing to route
      const leaving = vm.leavingNodeId === n.nodeId && vm.nodeId !== n.nodeId;
      if (!leaving && vm.nodeId !== n.nodeId) continue;
      const extraIps = this.extras.get(vmId);
      out.push({
        vmId,
        ifName: vmInterfaceName(vmId),
        ip,
        // The allocated address's family, not VmCreated's: a dual-stack VM whose IPv4 pool was exhausted has an IPv6 primary.
        family: familyOfIp(ip),
        driver: vm.driver,
        ...(extraIps?.length ? { extraIps: [...extraIps] } : {}),
        ...(leaving ? { leaving: true } : {}),
      });
    }
    // A floating address moving between two VMs of this node: only the new one routes it (one route per address).
    for (const m of this.floatingMoves.values()) {
      const from = out.find((v) => v.vmId === m.fromVmId);
      if (!from?.extraIps || !out.some((v) => v.vmId === m.vmId)) continue;
      const rest = from.extraIps.filter((x) => x !== m.ip);
      if (rest.length) from.extraIps = rest;
      else delete from.extraIps;
    }
    return out.sort((a, b) => (a.vmId < b.vmId ? -1 : a.vmId > b.vmId ? 1 : 0));
  }

  private build(n: Node, vms: DesiredVm[]): NodePayload | undefined {
    const c = this.clusters.get(n.clusterId);
    if (!c) return undefined;
    const bird = renderNodeBird({
      nodeName: n.name,
      routerId: n.underlayIp,
      fabricAsn: c.fabricAsn,
      community: c.community,
      kernelProtocolNumber: this.settings.protocolNumber,
      routeReflectors: c.core ? [] : [...c.rrs.values()],
      ...(c.core ? { core: c.core } : {}),
      bgp: c.bgp,
      localIp: n.underlayIp,
      ...(n.underlayIp6 ? { localIp6: n.underlayIp6 } : {}),
      ...(c.blackholeCommunity ? { blackholeCommunity: c.blackholeCommunity } : {}),
      // RTBH covers every address of the VM.
      blackholed: vms.filter((v) => this.blackholed.has(v.vmId)).flatMap((v) => [v.ip, ...(v.extraIps ?? [])]),
    });
    // A left node carries nothing; otherwise the VNIs with a VM placed here, and FRR for their EVPN routes.
    // EVPN needs RRs: a direct (lab-only) cluster carries no private networks (docs/operations/direct-topology.md).
    const privateNetworks = n.left || c.core ? [] : this.privateNets.forNode(n.nodeId);
    const evpn = privateNetworks.length
      ? renderNodeEvpn({ hostname: n.name, localIp: n.underlayIp, fabricAsn: c.fabricAsn, routeReflectors: [...c.rrs.values()], bgp: c.bgp })
      : undefined;
    return {
      kind: 'node',
      targetId: n.nodeId,
      clusterId: n.clusterId,
      nodeName: n.name,
      underlayIp: n.underlayIp,
      ...(n.underlayIp6 ? { underlayIp6: n.underlayIp6 } : {}),
      gateway: { ...c.gateway },
      protocolNumber: this.settings.protocolNumber,
      vms,
      bird,
      ...(privateNetworks.length ? { privateNetworks, evpn } : {}),
    };
  }

  private tryBuild(n: Node, vms: DesiredVm[]): NodePayload | null {
    try {
      return this.build(n, vms) ?? null;
    } catch {
      return null; // unrenderable at leave time: the node gets no final state
    }
  }

  private observe(rr: string, added: { prefix: string; nextHop?: string }[], withdrawn: { prefix: string; nextHop?: string }[], resync?: string): void {
    const set = setOf(this.seen, rr);
    if (resync === 'start' || resync === 'full') this.resyncing.set(rr, new Set());
    const staging = resync ? this.resyncing.get(rr) : undefined;
    for (const r of added) {
      const k = routeKey(r);
      if (!k) continue;
      set.add(k);
      staging?.add(k);
    }
    for (const r of withdrawn) {
      const k = routeKey(r);
      if (k) set.delete(k);
    }
    if ((resync === 'end' || resync === 'full') && staging) {
      this.seen.set(rr, staging);
      this.resyncing.delete(rr);
    }
    if (this.floatingMoves.size) this.checkFloatingMoves();
    if (this.migrating.size === 0) return;
    for (const vmId of this.migrating) {
      const vm = this.vms.get(vmId);
      const ip = this.ips.get(vmId);
      const to = vm && this.nodes.get(vm.nodeId);
      if (!vm || !ip || !to || this.ready.has(vmId)) continue;
      const family = familyOfIp(ip);
      const prefix = `${ip}/${family === 4 ? 32 : 128}`;
      if (nextHopsOf(to, family).some((nh) => [...this.seen.values()].some((s) => s.has(`${prefix}|${nh}`)))) {
        this.ready.set(vmId, { vmId, clusterId: vm.clusterId, toNodeId: vm.nodeId, requestSeq: vm.requestSeq ?? 0 });
      }
    }
  }

  /**
   * Dry run of a settings change: every live node's BIRD config of the cluster rendered with `bgp` and
   * `community` instead of the current ones; the model is left exactly as it was.
   */
  previewBgp(clusterId: string, community: string, bgp: BgpOptions, md5Rotated: boolean): { kind: 'node'; targetId: string; config: string }[] {
    const c = this.clusters.get(clusterId);
    if (!c) return [];
    return withPreviewBgp(c, community, bgp, md5Rotated, () =>
      this.liveNodesOf(clusterId).flatMap((targetId) => {
        const d = this.desired(targetId);
        return d ? [{ kind: 'node' as const, targetId, config: d.bird }] : [];
      }),
    );
  }

  private liveNodesOf(clusterId: string): string[] {
    return [...(this.nodesByCluster.get(clusterId) ?? [])].filter((id) => !this.nodes.get(id)?.left);
  }

  private placementsOf(vmId: string): string[] {
    const vm = this.vms.get(vmId);
    if (!vm) return [];
    return vm.leavingNodeId ? [vm.nodeId, vm.leavingNodeId] : [vm.nodeId];
  }
}

/**
 * Next hops an RR shows for a route of the node: IPv4 → underlayIp; IPv6 → underlayIp6 (without it the
 * node falls back to an IPv4 next hop, extended next hop, which BIRD shows as ::ffff:a.b.c.d).
 */
/** ips are canonical addresses: an IPv6 one always has a colon. */
const familyOfIp = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);

function nextHopsOf(n: Node, family: 4 | 6): string[] {
  if (family === 4) return [n.underlayIp];
  return n.underlayIp6 ? [n.underlayIp6] : [n.underlayIp, canonicalIp(`::ffff:${n.underlayIp}`)];
}

/** `prefix|nextHop`, canonical; undefined for a route without a next hop or malformed. */
function routeKey(r: { prefix: string; nextHop?: string }): string | undefined {
  if (!r.nextHop) return undefined;
  try {
    const [addr, len] = r.prefix.split('/');
    return `${canonicalIp(addr)}/${len}|${canonicalIp(r.nextHop)}`;
  } catch {
    return undefined; // a malformed observation cannot complete anything
  }
}

/** One copy of a value from a small fixed set (a VM's driver) instead of one per VM. */
const sharedStrings = new Map<string, string>();
function shared<T extends string>(s: T): T {
  const v = sharedStrings.get(s);
  if (v !== undefined) return v as T;
  sharedStrings.set(s, s);
  return s;
}

function setOf<K, V>(m: Map<K, Set<V>>, k: K): Set<V> {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  return s;
}
