/**
 * Feeds the read model from the event stream. The checkpoint row is locked, compared and advanced in
 * the same transaction as the rows it covers, so a replayed or concurrently processed batch is a no-op
 * (events at or below the stored position are skipped). Sequences have gaps (other streams' filters,
 * deleted consumers): compare with `<`, never `+1`.
 * Reads on a StreamReader (ordered consumer from the checkpoint, restarted with back-off when it ends):
 * an event that fails validation, or a batch that keeps failing for a reason other than the database
 * being away, is dead-lettered (MessageDeadLettered, projected into `dead_letters`), skipped, counted
 * and logged; the projection continues with the next event.
 */
import { type DataSource } from 'typeorm';
import { checkEnvelope, resyncRequestBody, type StoredEvent } from '@fabric/contracts';
import { type EventStore, isTransientDbError, type ReaderLog, StreamReader, type StreamKind } from '@fabric/eventstore';
import { Projector, type VmAtCore } from './projector';
import { positionChannel } from './follower';
import type { ReadModelPosition } from './position';

export interface RunnerOptions {
  name?: string;
  batch?: number;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
  /** Called after each committed batch (metrics, live feeds). */
  onCommit?: (events: StoredEvent[], position: number) => void;
  /** VMs that reached at-core for the first time in a committed batch (create → at-core latency). */
  onVmAtCore?: (vms: VmAtCore[]) => void;
  /** Attempts of a batch failing for a non-transient reason before its culprit is dead-lettered. */
  maxAttempts?: number;
  /**
   * The stream projected (default `events`). The read model runs one runner per stream, each with its own
   * checkpoint row: `read-model` and `read-model:observations`.
   */
  stream?: StreamKind;
  /**
   * Announce each committed checkpoint with `pg_notify` (inside the batch's transaction, so delivered at commit):
   * gateways that do not project themselves follow it (`CheckpointFollower`).
   */
  notify?: boolean;
}

/** Checkpoint name of the read model's runner over a stream. */
export const checkpointName = (stream: StreamKind = 'events', base = 'read-model') => (stream === 'events' ? base : `${base}:${stream}`);

export class ProjectionRunner implements ReadModelPosition {
  readonly name: string;
  private readonly projector: Projector;
  private position = 0;
  private reader?: StreamReader;
  private waiters: { seq: number; resolve: () => void }[] = [];
  /** The stream this runner projects (the events, or the agents' observations). */
  readonly store: EventStore;

  constructor(
    store: EventStore,
    private readonly ds: DataSource,
    private readonly opts: RunnerOptions = {},
  ) {
    this.store = opts.stream === 'observations' ? store.observations() : store;
    this.name = opts.name ?? checkpointName(opts.stream);
    this.projector = new Projector(this.schema);
  }

  get schema(): string {
    return (this.ds.options as { schema: string }).schema;
  }

  get currentPosition(): number {
    return this.position;
  }

  /** The loop name in metrics and /health. */
  get loopName(): string {
    return `projection:${this.name}`;
  }

  get loop(): StreamReader | undefined {
    return this.reader;
  }

