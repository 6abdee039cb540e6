import { IpMathError, bigIntToIp, familyBits } from './address';
import { parseRange } from './cidr';

/**
 * The minimal list of CIDR blocks covering exactly [start, end] (inclusive), in address order.
 * Used to turn pool ranges into prefix filters (BIRD, FRR, Junos match CIDRs, not ranges).
 */
export function rangeToCidrs(start: string, end: string): string[] {
  const r = parseRange(start, end);
  if (r.first > r.last) throw new IpMathError(`range ${start}-${end} is empty (start after end)`);
  const bits = familyBits(r.family);
  const out: string[] = [];
  let cur = r.first;
  while (cur <= r.last) {
    // Largest block aligned at `cur` that does not run past `last`.
    let size = 0;
    while (size < bits && ((cur >> BigInt(size)) & 1n) === 0n && cur + (1n << BigInt(size + 1)) - 1n <= r.last) size++;
    out.push(`${bigIntToIp(cur, r.family)}/${bits - size}`);
    cur += 1n << BigInt(size);
  }
  return out;
}
