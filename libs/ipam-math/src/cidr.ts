import * as ipaddr from 'ipaddr.js';
import { type IpFamily, IpMathError, addrToBigInt, bigIntToIp, describe, familyBits, parseAddress, parseIp } from './address';

export interface Cidr {
  family: IpFamily;
  /** Network address (host bits cleared). */
  first: bigint;
  /** Last address of the block (IPv4: broadcast). */
  last: bigint;
  prefixLength: number;
  /** "network/len" in canonical text, e.g. 2001:db8::/64. */
  canonical: string;
  /** True when the text had host bits set ("203.0.113.5/24"); `canonical` is then the enclosing network. */
  hostBitsSet: boolean;
}

export function parseCidr(text: unknown): Cidr {
  if (typeof text !== 'string' || text.length > 49 || !text.includes('/') || text.includes('%')) {
    throw new IpMathError(`not a CIDR block: ${describe(text)}`);
  }
  const [addrText, lenText] = text.split('/');
  if (!/^\d{1,3}$/.test(lenText ?? '')) throw new IpMathError(`not a CIDR block: ${describe(text)}`);
  const addr = parseAddress(addrText); // strict four-part IPv4
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(text);
  } catch {
    throw new IpMathError(`not a CIDR block: ${describe(text)}`);
  }
  const family: IpFamily = addr.kind() === 'ipv4' ? 4 : 6;
  const prefixLength = parsed[1];
  const hostBits = BigInt(familyBits(family) - prefixLength);
  const value = addrToBigInt(addr);
  const first = (value >> hostBits) << hostBits;
  const last = first + (1n << hostBits) - 1n;
  return { family, first, last, prefixLength, canonical: `${bigIntToIp(first, family)}/${prefixLength}`, hostBitsSet: first !== value };
}

const asCidr = (c: string | Cidr): Cidr => (typeof c === 'string' ? parseCidr(c) : c);

/** Blocks of different families never overlap. */
export function cidrsOverlap(a: string | Cidr, b: string | Cidr): boolean {
  const x = asCidr(a);
  const y = asCidr(b);
  return x.family === y.family && x.first <= y.last && y.first <= x.last;
}

export function cidrContains(cidr: string | Cidr, ip: string): boolean {
  const c = asCidr(cidr);
  const a = parseIp(ip);
  return a.family === c.family && a.value >= c.first && a.value <= c.last;
}

/** Inclusive range [start, end] of one family, as parsed bigints. */
export interface IpRange {
  family: IpFamily;
  first: bigint;
  last: bigint;
}

/** Parses "start".."end"; throws if either is invalid or the families differ. `first > last` is allowed (check it). */
export function parseRange(start: string, end: string): IpRange {
  const s = parseIp(start);
  const e = parseIp(end);
  if (s.family !== e.family) throw new IpMathError(`range ${start}-${end} mixes IPv4 and IPv6`);
  return { family: s.family, first: s.value, last: e.value };
}

export function rangeWithinCidr(start: string, end: string, cidr: string | Cidr): boolean {
  const r = parseRange(start, end);
  const c = asCidr(cidr);
  return r.family === c.family && r.first <= r.last && r.first >= c.first && r.last <= c.last;
}

export function rangeContains(start: string, end: string, ip: string): boolean {
  const r = parseRange(start, end);
  const a = parseIp(ip);
  return a.family === r.family && a.value >= r.first && a.value <= r.last;
}

/** Number of addresses in [start, end] (0 when start > end). */
export function rangeSize(start: string | bigint, end: string | bigint): bigint {
  const s = typeof start === 'string' ? parseIp(start).value : start;
  const e = typeof end === 'string' ? parseIp(end).value : end;
  return e >= s ? e - s + 1n : 0n;
}

/**
 * Addresses of a network that are never handed out, by decision:
 * - IPv4 shorter than /31: the network and broadcast addresses (many guests, ACLs and core routers treat
 *   them specially, and a /24 given to a customer elsewhere would break). /31 and /32 are all usable (RFC 3021).
 * - IPv6 shorter than /127: the subnet-router anycast address (host bits zero, RFC 4291 2.6.1).
 * Both lie at the ends of the network, so a pool's allocatable span is just the pool clamped to `usableRange`.
 */
export function usableRange(cidr: string | Cidr): { first: bigint; last: bigint } {
  const c = asCidr(cidr);
  if (c.family === 4) return c.prefixLength < 31 ? { first: c.first + 1n, last: c.last - 1n } : { first: c.first, last: c.last };
  return c.prefixLength < 127 ? { first: c.first + 1n, last: c.last } : { first: c.first, last: c.last };
}

export function isReservedAddress(cidr: string | Cidr, value: bigint): boolean {
  const c = asCidr(cidr);
  const u = usableRange(c);
  return value >= c.first && value <= c.last && (value < u.first || value > u.last);
}
