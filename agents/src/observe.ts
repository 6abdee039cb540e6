/**
 * Pure helpers for what agents observe and report: BGP sessions as up/down transitions (debounced) and
 * the host routes a router holds as deltas (canonical, bounded batches, a resync at start).
 */
import * as ipaddr from 'ipaddr.js';
import { canonicalIp, isIp } from '@fabric/contracts';
import type { BfdSession } from './drivers/bfd-parse';
import type { BirdRoute } from './drivers/bird-parse';
import type { FrrBgpPeer, FrrRoute } from './drivers/frr-parse';

export interface SessionObservation {
  protocol: string;
  peerIp?: string;
  /** 'Established', 'Active', 'Connect', 'Idle', 'Down', … */
  state: string;
  info?: string;
}

export interface RouteObservation {
  prefix: string;
  nextHop?: string;
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

/**
 * BIRD `show protocols all`: header lines (parsed like `show protocols`) followed by indented details;
 * we only need the neighbor address of BGP protocols.
 */
export function parseBirdBgpSessions(text: string): SessionObservation[] {
  const out: SessionObservation[] = [];
  let cur: SessionObservation | undefined;
  const header = /^(\S+)\s+(\S+)\s+(\S+)\s+(up|down|start|stop|flush)\s+(\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}:\d{2}(?:\.\d+)?)?|\S+)(?:\s+(.*))?$/;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (!line) continue;
    if (!/^\s/.test(line)) {
      cur = undefined;
      const m = header.exec(line);
      if (!m || m[2] !== 'BGP') continue;
      const protoState = m[4];
      const info = (m[6] ?? '').trim();
      // BGP's FSM state is the first word of Info while the protocol runs; a disabled protocol has none.
      const [first, ...rest] = info.split(/\s+/).filter(Boolean);
      const state = protoState === 'down' || !first ? capitalize(protoState) : first;
      const detail = protoState === 'down' || !first ? info : rest.join(' ');
      cur = { protocol: clip(m[1], 64), state: clip(state, 32), ...(detail ? { info: clip(detail, 200) } : {}) };
      out.push(cur);
      continue;
    }
    const n = /^\s+Neighbor address:\s+(\S+)/.exec(line);
    if (cur && n) {
      const addr = n[1].split('%')[0];
      if (isIp(addr)) cur.peerIp = canonicalIp(addr);
    }
  }
  return out;
}

/**
 * A cheap "did the BGP routes change" probe from `show protocols all` (all sessions or one): per BGP protocol,
 * its state and the route counters and import statistics of its channels (they move with every accepted or
 * withdrawn route, also after a `reload in`). Equal → the routes learnt over that session are the same.
 */
export function birdRouteVersions(text: string): Map<string, string> {
  const parts = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line && !/^\s/.test(line)) {
      const cols = line.split(/\s+/);
      cur = cols[1] === 'BGP' ? [cols[3] ?? ''] : undefined;
      if (cur) parts.set(cols[0], cur);
      continue;
    }
    if (cur && /^\s+(Routes:|Import updates:|Import withdraws:|Channel )/.test(line)) cur.push(line.trim());
  }
  return new Map([...parts].map(([k, v]) => [k, v.join('\n')]));
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** FRR `show bgp summary json`: one session per peer, whatever the address families. */
export function frrSessions(peers: FrrBgpPeer[]): SessionObservation[] {
  const byPeer = new Map<string, SessionObservation>();
  for (const p of peers) {
    if (byPeer.has(p.peer)) continue;
    const addr = p.peer.split('%')[0];
    byPeer.set(p.peer, {
      protocol: clip(`bgp ${p.peer}`, 64),
      ...(isIp(addr) ? { peerIp: canonicalIp(addr) } : {}),
      state: clip(p.state, 32),
      ...(p.remoteAs !== undefined ? { info: `remote AS ${p.remoteAs}` } : {}),
    });
  }
  return [...byPeer.values()];
}

const isUp = (state: string) => state === 'Established';

interface KnownSession {
  obs: SessionObservation;
  /** What consumers were last told: up or down, and when (the hold counts from there). */
  reportedUp?: boolean;
  reportedAt: number;
  /** The last report was the first one (initial state): the next transition is not held. */
  initial: boolean;
}

/**
 * BGP sessions as meaningful transitions: the first observation of a session (up or down), then only
 * up ↔ down changes — a session cycling through Active/Connect/Idle/OpenSent is one "down", never an
 * event per FSM step. Debounced: after a transition, the next one of the same session is reported only
 * once `holdMs` passed and only if it still holds then (a flap up/down/up inside the hold is not
 * reported). Reports are { state: 'Established' } or { state: 'Down', info: '<FSM state>: <reason>' }.
 */
