/**
 * Pure model of rr-config: folds events into the desired BIRD config of every route reflector and the
 * placements the RRs serve as ROAs. Every live node of the cluster is an `rr client` (join → added,
 * leave → removed, no manual step) whose import accepts only addresses whose ROA carries the node's
 * origin tag; only pool prefixes are exported to the core. A VM placement changes one placement key,
 * never an RR config (docs/adr/rr-origin-validation.md). The RR config is split: the command holds the
 * cluster-wide part, each node's session is one key `<clusterId>.<nodeId>` of the node-parts bucket; a node
 * change (join, leave, receive-limit bucket) changes that key only (docs/adr/rr-split-desired-state.md).
 */
import {
  type FabricEvent,
  type Placement,
  type PrefixLimitAction,
  type RrDesiredState,
  type RrNodePartValue,
  canonicalIp,
  isIp,
  placementKey,
  restoreCollections,
  rrTargetId,
  saveCollections,
} from '@fabric/contracts';

export type { Placement, RrNodePartValue };
import { rangeToCidrs } from '@fabric/ipam-math';
import { type BgpOptions, bgpOptionsOf, nodePrefixLimit, originTag, withPreviewBgp, renderRrBirdMain, renderRrEvpn, renderRrNode } from '@fabric/renderers';

export type RrPayload = Omit<RrDesiredState, 'generation' | 'hash' | 'sourceSeq'>;

/** Dirty-target ids of placement keys start with this (RR target ids are `<uuid>_<name>`). */
export const PLACEMENT_TARGET = 'placement:';
/** Dirty-target ids of node-part keys (`<clusterId>.<nodeId>` in the RR node-parts bucket) start with this. */
export const NODE_PART_TARGET = 'rrnode:';
/** Key of a node's part in the RR node-parts bucket. */
export const nodePartKey = (clusterId: string, nodeId: string) => `${clusterId}.${nodeId}`;

interface Cluster {
  clusterId: string;
  /** False while only later events of the cluster are known (nothing to render yet). */
  created: boolean;
  fabricAsn: number;
  coreAsn: number;
  community: string;
  rrClusterId: string;
  core: { name: string; ip: string };
  bgp: BgpOptions;
  /** By lower-case name (unique case-insensitively within a cluster). */
  rrs: Map<string, { name: string; ip: string }>;
  /** poolId → CIDRs exactly covering the pool range. */
  pools: Map<string, string[]>;
  /** Live (joined, not left) node ids. */
  nodes: Set<string>;
  /** Origin tags ever given in the cluster (never reused). */
  tags: Set<number>;
  /** Live tenant private networks: while there is one, the RRs run an EVPN reflector (FRR) for the nodes. */
  privateNetworks: Set<string>;
}

interface Node {
  nodeId: string;
  clusterId: string;
  name: string;
  underlayIp: string;
  /** Origin of its addresses in the RRs' ROA tables. */
  tag: number;
  /** Addresses placed on it per family: size its receive limit on the RRs (bucketed, nodePrefixLimit). */
  placed4: number;
  placed6: number;
}

interface Vm {
  clusterId: string;
  /** Current node and, during a migration, the source node too (both announce until completion). */
  nodeIds: string[];
}

export class RrConfigModel {
  private readonly clusters = new Map<string, Cluster>();
  private readonly nodes = new Map<string, Node>();
  private readonly vms = new Map<string, Vm>();
  private readonly ips = new Map<string, string>();
  /** Extra addresses per VM (VmAddressAllocated until VmAddressRemoved / VmDeleted), canonical: each is placed like `ips`. */
  private readonly extras = new Map<string, string[]>();
  /** Placement key → value: what the placements bucket must hold. */
  private readonly placements = new Map<string, Placement>();
  /** Private network id → its cluster (PrivateNetworkDeleted carries only the network id). */
  private readonly networkCluster = new Map<string, string>();

  /** Version of the snapshot shape and of the fold's meaning: bump on any change to either. */
  static readonly SNAPSHOT_SCHEMA = 3;
  private static readonly SNAPSHOT_FIELDS = ['clusters', 'nodes', 'vms', 'ips', 'extras', 'placements', 'networkCluster'];

