import { createHash } from 'node:crypto';

/**
 * A version-4-shaped UUID derived from a seed (sha256): the same seed always gives the same id, so a
 * retried command (same command id) addresses the same aggregate or pool and the store dedupes its events.
 */
export function uuidFromSeed(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
