/**
 * The live feed: an EventSource on GET /api/v1/events (token as ?access_token=, EventSource cannot send headers).
 * Every event bumps `tick` (debounced) so the open views refetch. Where the endpoint is missing or refused, the
 * dashboard polls instead and retries the feed now and then.
 */
import { createContext, type ReactNode, useContext, useEffect, useRef, useState } from 'react';
import { API, type FabricEvent, feedPosition, token } from './api';
import { EVENT_TYPES } from './event-types';

export type FeedMode = 'connecting' | 'live' | 'polling';
interface Live {
  mode: FeedMode;
  tick: number;
  events: FabricEvent[];
  refresh: () => void;
}

const LiveContext = createContext<Live>({ mode: 'polling', tick: 0, events: [], refresh: () => undefined });
export const useLive = () => useContext(LiveContext);

const KEEP = 500;
const BACKLOG = 150;
const POLL_MS = 4000;
const RETRY_FEED_MS = 30000;

export function LiveProvider({ children, enabled }: { children: ReactNode; enabled: boolean }) {
  const [mode, setMode] = useState<FeedMode>('connecting');
  const [tick, setTick] = useState(0);
  const [events, setEvents] = useState<FabricEvent[]>([]);
  const pending = useRef<number | undefined>(undefined);

  useEffect(() => {
    if (!enabled) return;
    let es: EventSource | undefined;
    let poll: number | undefined;
    let retry: number | undefined;
    let closed = false;
    let first = true;
    let lastSeq = 0;
    const bump = () => {
      window.clearTimeout(pending.current);
      pending.current = window.setTimeout(() => setTick((t) => t + 1), 250);
    };
    const onEvent = (m: MessageEvent) => {
      let e: FabricEvent;
      try {
        e = JSON.parse(m.data);
      } catch {
        return;
      }
      if (!e || typeof e !== 'object' || !e.type) return;
      // Only events-stream sequences are positions (resume cursor, read-your-writes).
      if (typeof e.seq === 'number' && e.stream !== 'observations') {
        lastSeq = Math.max(lastSeq, e.seq);
        feedPosition.note(e.seq);
      }
      setEvents((prev) => (prev.some((p) => p.seq === e.seq && p.id === e.id && p.stream === e.stream) ? prev : [e, ...prev].slice(0, KEEP)));
      bump();
    };
    const startPolling = () => {
      if (poll === undefined) poll = window.setInterval(() => setTick((t) => t + 1), POLL_MS);
      setMode('polling');
      window.clearTimeout(retry);
      retry = window.setTimeout(() => void connect(), RETRY_FEED_MS);
    };
    async function connect() {
      if (closed) return;
      es?.close();
      const t = token.get();
      const q = new URLSearchParams(t ? { access_token: t } : {});
      // First connection: replay the last BACKLOG events (from the stream head /health reports) so the log is not empty.
      if (first) {
        first = false;
        const head = await fetch(`${API}/health`)
          .then((r) => r.json())
          .then(
            (b) => Number(b?.checks?.nats?.streamHead),
            () => NaN,
          );
        if (Number.isInteger(head) && head > 0) q.set('since', String(Math.max(0, head - BACKLOG)));
        if (closed) return;
      } else if (lastSeq > 0) q.set('since', String(lastSeq)); // a manual reconnect resumes where the feed stopped
      es = new EventSource(`${API}/events${q.size ? `?${q}` : ''}`);
      es.onopen = () => {
        setMode('live');
        window.clearInterval(poll);
        poll = undefined;
        bump();
      };
      es.onmessage = onEvent;
      for (const type of EVENT_TYPES) es.addEventListener(type, onEvent as EventListener);
      // CLOSED: the server answered without a stream (404, 401, …). Otherwise the browser reconnects itself
      // with Last-Event-ID; poll meanwhile so the views stay fresh.
      es.onerror = () => {
        if (es?.readyState === EventSource.CLOSED) {
          es.close();
          startPolling();
        } else {
          setMode('connecting');
          if (poll === undefined) poll = window.setInterval(() => setTick((t) => t + 1), POLL_MS);
        }
      };
    }
    void connect();
    return () => {
      closed = true;
      es?.close();
      window.clearInterval(poll);
      window.clearTimeout(retry);
      window.clearTimeout(pending.current);
    };
  }, [enabled]);

  return <LiveContext.Provider value={{ mode, tick, events, refresh: () => setTick((t) => t + 1) }}>{children}</LiveContext.Provider>;
}

