import { Controller, Get, Inject, OnModuleDestroy, OnModuleInit, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { EventStore, LoopMonitor } from '@fabric/eventstore';
import type { ReadModelPosition } from '@fabric/projections';
import { DATA_SOURCE, EVENT_STORE, PROJECTION_RUNNER } from '../tokens';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/roles';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController implements OnModuleInit, OnModuleDestroy {
  private readonly loops: LoopMonitor;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(PROJECTION_RUNNER) private readonly runner: ReadModelPosition,
  ) {
    this.loops = new LoopMonitor(store.nats.nc, store.subjects.ns);
  }

  onModuleInit() {
    this.loops.start();
  }

  onModuleDestroy() {
    this.loops.stop();
  }

  /**
   * 200 when NATS and Postgres answer and every stream-reading loop (this gateway's projection, the
   * tails and consumers of every process, known by their heartbeats) runs and keeps up; 503 `degraded`
   * when one is dead, being restarted, silent, or has lag without progress.
   */
  @Get()
  @ApiOperation({ summary: 'Health: NATS, Postgres, read-model lag, every stream-reading loop (no token needed)' })
  @ApiResponse({
    status: 200,
    description: 'healthy',
    schema: {
      example: {
        status: 'ok',
        checks: {
          nats: { ok: true, streamHead: 42, readModelPosition: 42, lag: 0 },
          postgres: { ok: true },
          loops: {
            ok: true,
            loops: [
              {
                name: 'projection:read-model',
                state: 'running',
                position: 42,
                lag: 0,
                stalledMs: 0,
                restarts: 0,
                handled: 42,
                failed: 0,
                deadLettered: 0,
                pid: 1234,
              },
            ],
          },
        },
      },
    },
  })
  @ApiResponse({ status: 503, description: 'degraded: NATS or Postgres does not answer, or a loop is dead, silent or stalled (see checks.loops)' })
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
    const loops = await this.loops.report();
    const loopsOk = loops.every((l) => !l.problem);
    ok = ok && loopsOk;
    checks.loops = {
      ok: loopsOk,
      loops: loops.map(({ ns: _ns, at, ...l }) => ({ ...l, lastHeartbeat: at })),
    };
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', checks });
  }
}
