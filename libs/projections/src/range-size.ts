import * as ipaddr from 'ipaddr.js';

/** Number of addresses in [start, end] as a bigint (IPv6 ranges exceed 2^53). */
export function rangeSize(start: string, end: string): bigint {
  const toBig = (ip: string) =>
    ipaddr
      .parse(ip)
      .toByteArray()
      .reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  return toBig(end) - toBig(start) + 1n;
}
