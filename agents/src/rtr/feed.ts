/**
 * The RR agent's ROA feed (docs/adr/rr-origin-validation.md): watches its cluster's keys in the placements
 * bucket, keeps the RTR cache equal to them (deltas batched into one serial), serves the cache to the RR's
 * BIRD (TCP on the loopback, or through a relay inside the RR's network namespace), and after each RTR
 * update re-evaluates only the node sessions whose origin tags it touched.
 */
import * as path from 'node:path';
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { type KV, type KvWatchEntry, Kvm } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { type Nats, placementsBucket } from '@fabric/eventstore';
import { RtrCache, type RoaChange, type SyncInfo } from './cache';
import { type Roa, roa, roaKey } from './codec';
import { inNetns } from '../drivers/exec';

export type FeedLog = (level: 'info' | 'warn' | 'debug', msg: string, extra?: Record<string, unknown>) => void;

export interface RoaFeedOptions {
  nats: Nats;
  clusterId: string;
  /** Network namespace of the RR's BIRD (lab); undefined = BIRD shares the agent's network. */
  namespace?: string;
  /** Directory for the unix socket the relay connects to (the BIRD dir). */
  socketDir: string;
  /** TCP port BIRD connects to on 127.0.0.1 (default 8323). */
  port?: number;
  /** Re-evaluates imports of these BIRD protocols ('all' after a full resync); awaited before the next. */
  reload: (protocols: string[] | 'all', serial: number) => Promise<void>;
  /** Tag → protocol, from the current desired state. */
  protocolOf: (tag: number) => string | undefined;
  log?: FeedLog;
  /** Batching of KV deltas into one serial (default 2 ms). */
  batchMs?: number;
  /** Full re-read period (default rtrResyncMs(); 0 = never). */
  resyncMs?: number;
}

const dec = new TextDecoder();

/**
 * Period of the full re-read of the cluster's placements (FABRIC_RTR_RESYNC_MS, 0 = never): the watch is
 * reopened, its first pass is compared with what the cache serves and replaces it. A safety net: the one loss
 * seen (a KV purge is a rollup, and nats-server 2.9 then moved the watch past other keys' placements; rr-config
 * now writes delete markers) left routes refused by every RR for good. Costs one read of the cluster's keys
 * per period (100,000 placements ≈ 10 MB).
 */
export const rtrResyncMs = () => Number(process.env.FABRIC_RTR_RESYNC_MS ?? 300_000);

/** A placement value → ROA; throws on anything malformed (the bucket is written by rr-config only, still checked). */
export function placementRoa(value: Uint8Array): Roa {
  const v = JSON.parse(dec.decode(value)) as { prefix?: unknown; maxLen?: unknown; originTag?: unknown };
  if (typeof v?.prefix !== 'string' || typeof v.maxLen !== 'number' || typeof v.originTag !== 'number') throw new Error('malformed placement');
  return roa(v.prefix, v.maxLen, v.originTag);
}