  /** The model's state for a snapshot (by reference: serialise it before folding further). */
  snapshot(): Record<string, unknown> {
    return saveCollections(this, RrConfigModel.SNAPSHOT_FIELDS);
  }

  /** Replaces the state with a snapshot's (the model is as if it had folded the events the snapshot covers). */
  restore(data: unknown): void {
    restoreCollections(this, RrConfigModel.SNAPSHOT_FIELDS, data);
    // Structured deserialisation gives every string its own copy: share the ids again, as the fold does.
    for (const v of this.vms.values()) {
      v.clusterId = this.clusterKey(v.clusterId);
      v.nodeIds = v.nodeIds.map((id) => this.nodeKey(id));
    }
  }

  /** The id string the model already holds for a cluster / node: each event parses its own copy (~110 bytes per VM). */
  private clusterKey(id: string): string {
    return this.clusters.get(id)?.clusterId ?? id;
  }
  private nodeKey(id: string): string {
    return this.nodes.get(id)?.nodeId ?? id;
  }

  /** Folds one event; returns the RR target ids whose desired state may have changed. */
  apply(event: FabricEvent): string[] {
    switch (event.type) {
      case 'ClusterCreated': {
        const d = event.data;
        const prev = this.clusters.get(d.clusterId);
        this.clusters.set(d.clusterId, {
          clusterId: d.clusterId,
          created: true,
          fabricAsn: d.fabricAsn,
          coreAsn: d.coreAsn,
          community: d.community,
          rrClusterId: d.rrClusterId,
          core: { name: d.coreRouter.name, ip: d.coreRouter.ip },
          bgp: bgpOptionsOf(d.bgp),
          rrs: prev?.rrs ?? new Map(),
          pools: prev?.pools ?? new Map(),
          nodes: prev?.nodes ?? new Set(),
          tags: prev?.tags ?? new Set(),
          privateNetworks: prev?.privateNetworks ?? new Set(),
        });
        // Node parts first: a flush writes them before the commands that rely on them.
        return [...this.nodePartsOf(d.clusterId), ...this.rrsOf(d.clusterId)];
      }
      case 'RouteReflectorAdded': {
        const c = this.cluster(event.data.clusterId);
        c.rrs.set(event.data.name.toLowerCase(), { name: event.data.name, ip: event.data.ip });
        // The new RR only: the others do not peer with RRs of their cluster.
        return [rrTargetId(c.clusterId, event.data.name)];
      }
      case 'BgpPasswordChanged': {
        const c = this.cluster(event.data.clusterId);
        c.bgp = { ...c.bgp, md5Password: event.data.md5Password };
        return this.rrsOf(c.clusterId);
      }
      case 'ClusterBgpSettingsChanged': {
        const c = this.cluster(event.data.clusterId);
        c.community = event.data.community;
        c.bgp = { ...bgpOptionsOf(event.data.bgp), ...(c.bgp.md5Password !== undefined ? { md5Password: c.bgp.md5Password } : {}) };
        // The prefix-limit action is in every node part (written only where the value changes).
        return [...this.nodePartsOf(c.clusterId), ...this.rrsOf(c.clusterId)];
      }
      case 'RouteReflectorRemoved':
        // A removed RR gets no further state (its agent is decommissioned with it).
        this.cluster(event.data.clusterId).rrs.delete(event.data.name.toLowerCase());
        return [];
      case 'PrivateNetworkCreated': {
        // Only the first network of a cluster turns its RRs' EVPN reflector on (the client list is every live node).
        const c = this.cluster(event.data.clusterId);
        const first = c.privateNetworks.size === 0;
        c.privateNetworks.add(event.data.networkId);
        this.networkCluster.set(event.data.networkId, c.clusterId);
        return first ? this.rrsOf(c.clusterId) : [];
      }
      case 'PrivateNetworkDeleted': {
        const clusterId = this.networkCluster.get(event.data.networkId);
        const c = clusterId && this.clusters.get(clusterId);
        this.networkCluster.delete(event.data.networkId);
        if (!c || !c.privateNetworks.delete(event.data.networkId)) return [];
        return c.privateNetworks.size === 0 ? this.rrsOf(c.clusterId) : [];
      }
      case 'PoolAdded': {
        const d = event.data;
        this.cluster(d.clusterId).pools.set(d.poolId, rangeToCidrs(d.start, d.end));
        return this.rrsOf(d.clusterId);
      }
      case 'NodeJoined': {
        const d = event.data;
        const c = this.cluster(d.clusterId);
        // A rejoining node keeps its tag; a new one gets a tag no node of the cluster ever had.
        const prev = this.nodes.get(d.nodeId);
        const tag = prev && prev.clusterId === d.clusterId ? prev.tag : originTag(d.nodeId, c.tags);
        c.tags.add(tag);
        this.nodes.set(d.nodeId, {
          nodeId: d.nodeId,
          clusterId: d.clusterId,
          name: d.name,
          underlayIp: canonicalIp(d.underlayIp),
          tag,
          placed4: prev?.placed4 ?? 0,
          placed6: prev?.placed6 ?? 0,
        });
        c.nodes.add(d.nodeId);
        // The RR commands change only when the EVPN reflector lists the nodes, or when this node makes the
        // cluster unrenderable (an address the core or an RR has): then every RR shows the failure.
        const rrsToo = c.privateNetworks.size > 0 || this.addressConflicts(c).length > 0;
        return [NODE_PART_TARGET + nodePartKey(d.clusterId, d.nodeId), ...(rrsToo ? this.rrsOf(c.clusterId) : [])];
      }
      case 'NodeLeft': {
        const c = this.cluster(event.data.clusterId);
        const conflicted = this.addressConflicts(c).length > 0;
        if (!c.nodes.delete(event.data.nodeId)) return [];
        const rrsToo = c.privateNetworks.size > 0 || conflicted;
        return [NODE_PART_TARGET + nodePartKey(c.clusterId, event.data.nodeId), ...(rrsToo ? this.rrsOf(c.clusterId) : [])];
      }
      case 'VmCreated': {
        const d = event.data;
        // Each address's family comes from the address (a dual-stack VM's primary may not be VmCreated's family).
        this.vms.set(d.vmId, { clusterId: this.clusterKey(d.clusterId), nodeIds: [this.nodeKey(d.nodeId)] });
        return this.place(d.vmId);
      }
      case 'IpAllocated':
        this.ips.set(event.data.vmId, canonicalIp(event.data.ip));
        return this.place(event.data.vmId);
      case 'IpReleased': {
        const gone = this.unplace(event.data.vmId);
        this.ips.delete(event.data.vmId);
        return gone;
      }
      case 'VmAddressAllocated': {
        const { vmId } = event.data;
        const ip = canonicalIp(event.data.ip);
        const cur = this.extras.get(vmId) ?? [];
        if (cur.includes(ip) || !this.vms.has(vmId)) return []; // a redelivery, or the VM is deleted already
        this.extras.set(vmId, [...cur, ip]);
        return this.placeAddress(vmId, ip);
      }
      case 'VmAddressRemoved':
      case 'VmAddressReleased': {
        const { vmId } = event.data;
        const ip = canonicalIp(event.data.ip);
        const cur = this.extras.get(vmId);
        if (!cur?.includes(ip)) return [];
        const gone = this.unplaceAddress(vmId, ip);
        const rest = cur.filter((x) => x !== ip);
        if (rest.length) this.extras.set(vmId, rest);
        else this.extras.delete(vmId);
        return gone;
      }
      // A floating address is placed like an extra address of the VM(s) holding it: on both nodes during a move.
      case 'FloatingAddressAttached':
        return this.addExtra(event.data.vmId, canonicalIp(event.data.ip));
      case 'FloatingAddressMoveCompleted': {
        // Both VMs on one node share the placement key: the new VM's placement is written again.
        const ip = canonicalIp(event.data.ip);
        const gone = this.removeExtra(event.data.fromVmId, ip);
        const kept = this.extras.get(event.data.vmId)?.includes(ip) ? this.placeAddress(event.data.vmId, ip) : [];
        return [...new Set([...gone, ...kept.filter((t) => gone.includes(t))])];
      }
      case 'FloatingAddressDetached': {
        const ip = canonicalIp(event.data.ip);
        return [...this.removeExtra(event.data.vmId, ip), ...(event.data.fromVmId ? this.removeExtra(event.data.fromVmId, ip) : [])];
      }
      case 'VmDeleted': {
        const vm = this.vms.get(event.data.vmId);
        if (!vm) return [];
        const gone = this.unplace(event.data.vmId);
        this.vms.delete(event.data.vmId);
        this.extras.delete(event.data.vmId);
        return gone;
      }
      case 'VmMigrationRequested': {
        // Make-before-break: placed on both nodes until the migration completes.
        const vm = this.vms.get(event.data.vmId);
        if (!vm) return [];
        const gone = this.unplace(event.data.vmId);
        vm.nodeIds = [this.nodeKey(event.data.toNodeId), this.nodeKey(event.data.fromNodeId)];
        return [...gone, ...this.place(event.data.vmId)];
      }
      case 'VmMigrationCompleted': {
        const vm = this.vms.get(event.data.vmId);
        if (!vm) return [];
        const gone = this.unplace(event.data.vmId);
        vm.nodeIds = [this.nodeKey(event.data.toNodeId)];
        return [...gone, ...this.place(event.data.vmId)];
      }
      default:
        return [];
    }
  }

