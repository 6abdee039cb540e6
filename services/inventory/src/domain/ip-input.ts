import { invalid } from '@fabric/contracts';
import { type IpFamily, addressProblem, canonical, isValidIp, parseIp } from '@fabric/ipam-math';

/** Canonical form of an address from a command, or a 400 (commands are validated upstream; this keeps deciders total). */
export function requireIp(value: unknown, field: string, family?: IpFamily): string {
  if (!isValidIp(value, family)) {
    throw invalid('invalid-ip', `${field} must be a valid IP${family ? 'v' + family : ''} address`, {
      [field]: [`must be a valid IP${family ? 'v' + family : ''} address`],
    });
  }
  return canonical(value as string);
}

export const familyOf = (ip: string): IpFamily => parseIp(ip).family;

/** Same address regardless of spelling (2001:DB8::1 vs 2001:db8:0::1). */
export function sameIp(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !isValidIp(a) || !isValidIp(b)) return false;
  const x = parseIp(a);
  const y = parseIp(b);
  return x.family === y.family && x.value === y.value;
}

/** A routable unicast address for a BGP speaker (node underlay, route reflector, core router), or a 400. */
export function requireUnicastIp(value: unknown, field: string, family?: IpFamily): string {
  const ip = requireIp(value, field, family);
  const p = addressProblem(ip);
  if (p) throw invalid('address-not-unicast', `${field}: ${p.message}`, { [field]: ['must be a routable unicast address'] });
  return ip;
}
