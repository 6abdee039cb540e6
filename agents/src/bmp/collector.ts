/**
 * BMP collector of one cluster's core router (docs/adr/bmp-collector.md): a TCP listener that accepts the
 * configured router's address only, folds its Route Monitoring into the post-policy Adj-RIB-In of each peer and
 * publishes the host routes as RoutesChanged on `<ns>.obs.bmp.router.<clusterId>` (its own NATS identity), the
 * same deltas and resyncs as the FRR core agent's: the read model turns them into `at-core` for any vendor.
 */
import * as net from 'net';
import type { Logger } from 'pino';
import { ROUTES_CHANGED_MAX, canonicalIp, isIp, resyncAddressedTo } from '@fabric/contracts';
import { EventStore, type Nats } from '@fabric/eventstore';
import { RouteDeltaTracker } from '../observe';
import { BmpFramer } from './bmp-parse';
import { BmpRib } from './bmp-rib';

export interface BmpCollectorOptions {
  nats: Nats;
  clusterId: string;
  /** Listen address and port (default 127.0.0.1, the lab; 0 = any free port, see `address()`). */
  host?: string;
  port: number;
  /** The core router's source address: any other connection is closed at once. */
  router: string;
  /** After the router's BMP session ends, its routes are kept that long (it reconnects), then withdrawn. */
  holdMs?: number;
  /** After the initial dump is complete, wait that long before the first resync (late address families). */
  settleMs?: number;
  /**
   * The longest wait for the complete initial table (default 10 s): a peer that comes up after FRR's table sync
   * gets a peer-up but no End-of-RIB, which would otherwise hold the first resync back for good.
   */
  initialDumpMs?: number;
  log: Logger;
  /** Prefix of the report ids (Nats-Msg-Id): unique per process. */
  instance?: string;
}

export interface BmpCollectorStatus {
  connected: boolean;
  peers: number;
  routes: number;
  messages: number;
  refused: number;
  errors: number;
}

const bare = (a: string | undefined) => (a ?? '').replace(/^::ffff:(?=\d+\.)/, '');

export class BmpCollector {
  private server?: net.Server;
  private conn?: net.Socket;
  private readonly rib = new BmpRib();
  private readonly tracker = new RouteDeltaTracker();
  private readonly store: EventStore;
  private readonly subject: string;
  private readonly router: string;
  private readonly instance: string;
  private readonly stats = { messages: 0, refused: 0, errors: 0 };
  private publishing?: Promise<void>;
  private again = false;
  private reports = 0;
  private readTimer?: NodeJS.Timeout;
  private holdTimer?: NodeJS.Timeout;
  private settleTimer?: NodeJS.Timeout;
  private initialTimer?: NodeJS.Timeout;
  private started = false;
  private resyncSub?: { unsubscribe(): void };
  private stopped = false;

  constructor(private readonly opts: BmpCollectorOptions) {
    if (!isIp(opts.router)) throw new Error(`router address ${JSON.stringify(opts.router)} is not an IP address`);
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error(`invalid port ${opts.port}`);
    this.router = canonicalIp(opts.router);
    this.store = new EventStore(opts.nats);
    this.subject = opts.nats.subjects.obsBmp(opts.clusterId);
    this.instance = opts.instance ?? `bmp-${process.pid}-${Date.now().toString(36)}`;
  }

  async start(): Promise<void> {
    // A consumer that lost observations to retention asks every source to state its table again.
    this.resyncSub = this.opts.nats.nc.subscribe(this.opts.nats.subjects.resyncRequests, {
      callback: (_err, m) => {
        // Requests naming targets are for those agents; a collector is never named (its rows are not counted).
        if (!resyncAddressedTo(m.string(), 'bmp', this.opts.clusterId)) return;
        this.tracker.requestResync();
        this.kick();
      },
    });
    this.server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    this.opts.log.info({ address: this.address(), router: this.router, subject: this.subject }, 'BMP collector listening');
  }

  address(): { host: string; port: number } {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new Error('not listening');
    return { host: a.address, port: a.port };
  }

  status(): BmpCollectorStatus {
    return { connected: !!this.conn, peers: this.rib.peerCount, routes: this.tracker.size, ...this.stats };
  }

  /**
   * Closes the router's session: it reconnects and sends its whole table again (what is reported meanwhile stays).
   * FRR 8.4's bgpd_bmp encodes a live post-policy announcement as a withdrawal; its table sync at connect is right.
   */
  resetSession(): void {
    this.conn?.destroy();
  }