  /** The RR target ids of one cluster. */
  rrTargetsOf(clusterId: string): string[] {
    return this.rrsOf(clusterId);
  }

  /** Every live RR of every cluster. */
  targetIds(): string[] {
    return [...this.clusters.keys()].flatMap((id) => this.rrsOf(id));
  }

  /** Every node-part key the bucket must hold. */
  nodePartKeys(): string[] {
    return [...this.clusters.keys()].flatMap((id) => this.nodePartsOf(id).map((t) => t.slice(NODE_PART_TARGET.length)));
  }

  /**
   * The value a node-part key must hold; undefined = the key must not exist (node left, cluster not created).
   * Throws when the node's session cannot be rendered (e.g. an IPv6 underlay: the RRs have IPv4 only).
   */
  nodePart(key: string): RrNodePartValue | undefined {
    const clusterId = key.slice(0, 36);
    const nodeId = key.slice(37);
    const c = this.clusters.get(clusterId);
    const n = this.nodes.get(nodeId);
    if (!c?.created || !n || n.clusterId !== clusterId || !c.nodes.has(nodeId)) return undefined;
    if (!isIp(n.underlayIp, 4)) throw new Error(`node ${n.name} has an IPv6 underlay address (${n.underlayIp}): the route reflectors peer over IPv4`);
    const conflict = this.addressConflicts(c).find((x) => x.nodeId === nodeId);
    if (conflict) throw new Error(conflict.reason);
    const part = renderRrNode(
      { fabricAsn: c.fabricAsn, bgp: c.bgp },
      {
        id: n.nodeId,
        name: n.name,
        underlayIp: n.underlayIp,
        originTag: n.tag,
        prefixLimit: { v4: nodePrefixLimit(n.placed4), v6: nodePrefixLimit(n.placed6) },
      },
    );
    return { protocol: part.protocol, originTag: part.originTag, bird: part.bird };
  }

