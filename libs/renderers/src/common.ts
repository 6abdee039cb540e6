/**
 * Shared re-validation for renderers (defense in depth): every string that reaches a config is checked
 * here again, even if the HTTP edge already did, and rendered from its canonical form.
 */
import { createHash } from 'node:crypto';
import * as ipaddr from 'ipaddr.js';
import {
  BGP_TIMER_KEYS,
  type BgpTimers,
  DEFAULT_CORE_COMMUNITY,
  DEFAULT_PREFIX_LIMIT_ACTION,
  PASSWORD_PATTERN,
  PREFIX_LIMIT_ACTIONS,
  type PrefixLimitAction,
  UUID_PATTERN,
  bgpTimerProblems,
  canonicalIp,
  isAsn,
  isCidr,
  isCommunity,
  isCoreCommunity,
  isIp,
  isName,
} from '@fabric/contracts';

export interface BgpOptions extends BgpTimers {
  /** TCP MD5 secret; must match PASSWORD_PATTERN. */
  md5Password?: string;
  gracefulRestart: boolean;
  bfd: boolean;
  /** RR action when a node exceeds its prefix limit; default DEFAULT_PREFIX_LIMIT_ACTION. */
  prefixLimitAction?: PrefixLimitAction;
  /** Added by the RRs to routes sent to the core: `no-export` (default), `none` or `asn:value`. */
  coreCommunity?: string;
  /** The core's BMP station as the cluster event carries it; bgpOptionsOf drops it (CoreRouterInput.bmpStation renders it). */
  bmpStation?: BmpStation;
}

/** A cluster's BGP settings (from its event) as renderer options: these fields only, no md5Password key when none. */
export function bgpOptionsOf(b: BgpOptions): BgpOptions {
  return {
    ...(b.md5Password !== undefined ? { md5Password: b.md5Password } : {}),
    gracefulRestart: b.gracefulRestart,
    bfd: b.bfd,
    ...(b.prefixLimitAction !== undefined ? { prefixLimitAction: b.prefixLimitAction } : {}),
    ...(b.coreCommunity !== undefined ? { coreCommunity: b.coreCommunity } : {}),
    ...Object.fromEntries(BGP_TIMER_KEYS.filter((k) => b[k] !== undefined).map((k) => [k, b[k]])),
  };
}

/**
 * The options a dry run renders with: the settings after the change, and the current MD5 secret reference kept
 * (a rotation that sets MD5 for the first time renders a placeholder reference: redacted like any secret).
 */
export function previewBgpOptions(current: BgpOptions, after: BgpOptions, md5Rotated: boolean): BgpOptions {
  const { md5Password: _ignored, ...rest } = bgpOptionsOf(after);
  const md5 = current.md5Password ?? (md5Rotated ? '{{secret:0}}' : undefined);
  return { ...rest, ...(md5 !== undefined ? { md5Password: md5 } : {}) };
}

/**
 * Runs `render` with a model's cluster switched to the settings a dry run previews (`previewBgpOptions`), then
 * puts the cluster's own settings back, whatever `render` does.
 */
export function withPreviewBgp<T>(c: { community: string; bgp: BgpOptions }, community: string, bgp: BgpOptions, md5Rotated: boolean, render: () => T): T {
  const saved = { community: c.community, bgp: c.bgp };
  c.community = community;
  c.bgp = previewBgpOptions(c.bgp, bgp, md5Rotated);
  try {
    return render();
  } finally {
    Object.assign(c, saved);
  }
}

/** BgpOptions with the safety defaults filled in. */
export interface ValidBgpOptions extends BgpOptions {
  prefixLimitAction: PrefixLimitAction;
  coreCommunity: string;
}

export interface Peer {
  name: string;
  ip: string;
}

