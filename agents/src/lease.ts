/**
 * Fencing on the bus: one JetStream KV lease per target (`<kind>.<targetId>` in the bucket `<ns>_agent_leases`,
 * history 1, entries expire after the TTL). The holder renews it with an expected revision; an agent whose
 * renewal finds another holder has been fenced and must stop touching the target. A starting agent cannot
 * take a lease another live agent holds; a holder that died loses it after the TTL, or at once to an agent
 * on the same host that got the host lock (which proves the previous holder there is gone). The lease itself
 * is the shared KvLease (libs/eventstore/src/kv-lease.ts).
 */
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import { KvLease } from '@fabric/eventstore';

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

export class TargetLease {
  private readonly lease: KvLease<LeaseHolder>;

  constructor(
    nc: NatsConnection,
    bucket: string,
    readonly key: string,
    self: Omit<LeaseHolder, 'host' | 'pid' | 'startedAt'> & { host?: string },
    readonly ttlMs: number,
  ) {
    const holder = { ...self, host: self.host ?? hostname(), pid: process.pid, startedAt: new Date().toISOString() };
    this.lease = new KvLease(nc, bucket, key, holder, ttlMs);
  }

  get self(): LeaseHolder {
    return this.lease.self;
  }

  /** Takes the lease (retrying until waitMs passed while a live holder has it). */
  async acquire(waitMs: number, hostLockHeld: boolean): Promise<void> {
    const deadline = Date.now() + waitMs;
    // Same host, same box, and we hold its host lock: the previous holder is dead.
    const dead = (h: LeaseHolder | undefined) => hostLockHeld && h?.host === this.self.host && h.box === this.self.box;
    for (;;) {
      const r = await this.lease.claim(dead);
      if (r.held) return;
      if (!r.current) continue; // the key changed under us: look again
      if (Date.now() >= deadline) throw new LeaseBusyError(this.key, r.current.holder);
      await new Promise((res) => setTimeout(res, Math.min(1000, Math.max(50, deadline - Date.now()))));
    }
  }

  /** Renews the lease; throws FencedError when another agent holds it now. An expired, free lease is taken again. */
  async renew(): Promise<void> {
    const r = await this.lease.renew();
    if (!r.held) throw new FencedError(this.key, r.holder);
  }

  /** Gives the lease up (clean stop), only if it is still ours. */
  release(): Promise<void> {
    return this.lease.release();
  }
}
