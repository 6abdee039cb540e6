/**
 * Trace context over NATS headers. There is no NATS instrumentation package, so we inject the W3C
 * `traceparent` into message headers on publish and extract it on consume.
 */
import { context, propagation, trace, type Context, SpanKind, type Span, SpanStatusCode } from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/nats-core';

const setter = { set: (carrier: MsgHdrs, key: string, value: string) => carrier.set(key, value) };
const getter = {
  get: (carrier: MsgHdrs | undefined, key: string) => carrier?.get(key) || undefined,
  keys: (carrier: MsgHdrs | undefined) => (carrier ? carrier.keys() : []),
};

export function injectTraceHeaders(headers: MsgHdrs, ctx: Context = context.active()): MsgHdrs {
  propagation.inject(ctx, headers, setter);
  return headers;
}

export function extractTraceContext(headers: MsgHdrs | undefined): Context {
  return propagation.extract(context.active(), headers, getter);
}

export const tracer = () => trace.getTracer('ip-fabric');

/** Runs `fn` in a span that is a child of the context carried by `headers` (if any). */
export function withConsumerSpan<T>(
  name: string,
  headers: MsgHdrs | undefined,
  attrs: Record<string, string | number>,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, { kind: SpanKind.CONSUMER, attributes: attrs }, extractTraceContext(headers), (span) => endingSpan(span, fn));
}

export function withSpan<T>(name: string, kind: SpanKind, attrs: Record<string, string | number>, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes: attrs }, (span) => endingSpan(span, fn));
}

/** Records a failure on the span and always ends it. */
async function endingSpan<T>(span: Span, fn: (span: Span) => Promise<T>): Promise<T> {
  try {
    return await fn(span);
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}
