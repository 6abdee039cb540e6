import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { EventStore } from '@fabric/eventstore';
import { ProjectionRunner } from '@fabric/projections';
import { DATA_SOURCE, EVENT_STORE, PROJECTION_RUNNER } from '../tokens';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/roles';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(PROJECTION_RUNNER) private readonly runner: ProjectionRunner,
  ) {}

  /** 200 when NATS and Postgres answer; reports how far the read model lags behind the stream. */
  @Get()
  @ApiOperation({ summary: 'Health: NATS, Postgres, read-model lag (no token needed)' })
  @ApiResponse({ status: 200, description: 'healthy', schema: { example: { status: 'ok', checks: { nats: { ok: true, streamHead: 42, readModelPosition: 42, lag: 0 }, postgres: { ok: true } } } } })
  @ApiResponse({ status: 503, description: 'NATS or Postgres does not answer' })
  async health(@Res() res: Response) {
    const checks: Record<string, unknown> = {};
    let ok = true;
    try {
      const head = await this.store.headSeq();
      checks.nats = { ok: true, streamHead: head, readModelPosition: this.runner.currentPosition, lag: Math.max(0, head - this.runner.currentPosition) };
    } catch (err) {
      ok = false;
      checks.nats = { ok: false, error: String(err) };
    }
    try {
      await this.ds.query('SELECT 1');
      checks.postgres = { ok: true };
    } catch (err) {
      ok = false;
      checks.postgres = { ok: false, error: String(err) };
    }
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', checks });
  }
}
