/**
 * GET /api/v1/events: the event stream as server-sent events, one ordered JetStream consumer per connection
 * (no durable, no acks: the client's Last-Event-ID is the only cursor).
 */
import { BadRequestException, BeforeApplicationShutdown, Controller, Get, Inject, Query, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ConsumerMessages, DeliverPolicy, JsMsg } from '@nats-io/jetstream';
import { REDACTED, StoredEvent, UUID_PATTERN } from '@fabric/contracts';
import { redactSecrets } from '@fabric/renderers';
import { decodeMessage, EventStore } from '@fabric/eventstore';
import { AllowQueryToken, Roles } from '../auth/roles';
import { DataSource } from 'typeorm';
import { NodeRow } from '@fabric/projections';
import { DATA_SOURCE, EVENT_STORE } from '../tokens';
import { ApiAuth, ApiErrors } from './api-docs';

export const HEARTBEAT_MS = 15_000;
const TYPE = /^[A-Za-z]{1,64}$/;
const SEQ = /^\d{1,15}$/;

export interface EventFilter {
  types?: Set<string>;
  clusterId?: string;
  vmId?: string;
  /** Nodes of `clusterId`: node agents report with their node id as target. */
  nodeIds?: Set<string>;
}

/**
 * Whether an event concerns the cluster / VM asked for. Agent events carry their target instead of a
 * clusterId: a router target is the cluster id, an RR target `<clusterId>_<rr>`, a node target one of
 * the cluster's node ids (`nodeIds`).
 */
export function matches(e: StoredEvent, f: EventFilter): boolean {
  if (f.types && !f.types.has(e.type)) return false;
  const d = (e.data ?? {}) as { clusterId?: string; vmId?: string; target?: { id?: string } };
  if (f.vmId && d.vmId !== f.vmId) return false;
  if (
    f.clusterId &&
    d.clusterId !== f.clusterId &&
    d.target?.id !== f.clusterId &&
    !d.target?.id?.startsWith(`${f.clusterId}_`) &&
    !(d.target?.id && f.nodeIds?.has(d.target.id))
  ) return false;
  return true;
}

