import { readFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { nkeyAuthenticator, nkeys, type ConnectionOptions, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import { Subjects } from '@fabric/contracts';
import { type KvOptions, Kvm } from '@nats-io/kv';
import { fenceTtlMs } from './append-fence';
import { inboxPrefix, placementsBucket, rrNodesBucket, secretsBucket, SERVICE_LEASE_TTL_MS, serviceLeaseBucket, snapshotsBucket } from './nats-auth';

/** Default TTL of an agent's lease on its target (the bucket's max age). */
export const AGENT_LEASE_TTL_MS = 15_000;

export interface NatsOptions {
  /** NATS servers, comma separated (NATS_URL). */
  servers?: string;
  /** Subject / stream namespace (FABRIC_NS); tests use their own. */
  ns?: string;
  name?: string;
  /** Path of this identity's nkey seed file (NATS_CREDS), written 0600 by the enrollment command. */
  creds?: string;
}

/** Connection options of an identity: nkey authentication and the inbox prefix its permissions allow. */
export function credentialOptions(credsFile: string | undefined): Partial<ConnectionOptions> {
  if (!credsFile) return {};
  const seed = readFileSync(credsFile, 'utf8').trim();
  const publicKey = nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  return { authenticator: nkeyAuthenticator(() => new TextEncoder().encode(readFileSync(credsFile, 'utf8').trim())), inboxPrefix: inboxPrefix(publicKey) };
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
      // A restarted server is found within half a second (the client's default waits 2 s between attempts).
      reconnectTimeWait: 500,
      ...credentialOptions(opts.creds ?? (process.env.NATS_CREDS || undefined)),
    });
    // JetStream not ready yet (a cluster without a meta leader): never leave the connection reconnecting behind.
    const jsm = await jetstreamManager(nc).catch(async (err) => {
      await nc.close().catch(() => undefined);
      throw err;
    });
    return new Nats(nc, jetstream(nc), jsm, new Subjects(opts.ns ?? process.env.FABRIC_NS ?? 'fabric'));
  }

  /** Creates (or updates) the two streams. Safe to call from every process at start. */
  async ensureStreams(num_replicas = streamReplicas()): Promise<void> {
    const s = this.subjects;
    const events = {
      name: s.eventsStream,
      subjects: [`${s.ns}.evt.>`],
      storage: StorageType.File,
      num_replicas,
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
      num_replicas,
      retention: RetentionPolicy.Limits,
      // Declarative desired state: an agent that was down only needs the latest per target.
      max_msgs_per_subject: 1,
      discard: DiscardPolicy.Old,
      allow_direct: true,
      duplicate_window: 2 * 60 * 1e9,
    };
    const retention = observationRetention();
    const observations = {
      name: s.observationsStream,
      subjects: [s.obsAll()],
      storage: StorageType.File,
      num_replicas,
      retention: RetentionPolicy.Limits,
      // Observations re-derive from the daemons (a resync states them again): bounded by age and size.
      max_age: retention.maxAgeS * 1e9,
      max_bytes: retention.maxBytes,
      discard: DiscardPolicy.Old,
      allow_direct: true,
      // Agents retry a report with the same Msg-Id.
      duplicate_window: 2 * 60 * 1e9,
    };
    const secrets = {
      name: `KV_${secretsBucket(s)}`,
      subjects: [`$KV.${secretsBucket(s)}.>`],
      storage: StorageType.File,
      num_replicas,
      retention: RetentionPolicy.Limits,
      // A KV bucket (@nats-io/kv reads it): a few versions per key so a rotation can be rolled back.
      max_msgs_per_subject: 5,
      discard: DiscardPolicy.New,
      allow_direct: true,
      deny_delete: true,
      deny_purge: true,
    };
    const fenceTtl = fenceTtlMs() * 1e6;
    const fences = {
      name: s.fencesStream,
      subjects: [s.fenceAll()],
      storage: StorageType.File,
      num_replicas,
      retention: RetentionPolicy.Limits,
      // Claims only matter while their append is in flight (append-fence.ts): they expire on their own.
      max_age: fenceTtl,
      duplicate_window: fenceTtl,
      discard: DiscardPolicy.Old,
    };
    for (const cfg of [events, observations, commands, secrets, fences]) {
      let current: Record<string, unknown> | undefined;
      try {
        current = (await this.jsm.streams.info(cfg.name)).config as unknown as Record<string, unknown>;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (!current) await this.jsm.streams.add(cfg as never);
      // Services have no stream-admin rights on an authenticated bus: update only what differs.
      else if (Object.entries(cfg).some(([k, v]) => JSON.stringify(current![k]) !== JSON.stringify(v))) await this.jsm.streams.update(cfg.name, cfg as never);
    }
    // The agents' leases (agents/src/lease.ts): created here because an agent may not create streams.
    await ensureKvBucket(this.nc, `${s.ns}_agent_leases`, { history: 1, ttl: AGENT_LEASE_TTL_MS, replicas: num_replicas });
    // The single-writer services' leader leases (libs/eventstore/src/leader.ts).
    await ensureKvBucket(this.nc, serviceLeaseBucket(s.ns), { history: 1, ttl: SERVICE_LEASE_TTL_MS, replicas: num_replicas });
    // The placements the RR agents serve over RTR (docs/adr/rr-origin-validation.md): rr-config writes it.
    await ensureKvBucket(this.nc, placementsBucket(s), { history: 1, storage: 'file', replicas: num_replicas } as never);
    // The models' snapshots (libs/eventstore/src/snapshot-store.ts): each service writes its own keys.
    await ensureKvBucket(this.nc, snapshotsBucket(s), { history: 1, storage: 'file', replicas: num_replicas } as never);
    // The node parts of the RRs' BIRD configs (docs/adr/rr-split-desired-state.md): rr-config writes it.
    await ensureKvBucket(this.nc, rrNodesBucket(s), { history: 1, storage: 'file', replicas: num_replicas } as never);
  }

  /** Removes this namespace's streams (tests only: the events stream denies purge, not deletion). */
  async destroyStreams(): Promise<void> {
    // KV_<ns>_agent_leases: the agents' leases (agents/src/lease.ts).
    for (const name of [
      this.subjects.eventsStream,
      this.subjects.observationsStream,
      this.subjects.commandsStream,
      this.subjects.fencesStream,
      `KV_${secretsBucket(this.subjects)}`,
      `KV_${this.subjects.ns}_agent_leases`,
      `KV_${serviceLeaseBucket(this.subjects.ns)}`,
      `KV_${placementsBucket(this.subjects)}`,
      `KV_${snapshotsBucket(this.subjects)}`,
      `KV_${rrNodesBucket(this.subjects)}`,
    ]) {
      await this.jsm.streams.delete(name).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

/**
 * Replicas of every stream and KV bucket (FABRIC_STREAM_REPLICAS): 3 in a 3-server NATS cluster (an
 * acknowledged write is on a quorum of servers), the default 1 on a single server.
 */
export function streamReplicas(): number {
  const n = Number(process.env.FABRIC_STREAM_REPLICAS || 1);
  if (!Number.isInteger(n) || n < 1 || n > 5) throw new Error(`FABRIC_STREAM_REPLICAS must be 1..5, got ${process.env.FABRIC_STREAM_REPLICAS}`);
  return n;
}

/**
 * Retention of the observations stream: FABRIC_OBS_MAX_AGE_S (default 3 days) and FABRIC_OBS_MAX_BYTES
 * (default 1 GiB), whichever is reached first trims the oldest observations.
 */
export function observationRetention(env = process.env): { maxAgeS: number; maxBytes: number } {
  const num = (name: string, def: number, min: number): number => {
    const v = env[name];
    if (v === undefined || v === '') return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  return { maxAgeS: num('FABRIC_OBS_MAX_AGE_S', 3 * 86_400, 1), maxBytes: num('FABRIC_OBS_MAX_BYTES', 1024 ** 3, 1024 * 1024) };
}

export function isNotFound(err: unknown): boolean {
  const e = err as { code?: number; message?: string; name?: string };
  return e?.code === 10059 || e?.code === 10014 || /not found/i.test(e?.message ?? '') || e?.name === 'StreamNotFoundError';
}

/** Creates a KV bucket unless its stream exists (an existing bucket is left as it is); false when it existed. */
export async function ensureKvBucket(nc: NatsConnection, bucket: string, opts: Partial<KvOptions>): Promise<boolean> {
  try {
    await (await jetstreamManager(nc)).streams.info(`KV_${bucket}`);
    return false;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await new Kvm(nc).create(bucket, opts);
  return true;
}
