/**
 * GET /api/v1/events: the event stream as server-sent events, one StreamReader (ordered consumer, no
 * durable, no acks) per connection: the client's Last-Event-ID is the only cursor, a lost consumer is
 * reopened after the last sequence sent, invalid events are skipped (the projection records them).
 * The events of one multi-event message share its sequence: only the last one carries the `id:`.
 * The agents' observations (RoutesChanged, BgpSessionStateChanged: the observations stream, with retention)
 * are interleaved live from the moment the stream opens, without an `id:` (the cursor is the events
 * stream's position) and with `"stream":"observations"`; a resumed stream does not replay them.
 */
import { BadRequestException, BeforeApplicationShutdown, Controller, Get, HttpException, Inject, Query, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { REDACTED, StoredEvent, UUID_PATTERN } from '@fabric/contracts';
import { redactSecrets } from '@fabric/renderers';
import { EventStore, StreamReader } from '@fabric/eventstore';
import { AllowQueryToken, Roles } from '../auth/roles';
import { DataSource } from 'typeorm';
import { NodeRow } from '@fabric/projections';
import { DATA_SOURCE, EVENT_STORE } from '../tokens';
import { ApiAuth, ApiErrors } from './api-docs';
import { intParam, QueryParams } from './validation';
import { HTTP_LIMITS, HttpLimits } from './limits';
import { TokenStore } from '../auth/tokens';
import type { AuthedRequest } from '../auth/auth.guard';

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
  // By field, whatever the type: every event naming a VM, a cluster or a target is filtered alike.
  const d: object = e.data ?? {};
  if (f.vmId && !('vmId' in d && d.vmId === f.vmId)) return false;
  const clusterId = 'clusterId' in d ? d.clusterId : undefined;
  const t = 'target' in d && d.target && typeof d.target === 'object' && 'id' in d.target && typeof d.target.id === 'string' ? d.target.id : undefined;
  if (f.clusterId && clusterId !== f.clusterId && t !== f.clusterId && !t?.startsWith(`${f.clusterId}_`) && !(t && f.nodeIds?.has(t))) return false;
  return true;
}

@ApiTags('events')
@ApiAuth()
@Roles('admin', 'operator', 'billing')
@Controller('events')
export class EventsController implements BeforeApplicationShutdown {
  /** Open streams: ended at shutdown, else the HTTP server would wait for them to close. */
  private readonly open = new Set<Response>();

