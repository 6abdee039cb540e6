/**
 * Fencing on the bus: one JetStream KV lease per target (`<kind>.<targetId>` in the bucket `<ns>_agent_leases`,
 * history 1, entries expire after the TTL). The holder renews it with an expected revision; an agent whose
 * renewal finds another holder has been fenced and must stop touching the target. A starting agent cannot
 * take a lease another live agent holds; a holder that died loses it after the TTL, or at once to an agent
 * on the same host that got the host lock (which proves the previous holder there is gone).
 */
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import { type KV, Kvm } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import { streamReplicas } from '@fabric/eventstore';

export interface LeaseHolder {
  instance: string;
  host: string;
  pid: number;
  startedAt: string;
  box: string;
}

export class LeaseBusyError extends Error {
  constructor(
    readonly key: string,
    readonly holder: LeaseHolder | undefined,
  ) {
    super(
      `target ${key} is managed by another agent (${holder ? `instance ${holder.instance}, pid ${holder.pid} on ${holder.host}, ${holder.box}, since ${holder.startedAt}` : 'unknown holder'})`,
    );
    this.name = 'LeaseBusyError';
  }
}

export class FencedError extends Error {
  constructor(
    readonly key: string,
    readonly holder: LeaseHolder | undefined,
  ) {
    super(
      `lease of ${key} was taken over by ${holder ? `instance ${holder.instance} (pid ${holder.pid} on ${holder.host})` : 'another agent'}: this agent stops`,
    );
    this.name = 'FencedError';
  }
}

export const leaseBucket = (ns: string) => `${ns}_agent_leases`;

const isWrongSequence = (e: unknown) => /wrong last sequence|key exists/i.test((e as Error)?.message ?? '');
const dec = new TextDecoder();

export class TargetLease {
  private kv?: KV;
  private revision = 0;
  readonly self: LeaseHolder;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: string,
    readonly key: string,
    self: Omit<LeaseHolder, 'host' | 'pid' | 'startedAt'> & { host?: string },
    readonly ttlMs: number,
  ) {
    this.self = { ...self, host: self.host ?? hostname(), pid: process.pid, startedAt: new Date().toISOString() };
  }

  private async bucketKv(): Promise<KV> {
    if (!this.kv) {
      // On the product's bus the control host creates the bucket (an agent may not create streams) and the
      // agent binds to it, reading only its own key; elsewhere (an open bus) the first agent creates it.
      const jsm = await jetstreamManager(this.nc);
      const exists = await jsm.streams.info(`KV_${this.bucket}`).then(
        () => true,
        (e: unknown) => {
          if (/not found/i.test((e as Error)?.message ?? '')) return false;
          throw e;
        },
      );
      const kvm = new Kvm(this.nc);
      this.kv = exists
        ? await kvm.open(this.bucket, { allow_direct: true } as never)
        : await kvm.create(this.bucket, { history: 1, ttl: this.ttlMs, replicas: streamReplicas() });
    }
    return this.kv;
  }

  private async holder(): Promise<{ holder?: LeaseHolder; revision: number } | undefined> {
    const e = await (await this.bucketKv()).get(this.key);
    if (!e || e.operation !== 'PUT') return undefined;
    try {
      return { holder: JSON.parse(dec.decode(e.value)) as LeaseHolder, revision: e.revision };
    } catch {
      return { revision: e.revision };
    }
  }

  /** Takes the lease (retrying until waitMs passed while a live holder has it). */
  async acquire(waitMs: number, hostLockHeld: boolean): Promise<void> {
    const kv = await this.bucketKv();
    const value = JSON.stringify(this.self);
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        this.revision = await kv.create(this.key, value);
        return;
      } catch (e) {
        if (!isWrongSequence(e)) throw e;
      }
      const cur = await this.holder();
      if (cur && cur.holder?.instance === this.self.instance) {
        this.revision = cur.revision;
        return;
      }
      // Same host, same box, and we hold its host lock: the previous holder is dead.
      if (cur && hostLockHeld && cur.holder?.host === this.self.host && cur.holder.box === this.self.box) {
        try {
          this.revision = await kv.update(this.key, value, cur.revision);
          return;
        } catch (e) {
          if (!isWrongSequence(e)) throw e;
          continue;
        }
      }
      if (cur && Date.now() >= deadline) throw new LeaseBusyError(this.key, cur.holder);
      if (cur) await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(50, deadline - Date.now()))));
    }
  }

  private renewing?: Promise<void>;

  /** Renews the lease; throws FencedError when another agent holds it now. An expired, free lease is taken again. */
  renew(): Promise<void> {
    // One renewal at a time: two racing ones would see each other's create as a takeover.
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    const kv = await this.bucketKv();
    const value = JSON.stringify(this.self);
    try {
      this.revision = await kv.update(this.key, value, this.revision);
      return;
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
    }
    const cur = await this.holder();
    if (cur && cur.holder?.instance !== this.self.instance) throw new FencedError(this.key, cur.holder);
    if (cur) {
      this.revision = await kv.update(this.key, value, cur.revision);
      return;
    }
    try {
      this.revision = await kv.create(this.key, value);
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
      const now = await this.holder();
      if (now?.holder?.instance !== this.self.instance) throw new FencedError(this.key, now?.holder);
      this.revision = now.revision;
    }
  }

  /** Gives the lease up (clean stop), only if it is still ours. */
  async release(): Promise<void> {
    if (!this.revision) return;
    const kv = await this.bucketKv();
    await kv.delete(this.key, { previousSeq: this.revision }).catch(() => undefined);
    this.revision = 0;
  }
}
