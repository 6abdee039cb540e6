/**
 * What the RR's "routes changed?" probe asks BIRD, and when (docs/adr/rr-origin-validation.md, "The route
 * probe"). BIRD cannot push route changes, and reading every session's counters (`show protocols all`) grows
 * with the cluster. The agent knows which sessions are about to move: those it reloaded after an RTR update (a
 * placement changed), those whose state changed, those a config apply touched. Each of those is asked alone,
 * at once and then at doubling intervals (its node's route may arrive a while after the ROA) until `watchMs`
 * after its last mark. Every session is read at once only as a slow safety net (`fullMs`), after a change of
 * the whole config, or when so many are due that one read of all costs less.
 */
export interface RrProbeOptions {
  /** Interval between the first two checks of a marked session (then doubling); default 100 ms. */
  firstMs?: number;
  /** A marked session is checked until this long after its last mark; default 6,400 ms. */
  watchMs?: number;
  /** Every session is read at least this often (safety net: a change the agent could not foresee); default 5,000 ms. */
  fullMs?: number;
  /** More sessions due than max(minBatch, a quarter of the known ones): one full read instead; default 8. */
  minBatch?: number;
}

export type RrProbePlan = { full: true } | { full: false; protocols: string[] };

interface Watch {
  next: number;
  step: number;
  until: number;
}

export class RrProbeSchedule {
  /** Protocol → its state and channel counters as last read. */
  private readonly known = new Map<string, string>();
  private readonly watched = new Map<string, Watch>();
  private fullWanted = true;
  private lastFull = -Infinity;
  private moves = 0;
  private readonly firstMs: number;
  private readonly watchMs: number;
  private readonly fullMs: number;
  private readonly minBatch: number;

  constructor(opts: RrProbeOptions = {}) {
    this.firstMs = opts.firstMs ?? 100;
    this.watchMs = opts.watchMs ?? 6400;
    this.fullMs = opts.fullMs ?? 5000;
    this.minBatch = opts.minBatch ?? 8;
  }

  /** Changes whenever a read saw a session's counters move (or a session appear or go). */
  get version(): string {
    return String(this.moves);
  }

  /** Sessions being watched now. */
  get watching(): number {
    return this.watched.size;
  }

  /** These sessions (or all) may change soon: check them now and for a while. */
  mark(protocols: Iterable<string> | 'all', now: number): void {
    if (protocols === 'all') {
      this.fullWanted = true;
      return;
    }
    for (const p of protocols) this.watched.set(p, { next: now, step: this.firstMs, until: now + this.watchMs });
  }

  plan(now: number): RrProbePlan {
    if (this.fullWanted || now - this.lastFull >= this.fullMs) return { full: true };
    const due = [...this.watched].filter(([, w]) => w.next <= now).map(([p]) => p);
    if (due.length > Math.max(this.minBatch, this.known.size / 4)) return { full: true };
    return { full: false, protocols: due.sort() };
  }

  /** A read of every session: protocol → its counters. */
  fullResult(versions: Map<string, string>, now: number): void {
    let moved = versions.size !== this.known.size;
    for (const [p, v] of versions) if (this.known.get(p) !== v) moved = true;
    if (moved) this.moves++;
    this.known.clear();
    for (const [p, v] of versions) this.known.set(p, v);
    this.fullWanted = false;
    this.lastFull = now;
    for (const p of [...this.watched.keys()]) this.advance(p, now);
  }

  /** A read of one session; undefined: BIRD has no such session (any more). */
  partResult(protocol: string, version: string | undefined, now: number): void {
    if (this.known.get(protocol) !== version) {
      this.moves++;
      if (version === undefined) this.known.delete(protocol);
      else this.known.set(protocol, version);
    }
    this.advance(protocol, now);
  }

  private advance(protocol: string, now: number): void {
    const w = this.watched.get(protocol);
    if (!w || w.next > now) return;
    w.next = now + w.step;
    w.step *= 2;
    if (w.next > w.until) this.watched.delete(protocol);
  }
}