/** What both core router renderers (FRR, Junos) take from the cluster. */
export interface CoreRouterInput {
  coreAsn: number;
  fabricAsn: number;
  /** Cluster community `asn:value`: the core accepts only routes carrying it. */
  community: string;
  routeReflectors: Peer[];
  /**
   * Direct topology (lab/test stands, no RR): the core's neighbors are these nodes instead, with the same
   * per-session policy; routeReflectors must then be empty. Absent: the RR topology.
   */
  nodes?: Peer[];
  /** CIDRs of the cluster's networks/pools. */
  exportPrefixes: string[];
  bgp: BgpOptions;
  /** RTBH community (default RFC 7999 BLACKHOLE 65535:666): fabric routes carrying it are discarded at the core. */
  blackholeCommunity?: string;
  /** The BMP collector the core reports its post-policy routes to (docs/adr/bmp-collector.md); none when unset. */
  bmpStation?: BmpStation;
}

export interface BmpStation {
  address: string;
  port: number;
}

/** A BMP station: an IP address and a TCP port (1-65535), canonical. */
export function bmpStation(v: unknown): BmpStation | undefined {
  if (v === undefined) return undefined;
  if (!v || typeof v !== 'object') fail('bmpStation', v);
  const o = v as Record<string, unknown>;
  const port = o.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) fail('bmpStation.port', port);
  return { address: ip(o.address, 'bmpStation.address'), port: port as number };
}

export function fail(what: string, value: unknown): never {
  throw new Error(`invalid ${what}: ${JSON.stringify(value)}`);
}

export function name(v: unknown, what: string): string {
  if (!isName(v)) fail(what, v);
  return v;
}

export function ip(v: unknown, what: string, family?: 4 | 6): string {
  if (!isIp(v, family)) fail(what, v);
  return canonicalIp(v);
}

export function asn(v: unknown, what: string): number {
  if (!isAsn(v)) fail(what, v);
  return v;
}

/** `65000:100` → [65000, 100] */
export function community(v: unknown): [number, number] {
  if (!isCommunity(v)) fail('community', v);
  const [a, b] = v.split(':').map(Number);
  return [a, b];
}

export function bgpOptions(v: unknown): ValidBgpOptions {
  if (!v || typeof v !== 'object') fail('bgp options', v);
  const o = v as Record<string, unknown>;
  if (o.md5Password !== undefined && (typeof o.md5Password !== 'string' || !PASSWORD_PATTERN.test(o.md5Password))) {
    fail('md5Password', '<redacted>');
  }
  if (typeof o.gracefulRestart !== 'boolean') fail('bgp.gracefulRestart', o.gracefulRestart);
  if (typeof o.bfd !== 'boolean') fail('bgp.bfd', o.bfd);
  const action = o.prefixLimitAction ?? DEFAULT_PREFIX_LIMIT_ACTION;
  if (!(PREFIX_LIMIT_ACTIONS as readonly unknown[]).includes(action)) fail('bgp.prefixLimitAction', action);
  const coreCommunity = o.coreCommunity ?? DEFAULT_CORE_COMMUNITY;
  if (!isCoreCommunity(coreCommunity)) fail('bgp.coreCommunity', coreCommunity);
  const timers: BgpTimers = {};
  for (const k of BGP_TIMER_KEYS) if (o[k] !== undefined) timers[k] = o[k] as number;
  const problems = Object.keys(bgpTimerProblems(timers));
  if (problems.length) fail(`bgp.${problems[0]}`, o[problems[0]]);
  return {
    md5Password: o.md5Password as string | undefined,
    gracefulRestart: o.gracefulRestart,
    bfd: o.bfd,
    prefixLimitAction: action as PrefixLimitAction,
    coreCommunity,
    ...timers,
  };
}

/**
 * Receive limit of one node session (per address family), from the prefixes placed on the node:
 * max(NODE_PREFIX_LIMIT_FLOOR, the next power of two >= 2 x placed). Twice the placed count leaves room for
 * VMs that arrive before the RR's config does; the power-of-two bucket means the limit (and so the RR
 * config) changes only when a node's placed count crosses a bucket edge, not with every VM.
 */
export const NODE_PREFIX_LIMIT_FLOOR = 256;
export function nodePrefixLimit(placed: number): number {
  let limit = NODE_PREFIX_LIMIT_FLOOR;
  while (limit < 2 * placed) limit *= 2;
  return limit;
}

/**
 * The core's BGP neighbors: the RRs, or in the direct topology the nodes (none yet is valid: a lab cluster
 * before its first node). Validated like any peer list.
 */
