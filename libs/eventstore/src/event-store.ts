/**
 * Append-only event store on one JetStream stream, one subject per aggregate instance.
 * - `Nats-Msg-Id` = event id: a retried command or redelivered reactor input is deduplicated by the server.
 * - Expected last subject sequence: optimistic concurrency per aggregate (nats-server 2.9 has no
 *   wildcard or batch expectation, so an aggregate is exactly one subject). On a replicated stream each such
 *   append first claims its position (append-fence.ts): the server's own check is not exact there.
 */
import { headers as natsHeaders } from '@nats-io/nats-core';
import { DeliverPolicy, type JsMsg, type PubAck } from '@nats-io/jetstream';
import {
  type EventEnvelope,
  type EventMeta,
  EVENT_BATCH_TYPE,
  EVENT_BATCH_VERSION,
  type FabricEvent,
  HEADER_EVENT_TYPE,
  type StoredEvent,
  EVENT_AGGREGATE,
  EVENT_CLASSES,
  subjectTarget,
  untrustedEventReason,
} from '@fabric/contracts';
import { injectTraceHeaders } from '@fabric/telemetry';
import { type Nats } from './connection';
import { AppendFence } from './append-fence';
import { ConcurrencyError } from './concurrency-error';

export { ConcurrencyError };

export interface NewEvent {
  /** Deterministic id → Nats-Msg-Id; derive it from the command id or the source sequence. */
  id: string;
  event: FabricEvent;
  meta?: EventMeta;
}

export interface AppendResult {
  seqs: number[];
  /** The server had already stored these ids: the write happened before (retry / redelivery). */
  duplicate: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function envelope(e: NewEvent, now: Date): EventEnvelope {
  const cls = EVENT_CLASSES[e.event.type];
  // Assigning the event keeps type and data paired for the compiler; the JSON keeps its key order.
  const head = { id: e.id, type: e.event.type, schemaVersion: cls.version, occurredAt: now.toISOString() };
  return Object.assign(head, e.event, e.meta ? { meta: e.meta } : {});
}

export function encodeEnvelope(e: NewEvent, now = new Date()): Uint8Array {
  return enc.encode(JSON.stringify(envelope(e, now)));
}

/** An event whose type does not belong on its subject: published by an identity that may not state it. */
export class UntrustedEventError extends Error {
  constructor(
    readonly seq: number,
    readonly subject: string,
    reason: string,
  ) {
    super(`untrusted event at seq ${seq}: ${reason}`);
    this.name = 'UntrustedEventError';
  }
}

/**
 * Checks a decoded event against its subject: the subject is who published it (NATS permissions), so an
 * event type foreign to the subject's aggregate is refused (UntrustedEventError), and an agent report's or
 * desired state's `target` is the one of its subject, whatever the payload says.
 */
function trusted(e: StoredEvent): StoredEvent {
  const reason = untrustedEventReason(e.subject, e.type, (t) => EVENT_AGGREGATE[t as keyof typeof EVENT_AGGREGATE]);
  if (reason) throw new UntrustedEventError(e.seq, e.subject, reason);
  const target = subjectTarget(e.subject);
  if (target && e.data && typeof e.data === 'object') Object.assign(e.data, { target });
  return e;
}

/**
 * One message carrying every event of a decision. It is an envelope itself (type `EventBatch`, the
 * events in `data.events`), so a consumer that does not know it skips it like any other type.
 */
export function encodeBatch(events: NewEvent[], now = new Date()): Uint8Array {
  return enc.encode(
    JSON.stringify({
      id: `batch:${events[0].id}`,
      type: EVENT_BATCH_TYPE,
      schemaVersion: EVENT_BATCH_VERSION,
      occurredAt: now.toISOString(),
      data: { events: events.map((e) => envelope(e, now)) },
    }),
  );
}

type RawMessage = { seq: number; subject: string; data: Uint8Array };

/**
 * The events of one stream message, in order: one, or all of a batch (they share the message's
 * sequence; `index` tells them apart). Throws when the body is not JSON or not a batch of objects;
 * the events themselves are checked by the reader (checkEnvelope).
 */
export function decodeMessages(m: RawMessage): StoredEvent[] {
  const env = JSON.parse(dec.decode(m.data)) as EventEnvelope | { type: typeof EVENT_BATCH_TYPE; data: { events: EventEnvelope[] } };
  if (env && (env as { type?: string }).type === EVENT_BATCH_TYPE) {
    const events = (env as { data?: { events?: unknown } }).data?.events;
    if (!Array.isArray(events) || !events.length || events.some((e) => !e || typeof e !== 'object')) throw new Error('EventBatch without events');
    return (events as EventEnvelope[]).map((e, index) => trusted({ ...e, seq: m.seq, subject: m.subject, index }));
  }
  return [trusted({ ...(env as EventEnvelope), seq: m.seq, subject: m.subject })];
}

/** The single event of a message (use decodeMessages where a batch may occur). */
export function decodeMessage(m: RawMessage): StoredEvent {
  return decodeMessages(m)[0];
}

/** Number of events in an EventBatch message. */
export const HEADER_EVENT_COUNT = 'Fabric-Event-Count';

/** Which stream a store reads: the events (facts, kept forever) or the agents' observations (retention). */
export type StreamKind = 'events' | 'observations';

export class EventStore {
  private fenceOf?: AppendFence;

