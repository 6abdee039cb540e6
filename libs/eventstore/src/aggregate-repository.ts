/**
 * Runs a decider against one aggregate subject: load (fold) → decide → append with the expected
 * sequence → on conflict catch up and decide again, a bounded number of times.
 * State is cached per aggregate and caught up incrementally, so a hot aggregate (IPAM of a cluster)
 * is not re-folded from sequence 1 on every command.
 */
import { checkEnvelope, type Decider, DomainError, type EventMeta, type FabricEvent, type StoredEvent } from '@fabric/contracts';
import { ConcurrencyError, type EventStore } from './event-store';

export interface Loaded<S> {
  state: S;
  /** Last stream sequence folded into `state` (0 = no events). */
  version: number;
  /** Ids of the last events folded: a retried command whose decision is already stored is recognised. */
  recent?: string[];
}

const RECENT_IDS = 32;

export interface HandleOptions {
  /** Idempotency key: event ids are `<commandId>:<index>`. */
  commandId: string;
  meta?: EventMeta;
  maxRetries?: number;
}

export interface HandleResult {
  events: FabricEvent[];
  seqs: number[];
  /** Stream position after the write (or of the aggregate when nothing was written). */
  position: number;
  duplicate: boolean;
}

export class RetriesExhaustedError extends Error {
  constructor(subject: string, attempts: number) {
    super(`gave up after ${attempts} concurrent-write conflicts on ${subject}`);
    this.name = 'RetriesExhaustedError';
  }
}

