/**
 * Strict patterns for everything a user controls that may end up in a BIRD / FRR / Junos file or a
 * command line. Anything not matching is rejected at the edge (HTTP DTOs) and again when events are read.
 */
import * as ipaddr from 'ipaddr.js';

/** DNS-label style names: letters, digits, dashes; no quotes, braces, spaces, semicolons or newlines. */
export const NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** Owner ids come from billing systems: a little wider, still inert in any config or shell. */
export const OWNER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
export const MAC_PATTERN = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;
/** Standard BGP community `asn:value`, each 0..65535. */
export const COMMUNITY_PATTERN = /^(\d{1,5}):(\d{1,5})$/;
/** MD5 passwords go into quoted strings: printable ASCII without quotes, backslashes or spaces. */
export const PASSWORD_PATTERN = /^[A-Za-z0-9!#$%&()*+,\-./:<=>?@\[\]^_{|}~]{1,80}$/;
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What a route reflector does when a node exceeds its prefix limit (BIRD `receive limit … action`). */
export const PREFIX_LIMIT_ACTIONS = ['restart', 'disable', 'block', 'warn'] as const;
export type PrefixLimitAction = (typeof PREFIX_LIMIT_ACTIONS)[number];
/** Cut the node off, and let it back once its announcements are sane again (faults heal by themselves). */
export const DEFAULT_PREFIX_LIMIT_ACTION: PrefixLimitAction = 'restart';
/**
 * Community the route reflectors add to every fabric route they send to the core: `no-export` (default:
 * the core keeps the /32s inside its AS), `none`, or an `asn:value` the operator's border policy acts on.
 */
export const DEFAULT_CORE_COMMUNITY = 'no-export';
export function isCoreCommunity(v: unknown): v is string {
  return v === 'no-export' || v === 'none' || isCommunity(v);
}
/** Why a cluster runs without BGP MD5 (recorded, never rendered): text without quotes, semicolons or braces. */
export const MD5_OPT_OUT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 .,:()_+\-\/]{2,199}$/;

export const MIN_ASN = 1;
export const MAX_ASN = 4294967295;

export function isAsn(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= MIN_ASN && v <= MAX_ASN;
}

export function isCommunity(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const m = COMMUNITY_PATTERN.exec(v);
  return !!m && Number(m[1]) <= 65535 && Number(m[2]) <= 65535;
}

/** A plain unicast address in canonical-ish form (no zone, no prefix length). */
export function isIp(v: unknown, family?: 4 | 6): v is string {
  if (typeof v !== 'string' || v.length > 45 || v.includes('%') || v.includes('/')) return false;
  if (!ipaddr.isValid(v)) return false;
  const addr = ipaddr.parse(v);
  if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(v)) return false;
  // ::ffff:a.b.c.d is an IPv4 address spelled as IPv6: refused so one address has one spelling.
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return false;
  if (family === 4) return addr.kind() === 'ipv4';
  if (family === 6) return addr.kind() === 'ipv6';
  return true;
}

export function isCidr(v: unknown): v is string {
  if (typeof v !== 'string' || v.length > 49 || v.includes('%')) return false;
  try {
    const [addr, len] = ipaddr.parseCIDR(v);
    if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(v.split('/')[0])) return false;
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return false;
    return Number.isInteger(len);
  } catch {
    return false;
  }
}

export function isMac(v: unknown): v is string {
  return typeof v === 'string' && MAC_PATTERN.test(v);
}

export function isName(v: unknown): v is string {
  return typeof v === 'string' && NAME_PATTERN.test(v);
}

/** Canonical text of an address (lower-case, shortest IPv6 form). */
export function canonicalIp(v: string): string {
  return ipaddr.parse(v).toString();
}

/** Linux interface names are at most 15 bytes; derive a stable one from the VM id. */
export function vmInterfaceName(vmId: string, prefix = 'vm'): string {
  return (prefix + vmId.replace(/-/g, '')).slice(0, 15);
}

/**
 * Secrets (BGP MD5 passwords) never travel in events: inventory stores the value in the secrets stream and
 * events, read models and rendered configs carry this reference (`{{secret:<sequence>}}`, itself a valid
 * password token). Only the desired-state publisher resolves it, on the target's own command subject.
 */
export const secretRef = (seq: number) => `{{secret:${seq}}}`;
export const SECRET_REF = /\{\{secret:(\d+)\}\}/g;
export const REDACTED = '<redacted>';

/** Why an address is blackholed (free text for the audit): 1-200 printable characters, no control characters. */
export const BLACKHOLE_REASON_PATTERN = /^[^\x00-\x1f\x7f]{1,200}$/;
