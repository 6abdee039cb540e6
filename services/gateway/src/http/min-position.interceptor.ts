import { BadRequestException, CallHandler, ExecutionContext, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import type { ReadModelPosition } from '@fabric/projections';
import { PROJECTION_RUNNER } from '../tokens';

export const MIN_POSITION_HEADER = 'X-Fabric-Min-Position';
export const POSITION_HEADER = 'X-Fabric-Position';
const SEQ = /^\d{1,15}$/;
const waitMs = () => Number(process.env.MIN_POSITION_WAIT_MS ?? 5000);

/**
 * Consistent reads after the live feed: a client that saw stream sequence N (an `id:` of GET /events)
 * sends `X-Fabric-Min-Position: N` with its GET, which waits (bounded) until the read model includes N —
 * the feed reads the stream directly and is usually ahead of the projection. Every GET answers with
 * `X-Fabric-Position`, the read model's position when the read began: lower than asked means the
 * answer may be stale (the wait timed out) and the client should read again.
 */
@Injectable()
export class MinPositionInterceptor implements NestInterceptor {
  constructor(@Inject(PROJECTION_RUNNER) private readonly runner: ReadModelPosition) {}

  async intercept(ctx: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (ctx.getType() !== 'http') return next.handle();
    const req = ctx.switchToHttp().getRequest<Request>();
    if (req.method !== 'GET') return next.handle();
    const raw = req.header(MIN_POSITION_HEADER);
    if (raw !== undefined) {
      if (!SEQ.test(raw)) {
        throw new BadRequestException({
          status: 400,
          code: 'validation-failed',
          message: `invalid ${MIN_POSITION_HEADER} header`,
          fields: { [MIN_POSITION_HEADER]: ['must be a stream sequence (non-negative integer)'] },
        });
      }
      await this.runner.waitFor(Number(raw), waitMs());
    }
    ctx.switchToHttp().getResponse<Response>().setHeader(POSITION_HEADER, String(this.runner.currentPosition));
    return next.handle();
  }
}
