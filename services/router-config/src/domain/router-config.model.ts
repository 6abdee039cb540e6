/**
 * Pure model of router-config: the core/border router configuration of each cluster (Junos procedure,
 * FRR), rendered from the cluster's RRs, pools and ASNs only — never from VMs, and from nodes only in a direct
 * (lab-only) cluster, whose core peers every node: there a node join or leave is a new version.
 * Versioned: a new version (with diffs) only when the content changes.
 */
import { type EventOf, type FabricEvent, type RouterVendor, type PrefixLimitAction, restoreCollections, saveCollections } from '@fabric/contracts';
import { rangeToCidrs } from '@fabric/ipam-math';
import {
  type BgpOptions,
  type BmpStation,
  type CoreRouterInput,
  bgpOptionsOf,
  previewBgpOptions,
  contentHash,
  junosNames,
  renderFrrCore,
  renderJunosProcedure,
  unifiedDiff,
} from '@fabric/renderers';

export type RouterConfigs = Record<RouterVendor, string>;
export type RouterConfigRenderedData = EventOf<'RouterConfigRendered'>['data'];

export interface RenderedRouter {
  clusterId: string;
  vendor: RouterVendor;
  /** junos: the operator procedure (set commands + commit confirmed + checks); frr: frr.conf. */
  configs: RouterConfigs;
  /** contentHash of both configs: a new version only when it changes. */
  hash: string;
  /** Config for the lab's FRR core agent: only for vendor frr and only when there is something to peer with. */
  frrDesired?: string;
  /** The earlier version these configs are a copy of (a rollback in force). */
  rollbackOf?: number;
}

export interface LastRouterConfig {
  version: number;
  hash: string;
  configs: RouterConfigs;
}

export const NO_RR_WARNING = 'no route reflector, no generated core configuration';

interface Cluster {
  clusterId: string;
  created: boolean;
  name: string;
  fabricAsn: number;
  coreAsn: number;
  community: string;
  core: { name: string; ip: string; vendor: RouterVendor };
  bgp: BgpOptions;
  /** Kept apart from `bgp`: only the core renders it. */
  bmpStation?: BmpStation;
  blackholeCommunity?: string;
  rrs: Map<string, { name: string; ip: string }>;
  /** Direct topology (lab only): the core's neighbors are the live nodes, by node id. */
  direct: boolean;
  nodes: Map<string, { name: string; ip: string }>;
  pools: Map<string, string[]>;
  /** Configs of every published version (from our own RouterConfigRendered events): what a rollback restores. */
  versions: Map<number, RouterConfigs>;
  /** A rollback in force: render that version's configs until the inputs change again. */
  pinned?: number;
}

export class RouterConfigModel {
  private readonly clusters = new Map<string, Cluster>();

  /** Version of the snapshot shape and of the fold's meaning: bump on any change to either. */
  static readonly SNAPSHOT_SCHEMA = 3;
  private static readonly SNAPSHOT_FIELDS = ['clusters'];

  /** The model's state for a snapshot (by reference: serialise it before folding further). */
  snapshot(): Record<string, unknown> {
    return saveCollections(this, RouterConfigModel.SNAPSHOT_FIELDS);
  }

  /** Replaces the state with a snapshot's (the model is as if it had folded the events the snapshot covers). */
  restore(data: unknown): void {
    restoreCollections(this, RouterConfigModel.SNAPSHOT_FIELDS, data);
  }

  /** Folds one event; returns the cluster ids whose router config may have changed (never for nodes/VMs). */
  apply(event: FabricEvent): string[] {
    switch (event.type) {
      case 'RouterConfigRendered':
        // Our own output: remembered for rollbacks, changes nothing.
        this.cluster(event.data.clusterId).versions.set(event.data.version, event.data.configs);
        return [];
      case 'RouterConfigRollbackRequested': {
        const c = this.cluster(event.data.clusterId);
        if (!c.versions.has(event.data.toVersion)) return [];
        c.pinned = event.data.toVersion;
        return [c.clusterId];
      }
      default: {
        const changed = this.applyInput(event);
        // A change of the inputs ends a rollback: the config follows the inputs again.
        for (const id of changed) delete this.cluster(id).pinned;
        return changed;
      }
    }
  }

