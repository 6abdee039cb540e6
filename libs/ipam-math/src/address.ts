/**
 * Address <-> bigint conversions. Every range computation in IPAM is done on bigints so that IPv6
 * ranges (2^64 and more) are never materialised.
 */
import * as ipaddr from 'ipaddr.js';

export type IpFamily = 4 | 6;

/** A parsed address: family plus its numeric value. */
export interface IpValue {
  family: IpFamily;
  value: bigint;
}

export class IpMathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IpMathError';
  }
}

export const MAX_V4 = (1n << 32n) - 1n;
export const MAX_V6 = (1n << 128n) - 1n;
export const maxValue = (family: IpFamily): bigint => (family === 4 ? MAX_V4 : MAX_V6);
export const familyBits = (family: IpFamily): number => (family === 4 ? 32 : 128);

/**
 * Strict parse: plain unicast text only. IPv4 must be four decimal parts (ipaddr.js alone also accepts
 * "10.1" or "0x0a.0.0.1", which would surprise an operator); no zone ids, no prefix lengths.
 */
export function parseAddress(text: unknown): ipaddr.IPv4 | ipaddr.IPv6 {
  if (typeof text !== 'string' || text.length === 0 || text.length > 45 || text.includes('%') || text.includes('/')) {
    throw new IpMathError(`not an IP address: ${describe(text)}`);
  }
  if (!ipaddr.isValid(text)) throw new IpMathError(`not an IP address: ${describe(text)}`);
  const addr = ipaddr.parse(text);
  if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(text)) {
    throw new IpMathError(`not a four-part decimal IPv4 address: ${describe(text)}`);
  }
  // ::ffff:a.b.c.d would be a second spelling of an IPv4 address in another family: refused, never stored.
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    throw new IpMathError(`IPv4-mapped IPv6 address ${describe(text)}: use the IPv4 address itself`);
  }
  return addr;
}

export function isValidIp(text: unknown, family?: IpFamily): boolean {
  try {
    const addr = parseAddress(text);
    return !family || familyOfAddr(addr) === family;
  } catch {
    return false;
  }
}

const familyOfAddr = (addr: ipaddr.IPv4 | ipaddr.IPv6): IpFamily => (addr.kind() === 'ipv4' ? 4 : 6);

export function ipFamilyOf(text: string): IpFamily {
  return familyOfAddr(parseAddress(text));
}

export function addrToBigInt(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  if (addr.kind() === 'ipv4') {
    const o = (addr as ipaddr.IPv4).octets;
    return BigInt(((o[0] << 24) >>> 0) + (o[1] << 16) + (o[2] << 8) + o[3]);
  }
  let v = 0n;
  for (const part of (addr as ipaddr.IPv6).parts) v = (v << 16n) | BigInt(part);
  return v;
}

/** "203.0.113.7" → { family: 4, value: 3405803783n } */
export function parseIp(text: string): IpValue {
  const addr = parseAddress(text);
  return { family: familyOfAddr(addr), value: addrToBigInt(addr) };
}

export function ipToBigInt(text: string): bigint {
  return parseIp(text).value;
}

/** Canonical text (IPv4 dotted quad, IPv6 RFC 5952: lower-case, shortest form). */
export function bigIntToIp(value: bigint, family: IpFamily): string {
  if (value < 0n || value > maxValue(family)) throw new IpMathError(`value out of range for IPv${family}: ${value}`);
  if (family === 4) {
    const n = Number(value);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const parts = new Array<number>(8);
  let v = value;
  for (let i = 7; i >= 0; i--) {
    parts[i] = Number(v & 0xffffn);
    v >>= 16n;
  }
  return new ipaddr.IPv6(parts).toString();
}

export function canonical(text: string): string {
  return parseAddress(text).toString();
}

export function describe(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}
