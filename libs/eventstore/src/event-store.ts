/**
 * Append-only event store on one JetStream stream, one subject per aggregate instance.
 * - `Nats-Msg-Id` = event id: a retried command or redelivered reactor input is deduplicated by the server.
 * - Expected last subject sequence: optimistic concurrency per aggregate (nats-server 2.9 has no
 *   wildcard or batch expectation, so an aggregate is exactly one subject).
 */
import { headers as natsHeaders } from '@nats-io/nats-core';
import { DeliverPolicy, JsMsg, PubAck } from '@nats-io/jetstream';
import { EventEnvelope, EventMeta, FabricEvent, HEADER_EVENT_TYPE, StoredEvent, EVENT_AGGREGATE, EVENT_CLASSES, subjectTarget, untrustedEventReason } from '@fabric/contracts';
import { injectTraceHeaders } from '@fabric/telemetry';
import { Nats } from './connection';

export class ConcurrencyError extends Error {
  constructor(readonly subject: string, readonly expected: number, detail: string) {
    super(`concurrent write on ${subject} (expected last sequence ${expected}): ${detail}`);
    this.name = 'ConcurrencyError';
  }
}

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

export function encodeEnvelope(e: NewEvent, now = new Date()): Uint8Array {
  const cls = EVENT_CLASSES[e.event.type];
  const env: EventEnvelope = {
    id: e.id,
    type: e.event.type,
    schemaVersion: cls.version,
    occurredAt: now.toISOString(),
    data: e.event.data,
    ...(e.meta ? { meta: e.meta } : {}),
  };
  return enc.encode(JSON.stringify(env));
}

/** An event whose type does not belong on its subject: published by an identity that may not state it. */
export class UntrustedEventError extends Error {
  constructor(readonly seq: number, readonly subject: string, reason: string) {
    super(`untrusted event at seq ${seq}: ${reason}`);
    this.name = 'UntrustedEventError';
  }
}

/**
 * Decodes a stored event and checks it against its subject: the subject is who published it (NATS
 * permissions), so an event type foreign to the subject's aggregate is refused (UntrustedEventError), and
 * an agent report's or desired state's `target` is the one of its subject, whatever the payload says.
 */
export function decodeMessage(m: { seq: number; subject: string; data: Uint8Array }): StoredEvent {
  const env = JSON.parse(dec.decode(m.data)) as EventEnvelope;
  const reason = untrustedEventReason(m.subject, env.type, (t) => EVENT_AGGREGATE[t as keyof typeof EVENT_AGGREGATE]);
  if (reason) throw new UntrustedEventError(m.seq, m.subject, reason);
  const target = subjectTarget(m.subject);
  if (target && env.data && typeof env.data === 'object') (env.data as { target?: unknown }).target = target;
  return { ...env, seq: m.seq, subject: m.subject };
}

export class EventStore {
  constructor(readonly nats: Nats) {}

  get subjects() {
    return this.nats.subjects;
  }

  /**
   * Appends events to one aggregate subject. `expectedSeq` is the last sequence the caller saw on that
   * subject (0 = new aggregate); undefined = no check (reports, reactor outputs keyed by Msg-Id).
   * Multi-event appends chain the expectation event by event; they are not atomic on nats-server < 2.12.
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
      let ack: PubAck;
      try {
        ack = await this.nats.js.publish(subject, encodeEnvelope(e, now), {
          msgID: e.id,
          headers: h,
          ...(expect !== undefined ? { expect: { lastSubjectSequence: expect } } : {}),
        });
      } catch (err) {
        if ((err as { code?: number }).code === 10071) throw new ConcurrencyError(subject, expect ?? -1, (err as Error).message);
        throw err;
      }
      duplicate = duplicate || ack.duplicate;
      seqs.push(ack.seq);
      if (expect !== undefined) expect = ack.seq;
    }
    return { seqs, duplicate };
  }

  /** Last stream sequence stored on a subject, 0 when none (one direct request, no consumer). */
  async lastSeq(subject: string): Promise<number> {
    const m = await this.nats.jsm.streams.getMessage(this.subjects.eventsStream, { last_by_subj: subject });
    return m?.seq ?? 0;
  }

  /** Last sequence of the whole stream. */
  async headSeq(): Promise<number> {
    const info = await this.nats.jsm.streams.info(this.subjects.eventsStream);
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
  async forEach(filter: string, afterSeq: number, fn: (e: StoredEvent) => void | Promise<void>, batch = 1000): Promise<number> {
    const wildcard = filter.includes('*') || filter.includes('>');
    const last = wildcard ? await this.headSeq() : await this.lastSeq(filter);
    if (last <= afterSeq) return afterSeq;
    let pos = afterSeq;
    if (!wildcard && afterSeq > 0) {
      // Catching up an aggregate after a conflict is usually one or two events: direct gets cost one
      // round trip each, an ordered consumer several (create, fetch, delete).
      for (let i = 0; i < 8 && pos < last; i++) {
        const m = await this.nats.jsm.streams.getMessage(this.subjects.eventsStream, { seq: pos + 1, next_by_subj: filter } as never);
        if (!m) break;
        await applyTrusted(m, fn);
        pos = m.seq;
      }
      if (pos >= last) return pos;
    }
    const consumer = await this.nats.js.consumers.get(this.subjects.eventsStream, {
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
          await applyTrusted(m, fn);
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

/** Untrusted events are skipped by readers (consumers with acks dead-letter them instead). */
async function applyTrusted(m: { seq: number; subject: string; data: Uint8Array }, fn: (e: StoredEvent) => void | Promise<void>): Promise<void> {
  let e: StoredEvent;
  try {
    e = decodeMessage(m);
  } catch (err) {
    if (err instanceof UntrustedEventError) return;
    throw err;
  }
  await fn(e);
}
