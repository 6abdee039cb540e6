/**
 * Pure model of rr-config: folds events into the desired BIRD config of every route reflector and the
 * placements the RRs serve as ROAs. Every live node of the cluster is an `rr client` (join → added,
 * leave → removed, no manual step) whose import accepts only addresses whose ROA carries the node's
 * origin tag; only pool prefixes are exported to the core. A VM placement changes one placement key,
 * never an RR config (docs/adr/rr-origin-validation.md).
 */
import { type FabricEvent, type Placement, type PrefixLimitAction, type RrDesiredState, canonicalIp, isIp, placementKey, rrTargetId } from '@fabric/contracts';

export type { Placement };
import { rangeToCidrs } from '@fabric/ipam-math';
import { type BgpOptions, bgpOptionsOf, nodePrefixLimit, originTag, renderRrBird, rrNodeProtocol } from '@fabric/renderers';

export type RrPayload = Omit<RrDesiredState, 'generation' | 'hash' | 'sourceSeq'>;

/** Dirty-target ids of placement keys start with this (RR target ids are `<uuid>_<name>`). */
export const PLACEMENT_TARGET = 'placement:';

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
  family: 4 | 6;
  /** Current node and, during a migration, the source node too (both announce until completion). */
  nodeIds: string[];
}

export class RrConfigModel {
  private readonly clusters = new Map<string, Cluster>();
  private readonly nodes = new Map<string, Node>();
  private readonly vms = new Map<string, Vm>();
  private readonly ips = new Map<string, string>();
  /** Placement key → value: what the placements bucket must hold. */
  private readonly placements = new Map<string, Placement>();

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
        });
        return this.rrsOf(d.clusterId);
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
        return this.rrsOf(c.clusterId);
      }
      case 'RouteReflectorRemoved':
        // A removed RR gets no further state (its agent is decommissioned with it).
        this.cluster(event.data.clusterId).rrs.delete(event.data.name.toLowerCase());
        return [];
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
        return this.rrsOf(d.clusterId);
      }
      case 'NodeLeft': {
        const c = this.cluster(event.data.clusterId);
        if (!c.nodes.delete(event.data.nodeId)) return [];
        return this.rrsOf(c.clusterId);
      }
      case 'VmCreated': {
        const d = event.data;
        this.vms.set(d.vmId, { clusterId: d.clusterId, family: d.family, nodeIds: [d.nodeId] });
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
      case 'VmDeleted': {
        const vm = this.vms.get(event.data.vmId);
        if (!vm) return [];
        const gone = this.unplace(event.data.vmId);
        this.vms.delete(event.data.vmId);
        return gone;
      }
      case 'VmMigrationRequested': {
        // Make-before-break: placed on both nodes until the migration completes.
        const vm = this.vms.get(event.data.vmId);
        if (!vm) return [];
        const gone = this.unplace(event.data.vmId);
        vm.nodeIds = [event.data.toNodeId, event.data.fromNodeId];
        return [...gone, ...this.place(event.data.vmId)];
      }
      case 'VmMigrationCompleted': {
        const vm = this.vms.get(event.data.vmId);
        if (!vm) return [];
        const gone = this.unplace(event.data.vmId);
        vm.nodeIds = [event.data.toNodeId];
        return [...gone, ...this.place(event.data.vmId)];
      }
      default:
        return [];
    }
  }

  /** Every live RR of every cluster. */
  targetIds(): string[] {
    return [...this.clusters.keys()].flatMap((id) => this.rrsOf(id));
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
    const live = [...c.nodes].map((id) => this.nodes.get(id)!);
    const nodes = live.map((n) => ({
      id: n.nodeId,
      name: n.name,
      underlayIp: n.underlayIp,
      originTag: n.tag,
      prefixLimit: { v4: nodePrefixLimit(n.placed4), v6: nodePrefixLimit(n.placed6) },
    }));
    const bird = renderRrBird({
      rrName: rr.name,
      routerId: rr.ip,
      fabricAsn: c.fabricAsn,
      coreAsn: c.coreAsn,
      community: c.community,
      rrClusterId: c.rrClusterId,
      localIp: rr.ip,
      core: c.core,
      nodes,
      exportPrefixes: [...c.pools.values()].flat(),
      bgp: c.bgp,
    });
    const rtrNodes = Object.fromEntries(live.map((n) => [String(n.tag), rrNodeProtocol(n.name)]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return { kind: 'rr', targetId, clusterId, rrName: rr.name, ip: canonicalIp(rr.ip), bird, rtrNodes };
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
      };
      this.clusters.set(clusterId, c);
    }
    return c;
  }

  /** Records the VM's ROA per node it is on; returns the placement targets to write. */
  private place(vmId: string): string[] {
    const vm = this.vms.get(vmId);
    const ip = this.ips.get(vmId);
    if (!vm || !ip) return [];
    const len = vm.family === 4 ? 32 : 128;
    const out: string[] = [];
    let crossed = false;
    for (const nodeId of vm.nodeIds) {
      const node = this.nodes.get(nodeId);
      if (!node) continue;
      const key = placementKey(vm.clusterId, ip, node.tag);
      if (!this.placements.has(key) && this.count(node, vm.family, 1)) crossed = true;
      this.placements.set(key, { prefix: `${ip}/${len}`, maxLen: len, originTag: node.tag });
      out.push(PLACEMENT_TARGET + key);
    }
    return crossed ? [...out, ...this.rrsOf(vm.clusterId)] : out;
  }

  /** Counts a placement on a node; true when its receive limit moved to another bucket (the RR config changes). */
  private count(node: Node, family: 4 | 6, delta: 1 | -1): boolean {
    const before = nodePrefixLimit(family === 4 ? node.placed4 : node.placed6);
    if (family === 4) node.placed4 = Math.max(0, node.placed4 + delta);
    else node.placed6 = Math.max(0, node.placed6 + delta);
    return nodePrefixLimit(family === 4 ? node.placed4 : node.placed6) !== before;
  }

  /** Forgets the VM's ROAs; returns their placement targets (to delete unless placed again). */
  private unplace(vmId: string): string[] {
    const vm = this.vms.get(vmId);
    const ip = this.ips.get(vmId);
    if (!vm || !ip) return [];
    const out: string[] = [];
    let crossed = false;
    for (const nodeId of vm.nodeIds) {
      const node = this.nodes.get(nodeId);
      if (!node) continue;
      const key = placementKey(vm.clusterId, ip, node.tag);
      if (!this.placements.delete(key)) continue;
      out.push(PLACEMENT_TARGET + key);
      if (this.count(node, vm.family, -1)) crossed = true;
    }
    return crossed ? [...out, ...this.rrsOf(vm.clusterId)] : out;
  }

  private rrsOf(clusterId: string): string[] {
    const c = this.clusters.get(clusterId);
    return c ? [...c.rrs.values()].map((r) => rrTargetId(clusterId, r.name)) : [];
  }
}