  private applyInput(event: FabricEvent): string[] {
    switch (event.type) {
      case 'ClusterCreated': {
        const d = event.data;
        const c = this.cluster(d.clusterId);
        Object.assign(c, {
          created: true,
          name: d.name,
          fabricAsn: d.fabricAsn,
          coreAsn: d.coreAsn,
          community: d.community,
          core: { name: d.coreRouter.name, ip: d.coreRouter.ip, vendor: d.coreRouter.vendor },
          bgp: bgpOptionsOf(d.bgp),
          ...(d.blackholeCommunity ? { blackholeCommunity: d.blackholeCommunity } : {}),
          direct: d.topology === 'direct',
        });
        return [c.clusterId];
      }
      // Only a direct cluster's core config names nodes; an RR cluster's never changes with them.
      case 'NodeJoined': {
        const c = this.clusters.get(event.data.clusterId);
        if (!c?.direct) return [];
        c.nodes.set(event.data.nodeId, { name: event.data.name, ip: event.data.underlayIp });
        return [c.clusterId];
      }
      case 'NodeLeft': {
        const c = this.clusters.get(event.data.clusterId);
        return c?.direct && c.nodes.delete(event.data.nodeId) ? [c.clusterId] : [];
      }
      case 'RouteReflectorAdded':
        this.cluster(event.data.clusterId).rrs.set(event.data.name.toLowerCase(), { name: event.data.name, ip: event.data.ip });
        return [event.data.clusterId];
      case 'BgpPasswordChanged': {
        const c = this.cluster(event.data.clusterId);
        c.bgp = { ...c.bgp, md5Password: event.data.md5Password };
        return [c.clusterId];
      }
      case 'ClusterBgpSettingsChanged': {
        const c = this.cluster(event.data.clusterId);
        c.community = event.data.community;
        c.bgp = { ...bgpOptionsOf(event.data.bgp), ...(c.bgp.md5Password !== undefined ? { md5Password: c.bgp.md5Password } : {}) };
        setBmpStation(c, event.data.bgp.bmpStation);
        return [c.clusterId];
      }
      case 'RouteReflectorRemoved':
        return this.cluster(event.data.clusterId).rrs.delete(event.data.name.toLowerCase()) ? [event.data.clusterId] : [];
      case 'PoolAdded':
        this.cluster(event.data.clusterId).pools.set(event.data.poolId, rangeToCidrs(event.data.start, event.data.end));
        return [event.data.clusterId];
      default:
        return [];
    }
  }

  clusterIds(): string[] {
    return [...this.clusters.values()].filter((c) => c.created).map((c) => c.clusterId);
  }

  /** The name of a cluster's core router (undefined before ClusterCreated). */
  coreName(clusterId: string): string | undefined {
    const c = this.clusters.get(clusterId);
    return c?.created ? c.core.name : undefined;
  }

  /** Current configs of a cluster; undefined before ClusterCreated. Throws on input the renderers refuse. */
  render(clusterId: string): RenderedRouter | undefined {
    const c = this.clusters.get(clusterId);
    if (!c?.created) return undefined;
    const pinned = c.pinned !== undefined ? c.versions.get(c.pinned) : undefined;
    if (pinned) {
      const configs = { ...pinned };
      return {
        clusterId,
        vendor: c.core.vendor,
        configs,
        hash: contentHash(configs),
        rollbackOf: c.pinned,
        ...(c.core.vendor === 'frr' && (c.rrs.size || c.direct) ? { frrDesired: configs.frr } : {}),
      };
    }
    const exportPrefixes = [...c.pools.values()].flat();
    const rrs = [...c.rrs.values()];
    let configs: RouterConfigs;
    if (rrs.length || c.direct) {
      const common: CoreRouterInput = {
        coreAsn: c.coreAsn,
        fabricAsn: c.fabricAsn,
        community: c.community,
        routeReflectors: c.direct ? [] : rrs,
        ...(c.direct ? { nodes: [...c.nodes.values()] } : {}),
        exportPrefixes,
        bgp: c.bgp,
        ...(c.blackholeCommunity ? { blackholeCommunity: c.blackholeCommunity } : {}),
        ...(c.bmpStation ? { bmpStation: c.bmpStation } : {}),
      };
      configs = {
        junos: renderJunosProcedure({ clusterName: c.name, ...common }),
        frr: renderFrrCore({ hostname: c.core.name, routerId: c.core.ip, ...common }),
      };
    } else {
      configs = noRrConfigs(c, exportPrefixes);
    }
    return {
      clusterId,
      vendor: c.core.vendor,
      configs,
      hash: contentHash(configs),
      ...(c.core.vendor === 'frr' && (rrs.length || c.direct) ? { frrDesired: configs.frr } : {}),
    };
  }