  /** Every placement key the bucket must hold. */
  placementKeys(): IterableIterator<string> {
    return this.placements.keys();
  }

  /** The value a placement key must hold; undefined = the key must not exist. */
  placement(key: string): Placement | undefined {
    return this.placements.get(key);
  }

  /**
   * Desired state of one RR; undefined when the RR (or its cluster) does not exist (anymore).
   * Throws when the config cannot be rendered (e.g. an IPv6-only RR: BIRD needs an IPv4 router id).
   */
  desired(targetId: string): RrPayload | undefined {
    const clusterId = targetId.slice(0, 36);
    const c = this.clusters.get(clusterId);
    const rr = c && [...c.rrs.values()].find((r) => rrTargetId(clusterId, r.name) === targetId);
    if (!c?.created || !rr) return undefined;
    if (!isIp(rr.ip, 4)) throw new Error(`route reflector ${rr.name} has no IPv4 address (${rr.ip}): BIRD needs an IPv4 router id`);
    // A node on the core's, an RR's or another node's address would give BIRD two sessions to one neighbor:
    // refused here (every RR of the cluster shows it as drift) and its node part is never written.
    const conflicts = this.addressConflicts(c);
    if (conflicts.length) throw new Error(conflicts.map((x) => x.reason).join('; '));
    const bird = renderRrBirdMain({
      rrName: rr.name,
      routerId: rr.ip,
      fabricAsn: c.fabricAsn,
      coreAsn: c.coreAsn,
      community: c.community,
      rrClusterId: c.rrClusterId,
      localIp: rr.ip,
      core: c.core,
      exportPrefixes: [...c.pools.values()].flat(),
      bgp: c.bgp,
    });
    // EVPN (tenant private networks): an FRR reflector beside BIRD, clients every live node with an IPv4 underlay.
    const live = [...c.nodes].map((id) => this.nodes.get(id)!);
    const evpn = c.privateNetworks.size
      ? renderRrEvpn({
          hostname: rr.name,
          localIp: rr.ip,
          fabricAsn: c.fabricAsn,
          rrClusterId: c.rrClusterId,
          nodes: live.filter((n) => isIp(n.underlayIp, 4)).map((n) => ({ name: n.name, underlayIp: n.underlayIp })),
          bgp: c.bgp,
        })
      : undefined;
    return { kind: 'rr', targetId, clusterId, rrName: rr.name, ip: canonicalIp(rr.ip), bird, nodeParts: 'kv', ...(evpn ? { evpn } : {}) };
  }