export class AggregateRepository<C, S, E extends FabricEvent = FabricEvent> {
  private readonly cache = new Map<string, Loaded<S>>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: EventStore,
    private readonly decider: Decider<C, S, E>,
    private readonly subjectOf: (id: string) => string,
    private readonly opts: { cache?: boolean; maxCached?: number } = {},
  ) {}

  /**
   * Folds the aggregate from the stream, reusing and catching up the cached state. Events that fail
   * validation are skipped, as every reader skips them (they are dead-lettered by the stream readers).
   * A fold that throws half-way evicts the cached state: states may be mutated in place.
   */
  async load(id: string): Promise<Loaded<S>> {
    const subject = this.subjectOf(id);
    let loaded = this.opts.cache ? this.cache.get(id) : undefined;
    if (!loaded) loaded = { state: this.decider.initialState(), version: 0 };
    const last = await this.store.lastSeq(subject);
    if (last > loaded.version) {
      const l = loaded;
      try {
        l.version = await this.store.forEach(
          subject,
          l.version,
          (e: StoredEvent) => {
            let checked: StoredEvent;
            try {
              checked = checkEnvelope(e);
            } catch {
              return;
            }
            l.state = this.decider.evolve(l.state, { type: checked.type, data: checked.data } as E);
            (l.recent ??= []).push(checked.id);
            if (l.recent.length > RECENT_IDS) l.recent.shift();
          },
          1000,
          () => undefined,
        );
      } catch (err) {
        this.evict(id);
        throw err;
      }
    }
    this.remember(id, loaded);
    return loaded;
  }

  /** Forgets the cached state of an aggregate (the next load folds it from the stream). */
  evict(id: string): void {
    this.cache.delete(id);
  }

  /** The cached states, for a snapshot (by reference: serialise them before the next command). */
  cachedStates(): ReadonlyMap<string, Loaded<S>> {
    return this.cache;
  }

  /**
   * Seeds the cache from a snapshot: each state is caught up from its version on its next load, and a stale
   * one shows up as a conflict on append (then it is caught up), exactly like a state cached since start.
   */
  seed(states: Iterable<[string, Loaded<S>]>): void {
    for (const [id, loaded] of states) this.remember(id, loaded);
  }

  /** Whether a state is cached (tests). */
  isCached(id: string): boolean {
    return this.cache.has(id);
  }

  /** Decide and append; serialised per aggregate inside this process, optimistic across processes. */
  handle(id: string, command: C | ((state: S) => C), opts: HandleOptions): Promise<HandleResult> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(() => this.handleUnlocked(id, command, opts));
    const tail = run.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return run;
  }

  private async handleUnlocked(id: string, command: C | ((state: S) => C), opts: HandleOptions): Promise<HandleResult> {
    const subject = this.subjectOf(id);
    const maxRetries = opts.maxRetries ?? 8;
    for (let attempt = 0; ; attempt++) {
      // Fast path: decide on the cached state without asking the server; a stale cache shows up as a
      // conflict on append. Refusals and no-ops are only trusted on a freshly checked state.
      // An aggregate we have never seen is assumed new (expected sequence 0): creating one costs no lookup.
      const cached = attempt === 0 && this.opts.cache ? (this.cache.get(id) ?? { state: this.decider.initialState(), version: 0 }) : undefined;
      let loaded = cached ?? (await this.load(id));
      let events: E[];
      try {
        events = this.decide(command, loaded.state);
      } catch (err) {
        if (!cached) return this.alreadyStored(loaded, opts, err);
        loaded = await this.load(id);
        try {
          events = this.decide(command, loaded.state);
        } catch (err2) {
          return this.alreadyStored(loaded, opts, err2);
        }
      }
      if (events.length === 0 && cached) {
        const version = loaded.version;
        loaded = await this.load(id);
        if (loaded.version !== version) events = this.decide(command, loaded.state);
      }
      if (events.length === 0) return { events, seqs: [], position: loaded.version, duplicate: false };
      try {
        // One message for the whole decision: a crash never leaves half of it on the stream.
        const res = await this.store.appendAtomic(
          subject,
          events.map((event, i) => ({ id: `${opts.commandId}:${i}`, event, meta: opts.meta })),
          loaded.version,
        );
        // A duplicate was applied by an earlier attempt of this command; the next load catches it up.
        if (!res.duplicate) {
          try {
            for (const e of events) loaded.state = this.decider.evolve(loaded.state, e);
          } catch (err) {
            // Written but not foldable here: never keep a half-evolved state.
            this.evict(id);
            throw err;
          }
          loaded.version = res.seqs[res.seqs.length - 1];
          loaded.recent = [...(loaded.recent ?? []), ...events.map((_, i) => `${opts.commandId}:${i}`)].slice(-RECENT_IDS);
          this.remember(id, loaded);
        }
        return { events, seqs: res.seqs, position: res.seqs[res.seqs.length - 1], duplicate: res.duplicate };
      } catch (err) {
        if (!(err instanceof ConcurrencyError)) throw err;
        // The cached state was not evolved, so the next load folds whatever others (or a partial
        // multi-event append) wrote since `version`.
        if (attempt + 1 >= maxRetries) throw new RetriesExhaustedError(subject, attempt + 1);
        await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
      }
    }
  }

  /**
   * Dry run: the events the command would append on the aggregate's current state (caught up from the stream),
   * decided on a copy of one aggregate's state; nothing is appended and the cache keeps its state. Refusals throw.
   * `copy: false` for a large state whose decider only reads it for this command (IPAM's network and pool checks).
   */
  async preview(id: string, command: C | ((state: S) => C), opts: { copy?: boolean } = {}): Promise<HandleResult> {
    const loaded = await this.load(id);
    const events = this.decide(command, opts.copy === false ? loaded.state : structuredClone(loaded.state));
    return { events, seqs: [], position: loaded.version, duplicate: false };
  }

  /**
   * A command refused on a state that already contains its own decision (a retry after a crash between
   * the write and the reply) is answered as the duplicate it is; any other refusal is thrown.
   */
  private alreadyStored(loaded: Loaded<S>, opts: HandleOptions, err: unknown): HandleResult {
    if (loaded.recent?.includes(`${opts.commandId}:0`)) return { events: [], seqs: [], position: loaded.version, duplicate: true };
    throw err;
  }

  private decide(command: C | ((state: S) => C), state: S): E[] {
    const cmd = typeof command === 'function' ? (command as (s: S) => C)(state) : command;
    return this.decider.decide(cmd, state);
  }

  private remember(id: string, loaded: Loaded<S>) {
    if (!this.opts.cache) return;
    this.cache.set(id, loaded);
    const max = this.opts.maxCached ?? 10000;
    if (this.cache.size > max) this.cache.delete(this.cache.keys().next().value as string);
  }
}

export { DomainError };
