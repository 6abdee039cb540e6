/** Pure parsers for FRR vtysh JSON and `ip -j route` output. */

export interface FrrBgpPeer {
  peer: string;
  afi: string; // 'ipv4Unicast' | 'ipv6Unicast' | …
  remoteAs?: number;
  localAs?: number;
  state: string; // 'Established', 'Active', 'Connect', …
  established: boolean;
  prefixReceived?: number;
  prefixSent?: number;
  uptimeMsec?: number;
}

export interface FrrNexthop {
  ip?: string;
  interfaceName?: string;
  active: boolean;
  fib: boolean;
}

export interface FrrRoute {
  prefix: string;
  protocol: string;
  selected: boolean;
  installed: boolean;
  nexthops: FrrNexthop[];
}

export interface KernelRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  family: 4 | 6;
}

/** `show bgp summary json`: `{ ipv4Unicast: { peers: { <ip>: { state, … } } }, ipv6Unicast: … }`. */
export function parseBgpSummaryJson(text: string): FrrBgpPeer[] {
  const doc = JSON.parse(text || '{}') as Record<string, { peers?: Record<string, Record<string, unknown>> }>;
  const out: FrrBgpPeer[] = [];
  for (const [afi, section] of Object.entries(doc)) {
    if (!section || typeof section !== 'object' || !section.peers) continue;
    for (const [peer, p] of Object.entries(section.peers)) {
      const state = String(p.state ?? 'Unknown');
      out.push({
        peer,
        afi,
        remoteAs: typeof p.remoteAs === 'number' ? p.remoteAs : undefined,
        localAs: typeof p.localAs === 'number' ? p.localAs : undefined,
        state,
        established: state === 'Established',
        prefixReceived: typeof p.pfxRcd === 'number' ? p.pfxRcd : undefined,
        prefixSent: typeof p.pfxSnt === 'number' ? p.pfxSnt : undefined,
        uptimeMsec: typeof p.peerUptimeMsec === 'number' ? p.peerUptimeMsec : undefined,
      });
    }
  }
  return out;
}

/** `show ip route json` / `show ipv6 route json`: `{ <prefix>: [ { protocol, selected, installed, nexthops } ] }`. */
export function parseRouteJson(text: string): FrrRoute[] {
  const doc = JSON.parse(text || '{}') as Record<string, Record<string, unknown>[]>;
  const out: FrrRoute[] = [];
  for (const [prefix, entries] of Object.entries(doc)) {
    for (const e of entries ?? []) {
      const nhs = Array.isArray(e.nexthops) ? (e.nexthops as Record<string, unknown>[]) : [];
      out.push({
        prefix: String(e.prefix ?? prefix),
        protocol: String(e.protocol ?? 'unknown'),
        selected: e.selected === true,
        installed: e.installed === true,
        nexthops: nhs.map((n) => ({
          ip: typeof n.ip === 'string' ? n.ip : undefined,
          interfaceName: typeof n.interfaceName === 'string' ? n.interfaceName : undefined,
          active: n.active === true,
          fib: n.fib === true,
        })),
      });
    }
  }
  return out;
}

/** `ip -j route show` (one family). Host routes have no `/len` in iproute2's output. */
export function parseIpRouteJson(text: string, family: 4 | 6): KernelRoute[] {
  const rows = JSON.parse(text.trim() || '[]') as Record<string, unknown>[];
  return rows.map((r) => {
    let dst = String(r.dst);
    if (dst !== 'default' && !dst.includes('/')) dst += family === 4 ? '/32' : '/128';
    return {
      dst,
      gateway: typeof r.gateway === 'string' ? r.gateway : undefined,
      dev: typeof r.dev === 'string' ? r.dev : undefined,
      protocol: typeof r.protocol === 'string' ? r.protocol : undefined,
      family,
    };
  });
}