  /**
   * Dry run of a settings change: every RR's BIRD config of the cluster rendered with `bgp` and `community`
   * instead of the current ones; the model is left exactly as it was.
   */
  previewBgp(clusterId: string, community: string, bgp: BgpOptions, md5Rotated: boolean): { kind: 'rr'; targetId: string; config: string }[] {
    const c = this.clusters.get(clusterId);
    if (!c?.created) return [];
    return withPreviewBgp(c, community, bgp, md5Rotated, () =>
      this.rrsOf(clusterId).flatMap((targetId) => {
        const d = this.desired(targetId);
        return d ? [{ kind: 'rr' as const, targetId, config: d.bird }] : [];
      }),
    );
  }

  private cluster(clusterId: string): Cluster {
    let c = this.clusters.get(clusterId);
    // Events of a cluster whose ClusterCreated is not known (yet): kept, rendered once it arrives.
    if (!c) {
      c = {
        clusterId,
        created: false,
        fabricAsn: 0,
        coreAsn: 0,
        community: '',
        rrClusterId: '',
        core: { name: '', ip: '' },
        bgp: { gracefulRestart: false, bfd: false },
        rrs: new Map(),
        pools: new Map(),
        nodes: new Set(),
        tags: new Set(),
        privateNetworks: new Set(),
      };
      this.clusters.set(clusterId, c);
    }
    return c;
  }

  private addExtra(vmId: string, ip: string): string[] {
    const cur = this.extras.get(vmId) ?? [];
    if (cur.includes(ip) || !this.vms.has(vmId)) return [];
    this.extras.set(vmId, [...cur, ip]);
    return this.placeAddress(vmId, ip);
  }

  private removeExtra(vmId: string, ip: string): string[] {
    const cur = this.extras.get(vmId);
    if (!cur?.includes(ip)) return [];
    const gone = this.unplaceAddress(vmId, ip);
    const rest = cur.filter((x) => x !== ip);
    if (rest.length) this.extras.set(vmId, rest);
    else this.extras.delete(vmId);
    return gone;
  }

  /** Records the VM's ROAs (every address of it) per node it is on; returns the placement targets to write. */
  private place(vmId: string): string[] {
    const ip = this.ips.get(vmId);
    if (!ip) return [];
    return [ip, ...(this.extras.get(vmId) ?? [])].flatMap((a) => this.placeAddress(vmId, a));
  }

