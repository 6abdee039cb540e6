/**
 * One lease in a JetStream KV bucket (history 1, entries expire after the TTL): the holder writes its record
 * under the key and renews it with the expected revision, so a write never overwrites another holder's
 * (fencing). A free key (never taken, expired, or released) is created; a key held under the same `instance`
 * (a restarted process in the same slot) is taken back at once. Used by the services' leader election
 * (leader.ts, ADR 0011) and the agents' target leases (agents/src/lease.ts); the callers decide what losing it
 * means.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { type KV, Kvm } from '@nats-io/kv';
import { ensureKvBucket, streamReplicas } from './connection';

/** What a lease value carries at least: the slot that may take its own lease back. */
export interface LeaseRecord {
  instance: string;
}

/** The key as read: its revision and the holder record (undefined when the value is not JSON). */
export interface LeaseEntry<T> {
  holder?: T;
  revision: number;
}

/** held, or not: `current` is who holds it (absent when the key changed under us: try again at once). */
export type LeaseClaim<T> = { held: true } | { held: false; current?: LeaseEntry<T> };

/** held, or lost to `holder` (undefined: unknown or nobody). */
export type LeaseRenewal<T> = { held: true } | { held: false; holder?: T };

export const isWrongSequence = (e: unknown) => /wrong last sequence|key exists/i.test((e as Error)?.message ?? '');
const dec = new TextDecoder();

/**
 * Binds to the lease bucket, creating it only when it does not exist: on the product's bus the control host
 * creates it (ensureStreams), a service or agent may not; on an open bus the first user does.
 */
export async function openLeaseBucket(nc: NatsConnection, bucket: string, ttlMs: number): Promise<KV> {
  await ensureKvBucket(nc, bucket, { history: 1, ttl: ttlMs, replicas: streamReplicas() });
  return new Kvm(nc).open(bucket, { allow_direct: true } as never);
}

export class KvLease<T extends LeaseRecord> {
  private kv?: Promise<KV>;
  private revision = 0;
  private renewing?: Promise<LeaseRenewal<T>>;

  constructor(
    private readonly nc: NatsConnection,
    readonly bucket: string,
    readonly key: string,
    readonly self: T,
    readonly ttlMs: number,
  ) {}

  /** Whether the last claim or renewal took the lease (and it was not released since). */
  get held(): boolean {
    return this.revision > 0;
  }

  private bucketKv(): Promise<KV> {
    this.kv ??= openLeaseBucket(this.nc, this.bucket, this.ttlMs).catch((e: unknown) => {
      this.kv = undefined;
      throw e;
    });
    return this.kv;
  }

  /** The key now (undefined: nobody holds it). */
  async current(): Promise<LeaseEntry<T> | undefined> {
    const e = await (await this.bucketKv()).get(this.key);
    if (!e || e.operation !== 'PUT') return undefined;
    try {
      return { holder: JSON.parse(dec.decode(e.value)) as T, revision: e.revision };
    } catch {
      return { revision: e.revision };
    }
  }

  /**
   * Takes the lease if it is free, held by our own instance, or held by someone `takeOver` says is gone;
   * otherwise reports who holds it.
   */
  async claim(takeOver?: (holder: T | undefined) => boolean): Promise<LeaseClaim<T>> {
    const kv = await this.bucketKv();
    const value = JSON.stringify(this.self);
    try {
      this.revision = await kv.create(this.key, value);
      return { held: true };
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
    }
    const cur = await this.current();
    if (!cur) return { held: false }; // deleted between the two calls
    if (cur.holder?.instance !== this.self.instance && !takeOver?.(cur.holder)) return { held: false, current: cur };
    try {
      this.revision = await kv.update(this.key, value, cur.revision);
      return { held: true };
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
      return { held: false }; // someone wrote it meanwhile
    }
  }

  /**
   * Renews with the expected revision; after a late renewal (our entry expired) the lease is claimed again.
   * One renewal at a time: two racing ones would see each other's write as a takeover.
   */
  renew(): Promise<LeaseRenewal<T>> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewOnce(): Promise<LeaseRenewal<T>> {
    const kv = await this.bucketKv();
    if (this.revision) {
      try {
        this.revision = await kv.update(this.key, JSON.stringify(this.self), this.revision);
        return { held: true };
      } catch (e) {
        if (!isWrongSequence(e)) throw e;
      }
    }
    const claim = await this.claim();
    if (claim.held) return claim;
    this.revision = 0;
    return { held: false, holder: claim.current?.holder ?? (await this.current())?.holder };
  }

  /** Gives the lease up (clean stop), only if it is still ours. */
  async release(): Promise<void> {
    const rev = this.revision;
    this.revision = 0;
    if (!rev) return;
    await (await this.bucketKv()).delete(this.key, { previousSeq: rev }).catch(() => undefined);
  }
}
