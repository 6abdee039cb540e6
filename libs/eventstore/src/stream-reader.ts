/**
 * The one way the fabric reads its event stream. Every reader (event tails, durable reactors, the
 * projection, SSE) is a StreamReader:
 * - one restart policy: a consumer loop that ends or throws is reopened from the reader's position
 *   (ordered) or the durable's cursor, with exponential back-off; it is never silently dead while the
 *   process stays up (its state is in /health and `fabric_reader_restarts_total`);
 * - every message is decoded (a multi-event EventBatch is unpacked), upcast and validated against the
 *   class-validator contracts before a handler sees it;
 * - a message that is invalid, or whose handling keeps failing for a reason that is not transient, is
 *   dead-lettered: recorded once as a MessageDeadLettered event on `deadletter.<reader>.<seq>`, counted,
 *   logged, skipped; the reader continues with the next one. The events of one message (one decision)
 *   are handled or dead-lettered together;
 * - metrics per reader: handled, failed, dead-lettered, lag, restarts.
 */
import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import { Counter, Gauge, register } from 'prom-client';
import { checkEnvelope, HEADER_EVENT_TYPE, type StoredEvent } from '@fabric/contracts';
import { consumerLag, eventsHandled } from '@fabric/service-kit';
import { withConsumerSpan } from '@fabric/telemetry';
import { ConcurrencyError, decodeMessages, type EventStore } from './event-store';
import { isNotFound } from './connection';
import { HOST, type LoopState, type LoopStatus, loopHeartbeatMs, loopToken, type MonitoredLoop, processLoops } from './loops';

function once<T>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make();
}
/** Lag without progress after which an ordered reader reopens its consumer (FABRIC_READER_REOPEN_MS). */
const readerReopenMs = () => Number(process.env.FABRIC_READER_REOPEN_MS ?? 15_000);
/**
 * Lifetime of one pull request (FABRIC_READER_PULL_EXPIRES_MS). The client derives from it the idle
 * heartbeat (half of it) and, after a NATS reconnect whose first consumer check fails (JetStream still
 * recovering), the wait before the next check: a random 0.5–1.5 × this. With the client's default of 30 s
 * one unlucky check after a server restart stalled a reader for up to 45 s.
 */
/** A reader open this long before it failed was healthy: its restart back-off starts from the bottom again. */
const READER_STABLE_MS = 10_000;
/** Quiet time after which an ordered reader handles what it has buffered although `pending` was not 0 yet. */
const BATCH_IDLE_MS = 25;
export const readerPullExpiresMs = () => Number(process.env.FABRIC_READER_PULL_EXPIRES_MS ?? 5_000);
export const eventsFailed = once(
  'fabric_events_failed_total',
  () =>
    new Counter({ name: 'fabric_events_failed_total', help: 'Handler failures (each attempt), by reader and event type', labelNames: ['consumer', 'type'] }),
);
export const eventsDeadLettered = once(
  'fabric_events_dead_lettered_total',
  () =>
    new Counter({
      name: 'fabric_events_dead_lettered_total',
      help: 'Messages dead-lettered (invalid or failing for good), by reader, event type and reason',
      labelNames: ['consumer', 'type', 'reason'],
    }),
);
export const readerRestarts = once(
  'fabric_reader_restarts_total',
  () => new Counter({ name: 'fabric_reader_restarts_total', help: 'Times a reader loop ended or threw and was reopened', labelNames: ['consumer'] }),
);
export const readerUp = once(
  'fabric_reader_up',
  () => new Gauge({ name: 'fabric_reader_up', help: '1 while the reader loop runs, 0 while it is being restarted or stopped', labelNames: ['consumer'] }),
);

/** The handler asks to dead-letter this message now (no retry): its content can never be handled. */
export class PoisonMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonMessageError';
  }
}

/** One stream message: one event, or every event of one decision. */
export interface ReadMessage {
  seq: number;
  subject: string;
  events: StoredEvent[];
  msg: JsMsg;
}