  constructor(
    readonly nats: Nats,
    readonly stream: StreamKind = 'events',
  ) {}

  /** The claims that serialise expected-sequence appends on a replicated stream (append-fence.ts). */
  get fence(): AppendFence {
    return (this.fenceOf ??= new AppendFence(this.nats));
  }

  /** Publishes one message with an expected subject sequence, fenced on a replicated stream. */
  private async publishExpecting(subject: string, data: Uint8Array, msgID: string, headers: ReturnType<typeof natsHeaders>, expect?: number): Promise<PubAck> {
    try {
      let claimedAt: number | undefined;
      if (expect !== undefined && expect > 0 && (await this.fence.isEnabled())) claimedAt = await this.fence.claim(subject, expect, msgID);
      if (claimedAt !== undefined) this.fence.assertFresh(claimedAt, subject, expect!);
      return await this.nats.js.publish(subject, data, { msgID, headers, ...(expect !== undefined ? { expect: { lastSubjectSequence: expect } } : {}) });
    } catch (err) {
      if ((err as { code?: number }).code === 10071) throw new ConcurrencyError(subject, expect ?? -1, (err as Error).message);
      throw err;
    }
  }

  get subjects() {
    return this.nats.subjects;
  }

  /** The JetStream stream this store reads. Appends go wherever their subject belongs. */
  get streamName(): string {
    return this.stream === 'events' ? this.subjects.eventsStream : this.subjects.observationsStream;
  }

  /** Every subject of the stream. */
  get allFilter(): string {
    return this.stream === 'events' ? this.subjects.evtAll() : this.subjects.obsAll();
  }

  /** The same connection reading the observations stream. */
  observations(): EventStore {
    return new EventStore(this.nats, 'observations');
  }

  /** First sequence still stored (observations are trimmed by retention), and the last. */
  async bounds(): Promise<{ first: number; last: number }> {
    const info = await this.nats.jsm.streams.info(this.streamName);
    return { first: info.state.first_seq, last: info.state.last_seq };
  }

  /**
   * Appends events to one aggregate subject. `expectedSeq` is the last sequence the caller saw on that
   * subject (0 = new aggregate); undefined = no check (reports, reactor outputs keyed by Msg-Id).
   * Multi-event appends chain the expectation event by event: not atomic (nats-server < 2.12 has no
   * batches). A decision whose events must be seen all or none uses appendAtomic.
   */
  async append(subject: string, events: NewEvent[], expectedSeq?: number): Promise<AppendResult> {
    const seqs: number[] = [];
    let duplicate = false;
    let expect = expectedSeq;
    const now = new Date();
    for (const e of events) {
      const h = natsHeaders();
      h.set(HEADER_EVENT_TYPE, e.event.type);
      injectTraceHeaders(h);
      const ack = await this.publishExpecting(subject, encodeEnvelope(e, now), e.id, h, expect);
      duplicate = duplicate || ack.duplicate;
      seqs.push(ack.seq);
      if (expect !== undefined) expect = ack.seq;
    }
    return { seqs, duplicate };
  }

