/**
 * Snapshots of the in-memory models (inventory's index, IPAM's aggregates, the derivers' models) in the JetStream
 * KV bucket `<NS>_SNAPSHOTS` (docs/adr/model-snapshots.md). A model folded up to stream sequence `seq` is
 * written as: v8 structured serialisation (Maps, Sets and bigints survive) → gzip → chunks of at most 60 kB under
 * `<service>.<model>.<slot>.<n>`, then one head key `<service>.<model>` naming the slot, the chunk count, the
 * SHA-256 of the compressed bytes, the model's schema version and the positions it covers. Two slots alternate,
 * so a crash half-way through a write leaves the previous snapshot intact; every message stays below 64 kB and
 * the bucket holds a bounded number of keys per model (history 1).
 *
 * Loading checks the head's format, model and schema version, and the digest of the chunks: anything else is
 * refused (a full replay from sequence 1, reported by log and by `fabric_snapshot_total{outcome="refused"}`).
 * The permissions (nats-auth.ts) let each service write its own `<service>.>` keys only.
 */
import { createHash } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { NatsConnection } from '@nats-io/nats-core';
import { type KV, Kvm } from '@nats-io/kv';
import { assertToken, type Subjects } from '@fabric/contracts';
import { snapshotOutcomes } from '@fabric/service-kit';
import { snapshotsBucket } from './nats-auth';

/** Bytes per chunk: far below NATS's max payload (every bus message < 64 kB). */
export const SNAPSHOT_CHUNK_BYTES = 60_000;
/** Version of the head/chunk layout (not of a model: that is `schema`). */
const FORMAT = 1;
/** Chunks written or read at once. */
const PARALLEL = 32;

export interface SnapshotHead {
  format: number;
  service: string;
  model: string;
  /** The model's schema version: a snapshot of another version is not loaded. */
  schema: number;
  /** Stream position of the events stream the model reflects (every event up to it, none after). */
  seq: number;
  /** Further positions the model covers (e.g. `observations`: the observations stream). */
  positions: Record<string, number>;
  slot: 'a' | 'b';
  chunks: number;
  /** Chunks each slot holds (the other slot: the previous snapshot), so a smaller write purges the rest. */
  slotChunks: Record<'a' | 'b', number>;
  bytes: number;
  sha256: string;
  writtenAt: string;
}

export interface LoadedSnapshot<T> {
  head: SnapshotHead;
  data: T;
}

export type SnapshotLoad<T> =
  | { outcome: 'loaded'; snapshot: LoadedSnapshot<T> }
  | { outcome: 'missing' }
  /** Corrupt, truncated, another schema version: the caller replays from sequence 1. */
  | { outcome: 'refused'; reason: string };

