/**
 * The loop shared by the three derivers: an EventTail over all events from sequence 1 (and, for a deriver
 * that needs them, one over the agents' retained observations) feeds a pure model that names the targets
 * an event touched; dirty targets are flushed debounced (FlushScheduler).
 *
 * No durable consumer on purpose: the in-memory model is rebuilt from sequence 1 at every start and each
 * output is idempotent by content hash (unchanged content publishes nothing), so there is no position
 * to keep. Nothing is flushed before the tail has caught up, so a restart never publishes old states.
 */
import type { FabricEvent, StoredEvent } from '@fabric/contracts';
import { type EventStore, EventTail } from '@fabric/eventstore';
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
  }

  /** Resolves once the history is folded and the first flush is done. */
  async start(): Promise<void> {
    this.tail = new EventTail(
      this.store,
      this.store.subjects.evtAll(),
      (e) => this.onEvent(e),
      0,
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
        (e) => this.onEvent(e),
        0,
        (m, x) => this.log('error', m, x),
        `${this.opts.name ?? 'deriver'}:observations`,
        askResync,
      );
      await this.obsTail.start();
      // Folded from the oldest retained observation: what was trimmed before is stated again by the agents.
      if ((await obs.bounds()).first > 1) askResync();
      await this.obsTail.ready;
    }
    await this.tail.ready;
    // Every target once: those whose content equals the last output publish nothing.
    for (const id of this.hooks.allTargets()) this.dirty.add(id);
    this.started = true;
    await this.flusher.flushNow();
  }

  /** Stops the input, then publishes what is still dirty (best effort: a restart would do it too). */
  async stop(): Promise<void> {
    await this.tail?.stop();
    await this.obsTail?.stop();
    await this.flusher.stop();
    if (this.started && this.dirty.size) await this.flush().catch(() => undefined);
    this.started = false;
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

  private onEvent(e: StoredEvent): void {
    this.activity++;
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
    for (const id of ids) {
      try {
        await this.hooks.flushTarget(id, sourceSeq);
      } catch (err) {
        this.dirty.add(id);
        retry = true;
        this.log('warn', 'flush of target failed, will retry', { target: id, err: String(err) });
      }
    }
    if (this.hooks.afterFlush) retry = (await this.hooks.afterFlush().catch(() => true)) || retry;
    if (retry && this.started) this.flusher.kick(this.opts.retryMs ?? 1000);
  }
}
