/**
 * Brute-force brake on authentication: failed attempts are counted per source address and per presented
 * token (its hash); past the limit every attempt from that source, or with that token, is a 429 with
 * Retry-After until the window ends, before any token lookup. Counters live in this gateway's memory.
 */
import { HttpException } from '@nestjs/common';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { hashToken } from './tokens';
import type { HttpLimits } from '../http/limits';

export class TooManyAuthFailures extends HttpException {
  constructor(
    readonly retryAfterSeconds: number,
    what: string,
  ) {
    super({ status: 429, code: 'too-many-failed-authentications', message: `too many failed authentications ${what}; retry in ${retryAfterSeconds} s` }, 429);
  }
}

export class AuthFailureLimiter {
  private readonly bySource: RateLimiterMemory;
  private readonly byToken: RateLimiterMemory;

  constructor(limits: HttpLimits) {
    this.bySource = new RateLimiterMemory({ keyPrefix: 'src', points: limits.authFailuresPerSource, duration: limits.authFailureWindowSeconds });
    this.byToken = new RateLimiterMemory({ keyPrefix: 'tok', points: limits.authFailuresPerToken, duration: limits.authFailureWindowSeconds });
  }

  private keys(source: string, token: string | undefined) {
    return [[this.bySource, source], ...(token ? [[this.byToken, hashToken(token)]] : [])] as [RateLimiterMemory, string][];
  }

  /** Throws 429 when the source or the token has used up its failures. */
  async check(source: string, token: string | undefined): Promise<void> {
    for (const [limiter, key] of this.keys(source, token)) {
      const r = await limiter.get(key);
      if (r && r.consumedPoints >= limiter.points) {
        const retryAfter = Math.max(1, Math.ceil(r.msBeforeNext / 1000));
        throw new TooManyAuthFailures(retryAfter, limiter === this.bySource ? 'from this address' : 'with this token');
      }
    }
  }

  async failed(source: string, token: string | undefined): Promise<void> {
    for (const [limiter, key] of this.keys(source, token)) await limiter.penalty(key, 1);
  }
}