export interface ReadBatch {
  /** Valid events of the batch, in stream order (may be empty when every message was dead-lettered). */
  events: StoredEvent[];
  messages: ReadMessage[];
  /** Stream sequence the batch ends at (the reader's position once handled). */
  position: number;
}

export type ReaderLog = (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;

export interface DurableSpec {
  /** Durable name (namespaced by the store's subjects). */
  name: string;
  maxDeliver?: number;
  ackWaitMs?: number;
  /** Base nak delay; doubled per delivery. */
  nakDelayMs?: number;
  maxAckPending?: number;
  /** Start position of a new durable (default: all). */
  startSeq?: number;
}

export interface StreamReaderOptions {
  /** Loop name: metrics label, health entry, dead-letter subject. */
  name: string;
  /** One filter subject (nats-server 2.9: no multi-filter consumers). Default: every event. */
  filter?: string;
  /** A durable consumer with acks (reactors); default an ordered consumer whose cursor is `position`. */
  durable?: DurableSpec;
  /** Ordered readers: start after this sequence (default 0), or `new` for events stored from now on. */
  from?: number | 'new';
  /** Messages per handler call (ordered readers; durable readers hand over one message at a time). */
  batch?: number;
  handle(batch: ReadBatch): Promise<void>;
  /** `record` (default): a MessageDeadLettered event, once per message; `log`: metric + log only. */
  deadLetter?: 'record' | 'log';
  /** Ordered readers: attempts of a message whose handling fails for a non-transient reason. */
  maxAttempts?: number;
  /** Failures that heal by themselves (database away…): retried forever, never dead-lettered. */
  isTransient?(err: unknown): boolean;
  retryMs?: { min: number; max: number };
  restartMs?: { min: number; max: number };
  /**
   * Ordered readers: called at (re)open when retention trimmed messages after the position (`first` is the
   * oldest one left); the reader then continues from `first`. The handler decides how to recover (e.g. ask
   * the agents for a resync).
   */
  onTrimmed?(position: number, first: number): void | Promise<void>;
  /** Registered in the process's loops and heartbeated for /health (default true). */
  monitored?: boolean;
  log?: ReaderLog;
}

export class StreamReader implements MonitoredLoop {
  readonly ns: string;
  readonly name: string;
  private stopped = false;
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  private wake?: () => void;
  private heartbeat?: NodeJS.Timeout;
  private st: LoopState = 'starting';
  private pos: number;
  private pending: number | null = null;
  private lastProgressAt = Date.now();
  private waitingSince?: number;
  /** When the current consumer was opened: a reopened consumer gets the whole stall window again. */
  private openedAt = Date.now();
  /** A handler call is running: the reader is slow, not stuck on its consumer (reopening would not help). */
  private inHandler = false;
  /** Last stream sequence the consumer delivered (diagnostics). */
  private delivered = 0;
  /** Messages delivered and waiting for the end of their batch (diagnostics). */
  private buffered = 0;
  private counters = { restarts: 0, handled: 0, failed: 0, deadLettered: 0 };
  private lastError?: string;
  private resolvedNew = false;
  private firstOpen?: { resolve: () => void; reject: (e: unknown) => void };
  private readonly log: ReaderLog;
  readonly durableName?: string;

  constructor(
    readonly store: EventStore,
    private readonly opts: StreamReaderOptions,
  ) {
    this.ns = store.subjects.ns;
    this.name = opts.name;
    this.pos = typeof opts.from === 'number' ? opts.from : 0;
    this.log = opts.log ?? (() => undefined);
    if (opts.durable) this.durableName = store.subjects.durable(opts.durable.name);
  }

  get position(): number {
    return this.pos;
  }

  get state(): LoopState {
    return this.st;
  }

  private get filter(): string {
    return this.opts.filter ?? this.store.allFilter;
  }

  /** Opens the consumer (errors of this first open are thrown) and runs the supervised loop. */
  async start(): Promise<void> {
    const opened = new Promise<void>((resolve, reject) => (this.firstOpen = { resolve, reject }));
    this.loop = this.supervise();
    await opened;
    if (this.opts.monitored !== false) {
      processLoops.add(this);
      this.heartbeat = setInterval(() => void this.beat(), loopHeartbeatMs());
      this.heartbeat.unref?.();
      void this.beat();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    processLoops.remove(this);
    this.statusIter?.stop();
    this.wake?.();
    await this.messages?.close().catch(() => undefined);
    await this.loop;
    this.setState('stopped');
    if (this.opts.monitored !== false) await this.beat();
  }

  async status(): Promise<LoopStatus> {
    let lag: number | null = this.pending;
    try {
      if (this.opts.durable && this.durableName) {
        const info = await this.store.nats.jsm.consumers.info(this.store.streamName, this.durableName);
        lag = info.num_pending + info.num_ack_pending;
      } else if (this.filter === this.store.allFilter) {
        lag = Math.max(0, (await this.store.headSeq()) - this.pos);
      }
    } catch {
      // unknown: keep the last delivery's pending count
    }
    const now = Date.now();
    if (!lag) this.waitingSince = undefined;
    else this.waitingSince ??= now;
    const stalledMs = lag && this.waitingSince !== undefined ? now - Math.max(this.waitingSince, this.lastProgressAt) : 0;
    if (lag !== null) consumerLag.set({ consumer: this.name }, lag);
    return {
      name: this.name,
      ns: this.ns,
      state: this.st,
      position: this.pos,
      lag,
      stalledMs,
      ...this.counters,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      pid: process.pid,
      host: HOST,
      at: new Date(now).toISOString(),
    };
  }

  private async beat(): Promise<void> {
    try {
      const s = await this.status();
      // An ordered consumer can stay silent after a NATS server restart although the stream moved on:
      // reopen it from our position instead of waiting for a liveness probe to kill the process.
      // Not while a handler runs (slow, not stuck: a reopen would only throw away what was delivered), and
      // judged from the current consumer's opening (else a reopen is stopped again by the very next beat).
      const consumerStalledMs = Math.min(s.stalledMs, Date.now() - this.openedAt);
      if (!this.opts.durable && this.st === 'running' && !this.inHandler && consumerStalledMs > readerReopenMs() && this.messages) {
        this.log('warn', 'reader stalled behind the stream head, reopening its consumer', {
          reader: this.name,
          position: this.pos,
          delivered: this.delivered,
          buffered: this.buffered,
          lag: s.lag,
          stalledMs: s.stalledMs,
          openForMs: Date.now() - this.openedAt,
        });
        this.reopening = true;
        this.messages.stop();
      }
      const nc = this.store.nats.nc;
      if (!nc.isClosed()) nc.publish(`${this.ns}.health.loop.${loopToken(this.name)}`, JSON.stringify(s));
    } catch {
      // NATS away: the gateway sees the heartbeat missing
    }
  }

  private setState(s: LoopState) {
    this.st = s;
    readerUp.set({ consumer: this.name }, s === 'running' ? 1 : 0);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => ((this.wake = undefined), r()), ms);
      this.wake = () => (clearTimeout(t), (this.wake = undefined), r());
    });
  }

  /** Ends the restart back-off early when the connection comes back: the outage, not the timer, was the cause. */
  private async wakeOnReconnect(): Promise<void> {
    const status = this.store.nats.nc.status();
    this.statusIter = status as unknown as { stop(): void };
    for await (const st of status) {
      if (this.stopped) break;
      if (st.type === 'reconnect') {
        this.reconnected = true;
        this.wake?.();
        if (!this.opts.durable && this.st === 'running' && this.messages) void this.reopenWhenReady(this.messages).catch(() => undefined);
      }
    }
  }

  /**
   * An ordered reader after a reconnect: the client checks its consumer once and, if JetStream was not ready
   * yet (a restarted server recovering its store), waits 0.5–1.5 × the pull expiry before it looks again.
   * Instead: wait until the stream answers and reopen at our position (nothing is lost or read twice).
   */
  private async reopenWhenReady(messages: ConsumerMessages): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!this.stopped && this.messages === messages && Date.now() < deadline) {
      try {
        await this.store.nats.jsm.streams.info(this.store.streamName);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (this.stopped || this.messages !== messages) return;
    this.log('info', 'NATS reconnected: reopening the reader at its position', { reader: this.name, position: this.pos });
    this.reopening = true;
    messages.stop();
  }

  private reopening = false;

  private statusIter?: { stop(): void };
  private reconnected = false;

  private async supervise(): Promise<void> {
    const { min, max } = this.opts.restartMs ?? { min: 200, max: 30_000 };
    let delay = min;
    void this.wakeOnReconnect().catch(() => undefined);
    while (!this.stopped) {
      const openedAt = Date.now();
      try {
        this.setState('starting');
        const messages = await this.open();
        this.messages = messages;
        this.openedAt = Date.now();
        if (this.stopped) break;
        this.setState('running');
        if (this.firstOpen) {
          this.firstOpen.resolve();
          this.firstOpen = undefined;
        } else void this.beat(); // /health (and the fault suite's timeline) see the recovery at once
        await this.pump(messages);
        if (this.stopped) break;
        throw new Error('consumer ended');
      } catch (err) {
        if (this.firstOpen) {
          // The caller sees a failing start; nothing to supervise yet.
          this.firstOpen.reject(err);
          this.firstOpen = undefined;
          this.stopped = true;
          break;
        }
        if (this.stopped) break;
        if (this.reopening) {
          // Reopened on purpose (after a reconnect, or a silent consumer): not a failure, no back-off.
          this.reopening = false;
          continue;
        }
        this.counters.restarts++;
        readerRestarts.inc({ consumer: this.name });
        this.lastError = String((err as Error)?.message ?? err).slice(0, 500);
        this.setState('restarting');
        // It ran fine for a while: this failure is a new one, its back-off starts over (the back-off of an
        // earlier, unrelated outage must not delay the recovery from this one).
        if (Date.now() - openedAt > READER_STABLE_MS) delay = min;
        this.log('error', 'reader loop ended, restarting', { reader: this.name, position: this.pos, inMs: delay, err: this.lastError });
        void this.beat();
        this.reconnected = false;
        await this.sleep(delay);
        // Woken by a reconnect: retry at once and from the bottom of the back-off.
        delay = this.reconnected ? min : Math.min(max, delay * 2);
      } finally {
        const m = this.messages;
        this.messages = undefined;
        await m?.close().catch(() => undefined);
      }
    }
    this.statusIter?.stop();
  }

  /** Creates the durable consumer when it does not exist (a reopen after it was deleted recreates it). */
  async ensureDurable(): Promise<void> {
    const d = this.opts.durable;
    if (!d) return;
    const s = this.store.subjects;
    const cfg = {
      durable_name: this.durableName,
      ack_policy: AckPolicy.Explicit,
      max_deliver: d.maxDeliver ?? 5,
      ack_wait: (d.ackWaitMs ?? 30_000) * 1e6,
      max_ack_pending: d.maxAckPending ?? 1000,
      filter_subject: this.filter,
      ...(d.startSeq ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: d.startSeq } : { deliver_policy: DeliverPolicy.All }),
    };
    let current: { ack_wait?: number } | undefined;
    try {
      current = (await this.store.nats.jsm.consumers.info(this.store.streamName, this.durableName!)).config;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.store.nats.jsm.consumers.add(this.store.streamName, cfg as never);
      return;
    }
    // A durable created by an earlier version keeps its config: bring its ack wait to this one's.
    if (current.ack_wait !== cfg.ack_wait)
      await this.store.nats.jsm.consumers
        .update(this.store.streamName, this.durableName!, { ack_wait: cfg.ack_wait } as never)
        .catch((err: unknown) =>
          this.log('warn', 'could not update the durable consumer ack wait', { reader: this.name, err: String((err as Error)?.message ?? err) }),
        );
  }

  private async open(): Promise<ConsumerMessages> {
    const s = this.store.subjects;
    if (this.opts.durable) {
      await this.ensureDurable();
      const c = await this.store.nats.js.consumers.get(this.store.streamName, this.durableName!);
      return this.watch(await c.consume({ max_messages: this.opts.batch ?? 256, abort_on_missing_resource: true, expires: readerPullExpiresMs() }));
    }
    // Ordered: our position is the cursor. `new` only counts until the first event was seen.
    if (this.opts.from === 'new' && !this.resolvedNew) {
      // Resolve "new" to a position once, so a restart continues exactly there.
      this.pos = await this.store.headSeq();
      this.resolvedNew = true;
    }
    if (this.pos > 0 && this.opts.onTrimmed) {
      // Retention (observations) removed messages after our position: they can never be read.
      const { first } = await this.store.bounds();
      if (first > this.pos + 1) {
        this.log('warn', 'messages after the reader position were trimmed by retention', { reader: this.name, position: this.pos, firstSeq: first });
        await this.opts.onTrimmed(this.pos, first);
      }
    }
    const c = await this.store.nats.js.consumers.get(this.store.streamName, {
      filter_subjects: this.filter,
      ...(this.pos > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.pos + 1 } : { deliver_policy: DeliverPolicy.All }),
    } as never);
    return c.consume({ max_messages: Math.max(256, this.opts.batch ?? 500), expires: readerPullExpiresMs() });
  }

  /**
   * The client keeps pulling from a deleted durable forever (it waits for it to come back): end the
   * loop instead, so that the restart recreates it.
   */
  private watch(messages: ConsumerMessages): ConsumerMessages {
    void (async () => {
      for await (const s of messages.status()) {
        if (s.type === 'consumer_deleted' || s.type === 'consumer_not_found' || s.type === 'stream_not_found') {
          this.lastError = `${s.type}`;
          messages.stop(new Error(s.type));
          return;
        }
      }
    })().catch(() => undefined);
    return messages;
  }

  private async pump(messages: ConsumerMessages): Promise<void> {
    const batchSize = this.opts.batch ?? 500;
    const it = (messages as AsyncIterable<JsMsg>)[Symbol.asyncIterator]();
    try {
      await this.pumpFrom(it, batchSize);
    } finally {
      // As a `for await` would on leaving: end the iterator (queued behind a pending next(), hence not awaited),
      // else closing the consumer waits for an iterator nobody reads any more.
      void it.return?.(undefined)?.catch(() => undefined);
    }
  }

  private async pumpFrom(it: AsyncIterator<JsMsg>, batchSize: number): Promise<void> {
    let buf: ReadMessage[] = [];
    // The next message is asked for while this one is handled: marked handled at once (a consumer error must not
    // count as an unhandled rejection meanwhile); awaiting it below still throws.
    const ask = () => {
      const p = it.next();
      p.catch(() => undefined);
      return p;
    };
    let next = ask();
    for (;;) {
      let r: IteratorResult<JsMsg>;
      if (buf.length) {
        // A batch ends when the server says nothing is pending, or when nothing more arrives for a moment:
        // a message's `pending` can stay above 0 although it was the last one (seen under load), and a
        // reader that waited for 0 sat on a full buffer until the next event or its stall reopen.
        let timer: NodeJS.Timeout | undefined;
        const idle = new Promise<'idle'>((res) => (timer = setTimeout(() => res('idle'), BATCH_IDLE_MS)));
        const got = await Promise.race([next, idle]);
        clearTimeout(timer);
        if (got === 'idle') {
          await this.handleBuffered(buf);
          buf = [];
          continue;
        }
        r = got;
      } else r = await next;
      if (r.done) break;
      next = ask();
      const m = r.value;
      if (this.stopped) return;
      this.pending = m.info.pending;
      this.delivered = m.seq;
      this.inHandler = true;
      try {
        if (this.opts.durable) {
          await this.processDurable(m);
          continue;
        }
        if (m.seq <= this.pos) continue; // redelivered after a reopen
        const rm = await this.check(m);
        if (rm) buf.push(rm);
        else buf.push({ seq: m.seq, subject: m.subject, events: [], msg: m }); // dead-lettered: only moves the position
        if (m.info.pending === 0 || buf.length >= batchSize) {
          await this.processOrdered(buf);
          buf = [];
        }
      } finally {
        this.inHandler = false;
        this.buffered = buf.length;
      }
    }
    // Ended (a reopen, a lost connection): what was delivered is still handled, so a reopen never loses ground.
    if (buf.length && !this.stopped) await this.processOrdered(buf);
    this.buffered = 0;
  }

  private async handleBuffered(buf: ReadMessage[]): Promise<void> {
    if (this.stopped) return;
    this.inHandler = true;
    try {
      await this.processOrdered(buf);
    } finally {
      this.inHandler = false;
      this.buffered = 0;
    }
  }

  /** Decoded and valid message, or undefined once it has been dead-lettered. */
  private async check(m: JsMsg): Promise<ReadMessage | undefined> {
    let events: StoredEvent[];
    try {
      events = decodeMessages(m).map((e) => checkEnvelope(e));
    } catch (err) {
      await this.deadLetter(m, (err as Error).message, 'invalid');
      return undefined;
    }
    return { seq: m.seq, subject: m.subject, events, msg: m };
  }

  private isTransient(err: unknown): boolean {
    if (err instanceof PoisonMessageError) return false;
    return this.opts.isTransient ? this.opts.isTransient(err) : false;
  }

  private progressed(b: ReadBatch) {
    for (const e of b.events) eventsHandled.inc({ consumer: this.name, type: e.type });
    this.counters.handled += b.events.length;
    this.pos = Math.max(this.pos, b.position);
    this.lastProgressAt = Date.now();
    if (this.pending !== null) consumerLag.set({ consumer: this.name }, this.pending);
  }

  private batchOf(ms: ReadMessage[]): ReadBatch {
    return { events: ms.flatMap((m) => m.events), messages: ms, position: ms[ms.length - 1].seq };
  }

  /**
   * A batch in one handler call. Transient failures: the same batch again after a back-off, for as long
   * as it takes (the loop shows as stalled). Other failures: message by message, so that only the
   * culprit is dead-lettered after `maxAttempts`.
   */
  private async processOrdered(ms: ReadMessage[]): Promise<void> {
    const b = this.batchOf(ms);
    const { min, max } = this.opts.retryMs ?? { min: 100, max: 5000 };
    let delay = min;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.opts.handle(b);
        this.progressed(b);
        return;
      } catch (err) {
        if (this.stopped) throw err;
        this.failed(b.events, err, attempt);
        // Moving past dead-lettered messages (no events) is retried until it works.
        if (!this.isTransient(err) && b.events.length > 0) {
          if (ms.length > 1) {
            for (const one of ms) await this.processOrdered([one]);
            return;
          }
          if (err instanceof PoisonMessageError || attempt >= (this.opts.maxAttempts ?? 3)) {
            await this.deadLetter(ms[0].msg, String((err as Error)?.message ?? err), 'failed', ms[0].events);
            // Skip it: the handler moves past it with nothing to apply.
            await this.processOrdered([{ ...ms[0], events: [] }]);
            return;
          }
        }
        await this.sleep(delay);
        if (this.stopped) throw err;
        delay = Math.min(max, delay * 2);
      }
    }
  }

  private failed(events: StoredEvent[], err: unknown, attempt: number) {
    this.counters.failed++;
    this.lastError = String((err as Error)?.message ?? err).slice(0, 500);
    for (const type of new Set(events.map((e) => e.type))) eventsFailed.inc({ consumer: this.name, type });
    this.log('warn', 'handler failed', { reader: this.name, attempt, transient: this.isTransient(err), err: this.lastError });
  }

  /** Durable: ack after the handler, nak with a growing delay, dead-letter + term when poison or out of deliveries. */
  private async processDurable(m: JsMsg): Promise<void> {
    const rm = await this.check(m);
    if (!rm) {
      this.pos = Math.max(this.pos, m.seq);
      return;
    }
    const b = this.batchOf([rm]);
    // In progress: a handler slower than the ack wait is not redelivered meanwhile (the ack wait can stay
    // short, so that what a killed process had taken is redelivered soon).
    const ackWaitMs = this.opts.durable!.ackWaitMs ?? 30_000;
    const working = setInterval(() => m.working(), Math.max(500, Math.floor(ackWaitMs / 3)));
    try {
      const type = rm.events.length === 1 ? rm.events[0].type : 'EventBatch';
      await withConsumerSpan(
        `consume ${type}`,
        m.headers,
        { 'messaging.destination': m.subject, 'fabric.seq': m.seq, 'fabric.consumer': this.durableName ?? this.name },
        () => this.opts.handle(b),
      );
      m.ack();
      this.progressed(b);
    } catch (err) {
      const d = this.opts.durable!;
      const delivered = m.info.deliveryCount;
      this.failed(rm.events, err, delivered);
      if ((!this.isTransient(err) && delivered >= (d.maxDeliver ?? 5)) || err instanceof PoisonMessageError) {
        await this.deadLetter(m, String((err as Error)?.message ?? err), 'failed', rm.events);
        this.pos = Math.max(this.pos, m.seq);
        this.lastProgressAt = Date.now();
      } else {
        m.nak((d.nakDelayMs ?? 500) * 2 ** Math.min(10, delivered - 1));
      }
    } finally {
      clearInterval(working);
    }
  }

  /**
   * Records a message this reader gives up on, once: the subject is per reader and sequence and the
   * append expects it empty, so a reader replaying from sequence 1 never records it twice.
   * Durable readers terminate the message afterwards. Throws when it cannot be recorded (the loop
   * restarts and meets the message again: nothing is skipped unrecorded).
   */
  private async deadLetter(m: JsMsg, error: string, reason: 'invalid' | 'failed', events?: StoredEvent[]): Promise<void> {
    const eventType = events?.length === 1 ? events[0].type : m.headers?.get(HEADER_EVENT_TYPE) || undefined;
    this.counters.deadLettered++;
    eventsDeadLettered.inc({ consumer: this.name, type: eventType ?? 'unknown', reason });
    this.lastError = `dead-lettered seq ${m.seq}: ${error}`.slice(0, 500);
    this.log('error', 'message dead-lettered', { reader: this.name, seq: m.seq, subject: m.subject, eventType, reason, error: error.slice(0, 500) });
    if ((this.opts.deadLetter ?? 'record') === 'record') {
      const s = this.store.subjects;
      const consumer = this.durableName ?? this.name;
      try {
        await this.store.append(
          s.evt('deadletter', loopToken(consumer), String(m.seq)),
          [
            {
              id: `dlq:${loopToken(consumer)}:${m.seq}`,
              event: {
                type: 'MessageDeadLettered',
                data: {
                  consumer,
                  streamSeq: m.seq,
                  subject: m.subject,
                  ...(eventType ? { eventType: eventType.slice(0, 200) } : {}),
                  error: `${reason}: ${error}`.slice(0, 2000),
                },
              },
            },
          ],
          0,
        );
      } catch (err) {
        if (!(err instanceof ConcurrencyError)) {
          this.counters.deadLettered--;
          if (!this.opts.durable) throw err;
          m.nak(1000); // could not record it: leave it for redelivery rather than lose it silently
          return;
        }
      }
    }
    if (this.opts.durable) m.term(); // no reason text: nats-server 2.9 does not parse '+TERM <reason>'
  }
}

/** Postgres / network errors that heal by themselves (connection, shutdown, resources, serialization). */
export function isTransientDbError(err: unknown): boolean {
  // A bug in the handler (or data it cannot cope with) does not heal by waiting.
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError || err instanceof ReferenceError) return false;
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.driverError?.code ?? e?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true; // no SQLSTATE: network, pool, timeout
  return ['08', '53', '57', '58', '40', '55', 'XX', 'HV'].includes(code.slice(0, 2)) || code === '25P02';
}
