/**
 * Follows the stream (or a filter of it) from a position with an ordered consumer: in-memory views
 * (inventory's name index, IPAM's cluster list) that are rebuilt at every start. No acks, no durable.
 * `ready` resolves once everything stored at start time has been applied.
 */
import { ConsumerMessages, DeliverPolicy, JsMsg } from '@nats-io/jetstream';
import { StoredEvent } from '@fabric/contracts';
import { createLogger, logFn, observeHandled } from '@fabric/service-kit';
import { decodeMessage, EventStore } from './event-store';

export class EventTail {
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  position = 0;
  readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(
    private readonly store: EventStore,
    private readonly filter: string,
    private readonly apply: (e: StoredEvent) => void | Promise<void>,
    private readonly fromSeq = 0,
    private readonly log: (msg: string, extra?: Record<string, unknown>) => void = logFn(createLogger('event-tail'), 'error'),
    /** Metrics label (`fabric_events_handled_total{consumer}`); default: the filter subject. */
    private readonly name = `tail:${filter}`,
  ) {
    this.ready = new Promise((r) => (this.markReady = r));
  }

  async start(): Promise<void> {
    const head = this.filter.includes('>') || this.filter.includes('*') ? await this.store.headSeq() : await this.store.lastSeq(this.filter);
    if (head <= this.fromSeq) this.markReady();
    const consumer = await this.store.nats.js.consumers.get(this.store.subjects.eventsStream, {
      filter_subjects: this.filter,
      ...(this.fromSeq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.fromSeq + 1 } : { deliver_policy: DeliverPolicy.All }),
    } as never);
    this.messages = await consumer.consume({ max_messages: 1000 });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const m of messages as AsyncIterable<JsMsg>) {
        this.position = m.seq;
        try {
          const e = decodeMessage(m);
          await this.apply(e);
          observeHandled(this.name, e.type, m.info.pending);
        } catch (err) {
          // A view must not stop following the stream because of one event it cannot fold.
          this.log('event tail could not apply an event', { seq: m.seq, subject: m.subject, err: String(err) });
        }
        if (m.seq >= head || m.info.pending === 0) this.markReady();
      }
    })().catch((err) => this.log('event tail stopped', { err: String(err) }));
  }

  async stop(): Promise<void> {
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }
}
