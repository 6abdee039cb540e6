import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, JetStreamClient, JetStreamManager, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import { Subjects } from '@fabric/contracts';

export interface NatsOptions {
  /** NATS servers, comma separated (NATS_URL). */
  servers?: string;
  /** Subject / stream namespace (FABRIC_NS); tests use their own. */
  ns?: string;
  name?: string;
}

/** One NATS connection with its JetStream clients and the namespaced subject names. */
export class Nats {
  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly subjects: Subjects,
  ) {}

  static async connect(opts: NatsOptions = {}): Promise<Nats> {
    const nc = await connect({
      servers: (opts.servers ?? process.env.NATS_URL ?? '127.0.0.1:4222').split(','),
      name: opts.name,
      maxReconnectAttempts: -1,
    });
    const jsm = await jetstreamManager(nc);
    return new Nats(nc, jetstream(nc), jsm, new Subjects(opts.ns ?? process.env.FABRIC_NS ?? 'fabric'));
  }

  /** Creates (or updates) the two streams. Safe to call from every process at start. */
  async ensureStreams(): Promise<void> {
    const s = this.subjects;
    const events = {
      name: s.eventsStream,
      subjects: [`${s.ns}.evt.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      deny_delete: true,
      deny_purge: true,
      allow_direct: true,
      // Msg-Id dedupe is our idempotency guard for retried commands and redelivered reactor input.
      duplicate_window: 15 * 60 * 1e9,
    };
    const commands = {
      name: s.commandsStream,
      subjects: [`${s.ns}.cmd.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      // Declarative desired state: an agent that was down only needs the latest per target.
      max_msgs_per_subject: 1,
      discard: DiscardPolicy.Old,
      allow_direct: true,
      duplicate_window: 2 * 60 * 1e9,
    };
    for (const cfg of [events, commands]) {
      try {
        await this.jsm.streams.info(cfg.name);
        await this.jsm.streams.update(cfg.name, cfg as never);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await this.jsm.streams.add(cfg as never);
      }
    }
  }

  /** Removes this namespace's streams (tests only: the events stream denies purge, not deletion). */
  async destroyStreams(): Promise<void> {
    // KV_<ns>_agent_leases: the agents' leases (agents/src/lease.ts).
    for (const name of [this.subjects.eventsStream, this.subjects.commandsStream, `KV_${this.subjects.ns}_agent_leases`]) {
      await this.jsm.streams.delete(name).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: number; message?: string; name?: string };
  return e?.code === 10059 || e?.code === 10014 || /not found/i.test(e?.message ?? '') || e?.name === 'StreamNotFoundError';
}
