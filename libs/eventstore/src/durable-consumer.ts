/**
 * A reactor's input: a durable pull consumer with explicit ack and bounded redelivery, on the common
 * StreamReader (restart policy, validation, dead-letter, metrics).
 * - handler succeeds → ack
 * - handler throws a transient error → nak with a growing delay (until max_deliver)
 * - poison (PoisonMessageError, undecodable or invalid body) or the last allowed delivery fails →
 *   a MessageDeadLettered event is appended, then the message is terminated.
 * Handlers must publish what they derive *before* returning (with deterministic Msg-Ids), so a crash
 * between publish and ack only causes a deduplicated redelivery.
 */
import { type Consumer, type JsMsg } from '@nats-io/jetstream';
import { type StoredEvent } from '@fabric/contracts';
import { type EventStore } from './event-store';
import { PoisonMessageError, StreamReader } from './stream-reader';

export { PoisonMessageError };

export interface DurableConsumerOptions {
  /** Durable name (namespaced by the store's subjects). */
  durable: string;
  /** One filter subject (nats-server 2.9 has no multi-filter consumers). Default: every event. */
  filterSubject?: string;
  maxDeliver?: number;
  ackWaitMs?: number;
  /** Base nak delay; doubled per delivery. */
  nakDelayMs?: number;
  maxAckPending?: number;
  batch?: number;
  /** Start position for a new durable (default: all). */
  startSeq?: number;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

export type EventHandler = (event: StoredEvent, msg: JsMsg) => Promise<void>;

export class DurableConsumer {
  readonly durableName: string;
  readonly reader: StreamReader;

  constructor(
    private readonly store: EventStore,
    opts: DurableConsumerOptions,
    handler: EventHandler,
  ) {
    this.durableName = store.subjects.durable(opts.durable);
    this.reader = new StreamReader(store, {
      name: this.durableName,
      filter: opts.filterSubject,
      durable: {
        name: opts.durable,
        maxDeliver: opts.maxDeliver,
        ackWaitMs: opts.ackWaitMs,
        nakDelayMs: opts.nakDelayMs,
        maxAckPending: opts.maxAckPending,
        startSeq: opts.startSeq,
      },
      batch: opts.batch,
      log: opts.log ? (_l, m, x) => opts.log!(m, x) : undefined,
      handle: async (b) => {
        // The events of one message (one decision), in order; a redelivery runs them all again.
        for (const m of b.messages) for (const e of m.events) await handler(e, m.msg);
      },
    });
  }

  /** Creates the durable if it does not exist yet. */
  async ensure(): Promise<Consumer> {
    await this.reader.ensureDurable();
    return this.store.nats.js.consumers.get(this.store.streamName, this.durableName);
  }

  start(): Promise<void> {
    return this.reader.start();
  }

  stop(): Promise<void> {
    return this.reader.stop();
  }

  /** Deletes the durable (tests / rebuilds). */
  async delete(): Promise<void> {
    await this.store.nats.jsm.consumers.delete(this.store.streamName, this.durableName).catch(() => undefined);
  }
}
