/** Structured JSON logs (pino) carrying the active trace id. */
import pino from 'pino';
import { trace, context } from '@opentelemetry/api';

export function createLogger(service: string) {
  return pino({
    name: service,
    level: process.env.LOG_LEVEL ?? 'info',
    mixin() {
      const span = trace.getSpan(context.active());
      return span ? { traceId: span.spanContext().traceId } : {};
    },
  });
}
export type Logger = ReturnType<typeof createLogger>;

/** Adapter for library callbacks `(msg, extra)`. */
export const logFn =
  (log: Logger, level: 'info' | 'warn' | 'error' = 'warn') =>
  (msg: string, extra?: Record<string, unknown>) =>
    log[level](extra ?? {}, msg);