  /**
   * Dry run of a settings change: the core's config (in its vendor's format) rendered with `bgp` and
   * `community` instead of the current ones; the model is left exactly as it was.
   */
  previewBgp(clusterId: string, community: string, bgp: BgpOptions, md5Rotated: boolean): { kind: 'router'; targetId: string; config: string }[] {
    const c = this.clusters.get(clusterId);
    if (!c?.created) return [];
    const saved = { community: c.community, bgp: c.bgp, bmpStation: c.bmpStation };
    c.community = community;
    c.bgp = previewBgpOptions(c.bgp, bgp, md5Rotated);
    setBmpStation(c, bgp.bmpStation);
    try {
      const r = this.render(clusterId);
      return r ? [{ kind: 'router', targetId: clusterId, config: r.configs[r.vendor] }] : [];
    } finally {
      Object.assign(c, saved);
    }
  }

  private cluster(clusterId: string): Cluster {
    let c = this.clusters.get(clusterId);
    if (!c) {
      c = {
        clusterId,
        created: false,
        name: '',
        fabricAsn: 0,
        coreAsn: 0,
        community: '',
        core: { name: '', ip: '', vendor: 'junos' },
        bgp: { gracefulRestart: false, bfd: false },
        rrs: new Map(),
        direct: false,
        nodes: new Map(),
        pools: new Map(),
        versions: new Map(),
      };
      this.clusters.set(clusterId, c);
    }
    return c;
  }
}

function setBmpStation(c: Cluster, st: BmpStation | undefined): void {
  if (st) c.bmpStation = { address: st.address, port: st.port };
  else delete c.bmpStation;
}

/**
 * The next RouterConfigRendered of a cluster, or null when the content equals the last version.
 * Diffs are against the previous version (version 1: against an empty config).
 */
export function nextRouterConfig(last: LastRouterConfig | null, current: RenderedRouter): RouterConfigRenderedData | null {
  if (last && last.hash === current.hash) return null;
  const prev = last?.version ?? 0;
  const version = prev + 1;
  const diff = (v: RouterVendor) => unifiedDiff(last?.configs[v] ?? '', current.configs[v], `${v} v${prev}`, `${v} v${version}`);
  return {
    clusterId: current.clusterId,
    version,
    hash: current.hash,
    configs: { ...current.configs },
    diffs: { junos: diff('junos'), frr: diff('frr') },
    ...(current.rollbackOf !== undefined ? { rollbackOf: current.rollbackOf } : {}),
  };
}

/** An RR cluster without RRs (none given yet, or the last one removed): nothing to peer with, a warning only. */
function noRrConfigs(c: Cluster, exportPrefixes: string[]): RouterConfigs {
  const group = junosNames(c.name).group;
  const text = [
    `WARNING: ${NO_RR_WARNING}: cluster ${c.name} has no route reflector yet.`,
    `The core router (AS ${c.coreAsn}) will peer with its route reflectors (AS ${c.fabricAsn}) and accept only`,
    `host routes (/32, /128) inside: ${exportPrefixes.length ? exportPrefixes.join(', ') : '(no pools yet)'}.`,
    'Add a route reflector to the cluster to get the generated configuration (a lab without RRs: create it with topology direct).',
  ];
  return {
    junos: [`IP-Fabric: border router configuration for ${group}`, '', ...text, ''].join('\n'),
    frr: [...text.map((l) => `! ${l}`), ''].join('\n'),
  };
}
