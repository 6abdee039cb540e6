/**
 * Which prefixes the core's two sources disagree about, and since when (docs/operations/bmp.md): the FRR agent's
 * own read (`observed_routes.kind = 'router'`) against the BMP collector's (`'router-bmp'`). Pure: fed samples.
 * A prefix held by one source only is pending until it has been so for the grace period, then reported; it is
 * cleared as soon as both agree again. A prefix whose holder flips (agent only → BMP only) starts over.
 */
export type DisagreementHolder = 'agent' | 'bmp';
export interface PrefixDisagreement {
  prefix: string;
  /** The source that holds it (the other does not). */
  heldBy: DisagreementHolder;
  /** Epoch ms of the first sample that saw it. */
  since: number;
}

/** Default grace: longer than a resync or a BMP session restart takes (FABRIC_BMP_DISAGREEMENT_GRACE_MS). */
export const DEFAULT_BMP_DISAGREEMENT_GRACE_MS = 30_000;

export class BmpDisagreementTracker {
  private readonly clusters = new Map<string, Map<string, { heldBy: DisagreementHolder; since: number }>>();

  constructor(readonly graceMs = DEFAULT_BMP_DISAGREEMENT_GRACE_MS) {
    if (!Number.isFinite(graceMs) || graceMs < 0) throw new Error(`grace must be >= 0 ms, got ${graceMs}`);
  }

  /** Both sources' prefixes of a cluster's core, read at `now`. */
  sample(clusterId: string, agent: Iterable<string>, bmp: Iterable<string>, now: number): void {
    const a = new Set(agent);
    const b = new Set(bmp);
    const prev = this.clusters.get(clusterId) ?? new Map();
    const next = new Map<string, { heldBy: DisagreementHolder; since: number }>();
    const keep = (prefix: string, heldBy: DisagreementHolder) => {
      const p = prev.get(prefix);
      next.set(prefix, { heldBy, since: p && p.heldBy === heldBy ? p.since : now });
    };
    for (const p of a) if (!b.has(p)) keep(p, 'agent');
    for (const p of b) if (!a.has(p)) keep(p, 'bmp');
    this.clusters.set(clusterId, next);
  }

  /** The cluster is no longer compared (BMP unset, no agent, cluster gone): nothing of it is kept. */
  forget(clusterId: string): void {
    this.clusters.delete(clusterId);
  }

  tracked(): string[] {
    return [...this.clusters.keys()];
  }

  /** Disagreements older than the grace period at `now`, by prefix. */
  reported(clusterId: string, now: number): PrefixDisagreement[] {
    return [...(this.clusters.get(clusterId) ?? new Map()).entries()]
      .filter(([, d]) => now - d.since >= this.graceMs)
      .map(([prefix, d]) => ({ prefix, heldBy: d.heldBy, since: d.since }))
      .sort((x, y) => (x.prefix < y.prefix ? -1 : x.prefix > y.prefix ? 1 : 0));
  }

  /** Disagreements still inside the grace period (not reported). */
  pending(clusterId: string, now: number): number {
    return [...(this.clusters.get(clusterId)?.values() ?? [])].filter((d) => now - d.since < this.graceMs).length;
  }
}
