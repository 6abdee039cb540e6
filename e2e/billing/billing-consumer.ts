/**
 * Example billing integration (see docs/billing/README.md): what a billing system runs to receive every
 * IpAllocated / IpReleased (and VmAddressAllocated / VmAddressReleased for extra addresses, the FloatingAddress* events
 * for floating addresses) / VmDeleted exactly once, across its own restarts and crashes.
 *
 * - Two durable pull consumers of its own on the events stream, `<ns>.evt.ipam.>` and `<ns>.evt.vm.>`
 *   (nats-server 2.9: one filter subject per consumer); other event types are acked and skipped.
 * - Explicit ack, only after the event is committed to its own store: a crash before the ack means a
 *   redelivery, never a loss.
 * - The store is an inbox keyed by the envelope id: a redelivered event is recognised and not counted again.
 * Only the NATS client, pg and the documented contract; nothing from the control plane's code.
 */
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Pool } from 'pg';

export const BILLING_TYPES = [
  'IpAllocated',
  'IpReleased',
  'VmAddressAllocated',
  'VmAddressReleased',
  'VmDeleted',
  // Contract 1.2.0: an owner interval per floating address, an attachment interval per VM.
  'FloatingAddressAllocated',
  'FloatingAddressAttached',
  'FloatingAddressMoveCompleted',
  'FloatingAddressDetached',
  'FloatingAddressReleased',
] as const;

/** The envelope as documented in docs/billing/schemas/envelope.schema.json. */
export interface BillingEvent {
  id: string;
  type: (typeof BILLING_TYPES)[number];
  schemaVersion: number;
  occurredAt: string;
  /** vmId: absent from FloatingAddressAllocated / Released (the address is the owner's, not a VM's). */
  data: { ownerId: string; vmId?: string; floatingId?: string; clusterId: string; ip?: string; family?: 4 | 6 };
}

export interface BillingConsumerOptions {
  natsUrl: string;
  /** The control plane's namespace (FABRIC_NS): subjects `<ns>.evt.…`, stream `<NS>_EVENTS`. */
  ns: string;
  databaseUrl: string;
  /** Our own schema in our own database. */
  schema?: string;
  /** Durable name prefix: one set of durables per billing system. */
  name?: string;
  ackWaitMs?: number;
  /** Called after the store committed and before the ack (tests use it to crash right there). */
  beforeAck?: (e: BillingEvent, consumer: BillingConsumer) => Promise<void> | void;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

export class BillingConsumer {
  /** stored: new events; duplicates: redeliveries recognised by id; skipped: other event types. */
  readonly stats = { stored: 0, duplicates: 0, skipped: 0 };
  private readonly iterators: ConsumerMessages[] = [];
  private readonly loops: Promise<void>[] = [];
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly pool: Pool,
    private readonly schema: string,
    private readonly opts: BillingConsumerOptions,
  ) {}

  static async start(opts: BillingConsumerOptions): Promise<BillingConsumer> {
    const schema = opts.schema ?? 'billing';
    const pool = new Pool({ connectionString: opts.databaseUrl, max: 2 });
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    // The inbox: one row per event id, whatever the number of deliveries.
    await pool.query(`CREATE TABLE IF NOT EXISTS "${schema}".events (
      event_id text PRIMARY KEY, type text NOT NULL, schema_version int NOT NULL, occurred_at timestamptz NOT NULL,
      owner_id text NOT NULL, vm_id uuid, ip text, subject text NOT NULL, stream_seq bigint NOT NULL, data jsonb NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now())`);
    // A derived effect, changed only when the inbox row is new: exactly once, not at least once.
    await pool.query(
      `CREATE TABLE IF NOT EXISTS "${schema}".owner_counters (owner_id text NOT NULL, type text NOT NULL, n int NOT NULL, PRIMARY KEY (owner_id, type))`,
    );
    const nc = await connect({ servers: opts.natsUrl.split(','), name: `${opts.name ?? 'billing'}-consumer` });
    const c = new BillingConsumer(nc, pool, schema, opts);
    await c.consume('ipam');
    await c.consume('vm');
    return c;
  }