export type SnapshotLog = (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Encodes a model state: v8 serialisation, gzip (fast level), digest. Synchronous: the state may change after. */
export function encodeSnapshot(data: unknown): { bytes: Buffer; sha256: string } {
  const bytes = gzipSync(serialize(data), { level: 1 });
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

export function decodeSnapshot<T>(bytes: Uint8Array, sha256: string): T {
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== sha256) throw new Error(`digest mismatch (${digest.slice(0, 12)} != ${sha256.slice(0, 12)})`);
  return deserialize(gunzipSync(bytes)) as T;
}

/** One service's snapshots: `save` and `load` per model name. */
export class SnapshotStore {
  private kv?: Promise<KV>;
  /** Per model: the head this process last read or wrote (the next write goes to the other slot). */
  private readonly heads = new Map<string, SnapshotHead | undefined>();
  private readonly log: SnapshotLog;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    readonly service: string,
    log?: SnapshotLog,
  ) {
    assertToken(service, 'service');
    this.log = log ?? (() => undefined);
  }

  private bucket(): Promise<KV> {
    this.kv ??= new Kvm(this.nc).open(snapshotsBucket(this.subjects), { allow_direct: true } as never);
    return this.kv;
  }

  private headKey(model: string): string {
    return `${this.service}.${assertToken(model, 'model')}`;
  }

  private chunkKey(model: string, slot: string, i: number): string {
    return `${this.headKey(model)}.${slot}.${i}`;
  }

  /** The head of a model's snapshot, or undefined (none, or not JSON). */
  async head(model: string): Promise<SnapshotHead | undefined> {
    const e = await (await this.bucket()).get(this.headKey(model));
    if (!e || e.operation !== 'PUT' || !e.value.length) return undefined;
    try {
      return JSON.parse(dec.decode(e.value)) as SnapshotHead;
    } catch {
      return undefined;
    }
  }

  /**
   * Writes a snapshot of `data` at `seq`. `data` is encoded before the first await, so the caller may go on
   * mutating its model. Returns the head written.
   */
  async save(model: string, schema: number, seq: number, data: unknown, positions: Record<string, number> = {}): Promise<SnapshotHead> {
    const { bytes, sha256 } = encodeSnapshot(data);
    const kv = await this.bucket();
    const prev = this.heads.has(model) ? this.heads.get(model) : await this.head(model).catch(() => undefined);
    const slot: 'a' | 'b' = prev?.slot === 'a' ? 'b' : 'a';
    const chunks = Math.max(1, Math.ceil(bytes.length / SNAPSHOT_CHUNK_BYTES));
    const jobs: (() => Promise<unknown>)[] = [];
    for (let i = 0; i < chunks; i++) {
      const part = bytes.subarray(i * SNAPSHOT_CHUNK_BYTES, (i + 1) * SNAPSHOT_CHUNK_BYTES);
      jobs.push(() => kv.put(this.chunkKey(model, slot, i), part));
    }
    await inBatches(jobs);
    const head: SnapshotHead = {
      format: FORMAT,
      service: this.service,
      model,
      schema,
      seq,
      positions,
      slot,
      chunks,
      slotChunks: { a: 0, b: 0, ...prev?.slotChunks, [slot]: chunks },
      bytes: bytes.length,
      sha256,
      writtenAt: new Date().toISOString(),
    };
    await kv.put(this.headKey(model), enc.encode(JSON.stringify(head)));
    this.heads.set(model, head);
    // Chunks of a larger snapshot once in this slot: gone, so the bucket holds what the heads name.
    const stale = prev?.slotChunks?.[slot] ?? 0;
    if (stale > chunks) await inBatches(range(chunks, stale).map((i) => () => kv.purge(this.chunkKey(model, slot, i))));
    snapshotOutcomes.inc({ service: this.service, model, outcome: 'written' });
    return head;
  }

  /**
   * The newest snapshot of `model` if it is whole and of `schema`; a missing one is normal (first start), a refused
   * one is logged and counted. Never throws for what the bucket holds.
   */
  async load<T>(model: string, schema: number): Promise<SnapshotLoad<T>> {
    const result = await this.tryLoad<T>(model, schema).catch((err): SnapshotLoad<T> => ({
      outcome: 'refused',
      reason: String((err as Error)?.message ?? err),
    }));
    snapshotOutcomes.inc({ service: this.service, model, outcome: result.outcome });
    if (result.outcome === 'refused') this.log('error', 'snapshot refused: replaying the stream from sequence 1', { model, reason: result.reason });
    else if (result.outcome === 'loaded')
      this.log('info', 'snapshot loaded', {
        model,
        seq: result.snapshot.head.seq,
        bytes: result.snapshot.head.bytes,
        writtenAt: result.snapshot.head.writtenAt,
      });
    return result;
  }

  private async tryLoad<T>(model: string, schema: number): Promise<SnapshotLoad<T>> {
    const kv = await this.bucket();
    const e = await kv.get(this.headKey(model));
    if (!e || e.operation !== 'PUT' || !e.value.length) {
      this.heads.set(model, undefined);
      return { outcome: 'missing' };
    }
    let head: SnapshotHead;
    try {
      head = JSON.parse(dec.decode(e.value)) as SnapshotHead;
    } catch {
      return { outcome: 'refused', reason: 'head is not JSON' };
    }
    // The next write goes to the other slot whatever happens below.
    this.heads.set(model, head);
    if (head.format !== FORMAT) return { outcome: 'refused', reason: `unknown snapshot format ${head.format}` };
    if (head.model !== model || head.service !== this.service) return { outcome: 'refused', reason: `head names ${head.service}.${head.model}` };
    if (head.schema !== schema) return { outcome: 'refused', reason: `schema version ${head.schema}, this build reads ${schema}` };
    if (!Number.isInteger(head.seq) || head.seq < 0 || !Number.isInteger(head.chunks) || head.chunks < 1 || (head.slot !== 'a' && head.slot !== 'b'))
      return { outcome: 'refused', reason: 'malformed head' };
    const parts: Uint8Array[] = new Array(head.chunks);
    await inBatches(
      range(0, head.chunks).map((i) => async () => {
        const c = await kv.get(this.chunkKey(model, head.slot, i));
        if (!c || c.operation !== 'PUT') throw new Error(`chunk ${i} of ${head.chunks} missing`);
        parts[i] = c.value;
      }),
    );
    const bytes = Buffer.concat(parts);
    if (bytes.length !== head.bytes) return { outcome: 'refused', reason: `size ${bytes.length} != ${head.bytes}` };
    const data = decodeSnapshot<T>(bytes, head.sha256);
    return { outcome: 'loaded', snapshot: { head, data } };
  }
}

