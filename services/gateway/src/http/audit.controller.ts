/**
 * GET /api/v1/audit: who did what. One entry per event a command caused, newest first, with the actor
 * (`token:<name>(<role>)` for API tokens, the service name for internal commands) and the command.
 * Keyset pagination: `next` is the cursor of the following page (stable while new entries arrive).
 */
import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiPropertyOptional, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { UUID_PATTERN } from '@fabric/contracts';
import type { ReadModelPosition } from '@fabric/projections';
import { Roles } from '../auth/roles';
import { DATA_SOURCE, PROJECTION_RUNNER } from '../tokens';
import { ApiAuth, ApiErrors } from './api-docs';
import { intParam, invalidQuery, QueryParams } from './validation';
import { parseIsoTime } from '../billing/usage';

/** An actor as stored (`token:ops-alice(operator)`, `route-announcer`) or a token name (`ops-alice`). */
export const ACTOR_PATTERN = /^[A-Za-z0-9_.:@()-]{1,200}$/;
const CURSOR = /^(\d{1,15})\.(\d{1,6})$/;

export interface AuditQuery {
  actor?: string;
  from?: Date;
  to?: Date;
  clusterId?: string;
  limit: number;
  cursor?: { seq: number; idx: number };
}

export function parseAuditQuery(q: Record<string, string | undefined>): { query: AuditQuery } | { fields: Record<string, string[]> } {
  const fields: Record<string, string[]> = {};
  if (q.actor !== undefined && !ACTOR_PATTERN.test(q.actor)) fields.actor = ['must be an actor (token:<name>(<role>), a service name) or a token name'];
  if (q.clusterId !== undefined && !UUID_PATTERN.test(q.clusterId)) fields.clusterId = ['must be a lower-case UUID'];
  const time = (k: 'from' | 'to') => {
    if (q[k] === undefined) return undefined;
    const t = parseIsoTime(q[k]!);
    if (!t) fields[k] = ['must be an ISO 8601 date or date-time with a zone (Z or ±hh:mm)'];
    return t;
  };
  const from = time('from');
  const to = time('to');
  if (from && to && to.getTime() <= from.getTime()) fields.to = ['must be after from'];
  const limit = intParam(fields, 'limit', q.limit, 1, 1000) ?? 100;
  let cursor: AuditQuery['cursor'];
  if (q.cursor !== undefined) {
    const m = CURSOR.exec(q.cursor);
    if (!m) fields.cursor = ['must be the `next` value of a previous page'];
    else cursor = { seq: Number(m[1]), idx: Number(m[2]) };
  }
  if (Object.keys(fields).length) return { fields };
  return { query: { actor: q.actor, from, to, clusterId: q.clusterId, limit, cursor } };
}

class AuditEntryDto {
  @ApiProperty({ example: 1042, description: 'event stream sequence' }) seq: number;
  @ApiProperty({ example: 0, description: 'position inside a multi-event message' }) index: number;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty({ example: 'token:ops-alice(operator)' }) actor: string;
  @ApiProperty({ example: 'DeleteVm', nullable: true, description: 'the command that caused the event (null for events written before it was recorded)' })
  command: string | null;
  @ApiProperty({ example: '5f0c…' }) commandId: string;
  @ApiProperty({ example: 'VmDeleted' }) event: string;
  @ApiProperty({ example: 'vm', enum: ['cluster', 'node', 'vm', 'ipam'] }) aggregate: string;
  @ApiProperty({ example: '7d7e…' }) aggregateId: string;
  @ApiPropertyOptional({ format: 'uuid', nullable: true }) clusterId: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'the event data (secrets redacted)' }) detail: Record<string, unknown>;
}
class AuditPageDto {
  @ApiProperty({ type: [AuditEntryDto] }) items: AuditEntryDto[];
  @ApiProperty({ nullable: true, example: '1042.0', description: 'cursor of the next (older) page; null on the last page' }) next: string | null;
  @ApiProperty({ example: 1050, description: 'events-stream position the read model has reached' }) readModelPosition: number;
}

/** A row of audit_log as the driver returns it (bigint as string, timestamptz as Date). */
interface AuditDbRow {
  seq: string | number;
  idx: string | number;
  at: Date | string;
  actor: string;
  command: string | null;
  command_id: string;
  event: string;
  aggregate: string;
  aggregate_id: string;
  cluster_id: string | null;
  detail: Record<string, unknown>;
}

@ApiTags('audit')
@ApiAuth()
@Roles('admin', 'operator')
@Controller('audit')
export class AuditController {
  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(PROJECTION_RUNNER) private readonly runner: ReadModelPosition,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Who did what: the events caused by commands, newest first, with actor and command' })
  @ApiQuery({ name: 'actor', required: false, description: 'an actor as listed (token:ops-alice(operator)) or a token name (ops-alice)' })
  @ApiQuery({ name: 'from', required: false, description: 'inclusive start (ISO 8601 with zone)' })
  @ApiQuery({ name: 'to', required: false, description: 'exclusive end (ISO 8601 with zone)' })
  @ApiQuery({ name: 'clusterId', required: false })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false, description: '`next` of the previous page' })
  @ApiResponse({ status: 200, type: AuditPageDto })
  @ApiErrors(400)
  @QueryParams('actor', 'from', 'to', 'clusterId', 'limit', 'cursor')
  async list(@Query() q: Record<string, string>) {
    const parsed = parseAuditQuery(q);
    if ('fields' in parsed) throw invalidQuery(parsed.fields, 'invalid audit query');
    const a = parsed.query;
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => `$${params.push(v)}`;
    // A bare token name matches that token whatever its role (a prefix compare, no LIKE wildcards).
    if (a.actor) where.push(`(actor = ${p(a.actor)} OR (left(actor, ${p(`token:${a.actor}(`.length)}) = ${p(`token:${a.actor}(`)}))`);
    if (a.clusterId) where.push(`cluster_id = ${p(a.clusterId)}`);
    if (a.from) where.push(`at >= ${p(a.from)}`);
    if (a.to) where.push(`at < ${p(a.to)}`);
    if (a.cursor) where.push(`(seq, idx) < (${p(a.cursor.seq)}, ${p(a.cursor.idx)})`);
    const schema = (this.ds.options as { schema: string }).schema;
    const rows: AuditDbRow[] = await this.ds.query(
      `SELECT seq, idx, at, actor, command, command_id, event, aggregate, aggregate_id, cluster_id, detail FROM "${schema}"."audit_log"
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC, idx DESC LIMIT ${p(a.limit + 1)}`,
      params,
    );
    const more = rows.length > a.limit;
    const items = rows.slice(0, a.limit).map((r) => ({
      seq: Number(r.seq),
      index: Number(r.idx),
      at: new Date(r.at).toISOString(),
      actor: r.actor,
      command: r.command,
      commandId: r.command_id,
      event: r.event,
      aggregate: r.aggregate,
      aggregateId: r.aggregate_id,
      clusterId: r.cluster_id,
      detail: r.detail,
    }));
    const last = items[items.length - 1];
    return { items, next: more && last ? `${last.seq}.${last.index}` : null, readModelPosition: this.runner.currentPosition };
  }
}
