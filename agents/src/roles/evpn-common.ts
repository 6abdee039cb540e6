/**
 * The FRR half of EVPN on nodes and RRs (docs/adr/0015-evpn-frr-beside-bird.md): the rendered text is applied with
 * frr-reload when it changed; absent text empties FRR's config (no private network any more). A target whose
 * agent has no FRR configured fails the apply when it is given EVPN text (it cannot carry private networks).
 */
import { type FrrDriver } from '../drivers/frr';
import { fail } from './validate';

/** FRR's config while the target carries no private network. */
export const EVPN_EMPTY = 'frr defaults traditional\n!\n';
const MAX_EVPN = 1_000_000;

export function validateEvpnText(v: unknown): void {
  // The renderer validated every token; the agent checks the shape (frr-reload parses it before applying anything).
  if (typeof v !== 'string' || v.length > MAX_EVPN || /[\x00-\x08\x0b-\x1f\x7f]/.test(v)) fail('evpn must be FRR config text');
}

export async function applyEvpnFrr(
  frr: FrrDriver | undefined,
  text: string | undefined,
  applied: string | undefined,
): Promise<{ applied: string | undefined; operations: string[] }> {
  if (!frr) {
    if (text !== undefined) throw new Error('this agent has no FRR (--evpn-frr): it cannot carry private networks');
    return { applied, operations: [] };
  }
  const want = text ?? EVPN_EMPTY;
  if (want === applied) return { applied, operations: [] };
  const r = await frr.applyConfig(want);
  return { applied: want, operations: r.changed ? [`frr-reload (${text === undefined ? 'no EVPN' : 'EVPN'})`] : [] };
}
