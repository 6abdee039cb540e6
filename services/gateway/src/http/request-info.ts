import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { type RequestInfo } from './command-bus';
import { idempotencyClaim } from './idempotency';

/** Idempotency-Key (retry-safe writes, scoped to token and request) and the caller's identity, for the command envelope. */
export const ReqInfo = createParamDecorator((_: unknown, ctx: ExecutionContext): RequestInfo => {
  const req = ctx.switchToHttp().getRequest<Request & { actor?: string; principal?: { id: string } }>();
  return { idempotency: idempotencyClaim(req), actor: req.actor ?? 'anonymous' };
});
