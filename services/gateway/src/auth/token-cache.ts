/**
 * Verified API tokens kept in memory for a short time, so a request does not cost a token `SELECT` each time.
 * An entry lives `ttlMs` from the lookup that found the token active (not sliding), so a token revoked on
 * another gateway instance stops working here within `ttlMs`. A revocation on this instance drops its entries at
 * once, and a lookup that overlapped a revocation is not cached (it may have read the row before the revoke).
 * Only active tokens are cached: an unknown token is looked up every time (the failure limiter brakes guessing),
 * so a token created on another instance works here at once.
 */
export interface CachedPrincipal {
  id: string;
}

export interface TokenCacheOptions {
  /** How long a verified token is trusted without a lookup; 0 disables the cache. */
  ttlMs: number;
  /** Entries kept at most; the oldest goes first. */
  maxEntries: number;
  now?: () => number;
}

export const DEFAULT_TOKEN_CACHE_MS = 5000;
export const DEFAULT_TOKEN_CACHE_ENTRIES = 10_000;

/** `FABRIC_TOKEN_CACHE_MS` (milliseconds, 0 = off), else the default. */
export function tokenCacheMsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.FABRIC_TOKEN_CACHE_MS;
  return v !== undefined && /^\d{1,7}$/.test(v) ? Number(v) : DEFAULT_TOKEN_CACHE_MS;
}

export class TokenCache<P extends CachedPrincipal> {
  private readonly entries = new Map<string, { principal: P; until: number }>();
  /** Bumped by every revocation: a lookup that started under an older epoch is not cached. */
  private revocations = 0;
  private readonly now: () => number;

  constructor(private readonly opts: TokenCacheOptions) {
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached principal of a token hash, if still fresh. */
  get(hash: string): P | undefined {
    const e = this.entries.get(hash);
    if (!e) return undefined;
    if (e.until <= this.now()) {
      this.entries.delete(hash);
      return undefined;
    }
    return e.principal;
  }

  /** Call before the lookup; pass the ticket to `put` with its result. */
  ticket(): number {
    return this.revocations;
  }

  put(hash: string, principal: P, ticket: number): void {
    if (this.opts.ttlMs <= 0 || ticket !== this.revocations) return;
    this.entries.delete(hash); // re-inserted last: the Map's order is the eviction order
    this.entries.set(hash, { principal, until: this.now() + this.opts.ttlMs });
    while (this.entries.size > this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** Forgets every entry of the token id (it was revoked on this instance). */
  revoked(id: string): void {
    this.revocations++;
    for (const [hash, e] of this.entries) if (e.principal.id === id) this.entries.delete(hash);
  }
}
