/**
 * Feeds the read model from the event stream. The checkpoint row is locked, compared and advanced in
 * the same transaction as the rows it covers, so a replayed or concurrently processed batch is a no-op
 * (events at or below the stored position are skipped). Sequences have gaps (other streams' filters,
 * deleted consumers): compare with `<`, never `+1`.
 * Reads with an ordered consumer from the checkpoint: no acks, the checkpoint is the only cursor.
 */
import { DataSource } from 'typeorm';
import { DeliverPolicy, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { StoredEvent } from '@fabric/contracts';
import { decodeMessage, EventStore } from '@fabric/eventstore';
import { Projector, VmAtCore } from './projector';

export interface RunnerOptions {
  name?: string;
  batch?: number;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
  /** Called after each committed batch (metrics, live feeds). */
  onCommit?: (events: StoredEvent[], position: number) => void;
  /** VMs that reached at-core for the first time in a committed batch (create → at-core latency). */
  onVmAtCore?: (vms: VmAtCore[]) => void;
}

export class ProjectionRunner {
  readonly name: string;
  private readonly projector: Projector;
  private position = 0;
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  private stopped = false;
  private waiters: { seq: number; resolve: () => void }[] = [];

  constructor(private readonly store: EventStore, private readonly ds: DataSource, private readonly opts: RunnerOptions = {}) {
    this.name = opts.name ?? 'read-model';
    this.projector = new Projector(this.schema);
  }

  get schema(): string {
    return (this.ds.options as { schema: string }).schema;
  }

  get currentPosition(): number {
    return this.position;
  }

  async readCheckpoint(): Promise<number> {
    await this.ds.query(`INSERT INTO "${this.schema}"."projection_checkpoints" (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, [this.name]);
    const rows = await this.ds.query(`SELECT position FROM "${this.schema}"."projection_checkpoints" WHERE name = $1`, [this.name]);
    return Number(rows[0].position);
  }

  async start(): Promise<void> {
    await this.open();
  }

  /** A loop that ends (its consumer gone with a NATS restart) is reopened from the checkpoint, not left dead. */
  private reopen(err: unknown) {
    this.opts.log?.('projection loop ended, reopening from the checkpoint', { err: String(err) });
    const retry = (attempt: number) => {
      if (this.stopped) return;
      setTimeout(() => {
        if (this.stopped) return;
        this.open().catch((e) => (this.opts.log?.('projection reopen failed', { attempt, err: String(e) }), retry(attempt + 1)));
      }, Math.min(5000, 250 * 2 ** attempt));
    };
    retry(0);
  }

  private async open(): Promise<void> {
    this.position = await this.readCheckpoint();
    const consumer = await this.store.nats.js.consumers.get(this.store.subjects.eventsStream, {
      filter_subjects: this.store.subjects.evtAll(),
      ...(this.position > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.position + 1 } : { deliver_policy: DeliverPolicy.All }),
    } as never);
    this.messages = await consumer.consume({ max_messages: this.opts.batch ?? 500 });
    const messages = this.messages;
    this.loop = (async () => {
      let batch: StoredEvent[] = [];
      for await (const m of messages as AsyncIterable<JsMsg>) {
        if (this.stopped) break;
        batch.push(decodeMessage(m));
        if (m.info.pending === 0 || batch.length >= (this.opts.batch ?? 500)) {
          await this.commitWithRetry(batch);
          batch = [];
        }
      }
      if (!this.stopped) throw new Error('the event iterator ended');
    })().catch((err) => this.reopen(err));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => undefined);
    await this.loop;
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

  /** Applies a batch in one transaction; returns how many events were new. */
  async commit(events: StoredEvent[]): Promise<number> {
    if (!events.length) return 0;
    const last = events[events.length - 1].seq;
    let applied = 0;
    await this.ds.transaction(async (em) => {
      this.projector.atCore = []; // a retried transaction starts over
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
    });
    this.advance(Math.max(this.position, last));
    const atCore = this.projector.atCore;
    this.projector.atCore = [];
    this.opts.onCommit?.(events, this.position);
    if (atCore.length) this.opts.onVmAtCore?.(atCore);
    return applied;
  }

  private async commitWithRetry(events: StoredEvent[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.commit(events);
        return;
      } catch (err) {
        this.opts.log?.('projection batch failed, retrying', { attempt, err: String(err) });
        if (this.stopped) return;
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
  }

  private advance(pos: number) {
    this.position = pos;
    const ready = this.waiters.filter((w) => w.seq <= pos);
    if (ready.length) {
      this.waiters = this.waiters.filter((w) => w.seq > pos);
      ready.forEach((w) => w.resolve());
    }
  }

  /** Replays everything up to the current head synchronously (rebuilds, tests). */
  async catchUp(batch = 1000): Promise<number> {
    this.position = await this.readCheckpoint();
    let buf: StoredEvent[] = [];
    await this.store.forEach(this.store.subjects.evtAll(), this.position, async (e) => {
      buf.push(e);
      if (buf.length >= batch) {
        await this.commit(buf);
        buf = [];
      }
    }, batch);
    await this.commit(buf);
    return this.position;
  }
}
