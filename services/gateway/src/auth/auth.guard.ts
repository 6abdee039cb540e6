import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { actorOf, Principal, Role, TokenStore } from './tokens';
import { PUBLIC_KEY, QUERY_TOKEN_KEY, ROLES_KEY } from './roles';
import { AuthFailureLimiter, TooManyAuthFailures } from './failure-limiter';
import { HTTP_LIMITS, HttpLimits } from '../http/limits';

export type AuthedRequest = Request & { principal?: Principal; actor?: string };

/**
 * Roles of a route without `@Roles`: billing paths are readable by every role (writes: admin);
 * everything else (clusters, nodes, VMs, networks, dashboard reads) is for admin and operator.
 */
export function defaultRoles(method: string, path: string): Role[] {
  if (/^\/api\/v1\/billing(\/|$)/.test(path)) return method === 'GET' || method === 'HEAD' ? ['admin', 'operator', 'billing'] : ['admin'];
  return ['admin', 'operator'];
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Global guard: every route needs a valid token, except `@Public()` ones. Sets the actor of the writes. */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly failures: AuthFailureLimiter;

  constructor(
    private readonly reflector: Reflector,
    @Inject(TokenStore) private readonly tokens: TokenStore,
    @Inject(HTTP_LIMITS) limits: HttpLimits,
  ) {
    this.failures = new AuthFailureLimiter(limits);
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const res = ctx.switchToHttp().getResponse<Response>();
    const header = req.header('authorization');
    let token = header ? BEARER.exec(header)?.[1] : undefined;
    if (!header && this.reflector.getAllAndOverride<boolean>(QUERY_TOKEN_KEY, targets) && typeof req.query.access_token === 'string')
      token = req.query.access_token;
    const source = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    try {
      await this.failures.check(source, token);
    } catch (err) {
      if (err instanceof TooManyAuthFailures) res.setHeader('Retry-After', String(err.retryAfterSeconds));
      throw err;
    }
    const principal = token ? await this.tokens.verify(token) : undefined;
    if (!principal) {
      await this.failures.failed(source, token);
      res.setHeader('WWW-Authenticate', 'Bearer realm="ip-fabric"');
      throw new UnauthorizedException({
        status: 401,
        code: 'unauthorized',
        message:
          !header && !token
            ? 'an API token is required (Authorization: Bearer <token>)'
            : header && !token
              ? 'malformed Authorization header (expected "Bearer <token>")'
              : 'invalid or revoked API token',
      });
    }
    const allowed = this.reflector.getAllAndOverride<Role[]>(ROLES_KEY, targets) ?? defaultRoles(req.method, req.path);
    if (principal.role !== 'admin' && !allowed.includes(principal.role)) {
      throw new ForbiddenException({ status: 403, code: 'forbidden', message: `role ${principal.role} may not ${req.method} ${req.path}` });
    }
    req.principal = principal;
    req.actor = actorOf(principal);
    return true;
  }
}