/** One line saying what an event did, for the log. */
export function describeEvent(e: FabricEvent, names: Record<string, string> = {}): string {
  const d = e.data ?? {};
  const s = (k: string) => (d[k] === undefined || d[k] === null ? '' : String(d[k]));
  const name = (id: string) => names[id] ?? shortId(id);
  const target = d.target as { kind?: string; id?: string } | undefined;
  // RR targets are `<clusterId>_<rr name>`; the router target is the cluster itself.
  const t = !target
    ? ''
    : target.kind === 'rr'
      ? `rr ${target.id?.split('_').slice(1).join('_')}`
      : target.kind === 'router'
        ? 'core router'
        : `${target.kind} ${name(target.id ?? '')}`;
  switch (e.type) {
    case 'VmCreated':
      return `VM ${s('name')} requested on node ${name(s('nodeId'))}`;
    case 'IpAllocated':
      return `${s('ip')} allocated to VM ${shortId(s('vmId'))}`;
    case 'IpAllocationFailed':
      return `allocation failed for VM ${shortId(s('vmId'))}: ${s('reason')} ${s('message')}`.trim();
    case 'VmMigrationRequested':
      return `VM ${shortId(s('vmId'))} migrating to node ${name(s('toNodeId'))}`;
    case 'VmMigrationCompleted':
      return `VM ${shortId(s('vmId'))} now on node ${name(s('toNodeId'))}`;
    case 'VmDeleted':
      return `VM ${shortId(s('vmId'))} deleted`;
    case 'ConfigApplied':
      return `${t} applied generation ${s('generation')} (${s('changes')} changes, ${s('durationMs')} ms)`;
    case 'ConfigApplyFailed':
      return `${t} failed generation ${s('generation')}: ${s('error')}`;
    case 'DesiredStateChanged':
      return `${t} desired generation ${s('generation')}`;
    case 'BgpSessionStateChanged':
      return `${t} ${s('protocol')} ${s('peerIp')} → ${s('state')}`;
    case 'BfdSessionStateChanged':
      return `${t} BFD ${s('peerIp')} → ${s('state')}${typeof d.timeoutMs === 'number' ? ` (detect ${d.timeoutMs} ms)` : ''}`;
    case 'RoutesObserved':
      return `${t} sees ${Array.isArray(d.routes) ? d.routes.length : 0} routes`;
    case 'RoutesChanged':
      return `${t} routes +${Array.isArray(d.added) ? d.added.length : 0} −${Array.isArray(d.withdrawn) ? d.withdrawn.length : 0}${d.resync ? ` (resync ${d.resync})` : ''}, ${typeof d.total === 'number' ? d.total : '?'} held`;
    case 'RouterConfigRendered':
      return `router config version ${s('version')}`;
    case 'NodeJoined':
      return `node ${s('name')} joined (${s('underlayIp')})`;
    case 'NodeDrained':
      return `node ${name(s('nodeId'))} drained`;
    case 'NodeEvacuationStarted':
      return `node ${name(s('nodeId'))} evacuating ${s('vmCount')} VM(s)`;
    case 'NodeEvacuated':
      return `node ${name(s('nodeId'))} evacuated`;
    case 'NodeUndrained':
      return `node ${name(s('nodeId'))} back in service`;
    case 'RouteReflectorAdded':
      return `route reflector ${s('name')} added (${s('ip')})`;
    case 'PoolAdded':
      return `pool ${s('start')} – ${s('end')} added`;
    case 'NetworkAdded':
      return `network ${s('cidr')} added`;
    case 'PrivateNetworkCreated':
      return `private network ${s('name')} (${s('cidr')}) of ${s('ownerId')}: vni ${s('vni')}`;
    case 'PrivateNetworkDeleted':
      return `private network ${shortId(s('networkId'))} deleted (vni ${s('vni')} freed)`;
    case 'PrivateNetworkAttached':
      return `VM ${shortId(s('vmId'))} attached to vni ${s('vni')}: ${s('ip')}`;
    case 'PrivateNetworkDetached':
      return `VM ${shortId(s('vmId'))} detached from private network ${shortId(s('networkId'))} (${s('ip')} held until ${s('releaseAt')})`;
    case 'PrivateIpReleased':
      return `private address ${s('ip')} released`;
    default:
      return Object.entries(d)
        .slice(0, 4)
        .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
        .join(' ');
  }
}

export const shortId = (id: string) => (/^[0-9a-f]{8}-/.test(id) ? id.slice(0, 8) : id);
