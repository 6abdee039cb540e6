import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError, ErrorBody } from '@fabric/contracts';

/** Every error leaves the API as `{status, code, message, fields?}`. */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost) {
    const res = host.switchToHttp().getResponse<Response>();
    let body: ErrorBody;
    if (err instanceof DomainError) body = err.toJSON();
    else if (err instanceof HttpException) {
      const r = err.getResponse();
      body = typeof r === 'object' && r && 'code' in r ? (r as ErrorBody) : { status: err.getStatus(), code: codeFor(err.getStatus()), message: typeof r === 'string' ? r : ((r as { message?: string }).message?.toString() ?? err.message) };
    } else if ((err as { type?: string })?.type === 'entity.parse.failed') {
      body = { status: 400, code: 'invalid-json', message: 'request body is not valid JSON' };
    } else {
      body = { status: 500, code: 'internal-error', message: (err as Error)?.message ?? 'internal error' };
    }
    // A stream (SSE) that already started cannot turn into an error response: just end it.
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(body.status).json(body);
  }
}

function codeFor(status: number): string {
  return ({ 400: 'bad-request', 401: 'unauthorized', 403: 'forbidden', 404: 'not-found', 409: 'conflict' } as Record<number, string>)[status] ?? 'error';
}

export function throwReplyError(error: ErrorBody): never {
  throw new HttpException(error, error.status);
}
