/**
 * Test-only fast-check arbitraries: renderer inputs built from values the API validators accept (names,
 * routable unicast addresses, ASNs, communities, MD5 passwords), and helpers to reduce a rendered config to
 * its statement shapes. Shared by the property specs and the integration test through the real daemons.
 */
import fc from 'fast-check';
import * as ipaddr from 'ipaddr.js';
import { NAME_PATTERN, PASSWORD_PATTERN, PREFIX_LIMIT_ACTIONS, isIp } from '@fabric/contracts';
import { addressProblem } from '@fabric/ipam-math';
import type { BgpOptions, FrrCoreInput, JunosInput, NodeBirdInput, RrBirdInput } from './index';

/** One seed for every property: a failure prints its path and reproduces with the same seed. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20251202);

/** Any name the API accepts (DNS-label-like). */
export const anyName = fc.stringMatching(NAME_PATTERN);
/**
 * Names that never occur inside the renderers' own words ("zq…"), at most 24 characters (no hashed BIRD
 * symbols), so every occurrence in the output can be told apart from the template.
 */
export const markerName = fc.stringMatching(/^[a-z0-9-]{0,20}[a-z0-9]$/).map((s) => `zq${s}`);

/** Routable unicast IPv4 in canonical dotted-quad form. */
export const ipv4 = fc
  .tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
  .map((o) => o.join('.'))
  .filter((ip) => isIp(ip, 4) && !addressProblem(ip));
/** Global unicast IPv6 (2000::/3), canonical text. */
export const ipv6 = fc
  .tuple(fc.integer({ min: 0x2000, max: 0x3fff }), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 7, maxLength: 7 }))
  .map(([first, rest]) => ipaddr.parse([first, ...rest].map((g) => g.toString(16)).join(':')).toString());

export const asnArb = fc.integer({ min: 1, max: 4294967295 });
export const asnPair = fc.tuple(asnArb, asnArb).filter(([a, b]) => a !== b);
export const communityArb = fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 })).map(([a, b]) => `${a}:${b}`);
export const passwordArb = fc.stringMatching(PASSWORD_PATTERN);
export const bgpArb: fc.Arbitrary<BgpOptions> = fc.record(
  {
    md5Password: fc.option(passwordArb, { nil: undefined }),
    gracefulRestart: fc.boolean(),
    bfd: fc.boolean(),
    prefixLimitAction: fc.option(fc.constantFrom(...PREFIX_LIMIT_ACTIONS), { nil: undefined }),
    coreCommunity: fc.option(fc.oneof(fc.constantFrom('no-export', 'none'), communityArb), { nil: undefined }),
  },
  { requiredKeys: ['gracefulRestart', 'bfd'] },
);

