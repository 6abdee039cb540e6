/** The HTTP API as fabricctl uses it: JSON or text in, ApiError out for every non-2xx (and unreachable API). */
import { type ApiErrorBody, toApiError } from './format';

export class ApiError extends Error {
  constructor(readonly body: ApiErrorBody) {
    super(`${body.status} ${body.code}: ${body.message}`);
    this.name = 'ApiError';
  }
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

export class ApiClient {
  constructor(
    readonly base: string,
    private readonly token?: string,
  ) {}

  async request<T = unknown>(method: string, path: string, opts: { body?: unknown; idempotencyKey?: string } = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json, text/plain' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
    const url = `${this.base.replace(/\/+$/, '')}${path}`;
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError({
        status: 0,
        code: 'unreachable',
        message: `cannot reach the API at ${this.base} (${cause?.code ?? cause?.message ?? (err as Error).message}); set --api or FABRIC_API`,
      });
    }
    const text = await res.text();
    let body: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) {
      try {
        body = JSON.parse(text);
      } catch {
        /* keep the text */
      }
    }
    if (!res.ok) {
      const e = toApiError(res.status, body, res.statusText);
      if (res.status === 401 && !this.token) e.message += ' (pass --token or set FABRIC_TOKEN)';
      throw new ApiError(e);
    }
    return { status: res.status, body: body as T, headers: res.headers };
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>('GET', path).then((r) => r.body);
  }
}
