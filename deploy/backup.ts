/**
 * `npm run backup -- create <file>` / `npm run backup -- restore <file>` (docs/operations/backup.md).
 *
 * A logical copy of the fabric's JetStream state into one gzip'd JSON-lines file: the events stream (every
 * message with subject, headers and data; the source of truth), the commands stream (latest desired state per
 * target; its generations must not go backwards for the agents) and the durable consumers with their ack floor
 * (so IPAM does not re-react to the whole history after a restore).
 * Restore writes into a NATS whose streams do not exist yet (or are empty): the events keep their sequence
 * numbers (each publish expects the previous sequence), which the read model's checkpoints and SSE ids rely on.
 * NATS_URL / FABRIC_NS select the server and namespace as for every service.
 */
import { toolNatsOptions } from './nats-auth';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { createGunzip, createGzip } from 'node:zlib';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, type JsMsg, type PubAck } from '@nats-io/jetstream';
import type { ConsumerConfig, StreamConfig } from '@nats-io/jetstream';
import { isNotFound, Nats } from '@fabric/eventstore';

export const BACKUP_FORMAT = 'fabric-backup/1';
const MSG_ID = 'Nats-Msg-Id';
const PIPELINE = 256;

type Rec =
  | { kind: 'header'; format: string; ns: string; createdAt: string; streams: string[] }
  | { kind: 'stream'; name: string; config: StreamConfig; firstSeq: number; lastSeq: number; messages: number }
  | { kind: 'msg'; stream: string; seq: number; subject: string; time: string; headers?: [string, string[]][]; data: string }
  | { kind: 'consumer'; stream: string; config: ConsumerConfig; ackFloor: number }
  | { kind: 'end'; counts: Record<string, number> };

export interface BackupSummary {
  file: string;
  streams: Record<string, { messages: number; lastSeq: number }>;
  consumers: number;
}

/** Copies both streams (up to their last sequence at the start) and the durable consumers into `file`. */
export async function createBackup(nats: Nats, file: string): Promise<BackupSummary> {
  const s = nats.subjects;
  const names = [s.eventsStream, s.commandsStream];
  const tmp = `${file}.tmp`;
  const gz = createGzip();
  const out = createWriteStream(tmp, { mode: 0o600 });
  gz.pipe(out);
  const write = async (r: Rec) => {
    if (!gz.write(JSON.stringify(r) + '\n')) await once(gz, 'drain');
  };
  const summary: BackupSummary = { file, streams: {}, consumers: 0 };
  try {
    await write({ kind: 'header', format: BACKUP_FORMAT, ns: s.ns, createdAt: new Date().toISOString(), streams: names });
    for (const name of names) {
      const info = await nats.jsm.streams.info(name);
      const last = info.state.last_seq;
      await write({ kind: 'stream', name, config: info.config, firstSeq: info.state.first_seq, lastSeq: last, messages: info.state.messages });
      let count = 0;
      if (info.state.messages > 0) {
        const consumer = await nats.js.consumers.get(name, { deliver_policy: DeliverPolicy.All } as never);
        let pos = 0;
        while (pos < last) {
          const batch = await consumer.fetch({ max_messages: 1000, expires: 5000 });
          let got = 0;
          for await (const m of batch as AsyncIterable<JsMsg>) {
            got++;
            if (m.seq > last) break; // appended after the backup began: not part of this copy
            pos = m.seq;
            count++;
            await write(messageRecord(name, m));
            if (m.info.pending === 0 || pos >= last) break;
          }
          if (got === 0 || pos >= last) break;
        }
        await consumer.delete().catch(() => undefined);
      }
      summary.streams[name] = { messages: count, lastSeq: last };
      for await (const c of nats.jsm.consumers.list(name)) {
        if (!c.config.durable_name) continue;
        await write({ kind: 'consumer', stream: name, config: c.config, ackFloor: c.ack_floor.stream_seq });
        summary.consumers++;
      }
    }
    const counts: Record<string, number> = { consumers: summary.consumers };
    for (const [k, v] of Object.entries(summary.streams)) counts[k] = v.messages;
    await write({ kind: 'end', counts });
    gz.end();
    await once(out, 'close');
    renameSync(tmp, file);
    return summary;
  } catch (err) {
    gz.destroy();
    out.destroy();
    rmSync(tmp, { force: true });
    throw err;
  }
}

function messageRecord(stream: string, m: JsMsg): Rec {
  const headers: [string, string[]][] = [];
  if (m.headers) for (const k of m.headers.keys()) headers.push([k, m.headers.values(k)]);
  return {
    kind: 'msg',
    stream,
    seq: m.seq,
    subject: m.subject,
    time: new Date(Math.floor(Number(m.info.timestampNanos) / 1e6)).toISOString(),
    ...(headers.length ? { headers } : {}),
    data: Buffer.from(m.data).toString('base64'),
  };
}

async function* readRecords(file: string): AsyncGenerator<Rec> {
  statSync(file); // a missing file is an error now, not a stream that never ends
  const src = createReadStream(file);
  const gunzip = createGunzip();
  src.on('error', (e) => gunzip.destroy(e));
  const lines = createInterface({ input: src.pipe(gunzip), crlfDelay: Infinity });
  for await (const line of lines) if (line.trim()) yield JSON.parse(line) as Rec;
}