const toNetwork = (ip: string, len: number) => {
  const addr = ipaddr.parse(ip);
  const net = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${ip}/${len}`) : ipaddr.IPv6.networkAddressFromCIDR(`${ip}/${len}`);
  return `${net.toString()}/${len}`;
};
export const prefix4 = fc.tuple(ipv4, fc.integer({ min: 16, max: 32 })).map(([ip, len]) => toNetwork(ip, len));
export const prefix6 = fc.tuple(ipv6, fc.integer({ min: 32, max: 128 })).map(([ip, len]) => toNetwork(ip, len));
export const host4 = ipv4.map((ip) => `${ip}/32`);
export const host6 = ipv6.map((ip) => `${ip}/128`);

/** `n` distinct IPv4 addresses. */
const distinct4 = (min: number, max: number) => fc.uniqueArray(ipv4, { minLength: min, maxLength: max });
const uniqueNames = (names: fc.Arbitrary<string>, min: number, max: number) =>
  fc.uniqueArray(names, { minLength: min, maxLength: max, selector: (s) => s.toLowerCase() });

/** Peers with distinct names (case-insensitively) and addresses. */
function peersArb(names: fc.Arbitrary<string>, min: number, max: number, exclude: string[] = []) {
  return fc
    .tuple(uniqueNames(names, min, max), distinct4(max + exclude.length, max + exclude.length))
    .map(([ns, ips]) => {
      const free = ips.filter((ip) => !exclude.includes(ip));
      return ns.map((name, i) => ({ name, ip: free[i] })).filter((p) => p.ip !== undefined);
    })
    .filter((ps) => ps.length >= min);
}

export function nodeBirdInput(names: fc.Arbitrary<string> = anyName): fc.Arbitrary<NodeBirdInput> {
  return fc
    .record({
      nodeName: names,
      local: ipv4,
      local6: fc.option(ipv6, { nil: undefined }),
      fabricAsn: asnArb,
      community: communityArb,
      kernelProtocolNumber: fc.integer({ min: 1, max: 255 }).filter((n) => ![2, 12].includes(n)),
      rrs: peersArb(names, 1, 4),
      bgp: bgpArb,
    })
    .filter((r) => !r.rrs.some((p) => p.ip === r.local))
    .map((r) => ({
      nodeName: r.nodeName,
      routerId: r.local,
      fabricAsn: r.fabricAsn,
      community: r.community,
      kernelProtocolNumber: r.kernelProtocolNumber,
      routeReflectors: r.rrs,
      bgp: r.bgp,
      localIp: r.local,
      ...(r.local6 ? { localIp6: r.local6 } : {}),
    }));
}

export function rrBirdInput(names: fc.Arbitrary<string> = anyName): fc.Arbitrary<RrBirdInput> {
  return fc
    .record({
      rrName: names,
      asns: asnPair,
      community: communityArb,
      clusterId: ipv4,
      coreName: names,
      nodeNames: uniqueNames(names, 0, 5),
      ips: distinct4(7, 7),
      ids: fc.array(fc.uuid({ version: 4 }), { minLength: 5, maxLength: 5 }),
      tags: fc.uniqueArray(fc.integer({ min: 4200000000, max: 4294967294 }), { minLength: 5, maxLength: 5 }),
      exportPrefixes: fc.array(fc.oneof(prefix4, prefix6), { maxLength: 6 }),
      bgp: bgpArb,
    })
    .map((r) => ({
      rrName: r.rrName,
      routerId: r.ips[0],
      fabricAsn: r.asns[0],
      coreAsn: r.asns[1],
      community: r.community,
      rrClusterId: r.clusterId,
      localIp: r.ips[0],
      core: { name: r.coreName, ip: r.ips[1] },
      nodes: r.nodeNames.map((name, i) => ({ id: r.ids[i], name, underlayIp: r.ips[2 + i], originTag: r.tags[i] })),
      exportPrefixes: r.exportPrefixes,
      bgp: r.bgp,
    }));
}

export function frrCoreInput(names: fc.Arbitrary<string> = anyName): fc.Arbitrary<FrrCoreInput> {
  return fc
    .record({
      hostname: names,
      routerId: ipv4,
      asns: asnPair,
      community: communityArb,
      rrs: peersArb(names, 1, 4),
      exportPrefixes: fc.array(fc.oneof(prefix4, prefix6), { maxLength: 6 }),
      bgp: bgpArb,
    })
    .map((r) => ({
      hostname: r.hostname,
      routerId: r.routerId,
      coreAsn: r.asns[1],
      fabricAsn: r.asns[0],
      community: r.community,
      routeReflectors: r.rrs,
      exportPrefixes: r.exportPrefixes,
      bgp: r.bgp,
    }));
}

export function junosInput(names: fc.Arbitrary<string> = anyName): fc.Arbitrary<JunosInput> {
  return fc
    .record({
      clusterName: names,
      asns: asnPair,
      community: communityArb,
      rrs: peersArb(names, 1, 4),
      exportPrefixes: fc.array(fc.oneof(prefix4, prefix6), { maxLength: 6 }),
      bgp: bgpArb,
    })
    .map((r) => ({
      clusterName: r.clusterName,
      coreAsn: r.asns[1],
      fabricAsn: r.asns[0],
      community: r.community,
      routeReflectors: r.rrs,
      exportPrefixes: r.exportPrefixes,
      bgp: r.bgp,
    }));
}

const IPV4 = /\b(?:\d{1,3}\.){3}\d{1,3}(?:\/\d{1,3})?\b/g;
const IPV6 = /(?<![\w:])[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}(?:\/\d{1,3})?(?![\w:])/g;

/** Every address (with its /len when given) in a config, as canonical `addr` text. */
export function addressesIn(config: string): Set<string> {
  const out = new Set<string>();
  for (const m of config.match(IPV4) ?? []) out.add(m.split('/')[0]);
  for (const m of config.match(IPV6) ?? []) {
    const a = m.split('/')[0];
    if (ipaddr.isValid(a) && (a.includes('::') || a.split(':').length === 8)) out.add(ipaddr.parse(a).toString());
  }
  return out;
}

/** Every address an input names (any string field that is an address or a CIDR, at any depth). */
export function addressesOf(input: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown) => {
    if (typeof v === 'string') {
      const a = v.split('/')[0];
      if (isIp(a)) out.add(ipaddr.parse(a).toString());
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(input);
  return out;
}

/** The password replaced by <PW> only where a config holds one: a quoted string, or FRR's last word. */
export function maskPassword(config: string, password?: string): string {
  if (!password) return config;
  return config
    .split('\n')
    .map((line) => {
      const l = line.split(`"${password}"`).join('"<PW>"');
      return l.endsWith(` password ${password}`) ? `${l.slice(0, -password.length)}<PW>` : l;
    })
    .join('\n');
}

/**
 * The statement shapes of a config: each line with the password, the (marker) names, addresses and numbers
 * replaced by placeholders. Inputs built with `markerName` can be compared shape by shape.
 */
export function shapes(config: string, password?: string): Set<string> {
  const out = new Set<string>();
  for (let line of maskPassword(config, password).split('\n')) {
    line = line
      .replace(/zq[a-z0-9_-]*/gi, '<NAME>')
      .replace(IPV4, '<IP>')
      .replace(IPV6, '<IP>')
      .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<ID>')
      .replace(/\d+/g, '<N>')
      // lists of addresses are one shape whatever their length
      .replace(/<IP>(?:\{<N>,<N>\})?(?:, <IP>(?:\{<N>,<N>\})?)*/g, '<IPS>');
    out.add(line);
  }
  return out;
}
