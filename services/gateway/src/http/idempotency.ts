/**
 * Idempotency-Key (IETF httpapi-idempotency-key-header): a key is scoped to the token that sent it and
 * bound to the first request it was used for (method, path, body hash). The same key on another request
 * is a 422, never a silent replay of the first one's answer.
 */
import { createHash } from 'node:crypto';
import { BadRequestException, UnprocessableEntityException } from '@nestjs/common';
import type { Request } from 'express';
import type { DataSource } from 'typeorm';

/** Printable, no spaces (it ends up in logs and command ids). */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:~+/=-]{1,128}$/;
/** A claimed key answers the same request again for this long, then may be used anew. */
export const IDEMPOTENCY_TTL_HOURS = 24;

export interface IdempotencyClaim {
  /** sha256 of (token id, key). */
  scope: string;
  /** sha256 of (method, path, body). */
  fingerprint: string;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** The request's claim, undefined without the header; a malformed key is a 400. */
export function idempotencyClaim(req: Request & { principal?: { id: string } }): IdempotencyClaim | undefined {
  const key = req.header('idempotency-key');
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new BadRequestException({
      status: 400,
      code: 'invalid-idempotency-key',
      message: 'Idempotency-Key must be 1-128 characters of letters, digits and . _ : ~ + / = -',
      fields: { 'Idempotency-Key': ['must be 1-128 characters of letters, digits and . _ : ~ + / = -'] },
    });
  }
  const body = req.body === undefined ? '' : JSON.stringify(req.body);
  return { scope: sha256(`${req.principal?.id ?? 'anonymous'}\n${key}`), fingerprint: sha256(`${req.method}\n${req.path}\n${sha256(body)}`) };
}

export class IdempotencyKeys {
  private claims = 0;

  constructor(private readonly ds: DataSource) {}

  private get t() {
    return `"${(this.ds.options as { schema: string }).schema}"."idempotency_keys"`;
  }

  /** Binds the key to this request, or checks it is the request the key is bound to (else 422). */
  async claim(c: IdempotencyClaim): Promise<void> {
    // One round trip for a new key and for a repeat: the claim, else the binding already stored. A binding
    // committed by a concurrent claim after this statement's snapshot is not seen by it: read again then.
    const rows: { fingerprint: string }[] = await this.ds.query(
      `WITH claimed AS (
         INSERT INTO ${this.t} AS k (scope, fingerprint, created_at) VALUES ($1, $2, now())
         ON CONFLICT (scope) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, created_at = now()
           WHERE k.created_at < now() - interval '${IDEMPOTENCY_TTL_HOURS} hours'
         RETURNING fingerprint)
       SELECT fingerprint FROM claimed
       UNION ALL
       SELECT fingerprint FROM ${this.t} WHERE scope = $1 AND NOT EXISTS (SELECT 1 FROM claimed)`,
      [c.scope, c.fingerprint],
    );
    const bound = rows[0]?.fingerprint ?? (await this.ds.query(`SELECT fingerprint FROM ${this.t} WHERE scope = $1`, [c.scope]))[0]?.fingerprint;
    if (bound !== undefined && bound !== c.fingerprint) {
      throw new UnprocessableEntityException({
        status: 422,
        code: 'idempotency-key-reused',
        message: 'this Idempotency-Key was already used for a different request (method, path or body); use a new key for a new request',
      });
    }
    // Expired claims are deleted now and then, not on every write.
    if (++this.claims % 1000 === 1)
      void this.ds.query(`DELETE FROM ${this.t} WHERE created_at < now() - interval '${IDEMPOTENCY_TTL_HOURS} hours'`).catch(() => undefined);
  }
}

/** The command id of a keyed request: distinct for every (token, key, request), stable across retries. */
export const idempotentCommandId = (service: string, command: string, c: IdempotencyClaim) =>
  `idem:${service}:${command}:${sha256(`${c.scope}\n${c.fingerprint}`)}`;
