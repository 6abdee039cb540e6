/**
 * A reactor's input: a durable pull consumer with explicit ack and bounded redelivery.
 * - handler succeeds → ack
 * - handler throws a transient error → nak with a growing delay (until max_deliver)
 * - poison (PoisonMessageError, undecodable body) or the last allowed delivery fails →
 *   a MessageDeadLettered event is appended, then the message is terminated.
 * Handlers must publish what they derive *before* returning (with deterministic Msg-Ids), so a crash
 * between publish and ack only causes a deduplicated redelivery.
 */
import { AckPolicy, Consumer, ConsumerMessages, DeliverPolicy, JsMsg } from '@nats-io/jetstream';
import { StoredEvent, HEADER_EVENT_TYPE } from '@fabric/contracts';
import { withConsumerSpan } from '@fabric/telemetry';
import { observeHandled } from '@fabric/service-kit';
import { decodeMessage, EventStore } from './event-store';
import { isNotFound } from './connection';

export class PoisonMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonMessageError';
  }
}

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
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  private stopped = false;
  readonly durableName: string;

  constructor(private readonly store: EventStore, private readonly opts: DurableConsumerOptions, private readonly handler: EventHandler) {
    this.durableName = store.subjects.durable(opts.durable);
  }

  async ensure(): Promise<Consumer> {
    const s = this.store.subjects;
    const cfg = {
      durable_name: this.durableName,
      ack_policy: AckPolicy.Explicit,
      max_deliver: this.opts.maxDeliver ?? 5,
      ack_wait: (this.opts.ackWaitMs ?? 30_000) * 1e6,
      max_ack_pending: this.opts.maxAckPending ?? 1000,
      filter_subject: this.opts.filterSubject ?? s.evtAll(),
      ...(this.opts.startSeq ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.opts.startSeq } : { deliver_policy: DeliverPolicy.All }),
    };
    try {
      await this.store.nats.jsm.consumers.info(s.eventsStream, this.durableName);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.store.nats.jsm.consumers.add(s.eventsStream, cfg as never);
    }
    return this.store.nats.js.consumers.get(s.eventsStream, this.durableName);
  }

  async start(): Promise<void> {
    const consumer = await this.ensure();
    this.messages = await consumer.consume({ max_messages: this.opts.batch ?? 256 });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const m of messages) {
        if (this.stopped) break;
        await this.process(m);
      }
    })().catch((err) => this.opts.log?.('consumer loop ended', { err: String(err) }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }

  /** Deletes the durable (tests / rebuilds). */
  async delete(): Promise<void> {
    await this.store.nats.jsm.consumers.delete(this.store.subjects.eventsStream, this.durableName).catch(() => undefined);
  }

  private async process(m: JsMsg): Promise<void> {
    let event: StoredEvent;
    try {
      event = decodeMessage(m);
    } catch (err) {
      await this.deadLetter(m, undefined, `undecodable message: ${(err as Error).message}`);
      return;
    }
    try {
      await withConsumerSpan(`consume ${event.type}`, m.headers, { 'messaging.destination': m.subject, 'fabric.seq': m.seq, 'fabric.consumer': this.durableName }, () =>
        this.handler(event, m),
      );
      m.ack();
      observeHandled(this.durableName, event.type, m.info.pending);
    } catch (err) {
      const maxDeliver = this.opts.maxDeliver ?? 5;
      const delivered = m.info.deliveryCount;
      if (err instanceof PoisonMessageError || delivered >= maxDeliver) {
        await this.deadLetter(m, event.type, (err as Error).message);
      } else {
        const delay = (this.opts.nakDelayMs ?? 500) * 2 ** (delivered - 1);
        this.opts.log?.('handler failed, will retry', { seq: m.seq, type: event.type, delivered, err: String(err) });
        m.nak(delay);
      }
    }
  }

  private async deadLetter(m: JsMsg, eventType: string | undefined, error: string): Promise<void> {
    const s = this.store.subjects;
    this.opts.log?.('dead-lettering message', { seq: m.seq, eventType, error });
    try {
      await this.store.append(s.evt('deadletter', this.durableName), [
        {
          id: `dlq:${this.durableName}:${m.seq}`,
          event: { type: 'MessageDeadLettered', data: { consumer: this.durableName, streamSeq: m.seq, subject: m.subject, eventType: eventType ?? m.headers?.get(HEADER_EVENT_TYPE) ?? undefined, error: error.slice(0, 2000) } },
        },
      ]);
      m.term(); // no reason text: nats-server 2.9 does not parse '+TERM <reason>'
    } catch (err) {
      // Could not record it: leave it for redelivery rather than lose it silently.
      m.nak(1000);
    }
  }
}