export function corePeers(input: Pick<CoreRouterInput, 'routeReflectors' | 'nodes'>): { direct: boolean; neighbors: Peer[] } {
  if (input.nodes === undefined) return { direct: false, neighbors: peers(input.routeReflectors, 'routeReflectors') };
  if (peers(input.routeReflectors ?? [], 'routeReflectors', 0).length) throw new Error('routeReflectors must be empty when nodes peer the core directly');
  return { direct: true, neighbors: peers(input.nodes, 'nodes', 0) };
}

/** FRR's and Junos's largest prefix limit. */
export const MAX_PREFIX_LIMIT = 4294967295;
/**
 * Prefix limit of each core session to an RR, per family: every address of the cluster's pools (one host
 * route each at most: an RR sends its best route per prefix) plus 10% (at least 16) of headroom, capped at
 * MAX_PREFIX_LIMIT (an IPv6 /64 pool is effectively unlimited: the RRs' per-node limits bound it instead).
 */
export function poolPrefixLimit(pools: Cidr[], family: 4 | 6): number {
  const bits = family === 4 ? 32 : 128;
  let total = 0n;
  for (const c of pools) if (c.family === family) total += 1n << BigInt(bits - c.len);
  const headroom = total / 10n > 16n ? total / 10n : 16n;
  const limit = total + headroom;
  return limit > BigInt(MAX_PREFIX_LIMIT) ? MAX_PREFIX_LIMIT : Number(limit);
}

/** The core community as [asn, value], or undefined for `none`; `no-export` is RFC 1997's 65535:65281. */
export function coreCommunityPair(v: string): [number, number] | undefined {
  if (v === 'none') return undefined;
  if (v === 'no-export') return [65535, 65281];
  return community(v);
}

export interface Cidr {
  /** canonical `addr/len` */
  text: string;
  addr: string;
  len: number;
  family: 4 | 6;
}

/** A CIDR whose host bits are zero (a network, or a /32 /128 host route), canonicalised. */
export function network(v: unknown, what: string): Cidr {
  if (!isCidr(v)) fail(what, v);
  const [addr, len] = ipaddr.parseCIDR(v);
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  const netAddr = family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(v).toString() : ipaddr.IPv6.networkAddressFromCIDR(v).toString();
  if (netAddr !== addr.toString()) fail(`${what} (host bits set)`, v);
  return { text: `${netAddr}/${len}`, addr: netAddr, len, family };
}

export function hostRoute(v: unknown, what: string): Cidr {
  const c = network(v, what);
  if (c.len !== (c.family === 4 ? 32 : 128)) fail(`${what} (not a /32 or /128)`, v);
  return c;
}

/** Sorted, de-duplicated, by family then address bytes, so output is deterministic. */
export function sortCidrs(list: Cidr[]): Cidr[] {
  const key = (c: Cidr) => `${c.family}:${Buffer.from(ipaddr.parse(c.addr).toByteArray()).toString('hex')}/${String(c.len).padStart(3, '0')}`;
  const seen = new Map<string, Cidr>();
  for (const c of list) seen.set(key(c), c);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, c]) => c);
}

export function array<T>(v: unknown, what: string): T[] {
  if (!Array.isArray(v)) fail(what, v);
  return v as T[];
}

/** Validated peers, sorted by name; names and addresses must be unique (case-insensitive names). */
export function peers(v: unknown, what: string, min = 1): Peer[] {
  const list = array<Peer>(v, what);
  if (list.length < min) throw new Error(`${what}: at least ${min} required`);
  const out = list.map((p, i) => ({
    name: name(p?.name, `${what}[${i}].name`),
    ip: ip(p?.ip, `${what}[${i}].ip`),
  }));
  unique(
    out.map((p) => p.name.toLowerCase()),
    `${what} name`,
  );
  unique(
    out.map((p) => p.ip),
    `${what} ip`,
  );
  return out.sort((a, b) => cmp(a.name, b.name));
}

