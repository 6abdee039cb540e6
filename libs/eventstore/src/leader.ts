/**
 * Active-standby for the single-writer services (inventory, the three derivers): one JetStream KV lease per
 * service in `<ns>_service_leases` (history 1, entries expire after the TTL). The leader renews with the
 * expected revision every third of the TTL; a standby creates the key once it expired. A renewal that finds
 * another holder (the leader stalled longer than the TTL and was replaced) deposes this instance at once: it
 * stops writing before the next renewal could succeed. The writes themselves are fenced too: aggregates are
 * appended with the expected subject sequence (claimed first on a replicated stream: append-fence.ts), so a deposed
 * leader's last in-flight write fails instead of overwriting. An instance restarted in the same slot (same `instance` id, e.g. the supervisor's program name)
 * takes its own lease back at once instead of waiting for the TTL. The lease itself is kv-lease.ts.
 */
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import { KvLease } from './kv-lease';
import { SERVICE_LEASE_TTL_MS, serviceLeaseBucket } from './nats-auth';

export interface LeaderInfo {
  instance: string;
  host: string;
  pid: number;
  since: string;
}

export interface LeaderHooks {
  /** Became leader: start writing (RPC, deriving). */
  elected(): Promise<void>;
  /** Lost the lease (or stopping): stop writing before returning. */
  deposed(reason: string): Promise<void>;
  log?: (level: 'info' | 'warn', msg: string, extra?: Record<string, unknown>) => void;
}

export class LeaderElection {
  private readonly lease: KvLease<LeaderInfo>;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;
  leader = false;

  constructor(
    nc: NatsConnection,
    ns: string,
    readonly key: string,
    private readonly hooks: LeaderHooks,
    instance = process.env.FABRIC_INSTANCE ??
      (process.env.FABRIC_PROGRAM ? `${hostname()}/${process.env.FABRIC_PROGRAM}` : `${hostname()}/${key}/${process.pid}`),
    readonly ttlMs = SERVICE_LEASE_TTL_MS,
  ) {
    const self = { instance, host: hostname(), pid: process.pid, since: new Date().toISOString() };
    this.lease = new KvLease(nc, serviceLeaseBucket(ns), key, self, ttlMs);
  }

  get self(): LeaderInfo {
    return this.lease.self;
  }

  /** Who holds the lease now (undefined: nobody). */
  async holder(): Promise<LeaderInfo | undefined> {
    return (await this.lease.current())?.holder;
  }

  /** Campaigns now and every third of the TTL until stop(). Resolves after the first attempt. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(200, Math.floor(this.ttlMs / 3)));
  }

  private tick(): Promise<void> {
    this.ticking ??= this.step()
      .catch((err) => this.hooks.log?.('warn', 'leader election step failed', { key: this.key, err: String((err as Error)?.message ?? err) }))
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async step(): Promise<void> {
    if (this.stopped) return;
    if (this.leader) {
      // A late renewal takes the lease again if it is still free; another holder deposes us.
      const r = await this.lease.renew();
      if (!r.held)
        await this.depose(r.holder ? `instance ${r.holder.instance} (pid ${r.holder.pid} on ${r.holder.host}) took the lease` : 'the lease was lost');
      return;
    }
    if (!(await this.lease.claim()).held) return;
    this.leader = true;
    this.hooks.log?.('info', 'elected leader', { key: this.key, instance: this.self.instance });
    try {
      await this.hooks.elected();
    } catch (err) {
      // Could not take over (e.g. not caught up in time): give the lease back for another instance or a retry.
      await this.depose(`takeover failed: ${String((err as Error)?.message ?? err)}`);
      await this.lease.release();
      throw err;
    }
  }

  private async depose(reason: string): Promise<void> {
    if (!this.leader) return;
    this.leader = false;
    this.hooks.log?.('warn', 'no longer leader: stopping writes', { key: this.key, reason });
    await this.hooks.deposed(reason);
  }

  /** Stops campaigning; a leader stops writing and hands the lease over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    if (!this.leader) return;
    await this.depose('stopping');
    await this.lease.release();
  }
}
