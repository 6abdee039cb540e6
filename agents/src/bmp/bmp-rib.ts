/**
 * What the core router holds according to its BMP feed: per monitored peer, the post-policy Adj-RIB-In host
 * routes (/32, /128) with their next hop. Pure; fed message by message, read as canonical route observations.
 */
import { canonicalRoutes, type RouteObservation } from '../observe';
import type { BmpMessage, BmpPeer } from './bmp-parse';

const peerKey = (p: BmpPeer) => `${p.distinguisher} ${p.address}`;

const isHost = (prefix: string) => prefix.endsWith(prefix.includes(':') ? '/128' : '/32');

export class BmpRib {
  /** Per peer: prefix → next hop ('' when none). Only host routes are kept (what at-core is about). */
  private readonly peers = new Map<string, Map<string, string>>();
  /** Peers whose post-policy End-of-RIB arrived: their initial table is complete. */
  private readonly settled = new Set<string>();
  private initiated = false;

  /** Folds one message; true when the routes it holds may have changed. */
  apply(m: BmpMessage): boolean {
    switch (m.type) {
      case 'initiation':
        this.initiated = true;
        return false;
      case 'termination':
        this.reset();
        return true;
      case 'peer-up':
        // A peer coming up again starts from nothing: its table follows.
        this.peers.set(peerKey(m.peer), new Map());
        this.settled.delete(peerKey(m.peer));
        return true;
      case 'peer-down': {
        const k = peerKey(m.peer);
        this.settled.delete(k);
        return this.peers.delete(k);
      }
      case 'route-monitoring': {
        // Pre-policy messages are not what the router uses: post-policy only (`bmp monitor … post-policy`).
        if (!m.peer.postPolicy) return false;
        const k = peerKey(m.peer);
        let rib = this.peers.get(k);
        if (!rib) this.peers.set(k, (rib = new Map()));
        if (m.update.endOfRib) this.settled.add(k);
        let changed = false;
        for (const p of m.update.withdrawn) changed = rib.delete(p) || changed;
        for (const r of m.update.announced) {
          if (!isHost(r.prefix)) continue;
          const nh = r.nextHop ?? '';
          if (rib.get(r.prefix) !== nh) {
            rib.set(r.prefix, nh);
            changed = true;
          }
        }
        return changed;
      }
      default:
        return false;
    }
  }

  /** The initial dump is complete: every peer that came up has sent its post-policy End-of-RIB. */
  get complete(): boolean {
    if (!this.initiated) return false;
    for (const k of this.peers.keys()) if (!this.settled.has(k)) return false;
    return true;
  }

  /** The connection ended: nothing is known any more. */
  reset(): void {
    this.peers.clear();
    this.settled.clear();
    this.initiated = false;
  }

  get peerCount(): number {
    return this.peers.size;
  }

  /** Host routes over all peers, canonical (what RouteDeltaTracker.observe takes). */
  routes(): RouteObservation[] {
    const out: RouteObservation[] = [];
    for (const rib of this.peers.values()) for (const [prefix, nh] of rib) out.push(nh ? { prefix, nextHop: nh } : { prefix });
    return canonicalRoutes(out);
  }
}
