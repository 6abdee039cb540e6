import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { RequestInfo } from './command-bus';

const KEY = /^[A-Za-z0-9._:-]{1,128}$/;

/** Idempotency-Key (retry-safe writes) and the caller's identity, for the command envelope. */
export const ReqInfo = createParamDecorator((_: unknown, ctx: ExecutionContext): RequestInfo => {
  const req = ctx.switchToHttp().getRequest<Request & { actor?: string }>();
  const key = req.header('idempotency-key');
  return { idempotencyKey: key && KEY.test(key) ? key : undefined, actor: req.actor ?? 'anonymous' };
});
