/** The gateway's HTTP API, as the dashboard uses it. Errors are `{status, code, message, fields?}`. */

export const API = '/api/v1';
const TOKEN_KEY = 'ipfabric.token';

export const token = {
  get: (): string | null => localStorage.getItem(TOKEN_KEY),
  set: (t: string) => localStorage.setItem(TOKEN_KEY, t),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string[]>,
  ) {
    super(message);
  }
}

/** Listeners told when the API answers 401 (the app sends the user back to the login page). */
const unauthorized = new Set<() => void>();
export const onUnauthorized = (f: () => void) => {
  unauthorized.add(f);
  return () => void unauthorized.delete(f);
};

export function authHeaders(t = token.get()): Record<string, string> {
  return t ? { authorization: `Bearer ${t}` } : {};
}

/**
 * The highest stream sequence the live feed delivered. The feed reads the stream, the API reads the read
 * model, which may lag: GETs ask the gateway to wait until the read model includes it (X-Fabric-Min-Position).
 */
export const feedPosition = {
  seen: 0,
  note(seq: number) {
    if (Number.isInteger(seq) && seq > this.seen) this.seen = seq;
  },
};

export interface RequestOptions {
  text?: boolean;
  token?: string | null;
  signal?: AbortSignal;
  /** GET answered from a read model older than the feed position it asked for (the gateway's wait timed out). */
  onStale?: () => void;
}

export async function request<T = unknown>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
  let res: Response;
  const minPosition = method === 'GET' ? feedPosition.seen : 0;
  try {
    res = await fetch(API + path, {
      method,
      signal: opts.signal,
      headers: {
        accept: opts.text ? 'text/plain' : 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(minPosition > 0 ? { 'x-fabric-min-position': String(minPosition) } : {}),
        ...authHeaders(opts.token === undefined ? token.get() : opts.token),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'network-error', `cannot reach the API: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let b: { status?: number; code?: string; message?: string | string[]; fields?: Record<string, string[]> } = {};
    try {
      b = JSON.parse(text);
    } catch {
      /* not JSON: a proxy or a crash */
    }
    const message = Array.isArray(b.message) ? b.message.join('; ') : (b.message ?? (text.slice(0, 200) || res.statusText));
    const e = new ApiError(b.status ?? res.status, b.code ?? `http-${res.status}`, message, b.fields);
    if (res.status === 401 && opts.token === undefined) unauthorized.forEach((f) => f());
    throw e;
  }
  const readAt = Number(res.headers.get('x-fabric-position'));
  if (minPosition > 0 && Number.isInteger(readAt) && readAt < minPosition) opts.onStale?.();
  if (opts.text) return text as T;
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string, signal?: AbortSignal, onStale?: () => void) => request<T>('GET', path, undefined, { signal, onStale });
export const post = <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {});

// Shapes returned by the API (the subset the dashboard reads).
export interface Cluster {
  id: string;
  name: string;
  fabricAsn: number;
  coreAsn: number;
  community: string;
  gateway: { ip: string; mac: string };
  routeReflectors: { name: string; ip: string }[];
  coreRouter: { name: string; ip: string; vendor: string };
  bgp: { gracefulRestart: boolean; bfd: boolean; md5: boolean };
  createdAt: string;
}
export interface Node {
  id: string;
  clusterId: string;
  name: string;
  underlayIp: string;
  underlayIp6?: string;
  status: string;
  joinedAt: string;
}
export interface BgpSession {
  protocol: string;
  peerIp: string | null;
  state: string;
  info: string | null;
  since: string | null;
}
export interface NodeStatus extends Node {
  desiredGeneration: number;
  appliedGeneration: number;
  drift: boolean;
  lastApply: { at: string; changes: number | null; durationMs: number | null; hash: string | null } | null;
  lastError: string | null;
  bgpSessions: BgpSession[];
  vmCount: number;
  evacuation: { waiting: number; migrating: number } | null;
}
export interface Vm {
  id: string;
  clusterId: string;
  nodeId: string;
  previousNodeId?: string;
  name: string;
  ownerId: string;
  ip: string | null;
  family: number;
  driver: string;
  status: string;
  reason?: string;
  createdAt: string;
  updatedAt: string;
  history?: { seq: number; status: string; event: string; at: string; detail?: string }[];
  blackhole?: { reason: string; actor: string | null; since: string } | null;
}
export interface Network {
  id: string;
  cidr: string;
  family: number;
  pools: { id: string; start: string; end: string; size: string; used: number }[];
}
export interface Target {
  kind: 'router' | 'rr' | 'node';
  targetId: string;
  name: string;
  desiredGeneration: number;
  appliedGeneration: number;
  drift: boolean;
  appliedAt: string | null;
  lastChanges: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
  renderError?: string | null;
  routes: number;
}
export interface Endpoint {
  kind: 'router' | 'rr' | 'node';
  id: string;
  name: string;
}
export interface TopologySession {
  a: Endpoint;
  b: Endpoint;
  state: string;
  sides: (BgpSession & { kind: string; targetId: string })[];
}
export interface Topology {
  clusterId: string;
  core: { id: string; name: string; ip: string; vendor: string; asn: number };
  routeReflectors: { id: string; name: string; ip: string; asn: number }[];
  nodes: Node[];
  sessions: TopologySession[];
}
export interface RouterConfigVersion {
  version: number;
  hash: string;
  formats: string[];
  createdAt: string;
}
/** One event from GET /api/v1/events (server-sent events). */
export interface FabricEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
  occurredAt: string;
  seq: number;
  subject: string;
  /** `observations`: an agent's route or session report; its seq is of the observations stream, not a position. */
  stream?: 'observations';
  meta?: Record<string, unknown>;
}

/** GET /api/v1/audit: one event a command caused. */
export interface AuditEntry {
  seq: number;
  index: number;
  at: string;
  actor: string;
  command: string | null;
  commandId: string;
  event: string;
  aggregate: string;
  aggregateId: string;
  clusterId: string | null;
  detail: Record<string, unknown>;
}
export interface AuditPage {
  items: AuditEntry[];
  next: string | null;
  readModelPosition: number;
}

export const VM_STEPS = ['requested', 'ip-allocated', 'applied', 'announced', 'at-core'] as const;