async function inBatches(jobs: (() => Promise<unknown>)[]): Promise<void> {
  for (let i = 0; i < jobs.length; i += PARALLEL) await Promise.all(jobs.slice(i, i + PARALLEL).map((j) => j()));
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** When a model is snapshotted: every `everyEvents` folded events or `everyMs`, whichever first (and at a graceful stop). */
export interface SnapshotPolicy {
  /** Off with FABRIC_SNAPSHOTS=0 (always a full replay, nothing written). */
  enabled: boolean;
  everyEvents: number;
  everyMs: number;
}

/** FABRIC_SNAPSHOTS (1/0), FABRIC_SNAPSHOT_EVERY_EVENTS (default 10,000), FABRIC_SNAPSHOT_EVERY_MS (default 60 s). */
export function snapshotPolicyFromEnv(env = process.env): SnapshotPolicy {
  const int = (v: string | undefined, fallback: number) => (v !== undefined && /^\d{1,10}$/.test(v) && Number(v) > 0 ? Number(v) : fallback);
  return {
    enabled: env.FABRIC_SNAPSHOTS !== '0',
    everyEvents: int(env.FABRIC_SNAPSHOT_EVERY_EVENTS, 10_000),
    everyMs: int(env.FABRIC_SNAPSHOT_EVERY_MS, 60_000),
  };
}

/**
 * Decides when a snapshot is due and writes one at a time: `note(seq)` after each fold; `maybe()` from a quiet
 * moment of the owner (after a flush, a timer) writes when due. The owner supplies `take()`, called synchronously
 * when writing: the model's state and the positions it covers.
 */
export class Snapshotter {
  private lastSeq = 0;
  private lastPositions = '{}';
  private lastAt = Date.now();
  private writing?: Promise<void>;
  private timer?: NodeJS.Timeout;
  /** Events folded at start (the signal tests assert on) and the snapshot position started from. */
  replayed = 0;
  startedFrom = 0;

  constructor(
    readonly store: SnapshotStore,
    readonly model: string,
    readonly schema: number,
    /** Stream position the model reflects now (cheap). */
    private readonly position: () => number,
    /** The model's state and any further positions it covers, taken synchronously when writing. */
    private readonly take: () => { seq: number; data: unknown; positions?: Record<string, number> },
    readonly policy: SnapshotPolicy = snapshotPolicyFromEnv(),
    private readonly log: SnapshotLog = () => undefined,
  ) {}

  /**
   * Loads the newest valid snapshot (undefined when there is none or it was refused: replay from 1). `streamHead`:
   * the events stream's last sequence now — a snapshot past it belongs to another history (a recreated stream)
   * and is refused.
   */
  async load<T>(streamHead?: number): Promise<LoadedSnapshot<T> | undefined> {
    if (!this.policy.enabled) return undefined;
    const r = await this.store.load<T>(this.model, this.schema).catch((err) => {
      this.log('warn', 'snapshot not readable: replaying the stream from sequence 1', { model: this.model, err: String(err) });
      return undefined;
    });
    if (r?.outcome !== 'loaded') return undefined;
    if (streamHead !== undefined && r.snapshot.head.seq > streamHead) {
      snapshotOutcomes.inc({ service: this.store.service, model: this.model, outcome: 'refused' });
      this.log('error', 'snapshot refused: it is ahead of the events stream (another history); replaying from sequence 1', {
        model: this.model,
        seq: r.snapshot.head.seq,
        streamHead,
      });
      return undefined;
    }
    this.lastSeq = this.startedFrom = r.snapshot.head.seq;
    this.lastPositions = JSON.stringify(r.snapshot.head.positions ?? {});
    this.lastAt = Date.now();
    return r.snapshot;
  }

  /** Starts the time-based trigger (`canWrite`: e.g. only while leading and caught up). */
  startTimer(canWrite: () => boolean): void {
    if (!this.policy.enabled) return;
    this.stopTimer();
    this.timer = setInterval(
      () => {
        if (canWrite()) void this.maybe();
      },
      Math.max(1000, Math.min(this.policy.everyMs, 10_000)),
    );
    this.timer.unref?.();
  }

  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** True when enough events or time passed since the last snapshot, and the model moved. */
  due(seq: number): boolean {
    if (!this.policy.enabled || seq <= this.lastSeq) return false;
    return seq - this.lastSeq >= this.policy.everyEvents || Date.now() - this.lastAt >= this.policy.everyMs;
  }

  /** Writes a snapshot when due (never two at once). */
  maybe(): Promise<void> {
    return this.writing ?? (this.due(this.position()) ? this.write() : Promise.resolve());
  }

  /** Writes a snapshot now (graceful stop), unless nothing changed since the last one. */
  async write(): Promise<void> {
    if (!this.policy.enabled) return;
    if (this.writing) await this.writing;
    const { seq, data, positions } = this.take();
    const key = JSON.stringify(positions ?? {});
    if (seq <= 0 || (seq === this.lastSeq && key === this.lastPositions)) return;
    const t0 = Date.now();
    this.writing = this.store
      .save(this.model, this.schema, seq, data, positions)
      .then((head) => {
        this.lastSeq = seq;
        this.lastPositions = key;
        this.lastAt = Date.now();
        this.log('info', 'snapshot written', { model: this.model, seq, bytes: head.bytes, chunks: head.chunks, ms: Date.now() - t0 });
      })
      .catch((err) => this.log('warn', 'snapshot not written', { model: this.model, seq, err: String((err as Error)?.message ?? err) }))
      .finally(() => (this.writing = undefined));
    await this.writing;
  }
}