export class SessionTracker {
  private known = new Map<string, KnownSession>();

  constructor(
    private readonly holdMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  update(current: SessionObservation[]): SessionObservation[] {
    const changed: SessionObservation[] = [];
    const seen = new Set<string>();
    const t = this.now();
    for (const s of current) {
      seen.add(s.protocol);
      const k = this.known.get(s.protocol);
      if (!k) {
        this.known.set(s.protocol, { obs: s, reportedUp: isUp(s.state), reportedAt: t, initial: true });
        changed.push(transition(s));
        continue;
      }
      k.obs = s;
      const up = isUp(s.state);
      if (up === k.reportedUp) continue;
      if (!k.initial && k.reportedUp !== undefined && t - k.reportedAt < this.holdMs) continue; // held: checked again at a later poll
      k.reportedUp = up;
      k.reportedAt = t;
      k.initial = false;
      changed.push(transition(s));
    }
    for (const [name, k] of this.known) {
      if (seen.has(name)) continue;
      this.known.delete(name);
      changed.push({ protocol: name, ...(k.obs.peerIp ? { peerIp: k.obs.peerIp } : {}), state: 'Removed' });
    }
    return changed;
  }

  /** What consumers were last told of every known session (stated again on a resync request). */
  current(): SessionObservation[] {
    const out: SessionObservation[] = [];
    for (const [protocol, k] of this.known) {
      if (k.reportedUp === undefined) continue; // Unknown: the next readable poll reports it
      const base = { protocol, ...(k.obs.peerIp ? { peerIp: k.obs.peerIp } : {}) };
      // A transition still held is not reported yet: state what was.
      out.push(k.reportedUp ? { ...base, state: 'Established' } : isUp(k.obs.state) ? { ...base, state: 'Down', info: 'Down' } : transition(k.obs));
    }
    return out;
  }

  /** The daemon cannot be read: every known session is reported once as `state` (e.g. Unknown). */
  markAll(state: string, info: string): SessionObservation[] {
    const changed: SessionObservation[] = [];
    for (const [name, k] of this.known) {
      if (k.reportedUp === undefined) continue;
      const s: SessionObservation = { protocol: name, ...(k.obs.peerIp ? { peerIp: k.obs.peerIp } : {}), state, info: clip(info, 200) };
      // Unknown is neither up nor down: whatever the daemon says next is reported at once.
      k.reportedUp = undefined;
      k.initial = true;
      k.obs = s;
      changed.push(s);
    }
    return changed;
  }
}

/** An observation as a report: up as is, anything else as Down with the FSM state as the reason. */
function transition(s: SessionObservation): SessionObservation {
  const base = { protocol: s.protocol, ...(s.peerIp ? { peerIp: s.peerIp } : {}) };
  if (isUp(s.state)) return { ...base, state: 'Established' };
  const reason = s.state === 'Down' ? (s.info ?? 'Down') : s.info ? `${s.state}: ${s.info}` : s.state;
  return { ...base, state: 'Down', info: clip(reason, 200) };
}

/** A dotted quad as canonicalIp writes it (no leading zeros): taken as it is, no parse (100,000 routes a read). */
const CANONICAL_V4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function hostPrefix(prefix: string): string | undefined {
  const slash = prefix.indexOf('/');
  if (slash > 0 && CANONICAL_V4.test(prefix.slice(0, slash))) return prefix.slice(slash + 1) === '32' ? prefix : undefined;
  try {
    const [addr, len] = ipaddr.parseCIDR(prefix);
    const host = addr.kind() === 'ipv4' ? 32 : 128;
    return len === host ? `${canonicalIp(addr.toString())}/${len}` : undefined;
  } catch {
    return undefined;
  }
}

/** Sorted, de-duplicated; order-independent so equal sets compare equal. */
export function canonicalRoutes(routes: RouteObservation[]): RouteObservation[] {
  const map = new Map<string, RouteObservation>();
  for (const r of routes) {
    const prefix = hostPrefix(r.prefix);
    if (!prefix) continue;
    const hop = r.nextHop?.split('%')[0];
    const nh = !hop ? undefined : CANONICAL_V4.test(hop) ? hop : isIp(hop) ? canonicalIp(hop) : undefined;
    map.set(`${prefix} ${nh ?? ''}`, nh ? { prefix, nextHop: nh } : { prefix });
  }
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

/** RR: every /32 and /128 learnt over BGP (best and alternatives: both nodes during a migration). */
export function birdHostRoutes(routes: BirdRoute[], bgpProtocols: Set<string>): RouteObservation[] {
  return canonicalRoutes(
    routes
      .filter((r) => bgpProtocols.has(r.fromProtocol))
      .map((r) => ({ prefix: r.prefix, nextHop: r.attributes['BGP.next_hop']?.split(/\s+/)[0] ?? r.nextHop })),
  );
}

/** Core: BGP host routes that are installed, one entry per next hop in use. */
export function frrHostRoutes(routes: FrrRoute[]): RouteObservation[] {
  const out: RouteObservation[] = [];
  for (const r of routes) {
    if (r.protocol !== 'bgp' || !r.installed) continue;
    const hops = r.nexthops.filter((n) => n.ip && (n.fib || n.active));
    for (const n of hops) out.push({ prefix: r.prefix, nextHop: n.ip });
  }
  return canonicalRoutes(out);
}

export const routeKey = (r: RouteObservation) => `${r.prefix} ${r.nextHop ?? ''}`;

export interface RouteBatch {
  added: RouteObservation[];
  withdrawn: RouteObservation[];
  resync?: 'start' | 'part' | 'end' | 'full';
  /** Routes held once this batch (or the resync it belongs to) is applied. */
  total: number;
  /** Keys this batch covers (for ack/fail). */
  keys: string[];
}

/**
 * The routes a router holds and what was reported of them, as deltas (work per report grows with the
 * change, not the table). An added route is reported at the first read that shows it; a withdrawal only
 * once the route is missing from two reads in a row (a path flaps out and back while BGP converges).
 * The first report is a full-state resync, in bounded batches (RoutesChanged `resync`). A batch whose
 * publish failed (maybe stored, maybe not) leaves its routes "unsure": the next batch states them again
 * explicitly (add if held, withdraw if not), coalesced with whatever changed meanwhile — a reporter that
 * cannot publish never queues stale reports.
 * Routes are held as their keys only (`<prefix> <next hop>`, routeFromKey gives the route back): an RR holds one per
 * placed address, twice (held and reported).
 */
export class RouteDeltaTracker {
  private readonly held = new Set<string>();
  private readonly absentOnce = new Set<string>();
  private readonly reported = new Set<string>();
  /** Keys whose held state changed since they were last reported. */
  private readonly dirty = new Set<string>();
  private readonly unsure = new Set<string>();
  private needResync = true;
  private resync?: { keys: string[]; pos: number };
  private reads = 0;

  /** Folds one complete read of the router's host routes (canonical: what birdHostRoutes/frrHostRoutes return). */
  observe(routes: RouteObservation[]): void {
    this.reads++;
    const now = new Set<string>();
    for (const r of routes) now.add(routeKey(r));
    for (const k of now) {
      this.absentOnce.delete(k);
      if (!this.held.has(k)) {
        const own = ownString(k);
        this.held.add(own);
        this.dirty.add(own);
      }
    }
    for (const k of this.held) {
      if (now.has(k)) continue;
      if (this.absentOnce.delete(k)) {
        this.held.delete(k);
        this.dirty.add(k);
      } else {
        this.absentOnce.add(k);
      }
    }
  }

  /** A withdrawal waits for a confirming read: read again soon. */
  get awaitingConfirmation(): boolean {
    return this.absentOnce.size > 0;
  }

  get size(): number {
    return this.held.size;
  }

  /** Something to publish (nothing before the first read: the start-up resync states a real table). */
  get pending(): boolean {
    if (this.reads === 0) return false;
    return this.needResync || !!this.resync || this.unsure.size > 0 || [...this.dirty].some((k) => this.held.has(k) !== this.reported.has(k));
  }

  /** Forget what consumers were told: the next batches are a full-state resync. */
  requestResync(): void {
    this.needResync = true;
    this.resync = undefined;
  }

  nextBatch(max: number): RouteBatch | undefined {
    if (this.reads === 0) return undefined;
    if (this.needResync && !this.resync) {
      // The snapshot is the table now; what changes while the resync is published is a delta after it.
      this.resync = { keys: [...this.held], pos: 0 };
      this.needResync = false;
      this.dirty.clear();
      this.unsure.clear();
    }
    if (this.resync) {
      const { keys, pos } = this.resync;
      const part = keys.slice(pos, pos + max);
      const last = pos + part.length >= keys.length;
      const resync = pos === 0 ? (last ? 'full' : 'start') : last ? 'end' : 'part';
      return { added: part.map(routeFromKey), withdrawn: [], resync, total: keys.length, keys: part };
    }
    const added: RouteObservation[] = [];
    const withdrawn: RouteObservation[] = [];
    const keys: string[] = [];
    let total = this.reported.size;
    const take = (k: string, explicit: boolean) => {
      const h = this.held.has(k);
      const r = this.reported.has(k);
      if (h && (explicit || !r)) {
        added.push(routeFromKey(k));
        if (!r) total++;
      } else if (!h && (explicit || r)) {
        withdrawn.push(routeFromKey(k));
        if (r) total--;
      } else {
        this.dirty.delete(k);
        return;
      }
      keys.push(k);
    };
    for (const k of this.unsure) {
      if (keys.length >= max) break;
      take(k, true);
    }
    for (const k of this.dirty) {
      if (keys.length >= max) break;
      if (!this.unsure.has(k)) take(k, false);
    }
    return keys.length ? { added, withdrawn, total, keys } : undefined;
  }

  /** The batch is stored: consumers know it. */
  ack(b: RouteBatch): void {
    if (b.resync) {
      if (!this.resync) return;
      this.resync.pos += b.added.length;
      if (b.resync === 'end' || b.resync === 'full') {
        this.reported.clear();
        for (const k of this.resync.keys) this.reported.add(k);
        this.resync = undefined;
      }
      return;
    }
    for (const r of b.added) this.reported.add(routeKey(r));
    for (const r of b.withdrawn) this.reported.delete(routeKey(r));
    for (const k of b.keys) {
      this.unsure.delete(k);
      // Changed again since the batch was built: stays dirty.
      if (this.held.has(k) === this.reported.has(k)) this.dirty.delete(k);
    }
  }

  /** The publish failed or timed out: maybe stored, maybe not. */
  fail(b: RouteBatch): void {
    if (b.resync) {
      // Start over: a new `start` marks everything stale again, whatever part of this one was stored.
      this.requestResync();
      return;
    }
    for (const k of b.keys) this.unsure.add(k);
  }
}

/**
 * A copy that holds no reference to the text it was cut from (V8 keeps a substring as a slice of its parent: a
 * key kept for hours would keep that read's whole `show route` output, megabytes, alive with it).
 */
function ownString(s: string): string {
  return (' ' + s).slice(1);
}

function routeFromKey(k: string): RouteObservation {
  const [prefix, nh] = k.split(' ');
  return nh ? { prefix, nextHop: nh } : { prefix };
}

/** What an agent reports of one BFD session (BfdSessionStateChanged without the target). */
export interface BfdObservation {
  peerIp: string;
  interface?: string;
  /** Lower-case daemon state ('up', 'down', 'init', 'admindown'), 'removed' or 'unknown'. */
  state: string;
  intervalMs?: number;
  timeoutMs?: number;
  info?: string;
}

const bfdKey = (o: { peerIp: string; interface?: string }) => `${o.peerIp}%${o.interface ?? ''}`;
const sameBfd = (a: BfdObservation, b: BfdObservation) =>
  a.state === b.state && a.intervalMs === b.intervalMs && a.timeoutMs === b.timeoutMs && a.interface === b.interface;

/**
 * BFD sessions as changes: the first observation of a session, then every change of its state, negotiated
 * interval or detection time (never of its uptime counter); a session gone from the daemon is reported once
 * as 'removed'. Not debounced: BFD exists to say "down" fast, and a session that flaps is worth seeing.
 * Sessions whose peer is not an IP address are skipped (the daemons always give one).
 */
export class BfdTracker {
  private known = new Map<string, BfdObservation>();

  update(sessions: BfdSession[]): BfdObservation[] {
    const changed: BfdObservation[] = [];
    const seen = new Set<string>();
    for (const s of sessions) {
      const addr = s.peer.split('%')[0];
      if (!isIp(addr)) continue;
      const o: BfdObservation = {
        peerIp: canonicalIp(addr),
        ...(s.interface ? { interface: clip(s.interface, 64) } : {}),
        state: clip(s.state, 32),
        ...(s.intervalMs !== undefined ? { intervalMs: s.intervalMs } : {}),
        ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
      };
      const key = bfdKey(o);
      if (seen.has(key)) continue;
      seen.add(key);
      const k = this.known.get(key);
      this.known.set(key, o);
      if (!k || !sameBfd(k, o)) changed.push(o);
    }
    for (const [key, k] of this.known) {
      if (seen.has(key)) continue;
      this.known.delete(key);
      changed.push({ peerIp: k.peerIp, ...(k.interface ? { interface: k.interface } : {}), state: 'removed' });
    }
    return changed;
  }

  /** What consumers were last told of every known session (stated again on a resync request). */
  current(): BfdObservation[] {
    return [...this.known.values()];
  }

  /** The daemon cannot be read: every known session is reported once as 'unknown' (the next read reports again). */
  markAll(info: string): BfdObservation[] {
    const changed: BfdObservation[] = [];
    for (const [key, k] of this.known) {
      if (k.state === 'unknown') continue;
      const o: BfdObservation = { peerIp: k.peerIp, ...(k.interface ? { interface: k.interface } : {}), state: 'unknown', info: clip(info, 200) };
      this.known.set(key, o);
      changed.push(o);
    }
    return changed;
  }
}