  /**
   * Appends the events of one decision all or nothing: one event as itself, several as one EventBatch
   * message (Msg-Id `batch:<first id>`, so a retried command is deduplicated as a whole). Every event of
   * the batch gets the message's sequence.
   */
  async appendAtomic(subject: string, events: NewEvent[], expectedSeq?: number): Promise<AppendResult> {
    if (events.length <= 1) return this.append(subject, events, expectedSeq);
    const h = natsHeaders();
    h.set(HEADER_EVENT_TYPE, EVENT_BATCH_TYPE);
    h.set(HEADER_EVENT_COUNT, String(events.length));
    injectTraceHeaders(h);
    const ack = await this.publishExpecting(subject, encodeBatch(events), `batch:${events[0].id}`, h, expectedSeq);
    return { seqs: events.map(() => ack.seq), duplicate: ack.duplicate };
  }

  /** Last stream sequence stored on a subject, 0 when none (one direct request, no consumer). */
  async lastSeq(subject: string): Promise<number> {
    const m = await this.nats.jsm.streams.getMessage(this.streamName, { last_by_subj: subject });
    return m?.seq ?? 0;
  }

  /** Last sequence of the whole stream. */
  async headSeq(): Promise<number> {
    const info = await this.nats.jsm.streams.info(this.streamName);
    return info.state.last_seq;
  }

  /** Reads the events of one subject (or filter) with sequence > afterSeq, in order. */
  async read(filter: string, afterSeq = 0): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    await this.forEach(filter, afterSeq, (e) => {
      out.push(e);
    });
    return out;
  }

  /** Streams events of a filter with sequence > afterSeq through `fn` (ordered consumer, no acks). */
  /**
   * `undecodable`: called for a message whose body cannot be decoded (else the read throws); it is then
   * skipped. Readers that must not stop at a bad message (replays, aggregate loads) pass it.
   */
  async forEach(
    filter: string,
    afterSeq: number,
    fn: (e: StoredEvent) => void | Promise<void>,
    batch = 1000,
    undecodable?: (m: { seq: number; subject: string }, err: Error) => void,
  ): Promise<number> {
    const decode = (m: RawMessage): StoredEvent[] => {
      try {
        return decodeMessages(m);
      } catch (err) {
        // Forged events (a type foreign to its subject) are not part of any aggregate's history.
        if (err instanceof UntrustedEventError) return [];
        if (!undecodable) throw err;
        undecodable(m, err as Error);
        return [];
      }
    };
    const wildcard = filter.includes('*') || filter.includes('>');
    const last = wildcard ? await this.headSeq() : await this.lastSeq(filter);
    if (last <= afterSeq) return afterSeq;
    let pos = afterSeq;
    if (!wildcard && afterSeq > 0) {
      // Catching up an aggregate after a conflict is usually one or two events: direct gets cost one
      // round trip each, an ordered consumer several (create, fetch, delete).
      for (let i = 0; i < 8 && pos < last; i++) {
        const m = await this.nats.jsm.streams.getMessage(this.streamName, { seq: pos + 1, next_by_subj: filter } as never);
        if (!m) break;
        for (const e of decode(m)) await fn(e);
        pos = m.seq;
      }
      if (pos >= last) return pos;
    }
    const consumer = await this.nats.js.consumers.get(this.streamName, {
      filter_subjects: filter,
      ...(pos > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: pos + 1 } : { deliver_policy: DeliverPolicy.All }),
    } as never);
    try {
      let done = false;
      while (pos < last && !done) {
        const msgs = await consumer.fetch({ max_messages: batch, expires: 2000 });
        let got = 0;
        for await (const m of msgs as AsyncIterable<JsMsg>) {
          got++;
          pos = m.seq;
          for (const e of decode(m)) await fn(e);
          // Nothing left under the filter: stop (under a filter `pos` may never reach the stream head).
          if (m.info.pending === 0 || pos >= last) {
            done = true;
            break;
          }
        }
        if (got === 0) break;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return pos;
  }
}
