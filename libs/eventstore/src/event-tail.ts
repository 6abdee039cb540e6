/**
 * Follows the stream (or a filter of it) from a position on a StreamReader (ordered, no acks): in-memory
 * views (inventory's name index, IPAM's cluster list, the derivers' models) that are rebuilt at every
 * start. `ready` resolves once everything stored at start time has been applied.
 */
import { type StoredEvent } from '@fabric/contracts';
import { createLogger, logFn } from '@fabric/service-kit';
import { type EventStore } from './event-store';
import { StreamReader } from './stream-reader';

export class EventTail {
  readonly ready: Promise<void>;
  private markReady!: () => void;
  private head = 0;
  private readonly reader: StreamReader;

  constructor(
    private readonly store: EventStore,
    private readonly filter: string,
    apply: (e: StoredEvent) => void | Promise<void>,
    fromSeq = 0,
    log: (msg: string, extra?: Record<string, unknown>) => void = logFn(createLogger('event-tail'), 'error'),
    /** Metrics label and loop name; default: the filter subject. */
    name = `tail:${filter}`,
    /** Retention trimmed messages after the position (observations): see StreamReaderOptions.onTrimmed. */
    onTrimmed?: (position: number, first: number) => void | Promise<void>,
  ) {
    this.ready = new Promise((r) => (this.markReady = r));
    this.reader = new StreamReader(store, {
      name,
      filter,
      from: fromSeq,
      // One message per call: a retried call never folds an event of another message twice.
      batch: 1,
      // A fold that throws is deterministic: after one retry the event is dead-lettered and skipped.
      maxAttempts: 2,
      retryMs: { min: 50, max: 1000 },
      log: (_l, m, x) => log(m, x),
      ...(onTrimmed ? { onTrimmed } : {}),
      handle: async (b) => {
        for (const e of b.events) await apply(e);
        const last = b.messages[b.messages.length - 1];
        if (b.position >= this.head || last?.msg.info.pending === 0) this.markReady();
      },
    });
  }

  get position(): number {
    return this.reader.position;
  }

  async start(): Promise<void> {
    const wildcard = this.filter.includes('>') || this.filter.includes('*');
    let empty = false;
    if (wildcard) {
      const { first, last } = await this.store.bounds();
      this.head = last;
      // Everything trimmed by retention (observations): nothing will arrive to mark the tail ready.
      empty = first > last;
    } else this.head = await this.store.lastSeq(this.filter);
    if (empty || this.head <= this.reader.position) this.markReady();
    await this.reader.start();
  }

  async stop(): Promise<void> {
    await this.reader.stop();
  }
}