  /** One address of the VM: its ROA per node the VM is on (an extra address waits for the primary, as the node does). */
  private placeAddress(vmId: string, ip: string): string[] {
    const vm = this.vms.get(vmId);
    if (!vm || !this.ips.has(vmId)) return [];
    const family = ip.includes(':') ? 6 : 4;
    const len = family === 4 ? 32 : 128;
    const out: string[] = [];
    // A node whose receive limit moved to another bucket: its node part changes (nothing else).
    const changed: string[] = [];
    for (const nodeId of vm.nodeIds) {
      const node = this.nodes.get(nodeId);
      if (!node) continue;
      const key = placementKey(vm.clusterId, ip, node.tag);
      if (!this.placements.has(key) && this.count(node, family, 1)) changed.push(NODE_PART_TARGET + nodePartKey(vm.clusterId, nodeId));
      this.placements.set(key, { prefix: `${ip}/${len}`, maxLen: len, originTag: node.tag });
      out.push(PLACEMENT_TARGET + key);
    }
    return [...out, ...changed];
  }

  /** Counts a placement on a node; true when its receive limit moved to another bucket (the RR config changes). */
  private count(node: Node, family: 4 | 6, delta: 1 | -1): boolean {
    const before = nodePrefixLimit(family === 4 ? node.placed4 : node.placed6);
    if (family === 4) node.placed4 = Math.max(0, node.placed4 + delta);
    else node.placed6 = Math.max(0, node.placed6 + delta);
    return nodePrefixLimit(family === 4 ? node.placed4 : node.placed6) !== before;
  }

  /** Forgets the VM's ROAs (every address of it); returns their placement targets (to delete unless placed again). */
  private unplace(vmId: string): string[] {
    const ip = this.ips.get(vmId);
    if (!ip) return [];
    return [ip, ...(this.extras.get(vmId) ?? [])].flatMap((a) => this.unplaceAddress(vmId, a));
  }

  private unplaceAddress(vmId: string, ip: string): string[] {
    const vm = this.vms.get(vmId);
    if (!vm) return [];
    const family = ip.includes(':') ? 6 : 4;
    const out: string[] = [];
    // A node whose receive limit moved to another bucket: its node part changes (nothing else).
    const changed: string[] = [];
    for (const nodeId of vm.nodeIds) {
      const node = this.nodes.get(nodeId);
      if (!node) continue;
      const key = placementKey(vm.clusterId, ip, node.tag);
      if (!this.placements.delete(key)) continue;
      out.push(PLACEMENT_TARGET + key);
      if (this.count(node, family, -1)) changed.push(NODE_PART_TARGET + nodePartKey(vm.clusterId, nodeId));
    }
    return [...out, ...changed];
  }

  /** Live nodes whose underlay address the core, an RR or an earlier-joined node of the cluster already has. */
  private addressConflicts(c: Cluster): { nodeId: string; reason: string }[] {
    if (!c.created) return [];
    const canon = (ip: string) => (isIp(ip) ? canonicalIp(ip) : ip);
    const taken = new Map<string, string>([[canon(c.core.ip), `the core router ${c.core.name}`]]);
    for (const rr of c.rrs.values()) taken.set(canon(rr.ip), `route reflector ${rr.name}`);
    const out: { nodeId: string; reason: string }[] = [];
    for (const id of c.nodes) {
      const n = this.nodes.get(id);
      if (!n) continue;
      const owner = taken.get(n.underlayIp);
      if (owner) out.push({ nodeId: id, reason: `node ${n.name} is on ${n.underlayIp}, the address of ${owner}` });
      else taken.set(n.underlayIp, `node ${n.name}`);
    }
    return out;
  }

  private nodePartsOf(clusterId: string): string[] {
    const c = this.clusters.get(clusterId);
    return c ? [...c.nodes].map((id) => NODE_PART_TARGET + nodePartKey(clusterId, id)) : [];
  }

  private rrsOf(clusterId: string): string[] {
    const c = this.clusters.get(clusterId);
    return c ? [...c.rrs.values()].map((r) => rrTargetId(clusterId, r.name)) : [];
  }
}