@ApiTags('events')
@ApiAuth()
@Roles('admin', 'operator', 'billing')
@Controller('events')
export class EventsController implements BeforeApplicationShutdown {
  /** Open streams: ended at shutdown, else the HTTP server would wait for them to close. */
  private readonly open = new Set<Response>();

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore, @Inject(DATA_SOURCE) private readonly ds: DataSource) {}

  beforeApplicationShutdown() {
    for (const res of this.open) res.end();
  }

  @Get()
  @AllowQueryToken()
  @ApiOperation({
    summary: 'Live events (server-sent events), resumable',
    description:
      'Each event: `id:` stream sequence, `event:` event type, `data:` the JSON envelope `{id, type, schemaVersion, occurredAt, data, meta, seq, subject}`. ' +
      'Starts after `Last-Event-ID` / `since` (0 = from the beginning), else with new events only. A `: heartbeat` comment every 15 s. ' +
      'EventSource cannot send headers: `?access_token=` is accepted here (only here).',
  })
  @ApiProduces('text/event-stream')
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'resume after this stream sequence' })
  @ApiQuery({ name: 'since', required: false, type: Number, description: 'resume after this stream sequence (0 = replay everything)' })
  @ApiQuery({ name: 'clusterId', required: false, format: 'uuid' } as never)
  @ApiQuery({ name: 'vmId', required: false, format: 'uuid' } as never)
  @ApiQuery({ name: 'type', required: false, description: 'comma-separated event types, e.g. VmCreated,IpAllocated' })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: 'close the stream after this many events' })
  @ApiQuery({ name: 'access_token', required: false, description: 'API token, for EventSource clients' })
  @ApiResponse({ status: 200, description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string', example: 'id: 42\nevent: VmCreated\ndata: {"seq":42,"subject":"fabric.evt.vm.…","type":"VmCreated",…}\n\n' } } } })
  @ApiErrors(400)
  async events(@Query() q: Record<string, unknown>, @Req() req: Request, @Res() res: Response) {
    const fields: Record<string, string[]> = {};
    const str = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
    const lastId = req.header('last-event-id') ?? str('since');
    if (lastId !== undefined && !SEQ.test(lastId)) fields[req.header('last-event-id') !== undefined ? 'Last-Event-ID' : 'since'] = ['must be a stream sequence (non-negative integer)'];
    for (const k of ['clusterId', 'vmId']) if (str(k) !== undefined && !UUID_PATTERN.test(str(k)!)) fields[k] = ['must be a UUID'];
    const types = str('type')?.split(',').map((t) => t.trim()).filter(Boolean);
    if (types && (!types.length || types.some((t) => !TYPE.test(t)))) fields.type = ['must be a comma-separated list of event types'];
    const limit = str('limit') !== undefined ? Number(str('limit')) : undefined;
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) fields.limit = ['must be a positive integer'];
    if (Object.keys(fields).length) throw new BadRequestException({ status: 400, code: 'validation-failed', message: 'invalid events query', fields });
    const filter: EventFilter = { types: types ? new Set(types) : undefined, clusterId: str('clusterId'), vmId: str('vmId') };
    if (filter.clusterId) {
      const nodes = await this.ds.getRepository(NodeRow).find({ where: { clusterId: filter.clusterId }, select: { id: true } });
      filter.nodeIds = new Set(nodes.map((n) => n.id));
    }

    const since = lastId !== undefined ? Number(lastId) : undefined;
    const consumer = await this.store.nats.js.consumers.get(this.store.subjects.eventsStream, {
      filter_subjects: this.store.subjects.evtAll(),
      ...(since === undefined ? { deliver_policy: DeliverPolicy.New } : since > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: since + 1 } : { deliver_policy: DeliverPolicy.All }),
    } as never);
    const messages: ConsumerMessages = await consumer.consume({ max_messages: 256 });

    res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    // The consumer exists now: a client may start writing and will see its own events.
    res.write(`retry: 2000\n: connected${since !== undefined ? ` after ${since}` : ''}\n\n`);
    let closed = false;
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      this.open.delete(res);
      void messages.close().catch(() => undefined);
    };
    this.open.add(res);
    req.on('close', close);
    res.on('close', close);
    let sent = 0;
    try {
      for await (const m of messages as AsyncIterable<JsMsg>) {
        if (closed) break;
        let e: StoredEvent;
        try {
          e = decodeMessage(m);
        } catch {
          continue; // forged (type foreign to its subject) or undecodable: never shown as an event
        }
        // Nodes joining while the stream is open belong to the cluster too.
        if (e.type === 'NodeJoined' && filter.nodeIds && (e.data as { clusterId: string }).clusterId === filter.clusterId) filter.nodeIds.add((e.data as { nodeId: string }).nodeId);
        if (!matches(e, filter)) continue;
        const { seq, subject, ...envelope } = redactEvent(e);
        // Slow client: stop pulling until its socket drains instead of buffering the stream in memory.
        if (!res.write(`id: ${seq}\nevent: ${e.type}\ndata: ${JSON.stringify({ seq, subject, ...envelope })}\n\n`)) {
          await new Promise((r) => res.once('drain', r).once('close', r));
        }
        if (limit !== undefined && ++sent >= limit) break;
      }
    } finally {
      close();
      if (!res.writableEnded) res.end();
    }
  }
}

/** Secrets never leave in an event: MD5 passwords of older events (before references) and rendered configs. */
export function redactEvent(e: StoredEvent): StoredEvent {
  const d = e.data as { bgp?: { md5Password?: string }; configs?: Record<string, string>; diffs?: Record<string, string> };
  if (d?.bgp?.md5Password !== undefined) return { ...e, data: { ...d, bgp: { ...d.bgp, md5Password: REDACTED } } } as StoredEvent;
  if (e.type === 'ConfigApplyFailed') return { ...e, data: { ...d, error: redactSecrets(String((d as { error?: string }).error ?? '')) } } as StoredEvent;
  if (e.type === 'RouterConfigRendered' && d.configs) {
    const map = (o: Record<string, string> = {}) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, redactSecrets(v)]));
    return { ...e, data: { ...d, configs: map(d.configs), diffs: map(d.diffs) } } as StoredEvent;
  }
  return e;
}
