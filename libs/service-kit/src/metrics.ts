/**
 * Prometheus metrics shared by every process (one prom-client registry per process: in tests several
 * services share a process, so each metric carries the consumer/service as a label instead).
 * Services and agents expose them on METRICS_PORT (off when unset: test runs start many processes);
 * the gateway serves them at /metrics on its HTTP port.
 */
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, register } from 'prom-client';
import type { Logger } from './logger';

export const metricsRegistry = register;

let defaults = false;
/** Process metrics (CPU, memory, event loop lag), once per process. */
export function enableDefaultMetrics() {
  if (defaults) return;
  defaults = true;
  collectDefaultMetrics({ register, prefix: 'fabric_process_' });
}

/** The metric registered under `name`, or the one `make` registers (a module loaded twice must not register it twice). */
export function metricOnce<T>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make();
}

export const eventsHandled = metricOnce(
  'fabric_events_handled_total',
  () =>
    new Counter({
      name: 'fabric_events_handled_total',
      help: 'Events handled, by consumer (durable, tail or projection) and event type',
      labelNames: ['consumer', 'type'],
    }),
);

export const consumerLag = metricOnce(
  'fabric_consumer_lag',
  () =>
    new Gauge({
      name: 'fabric_consumer_lag',
      help: 'Events stored but not yet handled by the consumer (stream head - position)',
      labelNames: ['consumer'],
    }),
);

export const agentApplyDuration = metricOnce(
  'fabric_agent_apply_duration_seconds',
  () =>
    new Histogram({
      name: 'fabric_agent_apply_duration_seconds',
      help: 'Duration of one reconcile (apply) of an agent',
      labelNames: ['role', 'result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
);

export const agentApplyChanges = metricOnce(
  'fabric_agent_apply_changes_total',
  () =>
    new Counter({
      name: 'fabric_agent_apply_changes_total',
      help: 'Changes made by agent reconciles (0 when the target already matched)',
      labelNames: ['role'],
    }),
);

export const vmAtCoreLatency = metricOnce(
  'fabric_vm_create_to_at_core_seconds',
  () =>
    new Histogram({
      name: 'fabric_vm_create_to_at_core_seconds',
      help: 'Time from VmCreated to the VM first being at-core (its route installed at the core router)',
      // Fine below a second: the target is the BGP chain's floor (~0.1 s) plus tens of milliseconds.
      buckets: [0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60, 120],
    }),
);

export const bgpSessionsUp = metricOnce(
  'fabric_bgp_sessions_up',
  () =>
    new Gauge({
      name: 'fabric_bgp_sessions_up',
      help: 'BGP sessions in state Established, per target (node, rr, router)',
      labelNames: ['kind', 'target'],
    }),
);

export const bfdSessionsGauge = metricOnce(
  'fabric_bfd_sessions',
  () =>
    new Gauge({
      name: 'fabric_bfd_sessions',
      help: 'BFD sessions per target (node, rr, router) and state (up, down, init, admindown, unknown)',
      labelNames: ['kind', 'target', 'state'],
    }),
);

/** Counts one handled event and records the consumer's lag (`pending` from the JetStream delivery info). */
export function observeHandled(consumer: string, type: string, pending?: number) {
  eventsHandled.inc({ consumer, type });
  if (pending !== undefined) consumerLag.set({ consumer }, pending);
}

let server: Server | undefined;

/**
 * Serves GET /metrics on `port` (default env METRICS_PORT); no-op when unset or already serving in this process.
 */
export async function startMetricsServer(opts: { port?: number | string; host?: string; log?: Logger } = {}): Promise<Server | undefined> {
  const port = opts.port ?? process.env.METRICS_PORT;
  if (port === undefined || port === '' || server) return server;
  enableDefaultMetrics();
  const srv = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    register.metrics().then(
      (text) => res.writeHead(200, { 'content-type': register.contentType }).end(text),
      (err) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(Number(port), opts.host ?? process.env.METRICS_HOST ?? '127.0.0.1', () => resolve());
  });
  srv.unref();
  server = srv;
  opts.log?.info({ port: Number(port) }, 'metrics on /metrics');
  return srv;
}

export async function stopMetricsServer() {
  const s = server;
  server = undefined;
  if (s) await new Promise((r) => s.close(() => r(undefined)));
}

/** Snapshots loaded, written, and refused at start (corrupt, unknown schema version): a refused one means a full replay. */
export const snapshotOutcomes = metricOnce(
  'fabric_snapshot_total',
  () =>
    new Counter({
      name: 'fabric_snapshot_total',
      help: 'Model snapshots by service/model and outcome (written, loaded, missing, refused)',
      labelNames: ['service', 'model', 'outcome'],
    }),
);

/** Events folded at the last start of a model (after its snapshot, or from sequence 1 without one). */
export const snapshotReplayed = metricOnce(
  'fabric_start_events_replayed',
  () =>
    new Gauge({
      name: 'fabric_start_events_replayed',
      help: 'Events a model folded at its last start before it was ready (the tail after its snapshot)',
      labelNames: ['service', 'model'],
    }),
);
