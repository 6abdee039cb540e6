/**
 * API tokens: `fab_<43 base64url chars>` (256 random bits), stored as their sha256 only.
 * A fast hash is enough here: the secret is random and high-entropy, not a password, so there is nothing a
 * slow KDF would protect against guessing, and an unsalted digest lets us look a token up by its hash (indexed).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type DataSource } from 'typeorm';
import type { Logger } from '@fabric/service-kit';
import { DEFAULT_TOKEN_CACHE_ENTRIES, TokenCache, tokenCacheMsFromEnv } from './token-cache';

/** `rtbh`: an automated DDoS detector: may only read VMs and blackhole / lift their addresses. */
export const ROLES = ['admin', 'operator', 'billing', 'rtbh'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  id: string;
  name: string;
  role: Role;
}

export interface TokenInfo extends Principal {
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export const INITIAL_ADMIN_TOKEN_FILE = 'initial-admin-token';

export const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
export const newToken = () => `fab_${randomBytes(32).toString('base64url')}`;
/** How the principal appears as `meta.actor` of the events its writes cause. */
export const actorOf = (p: Principal) => `token:${p.name}(${p.role})`;

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);
/** Only one last_used_at write per token per minute: a read must not become a write each time. */
const TOUCH_EVERY_MS = 60_000;

export class TokenStore {
  private readonly touched = new Map<string, number>();
  private readonly revokedListeners = new Set<(id: string) => void>();
  private readonly cache: TokenCache<Principal>;

  /** `cacheMs`: how long a verified token is trusted without a lookup (default env FABRIC_TOKEN_CACHE_MS, 5 s). */
  constructor(
    private readonly ds: DataSource,
    opts: { cacheMs?: number } = {},
  ) {
    this.cache = new TokenCache({ ttlMs: opts.cacheMs ?? tokenCacheMsFromEnv(), maxEntries: DEFAULT_TOKEN_CACHE_ENTRIES });
  }

  private get t() {
    return `"${(this.ds.options as { schema: string }).schema}"."api_tokens"`;
  }

  async create(name: string, role: Role, token = newToken()): Promise<Principal & { token: string }> {
    const id = randomUUID();
    await this.ds.query(`INSERT INTO ${this.t} (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, now())`, [id, name, role, hashToken(token)]);
    return { id, name, role, token };
  }

  async list(): Promise<TokenInfo[]> {
    const rows = await this.ds.query(`SELECT id, name, role, created_at, last_used_at, revoked_at FROM ${this.t} ORDER BY created_at, id`);
    return rows.map((r: Record<string, never>) => ({
      id: r.id,
      name: r.name,
      role: r.role,
      createdAt: iso(r.created_at),
      lastUsedAt: iso(r.last_used_at),
      revokedAt: iso(r.revoked_at),
    }));
  }

  /** Revokes; returns false when there is no such token. Revoking twice keeps the first time. */
  async revoke(id: string): Promise<TokenInfo | undefined> {
    await this.ds.query(`UPDATE ${this.t} SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
    this.cache.revoked(id);
    const t = (await this.list()).find((x) => x.id === id);
    if (t) for (const fn of this.revokedListeners) fn(id);
    return t;
  }

  /** Called with the token id when this gateway revokes a token (open event streams close on it). */
  onRevoked(fn: (id: string) => void): () => void {
    this.revokedListeners.add(fn);
    return () => this.revokedListeners.delete(fn);
  }

  /** Whether the token id is still active (streams re-check it: another gateway may have revoked it). */
  async isActive(id: string): Promise<boolean> {
    return (await this.ds.query(`SELECT 1 FROM ${this.t} WHERE id = $1 AND revoked_at IS NULL`, [id])).length > 0;
  }

  /**
   * The active token's principal, or undefined (unknown or revoked). A token found active is trusted for the
   * cache time without another lookup (`token-cache.ts`): a revocation on another gateway takes that long here.
   */
  async verify(token: string): Promise<Principal | undefined> {
    const hash = hashToken(token);
    let p = this.cache.get(hash);
    if (!p) {
      const ticket = this.cache.ticket();
      const rows = await this.ds.query(`SELECT id, name, role FROM ${this.t} WHERE token_hash = $1 AND revoked_at IS NULL`, [hash]);
      p = rows[0] as Principal | undefined;
      if (p) this.cache.put(hash, p, ticket);
    }
    if (p && Date.now() - (this.touched.get(p.id) ?? 0) > TOUCH_EVERY_MS) {
      this.touched.set(p.id, Date.now());
      void this.ds.query(`UPDATE ${this.t} SET last_used_at = now() WHERE id = $1`, [p.id]).catch(() => undefined);
    }
    return p;
  }

  async hasActiveAdmin(): Promise<boolean> {
    const rows = await this.ds.query(`SELECT 1 FROM ${this.t} WHERE role = 'admin' AND revoked_at IS NULL LIMIT 1`);
    return rows.length > 0;
  }

  /**
   * First admin token. An explicit token (option / FABRIC_ADMIN_TOKEN) is registered if its hash is unknown
   * (a revoked one stays revoked). Otherwise, when no admin token is active, one is generated and written once
   * to `<dataDir>/initial-admin-token` (0600) for the operator; the launcher shows it and deletes the file.
   */
  async bootstrapAdmin(opts: { token?: string; dataDir: string; log: Logger }): Promise<void> {
    if (opts.token) {
      if (opts.token.length < 16) throw new Error('the admin token must be at least 16 characters');
      const known = await this.ds.query(`SELECT 1 FROM ${this.t} WHERE token_hash = $1`, [hashToken(opts.token)]);
      if (!known.length) {
        await this.create('admin', 'admin', opts.token);
        opts.log.info('admin token (FABRIC_ADMIN_TOKEN / adminToken option) registered');
      }
      return;
    }
    if (await this.hasActiveAdmin()) return;
    const { token } = await this.create('initial-admin', 'admin');
    const file = path.join(opts.dataDir, INITIAL_ADMIN_TOKEN_FILE);
    mkdirSync(opts.dataDir, { recursive: true });
    writeFileSync(file, token + '\n', { mode: 0o600 });
    chmodSync(file, 0o600); // mode only applies to new files
    opts.log.warn({ file }, 'no admin API token existed: created one, readable once in this file (npm start shows it and deletes it)');
  }
}
