import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { trace } from '@opentelemetry/api';
import { DomainError, ErrorBody } from '@fabric/contracts';
import type { Logger } from '@fabric/service-kit';
import { redactUrl } from './redact';

/** body-parser's own errors carry `type` and a 4xx `status`; their messages are safe but terse. */
const BODY_ERRORS: Record<string, { code: string; message: string }> = {
  'entity.parse.failed': { code: 'invalid-json', message: 'request body is not valid JSON' },
  'entity.too.large': { code: 'payload-too-large', message: 'request body is too large' },
  'encoding.unsupported': { code: 'unsupported-encoding', message: 'unsupported content encoding' },
  'charset.unsupported': { code: 'unsupported-charset', message: 'unsupported charset' },
  'request.aborted': { code: 'request-aborted', message: 'request aborted' },
  'request.size.invalid': { code: 'bad-request', message: 'request size did not match content length' },
  'stream.encoding.set': { code: 'bad-request', message: 'bad request stream' },
  'parameters.too.many': { code: 'bad-request', message: 'too many parameters' },
};

/**
 * Every error leaves the API as `{status, code, message, fields?}`. An unexpected error is logged with its
 * trace id and answered 500 with that id only: internal messages (SQL, stack, file names) never reach a client.
 */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  constructor(private readonly log?: Logger) {}

  catch(err: unknown, host: ArgumentsHost) {
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest<Request>();
    let body: ErrorBody;
    const bodyError = BODY_ERRORS[(err as { type?: string })?.type ?? ''];
    if (err instanceof DomainError) body = err.toJSON();
    else if (err instanceof HttpException) {
      const r = err.getResponse();
      body =
        typeof r === 'object' && r && 'code' in r
          ? (r as ErrorBody)
          : {
              status: err.getStatus(),
              code: codeFor(err.getStatus()),
              message: typeof r === 'string' ? r : ((r as { message?: string }).message?.toString() ?? err.message),
            };
    } else if (bodyError) {
      const status = Number((err as { status?: number }).status);
      body = { status: status >= 400 && status < 500 ? status : 400, ...bodyError };
    } else {
      body = { status: 500, code: 'internal-error', message: 'internal error' };
    }
    if (body.status >= 500) {
      const traceId = trace.getActiveSpan()?.spanContext().traceId;
      this.log?.error({ err, method: req?.method, path: req ? redactUrl(req.originalUrl) : undefined, traceId }, 'request failed');
      body = { status: body.status, code: body.code, message: publicMessage(body) + (traceId ? ` (trace ${traceId})` : '') };
    }
    // A stream (SSE) that already started cannot turn into an error response: just end it.
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(body.status).json(body);
  }
}

/** 5xx messages a client may see: fixed texts per code, never the underlying error's. */
function publicMessage(body: ErrorBody): string {
  if (body.code === 'service-unavailable' || body.status === 503) return 'a backend service is unavailable; retry later';
  return 'internal error';
}

function codeFor(status: number): string {
  return (
    (
      {
        400: 'bad-request',
        401: 'unauthorized',
        403: 'forbidden',
        404: 'not-found',
        409: 'conflict',
        413: 'payload-too-large',
        422: 'unprocessable',
        429: 'too-many-requests',
      } as Record<number, string>
    )[status] ?? 'error'
  );
}

export function throwReplyError(error: ErrorBody): never {
  throw new HttpException(error, error.status);
}
