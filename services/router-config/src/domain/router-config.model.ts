/**
 * Pure model of router-config: the core/border router configuration of each cluster (Junos procedure,
 * FRR), rendered from the cluster's RRs, pools and ASNs only — never from nodes or VMs, so it does not
 * change when they come and go. Versioned: a new version (with diffs) only when the content changes.
 */
import { type EventOf, type FabricEvent, type RouterVendor, type PrefixLimitAction } from '@fabric/contracts';
import { rangeToCidrs } from '@fabric/ipam-math';
import {
  type BgpOptions,
  type CoreRouterInput,
  bgpOptionsOf,
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
}

export interface LastRouterConfig {
  version: number;
  hash: string;
  configs: RouterConfigs;
}

export const NO_RR_WARNING = 'direct node-to-core peering without RR';

interface Cluster {
  clusterId: string;
  created: boolean;
  name: string;
  fabricAsn: number;
  coreAsn: number;
  community: string;
  core: { name: string; ip: string; vendor: RouterVendor };
  bgp: BgpOptions;
  blackholeCommunity?: string;
  rrs: Map<string, { name: string; ip: string }>;
  pools: Map<string, string[]>;
}

export class RouterConfigModel {
  private readonly clusters = new Map<string, Cluster>();

  /** Folds one event; returns the cluster ids whose router config may have changed (never for nodes/VMs). */
  apply(event: FabricEvent): string[] {
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
        });
        return [c.clusterId];
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

  /** Current configs of a cluster; undefined before ClusterCreated. Throws on input the renderers refuse. */
  render(clusterId: string): RenderedRouter | undefined {
    const c = this.clusters.get(clusterId);
    if (!c?.created) return undefined;
    const exportPrefixes = [...c.pools.values()].flat();
    const rrs = [...c.rrs.values()];
    let configs: RouterConfigs;
    if (rrs.length) {
      const common: CoreRouterInput = {
        coreAsn: c.coreAsn,
        fabricAsn: c.fabricAsn,
        community: c.community,
        routeReflectors: rrs,
        exportPrefixes,
        bgp: c.bgp,
        ...(c.blackholeCommunity ? { blackholeCommunity: c.blackholeCommunity } : {}),
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
      ...(c.core.vendor === 'frr' && rrs.length ? { frrDesired: configs.frr } : {}),
    };
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
        pools: new Map(),
      };
      this.clusters.set(clusterId, c);
    }
    return c;
  }
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
  };
}

/** Labs may peer nodes with the core directly; the renderers need RRs, so only a warning is produced. */
function noRrConfigs(c: Cluster, exportPrefixes: string[]): RouterConfigs {
  const group = junosNames(c.name).group;
  const text = [
    `WARNING: ${NO_RR_WARNING}: cluster ${c.name} has no route reflector (allowed for labs only).`,
    `The core router (AS ${c.coreAsn}) must peer with every node (AS ${c.fabricAsn}) by hand and accept only`,
    `host routes (/32, /128) inside: ${exportPrefixes.length ? exportPrefixes.join(', ') : '(no pools yet)'}.`,
    'Add a route reflector to the cluster to get the generated configuration.',
  ];
  return {
    junos: [`IP-Fabric: border router configuration for ${group}`, '', ...text, ''].join('\n'),
    frr: [...text.map((l) => `! ${l}`), ''].join('\n'),
  };
}