  async readCheckpoint(): Promise<number> {
    await this.ds.query(`INSERT INTO "${this.schema}"."projection_checkpoints" (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, [this.name]);
    const rows = await this.ds.query(`SELECT position FROM "${this.schema}"."projection_checkpoints" WHERE name = $1`, [this.name]);
    return Number(rows[0].position);
  }

  async start(): Promise<void> {
    this.position = await this.readCheckpoint();
    const log: ReaderLog = (_l, m, x) => this.opts.log?.(m, x);
    this.reader = new StreamReader(this.store, {
      name: this.loopName,
      from: this.position,
      batch: this.opts.batch ?? 500,
      maxAttempts: this.opts.maxAttempts ?? 3,
      isTransient: isTransientDbError,
      log,
      // Observations trimmed by retention before they were projected: the agents state their tables
      // again (a route resync drops the stale routes), the projection continues from the oldest left.
      ...(this.store.stream === 'observations' ? { onTrimmed: () => this.askResync() } : {}),
      handle: async (b) => {
        await this.commit(b.events, b.position);
      },
    });
    await this.reader.start();
  }

  async stop(): Promise<void> {
    await this.reader?.stop();
  }

  /** Asks every agent to state its routes and sessions again (core NATS; agents debounce). */
  askResync(): void {
    const nc = this.store.nats.nc;
    if (!nc.isClosed()) nc.publish(this.store.subjects.resyncRequests);
    this.opts.log?.('observations were trimmed before they were projected: resync requested from the agents');
  }

  private readonly askedAt = new Map<string, number>();

  /**
   * Asks the agents whose routes the read model holds out of step with their reports to state them again (a lost
   * or reordered report would otherwise keep a VM's status wrong until the agent's next resync). At most once per
   * target per FABRIC_RESYNC_ASK_INTERVAL_MS (30 s): a resync takes a while to come back.
   */
  private askTargetResync(targets: { kind: string; id: string; held: number; total: number }[]): void {
    const now = Date.now();
    const set = Number(process.env.FABRIC_RESYNC_ASK_INTERVAL_MS);
    const every = process.env.FABRIC_RESYNC_ASK_INTERVAL_MS && Number.isFinite(set) && set >= 0 ? set : 30_000;
    const due = targets.filter((t) => now - (this.askedAt.get(`${t.kind}:${t.id}`) ?? -Infinity) >= every);
    if (!due.length) return;
    for (const t of due) this.askedAt.set(`${t.kind}:${t.id}`, now);
    if (this.askedAt.size > 10_000) for (const [k, at] of this.askedAt) if (now - at >= every) this.askedAt.delete(k);
    const nc = this.store.nats.nc;
    if (!nc.isClosed()) nc.publish(this.store.subjects.resyncRequests, resyncRequestBody(due));
    this.opts.log?.(
      `routes out of step with their reports (${due.map((t) => `${t.kind} ${t.id}: ${t.held} held, report says ${t.total}`).join('; ')}): resync requested`,
    );
  }

  /** Resolves once the read model includes stream sequence `seq` (read-your-writes for the API). */
  waitFor(seq: number, timeoutMs = 5000): Promise<boolean> {
    if (this.position >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = { seq, resolve: () => (clearTimeout(timer), resolve(true)) };
      this.waiters.push(waiter);
    });
  }

  /**
   * Applies a batch in one transaction and moves the checkpoint to `upTo` (default: the last event);
   * returns how many events were new. Events must be valid (checkEnvelope).
   */
  async commit(events: StoredEvent[], upTo?: number): Promise<number> {
    const last = upTo ?? events[events.length - 1]?.seq;
    if (last === undefined) return 0;
    let applied = 0;
    await this.ds.transaction(async (em) => {
      this.projector.atCore = []; // a retried transaction starts over
      this.projector.outOfStep.clear();
      this.projector.reset();
      const rows = await em.query(`SELECT position FROM "${this.schema}"."projection_checkpoints" WHERE name = $1 FOR UPDATE`, [this.name]);
      const stored = Number(rows[0]?.position ?? 0);
      for (const e of events) {
        if (e.seq <= stored) continue;
        await this.projector.apply(em, e);
        applied++;
      }
      await this.projector.flush(em);
      await em.query(`UPDATE "${this.schema}"."projection_checkpoints" SET position = $2 WHERE name = $1 AND position < $2`, [this.name, last]);
      if (this.opts.notify) await em.query(`SELECT pg_notify($1, $2)`, [positionChannel(this.schema), `${this.name}:${last}`]);
    });
    this.advance(Math.max(this.position, last));
    const atCore = this.projector.atCore;
    this.projector.atCore = [];
    if (this.projector.outOfStep.size) this.askTargetResync([...this.projector.outOfStep.values()]);
    this.projector.outOfStep.clear();
    this.opts.onCommit?.(events, this.position);
    if (atCore.length) this.opts.onVmAtCore?.(atCore);
    return applied;
  }

  private advance(pos: number) {
    this.position = pos;
    const ready = this.waiters.filter((w) => w.seq <= pos);
    if (ready.length) {
      this.waiters = this.waiters.filter((w) => w.seq > pos);
      ready.forEach((w) => w.resolve());
    }
  }

  /**
   * Replays synchronously up to the stream head, or to `upTo` (rebuilds, tests), with the live reader's
   * rules: a message with an invalid event, or one that cannot be projected, is skipped (the live
   * projection has recorded it as a dead letter; a replay never appends). `skip`: sequences the live
   * projection dead-lettered (a failure may depend on the database, not only on the event).
   */
  async catchUp(batch = 1000, upTo?: number, skip: ReadonlySet<number> = new Set()): Promise<number> {
    this.position = await this.readCheckpoint();
    let buf: StoredEvent[] = [];
    let group: StoredEvent[] = [];
    let bad = false;
    let end = this.position;
    let skippedTo = 0;
    const flush = async () => {
      if (!buf.length && end <= this.position) return;
      try {
        await this.commit(buf, end);
      } catch (err) {
        if (isTransientDbError(err)) throw err;
        // Isolate the culprit: message by message (events of one message share their sequence).
        const bySeq = new Map<number, StoredEvent[]>();
        for (const e of buf) bySeq.set(e.seq, [...(bySeq.get(e.seq) ?? []), e]);
        for (const [seq, evs] of bySeq) {
          await this.commit(evs, seq).catch(async (e2) => {
            if (isTransientDbError(e2)) throw e2;
            this.opts.log?.('replay skips an event it cannot project', { seq, err: String(e2) });
            await this.commit([], seq);
          });
        }
        await this.commit([], end);
      }
      buf = [];
    };
    const closeGroup = async () => {
      if (group.length && !bad) buf.push(...group);
      if (group.length) end = group[0].seq;
      group = [];
      bad = false;
      if (buf.length >= batch) await flush();
    };
    await this.store.forEach(
      this.store.allFilter,
      this.position,
      async (e) => {
        if (upTo !== undefined && e.seq > upTo) return;
        if (group.length && group[0].seq !== e.seq) await closeGroup();
        if (skip.has(e.seq)) bad = true;
        try {
          group.push(checkEnvelope(e));
        } catch {
          group.push(e);
          bad = true;
        }
      },
      batch,
      (m) => {
        // Undecodable: skipped like an invalid event.
        if (upTo === undefined || m.seq <= upTo) skippedTo = Math.max(skippedTo, m.seq);
      },
    );
    await closeGroup();
    await flush();
    if (skippedTo > this.position) await this.commit([], skippedTo);
    if (upTo !== undefined && this.position < upTo) await this.commit([], upTo);
    return this.position;
  }
}
