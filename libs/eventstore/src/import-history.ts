/**
 * Moves a namespace's history from one NATS to another (an installation that ran on an open NATS moving to
 * the product's authenticated one): every event in order with the same stream sequences — read models and
 * checkpoints built from the old stream stay valid — and the latest desired state per target.
 */
import { DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import { type Nats } from './connection';

export async function importHistory(from: Nats, to: Nats): Promise<{ events: number; commands: number }> {
  if (from.subjects.ns !== to.subjects.ns) throw new Error(`namespaces differ: ${from.subjects.ns} → ${to.subjects.ns}`);
  const s = to.subjects;
  if ((await to.jsm.streams.info(s.eventsStream)).state.last_seq > 0) throw new Error(`${s.eventsStream} on the target is not empty: nothing imported`);
  const copy = async (stream: string, sameSeq: boolean): Promise<number> => {
    const info = await from.jsm.streams.info(stream).catch(() => undefined);
    if (!info || info.state.messages === 0) return 0;
    const last = info.state.last_seq;
    const consumer = await from.js.consumers.get(stream, { deliver_policy: DeliverPolicy.All } as never);
    let n = 0;
    try {
      for (let done = false; !done;) {
        const batch = await consumer.fetch({ max_messages: 500, expires: 2000 });
        let got = 0;
        for await (const m of batch as AsyncIterable<JsMsg>) {
          got++;
          // Same sequence or fail: a gap in the old stream cannot be reproduced, so it is refused, not papered over.
          const ack = await to.js.publish(m.subject, m.data, { headers: m.headers, ...(sameSeq ? { expect: { lastSequence: m.seq - 1 } } : {}) });
          if (sameSeq && ack.seq !== m.seq) throw new Error(`sequence ${m.seq} imported as ${ack.seq}`);
          n++;
          if (m.seq >= last) done = true;
        }
        if (got === 0) break;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return n;
  };
  return { events: await copy(s.eventsStream, true), commands: await copy(s.commandsStream, false) };
}
