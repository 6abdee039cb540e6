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

// Shapes returned by the API: one definition with fabricctl's (libs/api-types; types only, erased by the bundler).
export type {
  AuditEntry,
  AuditPage,
  BfdSession,
  BgpSession,
  Cluster,
  Endpoint,
  FabricEvent,
  FloatingAddress,
  Network,
  Node,
  NodeStatus,
  PrivateAttachment,
  PrivateNetwork,
  RouterConfigVersion,
  RouterRollbackAccepted,
  RouterRollbackPreview,
  RouterStatus,
  Target,
  Topology,
  TopologySession,
  Vm,
  WriteDryRun,
  VmHistoryEntry,
  VmStatus,
  VmWithHistory,
} from '@fabric/api-types';

export const VM_STEPS = ['requested', 'ip-allocated', 'applied', 'announced', 'at-core'] as const;