export function unique(values: string[], what: string): void {
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) throw new Error(`duplicate ${what}: ${JSON.stringify(v)}`);
    seen.add(v);
  }
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** BIRD symbols are at most 64 chars; long names keep a readable head plus a hash for uniqueness. */
const BIRD_SYM_MAX = 64;
export function birdIdent(prefix: string, validName: string, suffixRoom = 0): string {
  const base = validName.toLowerCase().replace(/-/g, '_');
  if (prefix.length + base.length + suffixRoom <= BIRD_SYM_MAX) return prefix + base;
  const h = createHash('sha256').update(validName.toLowerCase()).digest('hex').slice(0, 8);
  return prefix + base.slice(0, BIRD_SYM_MAX - prefix.length - suffixRoom - 9) + '_' + h;
}

export function isUuid(v: unknown): v is string {
  return typeof v === 'string' && UUID_PATTERN.test(v);
}

/** Dotted quad (router id, cluster id). */
export function dottedQuad(v: unknown, what: string): string {
  return ip(v, what, 4);
}

/** The local address of the neighbor's family; an IPv6 neighbor needs localIp6 (BFD and next hop self need it). */
export function localFor(neighbor: string, local4: string, local6?: string): string {
  if (isIp(neighbor, 4)) return local4;
  if (!local6) throw new Error(`localIp6 is required for the IPv6 neighbor ${neighbor}`);
  return local6;
}

/**
 * The start of every BIRD config we render: who generated it, the router id, the device protocol (BIRD
 * must see the interfaces: kernel learning on nodes, `direct` sessions on RRs) and BFD when enabled.
 */
export function birdHeader(what: string, routerId: string, bgp: BgpOptions): string[] {
  return [
    `# Generated by the IP-Fabric control plane for ${what}. Do not edit: changes are overwritten.`,
    `router id ${routerId};`,
    '',
    'protocol device {',
    '}',
    '',
    ...(bgp.bfd ? birdBfdProtocol(bgp) : []),
  ];
}

/** `protocol bfd` with the cluster's intervals (same for direct and multihop sessions); none set: BIRD's defaults. */
function birdBfdProtocol(bgp: BgpOptions): string[] {
  const opts: string[] = [];
  if (bgp.bfdMinRxMs !== undefined) opts.push(`min rx interval ${bgp.bfdMinRxMs} ms;`);
  if (bgp.bfdMinTxMs !== undefined) opts.push(`min tx interval ${bgp.bfdMinTxMs} ms;`);
  if (bgp.bfdMultiplier !== undefined) opts.push(`multiplier ${bgp.bfdMultiplier};`);
  if (!opts.length) return ['protocol bfd fabric_bfd {', '}', ''];
  const block = (head: string) => [`  ${head} {`, ...opts.map((o) => `    ${o}`), '  };'];
  return ['protocol bfd fabric_bfd {', ...block('interface "*"'), ...block('multihop'), '}', ''];
}

/**
 * BIRD's wait before it restarts a session that failed: 5 s after a first error, doubling up to 60 s while errors
 * keep coming (BIRD's default is 60 s to 300 s). A fabric session drops for a reason that is usually gone at once — a
 * BFD session the peer re-created when BGP came up, BFD switched off (the peer's Cease), a link back after a cut, a
 * node back under its prefix limit — and a minute's wait kept the routes away from the core that long.
 */
export const BIRD_ERROR_WAIT = 'error wait time 5, 60;';

/** Session options of every BIRD BGP protocol we render: MD5, timers, graceful restart, BFD, error wait. */
export function birdSessionOptions(bgp: BgpOptions): string[] {
  const l: string[] = [`  ${BIRD_ERROR_WAIT}`];
  if (bgp.md5Password !== undefined) l.push(`  password "${bgp.md5Password}";`);
  if (bgp.holdTime !== undefined) l.push(`  hold time ${bgp.holdTime};`);
  if (bgp.keepaliveTime !== undefined) l.push(`  keepalive time ${bgp.keepaliveTime};`);
  if (bgp.gracefulRestart) l.push('  graceful restart on;');
  if (bgp.gracefulRestart && bgp.gracefulRestartTime !== undefined) l.push(`  graceful restart time ${bgp.gracefulRestartTime};`);
  if (bgp.bfd) l.push('  bfd on;');
  return l;
}
