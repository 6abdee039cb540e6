import {
  ArgumentMetadata,
  BadRequestException,
  CallHandler,
  ExecutionContext,
  Injectable,
  NestInterceptor,
  PipeTransform,
  SetMetadata,
  ValidationPipe,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import type { Request } from 'express';
import type { Observable } from 'rxjs';
import { validationFields } from '@fabric/eventstore';
import { UUID_PATTERN } from '@fabric/contracts';

/** class-validator on every body; unknown fields are refused, errors listed per field. */
export const apiValidationPipe = () =>
  new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) =>
      new BadRequestException({ status: 400, code: 'validation-failed', message: 'request has invalid fields', fields: validationFields(errors) }),
  });

export const invalidQuery = (fields: Record<string, string[]>, message = 'invalid query') =>
  new BadRequestException({ status: 400, code: 'validation-failed', message, fields });

/** Path ids: lower-case UUIDs only, so an upper-case copy never names a second resource. */
@Injectable()
export class CanonicalUuidPipe implements PipeTransform<unknown, string> {
  transform(value: unknown, meta: ArgumentMetadata): string {
    if (typeof value === 'string' && UUID_PATTERN.test(value)) return value;
    const field = meta.data ?? 'id';
    throw new BadRequestException({
      status: 400,
      code: 'invalid-id',
      message: `${field} must be a lower-case UUID`,
      fields: { [field]: ['must be a lower-case UUID'] },
    });
  }
}
export const uuidParam = new CanonicalUuidPipe();

const QUERY_KEY = 'http:query-params';
/** The query parameters a handler understands; any other one is a 400 (a typo must not be silently ignored). */
export const QueryParams = (...names: string[]) => SetMetadata(QUERY_KEY, names);

/** A query value: a plain decimal integer in [min, max] (no exponent, sign, fraction or spaces). */
export function intParam(fields: Record<string, string[]>, name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    fields[name] = [`must be an integer ${min}-${max}`];
    return undefined;
  }
  return n;
}

const isEmptyBody = (body: unknown) =>
  body === undefined || body === null || (typeof body === 'object' && !Array.isArray(body) && Object.keys(body as object).length === 0);

/**
 * Every request: only the query parameters its handler declares (each at most once), and no body on a
 * handler that takes none (e.g. `DELETE /vms/:id` with `{"force":true}` is refused, not ignored).
 */
@Injectable()
export class StrictRequestInterceptor implements NestInterceptor {
  constructor(private readonly reflector: Reflector) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const req = ctx.switchToHttp().getRequest<Request>();
    const allowed = this.reflector.get<string[]>(QUERY_KEY, ctx.getHandler()) ?? [];
    const fields: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (!allowed.includes(k))
        fields[k] = [allowed.length ? `unknown query parameter (accepted: ${allowed.join(', ')})` : 'unknown query parameter (this endpoint takes none)'];
      else if (typeof v !== 'string') fields[k] = ['must be given once'];
    }
    if (Object.keys(fields).length) throw invalidQuery(fields);
    const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, ctx.getClass(), ctx.getHandler().name) ?? {}) as Record<string, unknown>;
    const takesBody = Object.keys(args).some((k) => k.split(':')[0] === String(RouteParamtypes.BODY));
    if (!takesBody && !['GET', 'HEAD'].includes(req.method) && !isEmptyBody(req.body)) {
      throw new BadRequestException({
        status: 400,
        code: 'unexpected-body',
        message: `${req.method} ${req.path} takes no request body`,
        fields: { body: ['must be empty'] },
      });
    }
    return next.handle();
  }
}
