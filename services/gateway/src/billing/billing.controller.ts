import { BadRequestException, Controller, Get, Inject, Query, SetMetadata } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ReadModelPosition } from '@fabric/projections';
import { DATA_SOURCE, PROJECTION_RUNNER } from '../tokens';
import { parseUsageQuery, queryUsage } from './usage';
import { QueryParams } from '../http/validation';

/** Read-only billing surface: every role may read it (billing tokens can read nothing else but GET /events). */
export const BILLING_READ_ROLES = ['admin', 'operator', 'billing'];

@Controller('billing')
export class BillingController {
  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(PROJECTION_RUNNER) private readonly runner: ReadModelPosition,
  ) {}

  /** GET /billing/usage?ownerId=&from=&to= → address-seconds per owner and address within [from, to). */
  @Get('usage')
  @SetMetadata('roles', BILLING_READ_ROLES)
  @QueryParams('from', 'to', 'ownerId')
  async usage(@Query() q: Record<string, unknown>) {
    const parsed = parseUsageQuery(q, new Date());
    if ('fields' in parsed) throw new BadRequestException({ status: 400, code: 'validation-failed', message: 'invalid usage query', fields: parsed.fields });
    const schema = (this.ds.options as { schema: string }).schema;
    // The position tells an integrator how far into the event stream this answer is.
    return { ...(await queryUsage(this.ds, schema, parsed.query)), readModelPosition: this.runner.currentPosition };
  }
}
