/** Gateway metrics: read-model gauges refreshed at scrape time, projection counters, VM create → at-core latency. */
import type { Express, Request, Response } from 'express';
import { Gauge } from 'prom-client';
import { type DataSource } from 'typeorm';
import type { EventStore } from '@fabric/eventstore';
import type { ReadModelPosition } from '@fabric/projections';
import { bfdSessionsGauge, bgpSessionsUp, consumerLag, enableDefaultMetrics, metricsRegistry } from '@fabric/service-kit';

const gauge = (name: string, help: string) =>
  (metricsRegistry.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, labelNames: ['cluster', 'network', 'pool', 'cidr'] });
const poolUsed = gauge('fabric_pool_used', 'Addresses of the pool in use (allocated or held during the release cool-down)');
const poolSize = gauge('fabric_pool_size', 'Addresses in the pool');
const poolUsage = gauge('fabric_pool_usage_ratio', 'used / size of the pool');
const renderFailed =
  (metricsRegistry.getSingleMetric('fabric_target_render_failed') as Gauge | undefined) ??
  new Gauge({
    name: 'fabric_target_render_failed',
    help: 'Targets whose desired state cannot be rendered (1 per target; TargetRenderFailed)',
    labelNames: ['kind', 'target'],
  });

/** Read models to refresh before a scrape (tests run several gateways in one process). */
const sources = new Set<() => Promise<void>>();

export function registerGatewayMetrics(ds: DataSource, store: EventStore, runner: ReadModelPosition): () => void {
  enableDefaultMetrics();
  const schema = (ds.options as { schema: string }).schema;
  const refresh = async () => {
    consumerLag.set({ consumer: `projection:${runner.name}` }, Math.max(0, (await store.headSeq()) - runner.currentPosition));
    const pools: { id: string; network_id: string; cluster_id: string; cidr: string; size: string; used: number }[] = await ds.query(
      `SELECT p.id, p.network_id, p.cluster_id, n.cidr, p.size, p.used FROM "${schema}"."pools" p JOIN "${schema}"."networks" n ON n.id = p.network_id`,
    );
    for (const g of [poolUsed, poolSize, poolUsage]) g.reset();
    for (const p of pools) {
      const labels = { cluster: p.cluster_id, network: p.network_id, pool: p.id, cidr: p.cidr };
      const size = Number(p.size); // numeric(40,0): IPv6 pools exceed 2^53, a float is fine for a gauge
      poolUsed.set(labels, Number(p.used));
      poolSize.set(labels, size);
      poolUsage.set(labels, size > 0 ? Number(p.used) / size : 0);
    }
    const sessions: { kind: string; target_id: string; up: string }[] = await ds.query(
      `SELECT kind, target_id, count(*) FILTER (WHERE state = 'Established') AS up FROM "${schema}"."bgp_sessions" WHERE state <> 'Removed' GROUP BY kind, target_id`,
    );
    bgpSessionsUp.reset();
    for (const s of sessions) bgpSessionsUp.set({ kind: s.kind, target: s.target_id }, Number(s.up));
    const bfd: { kind: string; target_id: string; state: string; n: string }[] = await ds.query(
      `SELECT kind, target_id, state, count(*) AS n FROM "${schema}"."bfd_sessions" GROUP BY kind, target_id, state`,
    );
    bfdSessionsGauge.reset();
    for (const b of bfd) bfdSessionsGauge.set({ kind: b.kind, target: b.target_id, state: b.state }, Number(b.n));
    const failing: { kind: string; target_id: string }[] = await ds.query(
      `SELECT kind, target_id FROM "${schema}"."agent_targets" WHERE render_error IS NOT NULL`,
    );
    renderFailed.reset();
    for (const t of failing) renderFailed.set({ kind: t.kind, target: t.target_id }, 1);
  };
  sources.add(refresh);
  return () => sources.delete(refresh);
}

/** GET /metrics (Prometheus text), outside /api/v1 and without a token, like every scrape target. */
export function mountMetrics(http: Express) {
  http.get('/metrics', (_req: Request, res: Response) => {
    void (async () => {
      for (const refresh of sources) await refresh().catch(() => undefined);
      res.type(metricsRegistry.contentType).send(await metricsRegistry.metrics());
    })().catch((err) => res.status(500).type('text/plain').send(String(err)));
  });
}
