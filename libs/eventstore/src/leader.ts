/**
 * Active-standby for the single-writer services (inventory, the three derivers): one JetStream KV lease per
 * service in `<ns>_service_leases` (history 1, entries expire after the TTL). The leader renews with the
 * expected revision every third of the TTL; a standby creates the key once it expired. A renewal that finds
 * another holder (the leader stalled longer than the TTL and was replaced) deposes this instance at once: it
 * stops writing before the next renewal could succeed. The writes themselves are fenced too: aggregates are
 * appended with the expected subject sequence, so a deposed leader's last in-flight write fails instead of
 * overwriting. An instance restarted in the same slot (same `instance` id, e.g. the supervisor's program name)
 * takes its own lease back at once instead of waiting for the TTL.
 */
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import { type KV, Kvm } from '@nats-io/kv';
import { serviceLeaseBucket } from './nats-auth';

export const SERVICE_LEASE_TTL_MS = Number(process.env.FABRIC_LEADER_TTL_MS ?? 6_000);

export interface LeaderInfo {
  instance: string;
  host: string;
  pid: number;
  since: string;
}

const isWrongSequence = (e: unknown) => /wrong last sequence|key exists/i.test((e as Error)?.message ?? '');
const dec = new TextDecoder();

export interface LeaderHooks {
  /** Became leader: start writing (RPC, deriving). */
  elected(): Promise<void>;
  /** Lost the lease (or stopping): stop writing before returning. */
  deposed(reason: string): Promise<void>;
  log?: (level: 'info' | 'warn', msg: string, extra?: Record<string, unknown>) => void;
}

export class LeaderElection {
  private kv?: KV;
  private revision = 0;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;
  leader = false;
  readonly self: LeaderInfo;

  constructor(
    private readonly nc: NatsConnection,
    private readonly ns: string,
    readonly key: string,
    private readonly hooks: LeaderHooks,
    instance = process.env.FABRIC_INSTANCE ??
      (process.env.FABRIC_PROGRAM ? `${hostname()}/${process.env.FABRIC_PROGRAM}` : `${hostname()}/${key}/${process.pid}`),
    readonly ttlMs = SERVICE_LEASE_TTL_MS,
  ) {
    this.self = { instance, host: hostname(), pid: process.pid, since: new Date().toISOString() };
  }

  private async bucket(): Promise<KV> {
    // The admin creates the bucket (ensureStreams); on an open bus the first service may.
    this.kv ??= await new Kvm(this.nc)
      .open(serviceLeaseBucket(this.ns), { allow_direct: true } as never)
      .catch(async () => new Kvm(this.nc).create(serviceLeaseBucket(this.ns), { history: 1, ttl: this.ttlMs }));
    return this.kv;
  }

  /** Who holds the lease now (undefined: nobody). */
  async holder(): Promise<LeaderInfo | undefined> {
    const e = await (await this.bucket()).get(this.key);
    if (!e || e.operation !== 'PUT') return undefined;
    try {
      return JSON.parse(dec.decode(e.value)) as LeaderInfo;
    } catch {
      return undefined;
    }
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
    const kv = await this.bucket();
    const value = JSON.stringify(this.self);
    if (this.leader) {
      try {
        this.revision = await kv.update(this.key, value, this.revision);
        return;
      } catch (e) {
        if (!isWrongSequence(e)) throw e;
      }
      // Our entry expired (a late renewal) or someone else holds it now.
      if (await this.claim(kv, value)) return;
      const now = await this.holder();
      await this.depose(now ? `instance ${now.instance} (pid ${now.pid} on ${now.host}) took the lease` : 'the lease was lost');
      return;
    }
    if (!(await this.claim(kv, value))) return;
    this.leader = true;
    this.hooks.log?.('info', 'elected leader', { key: this.key, instance: this.self.instance });
    try {
      await this.hooks.elected();
    } catch (err) {
      // Could not take over (e.g. not caught up in time): give the lease back for another instance or a retry.
      const rev = this.revision;
      await this.depose(`takeover failed: ${String((err as Error)?.message ?? err)}`);
      if (rev) await kv.delete(this.key, { previousSeq: rev }).catch(() => undefined);
      throw err;
    }
  }

  /** Takes the lease if it is free or held by our own slot; false when another instance holds it. */
  private async claim(kv: KV, value: string): Promise<boolean> {
    try {
      this.revision = await kv.create(this.key, value);
      return true;
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
    }
    const cur = await kv.get(this.key);
    if (!cur || cur.operation !== 'PUT') return false; // deleted between the two calls: next tick
    let holder: LeaderInfo | undefined;
    try {
      holder = JSON.parse(dec.decode(cur.value)) as LeaderInfo;
    } catch {
      holder = undefined;
    }
    if (holder?.instance !== this.self.instance) return false;
    try {
      this.revision = await kv.update(this.key, value, cur.revision);
      return true;
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
      return false;
    }
  }

  private async depose(reason: string): Promise<void> {
    if (!this.leader) return;
    this.leader = false;
    this.revision = 0;
    this.hooks.log?.('warn', 'no longer leader: stopping writes', { key: this.key, reason });
    await this.hooks.deposed(reason);
  }

  /** Stops campaigning; a leader stops writing and hands the lease over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    if (!this.leader) return;
    const rev = this.revision;
    await this.depose('stopping');
    if (rev) await (await this.bucket()).delete(this.key, { previousSeq: rev }).catch(() => undefined);
  }
}