/** Reads the whole file once without writing anything: a truncated or foreign file is refused before restore. */
export async function verifyBackup(file: string): Promise<{ ns: string; counts: Record<string, number> }> {
  let header: Extract<Rec, { kind: 'header' }> | undefined;
  const seen: Record<string, number> = { consumers: 0 };
  let end: Extract<Rec, { kind: 'end' }> | undefined;
  for await (const r of readRecords(file)) {
    if (!header) {
      if (r.kind !== 'header' || r.format !== BACKUP_FORMAT) throw new Error(`${file}: not a ${BACKUP_FORMAT} file`);
      header = r;
    } else if (r.kind === 'msg') seen[r.stream] = (seen[r.stream] ?? 0) + 1;
    else if (r.kind === 'consumer') seen.consumers++;
    else if (r.kind === 'end') end = r;
  }
  if (!header || !end) throw new Error(`${file}: truncated (no end record)`);
  for (const [k, v] of Object.entries(end.counts)) if ((seen[k] ?? 0) !== v) throw new Error(`${file}: ${k} has ${seen[k] ?? 0} records, expected ${v}`);
  return { ns: header.ns, counts: end.counts };
}

export interface RestoreSummary {
  streams: Record<string, { messages: number; lastSeq: number }>;
  consumers: number;
}

/**
 * Restores into the namespace of `nats` (it must be the backup's). Streams must be absent or empty. Events keep
 * their sequences; the commands stream keeps its messages in order (new sequences: only generations matter).
 */
export async function restoreBackup(nats: Nats, file: string): Promise<RestoreSummary> {
  const { ns } = await verifyBackup(file);
  if (ns !== nats.subjects.ns) throw new Error(`backup is of namespace ${ns}, the target is ${nats.subjects.ns}`);
  const summary: RestoreSummary = { streams: {}, consumers: 0 };
  const keepsSeq = (stream: string) => stream === nats.subjects.eventsStream;
  let pending: Promise<PubAck>[] = [];
  let pendingSeqs: number[] = [];
  let last = 0;
  const flush = async () => {
    const acks = await Promise.all(pending);
    acks.forEach((a, i) => {
      if (a.duplicate) throw new Error(`message ${pendingSeqs[i]} was taken for a duplicate (${a.stream} ${a.seq})`);
    });
    pending = [];
    pendingSeqs = [];
  };
  let current: Extract<Rec, { kind: 'stream' }> | undefined;
  for await (const r of readRecords(file)) {
    if (r.kind === 'stream') {
      await flush();
      current = r;
      await createStream(nats, r);
      last = 0;
      summary.streams[r.name] = { messages: 0, lastSeq: 0 };
    } else if (r.kind === 'msg') {
      if (!current || current.name !== r.stream) throw new Error(`message ${r.seq} outside its stream section`);
      const h = natsHeaders();
      let msgID: string | undefined;
      for (const [k, vs] of r.headers ?? []) {
        if (k === MSG_ID) msgID = vs[0];
        else for (const v of vs) h.append(k, v);
      }
      // Sequences 1..n without gaps: expecting the previous one makes the copy exact or fail.
      if (keepsSeq(r.stream) && r.seq !== last + 1) throw new Error(`${r.stream}: sequence gap before ${r.seq}; cannot keep sequences`);
      pending.push(
        nats.js.publish(r.subject, Buffer.from(r.data, 'base64'), {
          headers: h,
          // Kept: the stored header is part of the event. Two events with one Msg-Id (possible only more than a
          // dedupe window apart) would be dropped here: flush() then refuses the restore rather than lose one.
          ...(msgID ? { msgID } : {}),
          ...(keepsSeq(r.stream) ? { expect: { lastSequence: last } } : {}),
        }),
      );
      pendingSeqs.push(r.seq);
      last = r.seq;
      summary.streams[r.stream].messages++;
      summary.streams[r.stream].lastSeq = r.seq;
      if (pending.length >= PIPELINE) await flush();
    } else if (r.kind === 'consumer') {
      await flush();
      await restoreConsumer(nats, r);
      summary.consumers++;
    }
  }
  await flush();
  return summary;
}

async function createStream(nats: Nats, r: Extract<Rec, { kind: 'stream' }>): Promise<void> {
  try {
    const info = await nats.jsm.streams.info(r.name);
    if (info.state.messages > 0 || info.state.last_seq > 0)
      throw new Error(`stream ${r.name} already has messages: restore only into a fresh NATS (or delete the stream)`);
    await nats.jsm.streams.update(r.name, r.config as never);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    const { sealed: _s, ...config } = r.config as StreamConfig & { sealed?: boolean };
    await nats.jsm.streams.add(config as never);
  }
}

async function restoreConsumer(nats: Nats, r: Extract<Rec, { kind: 'consumer' }>): Promise<void> {
  // Resume after what the consumer had acknowledged; unacknowledged messages are delivered again (at least once).
  const config: Partial<ConsumerConfig> = {
    ...r.config,
    ...(r.ackFloor > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: r.ackFloor + 1 } : {}),
  };
  if (config.ack_policy === undefined) config.ack_policy = AckPolicy.Explicit;
  await nats.jsm.consumers.add(r.stream, config);
}

async function main() {
  const [cmd, file] = process.argv.slice(2);
  if (!['create', 'restore', 'verify'].includes(cmd) || !file) {
    console.error('usage: npm run backup -- create|verify|restore <file.jsonl.gz>');
    process.exit(2);
  }
  if (cmd === 'verify') {
    console.log(JSON.stringify(await verifyBackup(file)));
    return;
  }
  // The control host's admin identity on the product's own bus: a restore creates streams.
  const nats = await Nats.connect({ name: `backup-${cmd}`, ...toolNatsOptions('admin') });
  try {
    const summary = cmd === 'create' ? await createBackup(nats, file) : await restoreBackup(nats, file);
    console.log(JSON.stringify(summary));
    if (cmd === 'restore') console.log('next: npm run projections -- rebuild --swap (the read model is derived from the restored events)');
  } finally {
    await nats.close();
  }
}

if (require.main === module) {
  void main().catch((err) => {
    console.error(String(err?.message ?? err));
    process.exit(1);
  });
}
