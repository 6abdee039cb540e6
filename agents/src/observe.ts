/**
 * Pure helpers for what agents observe and report: BGP session states (diffed, so only changes are
 * reported) and the set of host routes a router holds (canonical, debounced, never republished unchanged).
 */
import * as ipaddr from 'ipaddr.js';
import { canonicalIp, isIp } from '@fabric/contracts';
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

/** Diffs session observations; yields only new or changed sessions, and `Removed` for vanished ones. */
export class SessionTracker {
  private known = new Map<string, SessionObservation>();

  update(current: SessionObservation[]): SessionObservation[] {
    const changed: SessionObservation[] = [];
    const seen = new Set<string>();
    for (const s of current) {
      seen.add(s.protocol);
      const prev = this.known.get(s.protocol);
      // Info text flaps (socket errors, timestamps): a change is a different FSM state or peer.
      if (!prev || prev.state !== s.state || prev.peerIp !== s.peerIp) changed.push(s);
      this.known.set(s.protocol, s);
    }
    for (const [name, prev] of this.known) {
      if (seen.has(name)) continue;
      this.known.delete(name);
      changed.push({ protocol: name, ...(prev.peerIp ? { peerIp: prev.peerIp } : {}), state: 'Removed' });
    }
    return changed;
  }

  /** The daemon cannot be read: every known session is reported once in `state` (e.g. Unknown). */
  markAll(state: string, info: string): SessionObservation[] {
    const changed: SessionObservation[] = [];
    for (const [name, prev] of this.known) {
      if (prev.state === state) continue;
      const s: SessionObservation = { protocol: name, ...(prev.peerIp ? { peerIp: prev.peerIp } : {}), state, info: clip(info, 200) };
      this.known.set(name, s);
      changed.push(s);
    }
    return changed;
  }

  get sessions(): SessionObservation[] {
    return [...this.known.values()];
  }
}

function hostPrefix(prefix: string): string | undefined {
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
    const nh = r.nextHop && isIp(r.nextHop.split('%')[0]) ? canonicalIp(r.nextHop.split('%')[0]) : undefined;
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

/**
 * Publishes a route set only once it was seen on two consecutive polls (debounce: BGP converges in
 * bursts) and only when it differs from the last published one.
 */
export class RouteSetTracker {
  private published?: string;
  private candidate?: string;

  observe(routes: RouteObservation[]): RouteObservation[] | undefined {
    const set = canonicalRoutes(routes);
    const key = JSON.stringify(set);
    if (key === this.published) {
      this.candidate = undefined;
      return undefined;
    }
    if (key !== this.candidate) {
      this.candidate = key;
      return undefined;
    }
    this.published = key;
    this.candidate = undefined;
    return set;
  }

  /** The publish failed for good: let the next poll try again. */
  forget(): void {
    this.published = undefined;
  }
}