  private async consume(aggregate: 'ipam' | 'vm') {
    const stream = `${this.opts.ns.toUpperCase()}_EVENTS`;
    const durable = `${this.opts.name ?? 'billing'}_${aggregate}`;
    const jsm = await jetstreamManager(this.nc);
    // Created once; afterwards the server remembers where this durable is.
    await jsm.consumers.info(stream, durable).catch(() =>
      jsm.consumers.add(stream, {
        durable_name: durable,
        filter_subject: `${this.opts.ns}.evt.${aggregate}.>`,
        deliver_policy: DeliverPolicy.All,
        ack_policy: AckPolicy.Explicit,
        ack_wait: (this.opts.ackWaitMs ?? 30_000) * 1e6,
        max_deliver: -1, // never let the server skip a billing event
        max_ack_pending: 1000,
      }),
    );
    const messages = await (await jetstream(this.nc).consumers.get(stream, durable)).consume({ max_messages: 100 });
    this.iterators.push(messages);
    this.loops.push(
      (async () => {
        for await (const m of messages) {
          if (this.closed) break;
          await this.handle(m);
        }
      })().catch((err) => this.opts.log?.('consumer loop ended', { err: String(err) })),
    );
  }

  private async handle(m: JsMsg) {
    // The type header lets us skip other events without parsing them.
    const type = m.headers?.get('Fabric-Event-Type');
    if (type && !(BILLING_TYPES as readonly string[]).includes(type)) {
      this.stats.skipped++;
      m.ack();
      return;
    }
    let e: BillingEvent;
    try {
      e = m.json<BillingEvent>();
    } catch (err) {
      // Not JSON: cannot be billed whatever we do; terminate it and make noise.
      this.opts.log?.('unparseable event, terminated', { seq: m.seq, subject: m.subject });
      m.term();
      return;
    }
    if (!(BILLING_TYPES as readonly string[]).includes(e.type)) {
      this.stats.skipped++;
      m.ack();
      return;
    }
    // An unknown version is stored as received (raw data) and flagged, never dropped.
    if (e.schemaVersion !== 1) this.opts.log?.('unknown schemaVersion, stored for review', { id: e.id, type: e.type, schemaVersion: e.schemaVersion });
    try {
      const isNew = await this.store(e, m);
      if (isNew) this.stats.stored++;
      else this.stats.duplicates++;
      await this.opts.beforeAck?.(e, this);
      await m.ackAck(); // waits for the server: an ack lost on the way is a redelivery we dedupe anyway
    } catch (err) {
      if (this.closed) return;
      const delay = Math.min(60_000, 1000 * 2 ** Math.min(6, m.info.deliveryCount - 1));
      this.opts.log?.('could not store event, retrying', { id: e.id, delay, err: String(err) });
      m.nak(delay);
    }
  }

  /** One transaction: the inbox row and its effect, or neither. Returns false for a redelivery. */
  private async store(e: BillingEvent, m: JsMsg): Promise<boolean> {
    const db = await this.pool.connect();
    try {
      await db.query('BEGIN');
      const inserted = await db.query(
        `INSERT INTO "${this.schema}".events (event_id, type, schema_version, occurred_at, owner_id, vm_id, ip, subject, stream_seq, data)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (event_id) DO NOTHING`,
        [e.id, e.type, e.schemaVersion, e.occurredAt, e.data.ownerId, e.data.vmId ?? null, e.data.ip ?? null, m.subject, m.seq, JSON.stringify(e.data)],
      );
      if (inserted.rowCount === 1) {
        await db.query(
          `INSERT INTO "${this.schema}".owner_counters (owner_id, type, n) VALUES ($1,$2,1) ON CONFLICT (owner_id, type) DO UPDATE SET n = owner_counters.n + 1`,
          [e.data.ownerId, e.type],
        );
      }
      await db.query('COMMIT');
      return inserted.rowCount === 1;
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      db.release();
    }
  }

  /** Graceful stop: finish the current event, leave the rest to the next start. */
  async stop(): Promise<void> {
    this.closed = true;
    for (const it of this.iterators) await it.close().catch(() => undefined);
    await Promise.all(this.loops);
    await this.nc.drain().catch(() => undefined);
    await this.pool.end();
  }

  /** Like `kill -9`: the connection drops, nothing more is acked (tests). */
  async kill(): Promise<void> {
    this.closed = true;
    await this.nc.close().catch(() => undefined);
    void this.pool.end().catch(() => undefined);
  }
}
