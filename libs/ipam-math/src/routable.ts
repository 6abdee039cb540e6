/**
 * Whether a block may hold VM addresses: every VM address is a unicast /32 or /128 announced by BGP, so a
 * network must be routable unicast space. Blocks that no router forwards (loopback, link-local, multicast,
 * class E, the unspecified / "this network" block), a default route, and anything wider than the operator's
 * minimum prefix length are refused.
 */
import { type Cidr, parseCidr } from './cidr';

export interface NetworkPolicy {
  /** The widest network accepted, per family (a /8 of VM addresses is almost certainly a typo). */
  minPrefixLength: { 4: number; 6: number };
}

export const DEFAULT_NETWORK_POLICY: NetworkPolicy = { minPrefixLength: { 4: 16, 6: 32 } };

export type NetworkProblemCode = 'network-is-default-route' | 'network-too-wide' | 'network-not-unicast';

export interface NetworkProblem {
  code: NetworkProblemCode;
  message: string;
}

interface Block {
  cidr: Cidr;
  what: string;
}
const block = (text: string, what: string): Block => ({ cidr: parseCidr(text), what });

/** IPv4 blocks that are never routable unicast for a VM. */
const V4_FORBIDDEN: Block[] = [
  block('0.0.0.0/8', 'the "this network" / unspecified block 0.0.0.0/8'),
  block('127.0.0.0/8', 'loopback 127.0.0.0/8'),
  block('169.254.0.0/16', 'link-local 169.254.0.0/16'),
  block('224.0.0.0/4', 'multicast 224.0.0.0/4'),
  block('240.0.0.0/4', 'reserved class E 240.0.0.0/4 (and the limited broadcast address)'),
];
/** IPv6: only global unicast (2000::/3) and unique local (fc00::/7) hold VM addresses. */
const V6_ALLOWED: Block[] = [block('2000::/3', 'global unicast'), block('fc00::/7', 'unique local')];

const within = (inner: Cidr, outer: Cidr) => inner.first >= outer.first && inner.last <= outer.last;
const overlaps = (a: Cidr, b: Cidr) => a.first <= b.last && b.first <= a.last;

/** Why `cidr` may not be a VM network under `policy`, or undefined when it may. `cidr` must parse. */
export function networkProblem(cidr: string | Cidr, policy: NetworkPolicy = DEFAULT_NETWORK_POLICY): NetworkProblem | undefined {
  const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
  if (c.prefixLength === 0) return { code: 'network-is-default-route', message: `${c.canonical} is a default route, not a network of VM addresses` };
  if (c.family === 4) {
    const bad = V4_FORBIDDEN.find((b) => overlaps(c, b.cidr));
    if (bad) return { code: 'network-not-unicast', message: `${c.canonical} overlaps ${bad.what}, which is not routable unicast space` };
  } else if (!V6_ALLOWED.some((b) => within(c, b.cidr))) {
    return {
      code: 'network-not-unicast',
      message: `${c.canonical} is not inside global unicast 2000::/3 or unique local fc00::/7 (loopback, link-local, multicast, IPv4-mapped and other special blocks are refused)`,
    };
  }
  const min = policy.minPrefixLength[c.family];
  if (c.prefixLength < min) {
    return { code: 'network-too-wide', message: `${c.canonical} is wider than the minimum prefix length /${min} for IPv${c.family} networks` };
  }
  return undefined;
}

/** Why a single address may not be a BGP speaker's or a VM's (same blocks as networks), or undefined. */
export function addressProblem(ip: string): NetworkProblem | undefined {
  const c = parseCidr(`${ip}/${ip.includes(':') ? 128 : 32}`);
  const p = networkProblem(c, { minPrefixLength: { 4: 0, 6: 0 } });
  return p && { code: 'network-not-unicast', message: p.message.replace(c.canonical, ip) };
}

/** Where tenant private networks may live: never routed, so never overlapping what the fabric announces. */
const PRIVATE_V4: Block[] = [
  block('10.0.0.0/8', 'RFC 1918'),
  block('172.16.0.0/12', 'RFC 1918'),
  block('192.168.0.0/16', 'RFC 1918'),
  block('100.64.0.0/10', 'RFC 6598'),
];
const PRIVATE_V6: Block[] = [block('fc00::/7', 'RFC 4193 unique local')];
/** Sane sizes of a private network: one L2 segment (VNI), its ARP/ND table and the IPAM walk stay small. */
export const PRIVATE_PREFIX_LENGTHS = { 4: { min: 16, max: 29 }, 6: { min: 48, max: 124 } } as const;

export type PrivateNetworkProblemCode = 'private-network-not-private' | 'private-network-size';

/** Why `cidr` may not be a tenant private network, or undefined when it may. `cidr` must parse. */
export function privateNetworkProblem(cidr: string | Cidr): { code: PrivateNetworkProblemCode; message: string } | undefined {
  const c = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
  const allowed = c.family === 4 ? PRIVATE_V4 : PRIVATE_V6;
  if (!allowed.some((b) => within(c, b.cidr))) {
    return {
      code: 'private-network-not-private',
      message:
        c.family === 4
          ? `${c.canonical} is not inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918) or 100.64.0.0/10 (RFC 6598)`
          : `${c.canonical} is not inside the unique local block fc00::/7 (RFC 4193)`,
    };
  }
  const { min, max } = PRIVATE_PREFIX_LENGTHS[c.family];
  if (c.prefixLength < min || c.prefixLength > max) {
    return { code: 'private-network-size', message: `${c.canonical}: an IPv${c.family} private network must be a /${min} to /${max}` };
  }
  return undefined;
}
