/**
 * OpenTelemetry setup. Off by default; OTEL_EXPORTER_OTLP_ENDPOINT (or FABRIC_OTEL=1) turns on the OTLP
 * HTTP exporter. Tests pass their own (in-memory) exporter. Propagation is always W3C so context
 * travels through NATS even when this process exports nothing.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';

let provider: BasicTracerProvider | undefined;
let contextReady = false;

export function setupPropagation(): void {
  if (contextReady) return;
  contextReady = true;
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const cm = new AsyncLocalStorageContextManager();
  cm.enable();
  context.setGlobalContextManager(cm);
}

export async function setupTelemetry(serviceName: string, exporter?: SpanExporter): Promise<void> {
  setupPropagation();
  if (provider) return;
  let processor;
  if (exporter) {
    processor = new SimpleSpanProcessor(exporter);
  } else if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.FABRIC_OTEL === '1') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    processor = new BatchSpanProcessor(new OTLPTraceExporter());
  } else {
    return;
  }
  provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [processor],
  });
  trace.setGlobalTracerProvider(provider);
}

export async function shutdownTelemetry(): Promise<void> {
  await provider?.shutdown();
  provider = undefined;
  trace.disable();
}
