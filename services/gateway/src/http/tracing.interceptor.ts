import { type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { tracer } from '@fabric/telemetry';
import { redactUrl } from './redact';

/**
 * One SERVER span per HTTP request (there is no HTTP instrumentation installed), active while the handler
 * runs, so the command sent over NATS — and every event it causes — joins the request's trace.
 * A `traceparent` sent by the client is continued.
 */
export class HttpTracingInterceptor implements NestInterceptor {
  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const req = ctx.switchToHttp().getRequest<Request>();
    const res = ctx.switchToHttp().getResponse<Response>();
    const route = String(req.route?.path ?? req.path).replace(/^\/api\/v1(?=\/|$)/, '') || '/';
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer().startSpan(
      `HTTP ${req.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': req.method, 'http.route': route, 'url.path': redactUrl(req.originalUrl) },
      },
      parent,
    );
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    res.once('finish', end);
    res.once('close', end);
    // Nest binds the handler to the async context current when handle() is called.
    return context.with(trace.setSpan(parent, span), () => next.handle());
  }
}
