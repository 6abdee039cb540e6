/**
 * Samples the core's two route sources (the read model's `observed_routes`) of every cluster with a BMP station
 * whose FRR core runs the agent (it applied a config), feeds BmpDisagreementTracker, and exports what is past the grace period:
 * `fabric_bmp_disagreement_prefixes{cluster,held_by}` and GET /clusters/:id/router/status. Each gateway instance
 * samples on its own: `since` is when this instance first saw it (within one sample interval).
 */
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { metricOnce } from '@fabric/service-kit';
import { BmpDisagreementTracker, DEFAULT_BMP_DISAGREEMENT_GRACE_MS, type PrefixDisagreement } from './bmp-disagreement';
import { BMP_GRACE_MS, DATA_SOURCE } from '../tokens';

const disagreementGauge = metricOnce(
  'fabric_bmp_disagreement_prefixes',
  () =>
    new Gauge({
      name: 'fabric_bmp_disagreement_prefixes',
      help: "Prefixes the core's BMP feed and its FRR agent's read disagree about for longer than the grace period",
      labelNames: ['cluster', 'held_by'],
    }),
);

/** The grace period from the environment (FABRIC_BMP_DISAGREEMENT_GRACE_MS), default 30 s. */
export function bmpGraceMsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.FABRIC_BMP_DISAGREEMENT_GRACE_MS;
  if (v === undefined || v === '') return DEFAULT_BMP_DISAGREEMENT_GRACE_MS;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`FABRIC_BMP_DISAGREEMENT_GRACE_MS must be an integer >= 0, got ${v}`);
  return n;
}

export interface BmpStatus {
  /** Both sources are compared: the cluster has a BMP station and its core runs the FRR agent. */
  compared: boolean;
  graceMs: number;
  /** Disagreements past the grace period (empty: the sources agree, or nothing is compared). */
  disagreements: (Omit<PrefixDisagreement, 'since'> & { since: string })[];
  /** Disagreements still inside the grace period. */
  pending: number;
  sampledAt: string | null;
}

@Injectable()
export class BmpDisagreementMonitor implements OnModuleInit, OnModuleDestroy {
  readonly tracker: BmpDisagreementTracker;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private sampledAt: number | null = null;

  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(BMP_GRACE_MS) graceMs: number,
  ) {
    this.tracker = new BmpDisagreementTracker(graceMs);
  }

  /** A third of the grace (at most 5 s, at least 200 ms): a disagreement is reported within that after the grace. */
  get intervalMs(): number {
    return Math.min(5000, Math.max(200, Math.floor(this.tracker.graceMs / 3)));
  }

  onModuleInit() {
    this.timer = setInterval(() => void this.sample().catch(() => undefined), this.intervalMs);
    this.timer.unref();
  }

  async onModuleDestroy() {
    clearInterval(this.timer);
    await this.running;
  }

  /** One sample of every compared cluster (serial: a slow query never overlaps the next tick). */
  sample(): Promise<void> {
    this.running ??= this.sampleOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sampleOnce(): Promise<void> {
    if (!this.ds.isInitialized) return;
    const schema = (this.ds.options as { schema: string }).schema;
    const compared: { id: string }[] = await this.ds.query(
      `SELECT c.id FROM "${schema}"."clusters" c
        WHERE c.bgp ? 'bmpStation' AND c.core_router->>'vendor' = 'frr'
          AND EXISTS (SELECT 1 FROM "${schema}"."agent_targets" t WHERE t.kind = 'router' AND t.target_id = c.id::text AND t.applied_generation > 0)`,
    );
    const ids = new Set(compared.map((c) => c.id));
    const rows: { id: string; kind: string; prefix: string }[] = ids.size
      ? await this.ds.query(
          `SELECT DISTINCT target_id AS id, kind, prefix FROM "${schema}"."observed_routes" WHERE kind IN ('router', 'router-bmp') AND target_id = ANY($1)`,
          [[...ids]],
        )
      : [];
    const now = Date.now();
    for (const id of this.tracker.tracked()) if (!ids.has(id)) this.tracker.forget(id);
    for (const id of ids) {
      const mine = rows.filter((r) => r.id === id);
      this.tracker.sample(
        id,
        mine.filter((r) => r.kind === 'router').map((r) => r.prefix),
        mine.filter((r) => r.kind === 'router-bmp').map((r) => r.prefix),
        now,
      );
    }
    this.sampledAt = now;
    disagreementGauge.reset();
    for (const id of ids) {
      const r = this.tracker.reported(id, now);
      for (const heldBy of ['agent', 'bmp'] as const) disagreementGauge.set({ cluster: id, held_by: heldBy }, r.filter((d) => d.heldBy === heldBy).length);
    }
  }

  status(clusterId: string): BmpStatus {
    // As of the last comparison (as the metric): a prefix is reported once it disagreed for the grace period
    // at a sample, never on the strength of the time since that sample.
    const now = this.sampledAt ?? Date.now();
    const compared = this.tracker.tracked().includes(clusterId);
    return {
      compared,
      graceMs: this.tracker.graceMs,
      disagreements: this.tracker.reported(clusterId, now).map((d) => ({ ...d, since: new Date(d.since).toISOString() })),
      pending: this.tracker.pending(clusterId, now),
      sampledAt: this.sampledAt === null ? null : new Date(this.sampledAt).toISOString(),
    };
  }
}
