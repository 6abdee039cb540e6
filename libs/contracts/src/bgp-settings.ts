/**
 * Bounds of the cluster BGP settings an operator may change (PATCH /clusters/:id/bgp). Each range is what
 * every daemon we render for accepts: BIRD 2, FRR and Junos.
 */

/** RFC 4271: hold time 0 (no keepalives) or at least 3 s. Junos refuses 0. */
export const HOLD_TIME_MIN = 3;
export const HOLD_TIME_MAX = 65535;
/** Keepalive must stay below the hold time; FRR's `timers bgp` keepalive range ends at 65535 too. */
export const KEEPALIVE_TIME_MIN = 1;
export const KEEPALIVE_TIME_MAX = 21845;
/** Graceful-restart time: Junos accepts 1-1800 s (BIRD and FRR up to 4095). */
export const GR_TIME_MIN = 1;
export const GR_TIME_MAX = 1800;
/** BFD intervals in ms: FRR accepts 10-60000, Junos and BIRD more. */
export const BFD_INTERVAL_MIN_MS = 10;
export const BFD_INTERVAL_MAX_MS = 60000;
/** FRR's detect-multiplier is 2-255. */
export const BFD_MULTIPLIER_MIN = 2;
export const BFD_MULTIPLIER_MAX = 255;
/** Defaults rendered when BFD is on and no interval was set (the values the renderers always used). */
export const DEFAULT_BFD_INTERVAL_MS = 300;
export const DEFAULT_BFD_MULTIPLIER = 3;

/** The tunable timers of a cluster's sessions; absent = the daemon's default. */
export interface BgpTimers {
  holdTime?: number;
  keepaliveTime?: number;
  gracefulRestartTime?: number;
  bfdMinRxMs?: number;
  bfdMinTxMs?: number;
  bfdMultiplier?: number;
}

const BOUNDS: Record<keyof BgpTimers, [number, number]> = {
  holdTime: [0, HOLD_TIME_MAX],
  keepaliveTime: [KEEPALIVE_TIME_MIN, KEEPALIVE_TIME_MAX],
  gracefulRestartTime: [GR_TIME_MIN, GR_TIME_MAX],
  bfdMinRxMs: [BFD_INTERVAL_MIN_MS, BFD_INTERVAL_MAX_MS],
  bfdMinTxMs: [BFD_INTERVAL_MIN_MS, BFD_INTERVAL_MAX_MS],
  bfdMultiplier: [BFD_MULTIPLIER_MIN, BFD_MULTIPLIER_MAX],
};
export const BGP_TIMER_KEYS = Object.keys(BOUNDS) as (keyof BgpTimers)[];

/**
 * Field → reasons for every timer out of bounds or inconsistent; empty when the set is valid.
 * `allowHoldZero`: RFC 4271 allows hold 0 (no keepalives); Junos does not.
 */
export function bgpTimerProblems(t: BgpTimers, allowHoldZero = true): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (k: string, m: string) => (out[k] ??= []).push(m);
  for (const k of BGP_TIMER_KEYS) {
    const v = t[k];
    if (v === undefined) continue;
    const [lo, hi] = BOUNDS[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) add(k, `must be an integer from ${lo} to ${hi}`);
  }
  if (out.holdTime === undefined && t.holdTime !== undefined) {
    if (t.holdTime === 0 && !allowHoldZero) add('holdTime', 'must be at least 3 (the core router refuses 0)');
    else if (t.holdTime > 0 && t.holdTime < HOLD_TIME_MIN) add('holdTime', 'must be 0 or at least 3 (RFC 4271)');
  }
  if (t.keepaliveTime !== undefined && out.keepaliveTime === undefined) {
    if (t.holdTime === undefined) add('keepaliveTime', 'needs holdTime (keepalive must stay below the hold time)');
    else if (t.holdTime === 0) add('keepaliveTime', 'must be unset with holdTime 0 (no keepalives)');
    else if (t.keepaliveTime >= t.holdTime) add('keepaliveTime', `must be less than holdTime (${t.holdTime})`);
  }
  return out;
}

/** Keepalive rendered for a hold time: the given one, else a third of the hold time (RFC 4271's suggestion). */
export function effectiveKeepalive(t: BgpTimers): number | undefined {
  if (t.holdTime === undefined) return undefined;
  if (t.keepaliveTime !== undefined) return t.keepaliveTime;
  return Math.floor(t.holdTime / 3);
}
