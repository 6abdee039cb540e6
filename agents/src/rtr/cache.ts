/**
 * An RTR cache (RFC 8210 v1, falling back to v0 when the router asks for it) serving one in-memory ROA set.
 * `apply()` records a change set as one new serial and sends Serial Notify to every synchronised router;
 * routers then ask for the diff since their serial. The last `maxLogSerials` change sets are kept for
 * those diffs; a router further behind (or with another session id) gets Cache Reset and a full sync.
 *
 * `onSynced` fires after an End of Data went out, with what that response changed for that router:
 * the caller re-evaluates imports of the affected BGP sessions (BIRD runs with `rpki reload off`).
 */
import * as net from 'node:net';
import { randomInt } from 'node:crypto';
import {
  ERR,
  MAX_VERSION,
  PDU,
  type Roa,
  type RouterPdu,
  type RtrDecodeError,
  RtrDecoder,
  type RtrVersion,
  type Timers,
  cacheReset,
  cacheResponse,
  endOfData,
  errorReport,
  prefixPdu,
  roaKey,
  serialNotify,
} from './codec';

export interface RoaChange {
  announce: boolean;
  roa: Roa;
}

export interface SyncInfo {
  /** A Reset Query was answered (the router's table was rebuilt from scratch). */
  full: boolean;
  serial: number;
  /** Records announced or withdrawn by this response (for a full sync: every record). */
  changes: RoaChange[];
  version: RtrVersion;
}

export interface RtrCacheOptions {
  /** Default: random per process, so a router that survived a cache restart resets instead of trusting its serial. */
  sessionId?: number;
  timers?: Partial<Timers>;
  /** Change sets kept for Serial Query diffs. */
  maxLogSerials?: number;
  onSynced?: (info: SyncInfo) => void;
  log?: (level: 'info' | 'warn' | 'debug', msg: string, extra?: Record<string, unknown>) => void;
}

interface LogEntry {
  /** Serial after this change set. */
  serial: number;
  changes: RoaChange[];
}

class Session {
  version?: RtrVersion;
  /** The router finished at least one sync: it gets Serial Notify from now on. */
  synced = false;
  readonly decoder = new RtrDecoder();
  constructor(readonly socket: net.Socket) {}
}

export class RtrCache {
  readonly sessionId: number;
  private readonly timers: Timers;
  private readonly maxLog: number;
  private readonly records = new Map<string, Roa>();
  private readonly log: LogEntry[] = [];
  private serialNo = 0;
  private readonly sessions = new Set<Session>();
  private server?: net.Server;

  constructor(private readonly opts: RtrCacheOptions = {}) {
    this.sessionId = opts.sessionId ?? randomInt(0, 0x10000);
    this.timers = { refresh: 3600, retry: 600, expire: 7200, ...opts.timers };
    this.maxLog = opts.maxLogSerials ?? 10_000;
  }

  get serial(): number {
    return this.serialNo;
  }

  get size(): number {
    return this.records.size;
  }

  has(r: Roa): boolean {
    return this.records.has(roaKey(r));
  }

  all(): Roa[] {
    return [...this.records.values()];
  }

  /**
   * Applies announcements and withdrawals; ineffective ones (duplicate announce, withdraw of an unknown
   * record) are dropped. Returns the effective changes; a non-empty set is one new serial.
   */
  apply(changes: RoaChange[]): RoaChange[] {
    const effective: RoaChange[] = [];
    for (const c of changes) {
      const k = roaKey(c.roa);
      if (c.announce === this.records.has(k)) continue;
      if (c.announce) this.records.set(k, c.roa);
      else this.records.delete(k);
      effective.push(c);
    }
    if (!effective.length) return effective;
    this.serialNo = (this.serialNo + 1) >>> 0;
    this.log.push({ serial: this.serialNo, changes: effective });
    if (this.log.length > this.maxLog) this.log.splice(0, this.log.length - this.maxLog);
    for (const s of this.sessions) if (s.synced && s.version !== undefined) this.write(s, serialNotify(s.version, this.sessionId, this.serialNo));
    return effective;
  }

  /** Replaces the whole set (start-up, resync): the difference is one serial. */
  replaceAll(roas: Roa[]): RoaChange[] {
    const want = new Map(roas.map((r) => [roaKey(r), r]));
    const changes: RoaChange[] = [];
    for (const [k, r] of this.records) if (!want.has(k)) changes.push({ announce: false, roa: r });
    for (const [k, r] of want) if (!this.records.has(k)) changes.push({ announce: true, roa: r });
    return this.apply(changes);
  }