const RELAY = `
const net = require('net');
const [sock, port] = process.argv.slice(-2);
const srv = net.createServer((c) => {
  const u = net.connect(sock);
  c.pipe(u); u.pipe(c);
  for (const [a, b] of [[c, u], [u, c]]) { a.on('error', () => b.destroy()); a.on('close', () => b.destroy()); }
});
srv.on('error', (e) => { process.stderr.write(String(e.message) + '\\n'); process.exit(1); });
srv.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

export class RoaFeed {
  readonly cache: RtrCache;
  private kv?: KV;
  private watch?: QueuedIterator<KvWatchEntry>;
  private relay?: ChildProcess;
  private stopped = false;
  /** Key → ROA as last seen in the bucket. */
  private readonly current = new Map<string, Roa>();
  private pending = new Map<string, Roa | null>();
  private batchTimer?: NodeJS.Timeout;
  /** The reload running now, and the one waiting behind it (requests merged into it meanwhile). */
  private reloading?: Promise<void>;
  private queuedReload?: { protocols: Set<string> | 'all'; serial: number };
  private loop?: Promise<void>;
  private resyncTimer?: NodeJS.Timeout;
  /** The current watch is being reopened on purpose (resync): no back-off before the next one. */
  private reopening = false;
  /** Later first passes (resyncs, restarted watches), and those that found the cache different from the bucket. */
  rereads = 0;
  resyncRepairs = 0;
  private firstPass?: { resolve: () => void; promise: Promise<void> };
  readonly socketPath: string;

  constructor(private readonly opts: RoaFeedOptions) {
    this.socketPath = path.join(opts.socketDir, 'rtr.sock');
    // refresh/retry/expire as in the RR config (BIRD keeps its own with `keep`).
    this.cache = new RtrCache({ timers: { refresh: 30, retry: 5, expire: 86400 }, onSynced: (i) => this.onSynced(i), log: opts.log });
  }

  /** TCP port the cache listens on (no namespace), e.g. when started with port 0. */
  port?: number;

  /** Listens, starts the watch and resolves after the first pass of the bucket is in the cache. */
  async start(): Promise<void> {
    if (this.opts.namespace === undefined) {
      const a = await this.cache.listen({ host: '127.0.0.1', port: this.opts.port ?? 8323 });
      this.port = typeof a === 'string' ? undefined : a.port;
    } else {
      await fs.rm(this.socketPath, { force: true });
      await this.cache.listen({ path: this.socketPath });
      await this.startRelay();
    }
    this.kv = await new Kvm(this.opts.nats.nc).open(placementsBucket(this.opts.nats.subjects));
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstPass = { resolve, promise };
    this.loop = this.watchForever();
    await promise;
    void this.reopenOnReconnect().catch(() => undefined);
    const every = this.opts.resyncMs ?? rtrResyncMs();
    if (every > 0) {
      this.resyncTimer = setInterval(() => this.resync(), every);
      this.resyncTimer.unref?.();
    }
  }

  /**
   * After a NATS reconnect (the server we were on was lost) the watch's ordered consumer can stay silent while
   * the bucket moves on: placements made meanwhile would wait for the periodic re-read (minutes), their routes
   * filtered at this RR. Reopen the watch instead; its first pass is checked against the cache and replaces it.
   */
  private async reopenOnReconnect(): Promise<void> {
    const status = this.opts.nats.nc.status();
    this.statusIter = status as unknown as { stop(): void };
    for await (const st of status) {
      if (this.stopped) break;
      if (st.type === 'reconnect') {
        this.opts.log?.('info', 'NATS reconnected: re-reading the placements bucket', {});
        this.resync();
      }
    }
  }

  private statusIter?: { stop(): void };

  /** Reopens the watch: its first pass is checked against the cache and replaces it (see rtrResyncMs). */
  resync(): void {
    if (this.stopped || !this.watch) return;
    // Deltas already received go in first, so that they do not count as differences.
    if (this.batchTimer) {
      clearTimeout(this.batchTimer);
      this.flush();
    }
    this.reopening = true;
    this.watch.stop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.statusIter?.stop();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.queuedReload = undefined;
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.watch?.stop();
    await this.loop?.catch(() => undefined);
    this.relay?.stdin?.end();
    this.relay?.kill();
    await this.cache.close();
    if (this.opts.namespace !== undefined) await fs.rm(this.socketPath, { force: true });
  }

  private async startRelay(): Promise<void> {
    const [cmd, args] = inNetns(this.opts.namespace, process.execPath, ['-e', RELAY, this.socketPath, String(this.opts.port ?? 8323)]);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.relay = child;
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()).slice(-500));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`RTR relay in ${this.opts.namespace} exited (${code}): ${err.trim()}`)));
      child.once('error', reject);
    });
    child.once('exit', (code) => {
      if (this.stopped) return;
      this.opts.log?.('warn', 'RTR relay exited, restarting', { code, err: err.trim() });
      setTimeout(() => void this.startRelay().catch((e) => this.opts.log?.('warn', 'RTR relay not restarted', { err: String(e) })), 1000).unref();
    });
  }

  /** One watch at a time; a watch that ends (server lost) is restarted and its first pass replaces the set. */
  private async watchForever(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.watchOnce();
      } catch (e) {
        this.opts.log?.('warn', 'placements watch failed, retrying', { err: String((e as Error)?.message ?? e) });
      }
      if (this.reopening) this.reopening = false;
      else if (!this.stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  private async watchOnce(): Promise<void> {
    const w = await this.kv!.watch({ key: `${this.opts.clusterId}.>` });
    this.watch = w;
    const oc = (w as unknown as { _data: { info(cached: boolean): Promise<{ num_pending: number }> } })._data;
    let initial: Map<string, Roa> | undefined = new Map();
    const endInitial = () => {
      const roas = initial!;
      initial = undefined;
      if (this.firstPass === undefined) this.reportDifferences(roas);
      this.pending.clear();
      this.current.clear();
      for (const [k, r] of roas) this.current.set(k, r);
      this.cache.replaceAll([...roas.values()]);
      this.firstPass?.resolve();
      this.firstPass = undefined;
    };
    if ((await oc.info(true)).num_pending === 0) endInitial();
    for await (const e of w) {
      let r: Roa | null = null;
      if (e.operation === 'PUT') {
        try {
          r = placementRoa(e.value);
        } catch (err) {
          this.opts.log?.('warn', 'placement ignored', { key: e.key, err: String((err as Error).message) });
        }
      }
      if (initial) {
        if (r) initial.set(e.key, r);
        else initial.delete(e.key);
        if (e.delta === 0 || e.isUpdate) endInitial();
        continue;
      }
      this.pending.set(e.key, r);
      this.batchTimer ??= setTimeout(() => this.flush(), this.opts.batchMs ?? 2);
    }
  }

  /** A later first pass (restart, resync) against what the cache serves: differences are logged and counted. */
  private reportDifferences(roas: Map<string, Roa>): void {
    this.rereads++;
    const want = new Set([...roas.values()].map(roaKey));
    const served = new Set(this.cache.all().map(roaKey));
    const missing = [...want].filter((k) => !served.has(k));
    const extra = [...served].filter((k) => !want.has(k));
    if (!missing.length && !extra.length) return;
    this.resyncRepairs++;
    this.opts.log?.('warn', 'RTR cache differed from the placements bucket: repaired by the re-read', {
      missing: missing.length,
      extra: extra.length,
      examples: [...missing.slice(0, 5).map((k) => `+${k}`), ...extra.slice(0, 5).map((k) => `-${k}`)],
    });
  }

  private flush(): void {
    this.batchTimer = undefined;
    const changes: RoaChange[] = [];
    for (const [k, r] of this.pending) {
      const old = this.current.get(k);
      if (old && r && roaKey(old) === roaKey(r)) continue;
      if (old) changes.push({ announce: false, roa: old });
      if (r) {
        changes.push({ announce: true, roa: r });
        this.current.set(k, r);
      } else this.current.delete(k);
    }
    this.pending = new Map();
    // Announcements first: a moved address is never without a ROA in between.
    changes.sort((a, b) => Number(b.announce) - Number(a.announce));
    this.cache.apply(changes);
  }

  private onSynced(info: SyncInfo): void {
    if (!info.changes.length && !info.full) return;
    let protocols: string[] | 'all';
    if (info.full) protocols = 'all';
    else {
      const set = new Set<string>();
      for (const c of info.changes) {
        const p = this.opts.protocolOf(c.roa.asn);
        if (p) set.add(p);
      }
      if (!set.size) return;
      protocols = [...set].sort();
    }
    this.requestReload(protocols, info.serial);
  }

  /**
   * Reloads run one at a time. Requests arriving while one runs merge into the next (union of the sessions,
   * newest serial): during a burst of placements each node session is reloaded about once per reload round,
   * not once per RTR update — `reload in` re-evaluates every route of the session, so one reload per update
   * grew with the square of the burst.
   */
  private requestReload(protocols: string[] | 'all', serial: number): void {
    const q = this.queuedReload;
    if (!q) this.queuedReload = { protocols: protocols === 'all' ? 'all' : new Set(protocols), serial };
    else {
      q.serial = serial;
      if (protocols === 'all') q.protocols = 'all';
      else if (q.protocols !== 'all') for (const p of protocols) q.protocols.add(p);
    }
    this.reloading ??= this.runReloads();
  }

  private async runReloads(): Promise<void> {
    while (this.queuedReload) {
      const { protocols, serial } = this.queuedReload;
      this.queuedReload = undefined;
      await this.opts
        .reload(protocols === 'all' ? 'all' : [...protocols].sort(), serial)
        .catch((e) => this.opts.log?.('warn', 'reload after an RTR update failed', { err: String((e as Error)?.message ?? e) }));
    }
    this.reloading = undefined;
  }
}