  private accept(s: net.Socket): void {
    const from = bare(s.remoteAddress);
    if (!isIp(from) || canonicalIp(from) !== this.router) {
      this.stats.refused++;
      this.opts.log.warn({ from }, 'BMP connection refused: not the configured core router');
      s.destroy();
      return;
    }
    // One session at a time: a reconnecting router replaces its old one (and its table).
    this.conn?.destroy();
    this.rib.reset();
    // Deltas again only once the new session's table is complete (what was reported stays meanwhile).
    this.started = false;
    this.conn = s;
    if (this.initialTimer) clearTimeout(this.initialTimer);
    this.initialTimer = setTimeout(() => {
      this.initialTimer = undefined;
      if (this.started || this.conn !== s || this.stopped) return;
      this.opts.log.warn({ peers: this.rib.peerCount }, 'BMP initial table not complete in time (a peer without End-of-RIB): stating what is held');
      if (this.settleTimer) clearTimeout(this.settleTimer);
      this.settleTimer = undefined;
      this.started = true;
      this.read();
    }, this.opts.initialDumpMs ?? 10_000);
    this.initialTimer.unref?.();
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const framer = new BmpFramer();
    this.opts.log.info({ from }, 'BMP session up');
    s.on('data', (chunk: Buffer) => {
      let changed = false;
      try {
        for (const m of framer.push(chunk)) {
          this.stats.messages++;
          if (this.opts.log.isLevelEnabled('debug'))
            this.opts.log.debug(
              'peer' in m
                ? { type: m.type, peer: m.peer.address, postPolicy: m.peer.postPolicy, ...('update' in m ? { update: m.update } : {}) }
                : { type: m.type },
              'BMP message',
            );
          if (this.rib.apply(m)) changed = true;
          if (m.type === 'termination') this.opts.log.info({ info: m.info }, 'BMP termination');
        }
      } catch (e) {
        this.stats.errors++;
        this.opts.log.warn({ err: e }, 'BMP stream malformed: closing the session');
        s.destroy();
        return;
      }
      if (changed || !this.started) this.routesMoved();
    });
    s.on('error', (e) => this.opts.log.debug({ err: e }, 'BMP socket error'));
    s.on('close', () => {
      if (this.conn !== s) return;
      this.conn = undefined;
      this.opts.log.warn({ holdMs: this.opts.holdMs ?? 30_000 }, 'BMP session down: routes held until it is back');
      if (this.stopped) return;
      this.holdTimer = setTimeout(() => {
        // Nothing proves the core holds them any more.
        this.rib.reset();
        if (this.started) this.read();
      }, this.opts.holdMs ?? 30_000);
      this.holdTimer.unref?.();
    });
  }

  /** The first resync waits for the complete initial table; after that every change is a delta. */
  private routesMoved(): void {
    if (this.started) return this.read();
    if (!this.rib.complete || this.settleTimer) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      this.started = true;
      this.read();
    }, this.opts.settleMs ?? 500);
    this.settleTimer.unref?.();
  }

  private read(): void {
    this.tracker.observe(this.rib.routes());
    // BMP withdrawals are explicit, but the tracker confirms a withdrawal with a second read.
    if (this.tracker.awaitingConfirmation && !this.readTimer) {
      this.readTimer = setTimeout(() => {
        this.readTimer = undefined;
        this.read();
      }, 50);
      this.readTimer.unref?.();
    }
    this.kick();
  }

  private kick(): void {
    if (this.publishing) {
      this.again = true;
      return;
    }
    this.publishing = this.publish().finally(() => {
      this.publishing = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async publish(): Promise<void> {
    for (;;) {
      const b = this.tracker.nextBatch(ROUTES_CHANGED_MAX);
      if (!b) return;
      const id = `${this.instance}:r${++this.reports}`;
      const data = {
        target: { kind: 'router' as const, id: this.opts.clusterId },
        added: b.added,
        withdrawn: b.withdrawn,
        ...(b.resync ? { resync: b.resync } : {}),
        total: b.total,
      };
      try {
        await this.store.append(this.subject, [{ id, event: { type: 'RoutesChanged', data } }]);
        this.tracker.ack(b);
        this.opts.log.info({ added: b.added.length, withdrawn: b.withdrawn.length, resync: b.resync, total: b.total }, 'BMP routes changed');
      } catch (e) {
        this.tracker.fail(b);
        this.opts.log.warn({ err: e }, 'BMP route report failed; retried');
        // Retried with what is held then (coalesced), after a pause.
        const t = setTimeout(() => this.kick(), 1000);
        t.unref?.();
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.readTimer, this.holdTimer, this.settleTimer, this.initialTimer]) if (t) clearTimeout(t);
    this.resyncSub?.unsubscribe();
    this.conn?.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await this.publishing;
  }
}
