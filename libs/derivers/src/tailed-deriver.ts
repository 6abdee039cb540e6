/**
 * The loop shared by the three derivers: an EventTail over all events (and, for a deriver that needs them, one
 * over the agents' retained observations) feeds a pure model that names the targets an event touched; dirty
 * targets are flushed debounced (FlushScheduler).
 *
 * No durable consumer on purpose: the in-memory model is rebuilt at every start — from the newest valid snapshot
 * of the model and the events after it (docs/adr/model-snapshots.md), from sequence 1 without one — and each
 * output is idempotent by content hash (unchanged content publishes nothing). Nothing is flushed before the tail
 * has caught up, so a restart never publishes old states. The leader snapshots the model every N events or T
 * seconds and at a graceful stop.
 */
import type { FabricEvent, StoredEvent } from '@fabric/contracts';
import { type EventStore, EventTail, type SnapshotPolicy, type SnapshotStore, Snapshotter } from '@fabric/eventstore';
import { snapshotReplayed } from '@fabric/service-kit';
import { FlushScheduler, type FlushSchedulerOptions } from './flush-scheduler';

export type LogFn = (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;

export interface TailedDeriverHooks {
  /** Folds one event into the model; returns the ids of the targets it may have changed. */
  apply(event: FabricEvent, seq: number): string[];
  /** Every target the model knows (flushed once at start). */
  allTargets(): string[];
  /** Derives and publishes one target; throws on a transient failure (the target is retried). */
  flushTarget(id: string, sourceSeq: number): Promise<void>;
  /** Runs after each flush; returns true to be called again later (e.g. a command that failed). */
  afterFlush?(): Promise<boolean>;
  /** True when the event needs a flush although it dirtied no target (afterFlush work). */
  wantsFlush?(event: FabricEvent): boolean;
  /** The model's snapshot (docs/adr/model-snapshots.md); without it every start replays from sequence 1. */
  snapshot?: ModelSnapshotHooks;
}

/** How a pure model is saved and restored; `schema` changes whenever the saved shape or the fold's meaning does. */
export interface ModelSnapshotHooks {
  model: string;
  schema: number;
  /** The model's state (plain data, Maps, Sets): serialised synchronously, so references are fine. */
  save(): unknown;
  /** Replaces the (empty) model's state; throws, leaving the model empty, on data it does not recognise. */
  load(data: unknown): void;
}

export interface TailedDeriverOptions {
  flush?: FlushSchedulerOptions;
  /** Delay before retrying failed targets / afterFlush work. */
  retryMs?: number;
  log?: LogFn;
  /** Consumer label in metrics (e.g. the service name). */
  name?: string;
  /**
   * Also fold the agents' observations (routes, sessions: the observations stream, with retention). They
   * are kept in memory from the oldest retained one; when retention trimmed any, the agents are asked to
   * state their tables again (a resync), so nothing waits on an observation that is gone.
   */
  observations?: boolean;
  /** Targets written at once by a flush (default 16); 1 writes them one after the other. */
  flushConcurrency?: number;
  /** Where the model's snapshots go (with hooks.snapshot); default: none, a full replay at every start. */
  snapshots?: SnapshotStore;
  snapshotPolicy?: SnapshotPolicy;
}

export class TailedDeriver {
  private readonly dirty = new Set<string>();
  private readonly flusher: FlushScheduler;
  private readonly log: LogFn;
  private tail?: EventTail;
  private obsTail?: EventTail;
  private started = false;
  /** Bumped by every event and every flush: `idle()` sees whether anything happened while it awaited. */
  private activity = 0;
  /** Sequence of the last event folded into the model, per stream (the positions a snapshot covers). */
  private evtApplied = 0;
  private obsApplied = 0;
  private readonly snapshotter?: Snapshotter;
  /** Events (and observations) folded at the last start before the first flush: after the snapshot, or all. */
  replayed = { events: 0, observations: 0 };

  constructor(
    private readonly store: EventStore,
    private readonly hooks: TailedDeriverHooks,
    private readonly opts: TailedDeriverOptions = {},
  ) {
    this.log = opts.log ?? (() => undefined);
    // 25 ms between generations during bursts; a single change after a quiet period goes out at once.
    this.flusher = new FlushScheduler(
      () => this.flush(),
      () => this.caughtUp(),
      { minIntervalMs: 25, ...opts.flush, log: (m, x) => this.log('error', m, x) },
    );
    const snap = hooks.snapshot;
    if (snap && opts.snapshots)
      this.snapshotter = new Snapshotter(
        opts.snapshots,
        snap.model,
        snap.schema,
        () => this.evtApplied,
        () => ({ seq: this.evtApplied, data: snap.save(), ...(opts.observations ? { positions: { observations: this.obsApplied } } : {}) }),
        opts.snapshotPolicy,
        this.log,
      );
  }

  /** Restores the newest valid snapshot; returns the positions to tail from (0: the whole stream). */
  private async restore(): Promise<{ evt: number; obs: number }> {
    const snap = this.hooks.snapshot;
    const loaded = snap && (await this.snapshotter?.load(await this.store.headSeq()));
    if (!snap || !loaded) return { evt: 0, obs: 0 };
    try {
      snap.load(loaded.data);
    } catch (err) {
      this.log('error', 'snapshot not restorable: replaying the stream from sequence 1', { model: snap.model, err: String(err) });
      return { evt: 0, obs: 0 };
    }
    this.evtApplied = loaded.head.seq;
    this.obsApplied = loaded.head.positions?.observations ?? 0;
    return { evt: this.evtApplied, obs: this.opts.observations ? this.obsApplied : 0 };
  }

  /** Resolves once the history is folded and the first flush is done. */
  async start(): Promise<void> {
    this.replayed = { events: 0, observations: 0 };
    this.evtApplied = this.obsApplied = 0;
    const from = await this.restore();
    this.tail = new EventTail(
      this.store,
      this.store.subjects.evtAll(),
      (e) => this.onEvent(e, 'events'),
      from.evt,
      (m, x) => this.log('error', m, x),
      this.opts.name,
    );
    await this.tail.start();
    if (this.opts.observations) {
      const obs = this.store.observations();
      const askResync = () => {
        this.log('info', 'observations trimmed by retention: asking the agents for a resync');
        if (!obs.nats.nc.isClosed()) obs.nats.nc.publish(obs.subjects.resyncRequests);
      };
      this.obsTail = new EventTail(
        obs,
        obs.allFilter,
        (e) => this.onEvent(e, 'observations'),
        from.obs,
        (m, x) => this.log('error', m, x),
        `${this.opts.name ?? 'deriver'}:observations`,
        askResync,
      );
      await this.obsTail.start();
      // Folded from the oldest retained observation (or the snapshot's): what was trimmed is stated again.
      if ((await obs.bounds()).first > from.obs + 1) askResync();
      await this.obsTail.ready;
    }
    await this.tail.ready;
    // Every target once: those whose content equals the last output publish nothing.
    for (const id of this.hooks.allTargets()) this.dirty.add(id);
    this.started = true;
    const name = this.opts.name ?? 'deriver';
    if (this.snapshotter) {
      snapshotReplayed.set({ service: name, model: this.snapshotter.model }, this.replayed.events);
      this.log('info', 'model ready', { from: from.evt, replayed: this.replayed.events, observations: this.replayed.observations });
      this.snapshotter.startTimer(() => this.started);
    }
    await this.flusher.flushNow();
  }

  /**
   * Stops the input, then publishes what is still dirty (best effort: a restart would do it too). A graceful
   * stop (`snapshot`, the default) writes a snapshot; a deposed leader does not (another instance writes now).
   */
  async stop(snapshot = true): Promise<void> {
    this.snapshotter?.stopTimer();
    await this.tail?.stop();
    await this.obsTail?.stop();
    await this.flusher.stop();
    if (this.started && this.dirty.size) await this.flush().catch(() => undefined);
    if (this.started && snapshot) await this.snapshotter?.write();
    this.started = false;
  }

  /** Writes a snapshot now (tests, tools); no-op without snapshots. */
  async writeSnapshot(): Promise<void> {
    await this.snapshotter?.write();
  }

  /** Stream position the model reflects. */
  get position(): number {
    return this.tail?.position ?? 0;
  }

  /**
   * True when the output reflects the whole stream: every stored event folded, nothing dirty, no flush
   * running or scheduled (retries included). The signal for "nothing more will be published" — after
   * a flush its own DesiredStateChanged events are folded too.
   */
  async idle(): Promise<boolean> {
    const quiet = () => this.started && !this.dirty.size && this.flusher.idle;
    const before = this.activity;
    if (!quiet()) return false;
    const head = await this.store.headSeq();
    const obsCaughtUp = await this.observationsCaughtUp();
    return quiet() && this.activity === before && this.position >= head && obsCaughtUp;
  }

  private async observationsCaughtUp(): Promise<boolean> {
    return !this.obsTail || this.obsTail.position >= (await this.store.observations().headSeq());
  }

  private onEvent(e: StoredEvent, from: 'events' | 'observations'): void {
    this.activity++;
    if (from === 'events') this.evtApplied = e.seq;
    else this.obsApplied = e.seq;
    if (!this.started) this.replayed[from]++;
    // Never throw: an exception would end the tail's loop.
    try {
      const event = { type: e.type, data: e.data } as FabricEvent;
      const ids = this.hooks.apply(event, e.seq);
      for (const id of ids) this.dirty.add(id);
      if (this.started && (ids.length || this.hooks.wantsFlush?.(event))) this.flusher.kick();
    } catch (err) {
      this.log('error', 'event not applied', { seq: e.seq, type: e.type, err: String(err) });
    }
  }

  private async caughtUp(): Promise<boolean> {
    return this.position >= (await this.store.headSeq()) && (await this.observationsCaughtUp());
  }

  private async flush(): Promise<void> {
    this.activity++;
    const ids = [...this.dirty];
    this.dirty.clear();
    const sourceSeq = this.position;
    let retry = false;
    // Targets are independent outputs (each its own command subject or KV key, one publisher per target, and
    // a target is never twice in one flush), so up to `flushConcurrency` are written at once: a burst that
    // touched 1,000 placements costs ~1,000 / window round trips to the server, not 1,000.
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        try {
          await this.hooks.flushTarget(id, sourceSeq);
        } catch (err) {
          this.dirty.add(id);
          retry = true;
          this.log('warn', 'flush of target failed, will retry', { target: id, err: String(err) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.flushConcurrency ?? 16, ids.length) }, worker));
    if (this.hooks.afterFlush) retry = (await this.hooks.afterFlush().catch(() => true)) || retry;
    if (retry && this.started) this.flusher.kick(this.opts.retryMs ?? 1000);
    // A quiet moment: the model is written when enough events or time passed (never waited for here).
    if (this.started) void this.snapshotter?.maybe();
  }
}