  /** Open streams per token id, each with its closer: bounded per token, ended when the token is revoked. */
  private readonly byToken = new Map<string, Map<Response, () => void>>();

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(TokenStore) private readonly tokens: TokenStore,
    @Inject(HTTP_LIMITS) private readonly limits: HttpLimits,
  ) {
    this.tokens.onRevoked((id) => {
      for (const close of [...(this.byToken.get(id)?.values() ?? [])]) close();
    });
  }

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
  @ApiResponse({
    status: 200,
    description: 'text/event-stream',
    content: {
      'text/event-stream': {
        schema: { type: 'string', example: 'id: 42\nevent: VmCreated\ndata: {"seq":42,"subject":"fabric.evt.vm.…","type":"VmCreated",…}\n\n' },
      },
    },
  })
  @ApiErrors(400)
  @QueryParams('since', 'clusterId', 'vmId', 'type', 'limit', 'access_token')
  async events(@Query() q: Record<string, unknown>, @Req() req: Request, @Res() res: Response) {
    const fields: Record<string, string[]> = {};
    const str = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
    const lastId = req.header('last-event-id') ?? str('since');
    if (lastId !== undefined && !SEQ.test(lastId))
      fields[req.header('last-event-id') !== undefined ? 'Last-Event-ID' : 'since'] = ['must be a stream sequence (non-negative integer)'];
    for (const k of ['clusterId', 'vmId']) if (str(k) !== undefined && !UUID_PATTERN.test(str(k)!)) fields[k] = ['must be a UUID'];
    const types = str('type')
      ?.split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    if (types && (!types.length || types.some((t) => !TYPE.test(t)))) fields.type = ['must be a comma-separated list of event types'];
    const limit = intParam(fields, 'limit', q.limit, 1, 1_000_000_000);
    if (Object.keys(fields).length) throw new BadRequestException({ status: 400, code: 'validation-failed', message: 'invalid events query', fields });
    // Reserved synchronously (before any await) so parallel requests cannot all pass the bound.
    const tokenId = (req as AuthedRequest).principal?.id ?? 'anonymous';
    const mine = this.byToken.get(tokenId) ?? new Map<Response, () => void>();
    if (mine.size >= this.limits.sseStreamsPerToken) {
      res.setHeader('Retry-After', '5');
      throw new HttpException(
        {
          status: 429,
          code: 'too-many-streams',
          message: `this token already has ${mine.size} open event streams (at most ${this.limits.sseStreamsPerToken}); close one first`,
        },
        429,
      );
    }
    this.byToken.set(tokenId, mine);
    let endStream: () => void = () => void res.end();
    mine.set(res, () => endStream());
    try {
      await this.stream(q, req, res, lastId, types, limit, tokenId, (fn) => (endStream = fn));
    } finally {
      mine.delete(res);
      if (!mine.size) this.byToken.delete(tokenId);
    }
  }

  private async stream(
    q: Record<string, unknown>,
    req: Request,
    res: Response,
    lastId: string | undefined,
    types: string[] | undefined,
    limit: number | undefined,
    tokenId: string,
    onClose: (fn: () => void) => void,
  ) {
    const str = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
    const filter: EventFilter = { types: types ? new Set(types) : undefined, clusterId: str('clusterId'), vmId: str('vmId') };
    if (filter.clusterId) {
      const nodes = await this.ds.getRepository(NodeRow).find({ where: { clusterId: filter.clusterId }, select: { id: true } });
      filter.nodeIds = new Set(nodes.map((n) => n.id));
    }

    const since = lastId !== undefined ? Number(lastId) : undefined;
    let closed = false;
    let sent = 0;
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    const readerOf = (store: EventStore, observations: boolean) =>
      new StreamReader(store, {
        name: observations ? 'sse:observations' : 'sse',
        from: observations ? 'new' : (since ?? 'new'),
        batch: 1,
        monitored: false,
        deadLetter: 'log',
        handle: async ({ messages }) => {
          for (const m of messages) {
            for (let i = 0; i < m.events.length && !closed; i++) {
              const e = m.events[i];
              // Nodes joining while the stream is open belong to the cluster too.
              if (e.type === 'NodeJoined' && filter.nodeIds && e.data.clusterId === filter.clusterId) filter.nodeIds.add(e.data.nodeId);
              if (!matches(e, filter)) continue;
              const { seq, subject, index, ...envelope } = redactEvent(e);
              const id = !observations && i === m.events.length - 1 ? `id: ${seq}\n` : '';
              const data = { seq, subject, ...(observations ? { stream: 'observations' } : {}), ...(index !== undefined ? { index } : {}), ...envelope };
              // Slow client: stop pulling until its socket drains instead of buffering the stream in memory.
              if (!res.write(`${id}event: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`)) {
                await new Promise((r) => res.once('drain', r).once('close', r));
              }
              if (limit !== undefined && ++sent >= limit) {
                closed = true;
                finish();
              }
            }
          }
        },
      });
    const close = () => {
      closed = true;
      finish();
    };
    // Listen before the readers start: a client gone (or a shutdown) while they open must still stop them.
    onClose(close);
    this.open.add(res);
    req.on('close', close);
    res.on('close', close);
    const reader = readerOf(this.store, false);
    const observationReader = readerOf(this.store.observations(), true);
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      // Headers first: the events reader may deliver (a replay) while the observations reader still opens, and
      // a write before them would go out as a plain 200 that EventSource refuses.
      res.status(200).set({
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      res.flushHeaders();
      await reader.start();
      await observationReader.start();
      if (!closed && !res.destroyed) {
        // The consumer exists now: a client may start writing and will see its own events.
        res.write(`retry: 2000\n: connected${since !== undefined ? ` after ${since}` : ''}\n\n`);
        heartbeat = setInterval(() => {
          res.write(': heartbeat\n\n');
          // Another gateway may have revoked the token: the stream ends within one heartbeat.
          void this.tokens.isActive(tokenId).then(
            (ok) => ok || close(),
            () => undefined,
          );
        }, HEARTBEAT_MS);
        await done;
      }
    } finally {
      if (heartbeat) clearInterval(heartbeat);
      req.off('close', close);
      res.off('close', close);
      this.open.delete(res);
      await reader.stop();
      await observationReader.stop();
      if (res.headersSent && !res.writableEnded) res.end();
    }
  }
}

/** Secrets never leave in an event: MD5 passwords of older events (before references) and rendered configs. */
export function redactEvent(e: StoredEvent): StoredEvent {
  // Structural on purpose: any event with a BGP block (not only ClusterCreated) has its password hidden.
  const d: object = e.data ?? {};
  const bgp = 'bgp' in d ? d.bgp : undefined;
  if (bgp && typeof bgp === 'object' && 'md5Password' in bgp && bgp.md5Password !== undefined) return withData(e, { bgp: { ...bgp, md5Password: REDACTED } });
  if (e.type === 'ConfigApplyFailed') return withData(e, { error: redactSecrets(String(e.data.error ?? '')) });
  if (e.type === 'RouterConfigRendered' && e.data.configs) {
    const map = (o: Record<string, string> = {}) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, redactSecrets(v)]));
    return withData(e, { configs: map(e.data.configs), diffs: map(e.data.diffs) });
  }
  return e;
}

/** A copy of `e` with some fields of its data replaced by their redacted strings (its type is unchanged). */
function withData<E extends StoredEvent>(e: E, patch: object): E {
  return { ...e, data: { ...e.data, ...patch } };
}