  /** Net changes from `serial` to now; undefined when that serial is unknown (too old or never ours). */
  diffSince(serial: number): RoaChange[] | undefined {
    if (serial === this.serialNo) return [];
    const i = this.log.findIndex((e) => e.serial === (serial + 1) >>> 0);
    if (i < 0) return undefined;
    // Per record: the first change tells whether the router had it, the last whether it has it now.
    const net = new Map<string, { before: boolean; after: boolean; roa: Roa }>();
    for (const e of this.log.slice(i)) {
      for (const c of e.changes) {
        const k = roaKey(c.roa);
        const seen = net.get(k);
        if (seen) seen.after = c.announce;
        else net.set(k, { before: !c.announce, after: c.announce, roa: c.roa });
      }
    }
    return [...net.values()].filter((x) => x.before !== x.after).map((x) => ({ announce: x.after, roa: x.roa }));
  }

  /** Listens on TCP (`{host, port}`) or a unix socket (`{path}`). */
  async listen(at: net.ListenOptions): Promise<net.AddressInfo | string> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    return a as net.AddressInfo | string;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.socket.destroy();
    this.sessions.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** Serves one router connection (also usable with any duplex socket, e.g. a relayed one). */
  accept(socket: net.Socket): void {
    const s = new Session(socket);
    this.sessions.add(s);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(s, chunk));
    socket.on('error', (err) => this.opts.log?.('debug', 'rtr socket error', { err: err.message }));
    socket.on('close', () => this.sessions.delete(s));
  }

  private onData(s: Session, chunk: Buffer): void {
    let pdus: RouterPdu[];
    try {
      pdus = s.decoder.push(chunk);
    } catch (e) {
      const err = e as RtrDecodeError;
      this.fatal(s, err.code ?? ERR.CorruptData, err.raw ?? Buffer.alloc(0), err.message, err.version);
      return;
    }
    for (const p of pdus) {
      if (s.socket.destroyed) return;
      this.onPdu(s, p);
    }
  }

  private onPdu(s: Session, p: RouterPdu): void {
    if (s.version === undefined) {
      if (p.type === PDU.ErrorReport) return void this.end(s);
      if (p.version > MAX_VERSION) {
        // The router downgrades and reconnects with the version we name in the header.
        return this.fatal(s, ERR.UnsupportedVersion, rawOf(p), `versions 0..${MAX_VERSION} supported`, MAX_VERSION);
      }
      s.version = p.version as RtrVersion;
    } else if (p.version !== s.version) {
      return this.fatal(s, ERR.UnexpectedVersion, rawOf(p), `session runs version ${s.version}`);
    }
    const v = s.version;
    switch (p.type) {
      case PDU.ResetQuery:
        return this.sendFull(s, v);
      case PDU.SerialQuery: {
        if (p.sessionId !== this.sessionId) return this.write(s, cacheReset(v));
        const diff = this.diffSince(p.serial);
        if (!diff) return this.write(s, cacheReset(v));
        return this.sendDiff(s, v, diff, false);
      }
      case PDU.ErrorReport:
        this.opts.log?.('warn', 'router sent an error report', { code: p.code, text: p.text });
        return this.end(s);
      default:
        return this.fatal(s, ERR.UnsupportedPduType, rawOf(p), `unexpected PDU type ${p.pduType}`);
    }
  }

  private sendFull(s: Session, v: RtrVersion): void {
    this.sendDiff(
      s,
      v,
      [...this.records.values()].map((roa) => ({ announce: true, roa })),
      true,
    );
  }

  private sendDiff(s: Session, v: RtrVersion, changes: RoaChange[], full: boolean): void {
    // One write: a burst of records is one segment train, not thousands of small writes.
    const parts: Buffer[] = [cacheResponse(v, this.sessionId)];
    for (const c of changes) {
      // v0 has no IPv6 restrictions either; both versions share the prefix PDU layout.
      parts.push(prefixPdu(v, c.roa, c.announce));
    }
    parts.push(endOfData(v, this.sessionId, this.serialNo, this.timers));
    this.write(s, Buffer.concat(parts));
    s.synced = true;
    this.opts.onSynced?.({ full, serial: this.serialNo, changes, version: v });
  }

  private fatal(s: Session, code: number, raw: Buffer, text: string, version: number = s.version ?? MAX_VERSION): void {
    this.opts.log?.('warn', 'rtr session error', { code, text });
    this.write(s, errorReport(version, code, raw, text));
    s.socket.end();
    this.sessions.delete(s);
  }

  private end(s: Session): void {
    s.socket.end();
    this.sessions.delete(s);
  }

  private write(s: Session, b: Buffer): void {
    if (!s.socket.destroyed && s.socket.writable) s.socket.write(b);
  }
}

function rawOf(p: RouterPdu): Buffer {
  return p.type === 'other' ? p.raw : Buffer.alloc(0);
}
