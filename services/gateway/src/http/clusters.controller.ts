import { Body, ConflictException, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import {
  type BgpPreviewReply,
  type BgpPreviewRequest,
  BgpSettingsInput,
  CreateCluster,
  DERIVER_SERVICES,
  isName,
  rrTargetId,
  RrDesiredState,
  type TargetKind,
} from '@fabric/contracts';
import { EventStore } from '@fabric/eventstore';
import { redactSecrets, unifiedDiff } from '@fabric/renderers';
import { CommandBus, RequestInfo } from './command-bus';
import { DryRun, DryRunQuery, dryRunParam } from './dry-run';
import { AddNetworkBody, AddPoolBody, AddRouteReflectorBody, ChangeBgpPasswordBody, DrainNodeBody, JoinNodeBody, RollbackRouterConfigBody } from './dto';
import { ReqInfo } from './request-info';
import { intParam, invalidQuery, QueryParams, uuidParam } from './validation';
import { ReadModel } from '../read/read-model';
import { BmpDisagreementMonitor } from '../read/bmp-monitor';
import { EVENT_STORE } from '../tokens';
import { ApiHeader, ApiOperation, ApiParam, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles';
import { ApiAuth, ApiErrors } from './api-docs';
import { ClusterDto, NetworkDto, NodeDto, NodeStatusDto } from './responses';

const uuid = uuidParam;

/** A dry run answers 200 whatever the write's own status (201, 202): nothing was created or accepted. */
function okDry<T>(res: Response, answer: T): T {
  res.status(200);
  return answer;
}

interface BgpPreview {
  changed: string[];
  md5Rotated: boolean;
  before: Record<string, unknown>;
  after: Record<string, unknown>;
}
/** How long a dry run waits for each deriver's preview. */
const PREVIEW_TIMEOUT_MS = 5000;
interface AffectedTarget {
  kind: string;
  id: string;
  name: string;
}

/** Settings only the route reflectors render (what they add towards the core, what they do on a node's prefix limit). */
const RR_ONLY_SETTINGS = new Set(['coreCommunity', 'prefixLimitAction']);
/** Settings only the core router renders (where it reports its routes over BMP). */
const CORE_ONLY_SETTINGS = new Set(['bmpStation']);
const settingsText = (o: Record<string, unknown>) =>
  Object.keys(o)
    .sort()
    .map((k) => `${k}: ${JSON.stringify(o[k])}\n`)
    .join('');
const settingsDiff = (before: Record<string, unknown>, after: Record<string, unknown>) =>
  unifiedDiff(settingsText(before), settingsText(after), 'bgp settings (current)', 'bgp settings (after)');

@ApiTags('clusters')
@ApiAuth()
@Roles('admin', 'operator')
@Controller('clusters')
export class ClustersController {
  constructor(
    private readonly bus: CommandBus,
    private readonly dry: DryRun,
    private readonly read: ReadModel,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly bmp: BmpDisagreementMonitor,
  ) {}

  @Post()
  @ApiOperation({
    summary: 'Create a cluster (ASNs, community, route reflectors, core router)',
    description: "`?dryRun=true`: nothing is created and no secret stored; 200 with the events and the new RRs' and core's configs (secrets redacted).",
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 201, type: ClusterDto })
  @ApiErrors(400, 409)
  @DryRunQuery()
  async create(
    @Body() body: CreateCluster,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    // The dry run stores no MD5 secret: its events carry a placeholder reference, redacted in every diff.
    if (dryRunParam(dryRun)) return okDry(res, await this.dry.run('CreateCluster', body, info.actor));
    const { clusterId } = await this.bus.send<{ clusterId: string }>('inventory', 'CreateCluster', body, info);
    return this.get(clusterId);
  }

  @Get()
  @ApiOperation({ summary: 'List clusters' })
  @ApiResponse({ status: 200, type: [ClusterDto] })
  list() {
    return this.read.clusters();
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a cluster' })
  @ApiParam({ name: 'id', format: 'uuid' } as never)
  @ApiResponse({ status: 200, type: ClusterDto })
  @ApiErrors(400, 404)
  async get(@Param('id', uuid) id: string) {
    const c = await this.read.clusterRow(id);
    if (!c) throw new NotFoundException({ status: 404, code: 'cluster-not-found', message: `cluster ${id} not found` });
    return this.read.cluster(c);
  }

  @Post(':id/route-reflectors')
  @ApiOperation({ summary: 'Add a route reflector to the cluster' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 201, type: ClusterDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async addRr(
    @Param('id', uuid) id: string,
    @Body() body: AddRouteReflectorBody,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    if (dryRunParam(dryRun)) return okDry(res, await this.dry.run('AddRouteReflector', { clusterId: id, ...body }, info.actor));
    await this.bus.send('inventory', 'AddRouteReflector', { clusterId: id, ...body }, info);
    return this.get(id);
  }

  @Put(':id/bgp/md5-password')
  @ApiOperation({
    summary: "Rotate the cluster's BGP MD5 password: every node, RR and the core get it in a new generation (see docs/security.md)",
    description:
      '`?dryRun=true`: nothing is stored or written; the answer lists the event and every target that would get the new password ' +
      '(`secretChanged: true`, `diff: ""`: secrets are redacted on both sides).',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: ClusterDto })
  @ApiErrors(400, 404)
  @DryRunQuery()
  async changeBgpPassword(
    @Param('id', uuid) id: string,
    @Body() body: ChangeBgpPasswordBody,
    @Query('dryRun') dryRun: string | undefined,
    @ReqInfo() info: RequestInfo,
  ) {
    // Nothing stored: every target whose config carries the password is listed with `secretChanged` (no diff line).
    if (dryRunParam(dryRun)) return this.dry.run('ChangeBgpPassword', { clusterId: id, md5Password: body.md5Password }, info.actor);
    await this.bus.send('inventory', 'ChangeBgpPassword', { clusterId: id, md5Password: body.md5Password }, info);
    return this.get(id);
  }

  @Patch(':id/bgp')
  @ApiOperation({
    summary: "Change the cluster's BGP settings (timers, graceful restart, BFD, MD5 rotation, communities, prefix-limit action, the core's BMP station)",
    description:
      'Only the fields given change; a timer set to null returns to the daemon default. Every affected node, RR and the core get a new ' +
      'generation. `?dryRun=true`: nothing is written; the answer lists the settings before/after, their diff and the targets that would change, ' +
      'each with the unified diff of its config (`targets[].diff`, secrets redacted; `diff: null` and `diffError` when its deriver did not answer).',
  })
  @ApiQuery({ name: 'dryRun', required: false, type: Boolean })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: ClusterDto })
  @ApiErrors(400, 404)
  @QueryParams('dryRun')
  async changeBgpSettings(
    @Param('id', uuid) id: string,
    @Body() body: BgpSettingsInput,
    @Query('dryRun') dryRun: string | undefined,
    @ReqInfo() info: RequestInfo,
  ) {
    if (dryRunParam(dryRun)) {
      // No idempotency claim: a dry run writes nothing, so repeating it is harmless.
      const r = await this.bus.send<BgpPreview>('inventory', 'ChangeBgpSettings', { ...body, clusterId: id, dryRun: true }, { actor: info.actor });
      const targets = await this.affectedTargets(id, r);
      return { ...r, settingsDiff: settingsDiff(r.before, r.after), targets: await this.targetDiffs(id, r, targets) };
    }
    await this.bus.send('inventory', 'ChangeBgpSettings', { ...body, clusterId: id }, info);
    return this.get(id);
  }

  /** The targets whose desired config a settings change touches (docs/bgp-settings.md). */
  private async affectedTargets(id: string, r: BgpPreview): Promise<AffectedTarget[]> {
    const c = await this.get(id);
    // A direct cluster has no RR: its nodes apply the "RR-only" settings themselves (e.g. the core community).
    const rrOnly = c.topology !== 'direct' && r.changed.every((k) => RR_ONLY_SETTINGS.has(k)) && !r.md5Rotated;
    const coreOnly = r.changed.every((k) => CORE_ONLY_SETTINGS.has(k)) && !r.md5Rotated;
    if (!r.changed.length && !r.md5Rotated) return [];
    const nodes =
      rrOnly || coreOnly ? [] : (await this.read.nodes(id)).filter((n) => n.status !== 'left').map((n) => ({ kind: 'node', id: n.id, name: n.name }));
    const rrs = coreOnly ? [] : c.routeReflectors.map((rr) => ({ kind: 'rr', id: rrTargetId(id, rr.name), name: rr.name }));
    const core = rrOnly ? [] : [{ kind: 'router', id, name: c.coreRouter.name }];
    return [...nodes, ...rrs, ...core];
  }

  /**
   * Each target's config diff for a dry run: the config it has now (its last command; the core's latest rendered
   * version in its vendor's format) against the one its deriver renders with the settings after the change
   * (PreviewBgpSettings, answered by the leading instance from its model, nothing written). Both sides are
   * redacted before they are compared: a secret never shows, and a rotation alone shows no line (`md5Rotated`).
   * A deriver that does not answer leaves its targets with `diff: null` and the reason in `diffError`.
   */
  private async targetDiffs(id: string, r: BgpPreview, targets: AffectedTarget[]) {
    if (!targets.length) return [];
    const { md5Password: _m, community, ...bgp } = r.after as Record<string, unknown> & { community: string };
    const req: BgpPreviewRequest = { clusterId: id, community, bgp, md5Rotated: r.md5Rotated };
    const nc = this.store.nats.nc;
    const rendered = new Map<string, string>();
    const failed = new Map<TargetKind, string>();
    const KIND: Record<(typeof DERIVER_SERVICES)[number], TargetKind> = { 'route-announcer': 'node', 'rr-config': 'rr', 'router-config': 'router' };
    await Promise.all(
      DERIVER_SERVICES.map(async (service) => {
        try {
          const m = await nc.request(this.store.subjects.bgpPreview(service), JSON.stringify(req), { timeout: PREVIEW_TIMEOUT_MS });
          const reply = m.json<BgpPreviewReply>();
          if (reply.error) throw new Error(reply.error);
          for (const t of reply.targets ?? []) rendered.set(`${t.kind}:${t.targetId}`, t.config);
        } catch (e) {
          failed.set(KIND[service], `${service} did not render a preview: ${(e as Error).message}`.slice(0, 300));
        }
      }),
    );
    const current = async (t: AffectedTarget): Promise<string> => {
      if (t.kind === 'router') {
        const c = await this.get(id);
        const row = await this.read.routerConfig(id);
        return (row?.configs as Record<string, string> | undefined)?.[c.coreRouter.vendor] ?? '';
      }
      const m = await this.store.nats.jsm.streams
        .getMessage(this.store.subjects.commandsStream, { last_by_subj: this.store.subjects.cmd(t.kind as TargetKind, t.id) })
        .catch(() => null);
      return m ? (m.json<{ bird?: string }>().bird ?? '') : '';
    };
    return Promise.all(
      targets.map(async (t) => {
        const after = rendered.get(`${t.kind}:${t.id}`);
        if (after === undefined) {
          return { ...t, diff: null, diffError: failed.get(t.kind as TargetKind) ?? 'no preview rendered for this target' };
        }
        const label = `${t.kind} ${t.name}`;
        return { ...t, diff: unifiedDiff(redactSecrets(await current(t)), redactSecrets(after), `${label} (current)`, `${label} (after)`) };
      }),
    );
  }

  @Delete(':id/route-reflectors/:name')
  @ApiOperation({ summary: 'Remove a route reflector from the cluster' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: ClusterDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async removeRr(@Param('id', uuid) id: string, @Param('name') name: string, @Query('dryRun') dryRun: string | undefined, @ReqInfo() info: RequestInfo) {
    if (dryRunParam(dryRun)) return this.dry.run('RemoveRouteReflector', { clusterId: id, name }, info.actor);
    await this.bus.send('inventory', 'RemoveRouteReflector', { clusterId: id, name }, info);
    return this.get(id);
  }

  /** The BIRD config the control plane wants on this RR (the latest desired state). */
  @Get(':id/route-reflectors/:name/config')
  @ApiOperation({ summary: "The route reflector's BIRD config (latest desired state)" })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, description: 'BIRD config; `X-Generation` header', content: { 'text/plain': { schema: { type: 'string' } } } })
  @ApiErrors(400, 404)
  async rrConfig(@Param('id', uuid) id: string, @Param('name') name: string, @Res() res: Response) {
    if (!isName(name)) throw new NotFoundException({ status: 404, code: 'rr-not-found', message: 'no such route reflector' });
    const m = await this.store.nats.jsm.streams.getMessage(this.store.subjects.commandsStream, {
      last_by_subj: this.store.subjects.cmd('rr', rrTargetId(id, name)),
    });
    if (!m)
      throw new NotFoundException({ status: 404, code: 'rr-config-not-found', message: `no config rendered yet for route reflector ${name} of cluster ${id}` });
    const desired = m.json<RrDesiredState>();
    res.type('text/plain').set('X-Generation', String(desired.generation)).send(redactSecrets(desired.bird)); // the agent's command holds the MD5 password; responses never
  }

  @Get(':id/router/status')
  @ApiOperation({
    summary: "The core router's route sources: its BMP station and where the BMP feed and the FRR agent's read disagree",
    description:
      'bmp.disagreements: prefixes held by one source only for longer than bmp.graceMs (FABRIC_BMP_DISAGREEMENT_GRACE_MS), with the holder and since when; ' +
      'cleared when they agree again. Compared only for a cluster with a BMP station whose core runs the FRR agent (docs/operations/bmp.md).',
  })
  @ApiResponse({
    status: 200,
    description:
      '{clusterId, bmpStation, bmp: {compared, graceMs, disagreements[{prefix, heldBy, since}], pending, sampledAt}, routes: {agent, bmp}} — routes: host routes each source says the core holds now',
  })
  @ApiErrors(400, 404)
  async routerStatus(@Param('id', uuid) id: string) {
    const c = await this.get(id);
    return { clusterId: id, bmpStation: c.bgp.bmpStation ?? null, bmp: this.bmp.status(id), routes: await this.read.coreRouteCounts(id) };
  }

  /** Core router config, versioned: `?format=junos|frr`, `?version=N`, `?diff=<older version>`. */
  @Get(':id/router/config')
  @ApiOperation({ summary: 'Core router config, versioned (Junos commit-confirmed procedure or FRR), or a diff between versions' })
  @ApiProduces('text/plain')
  @ApiQuery({ name: 'format', required: false, enum: ['junos', 'frr'] })
  @ApiQuery({ name: 'version', required: false, type: Number })
  @ApiQuery({ name: 'diff', required: false, type: Number, description: 'older version to diff against' })
  @ApiResponse({ status: 200, description: 'config text; `X-Config-Version` header', content: { 'text/plain': { schema: { type: 'string' } } } })
  @ApiErrors(400, 404)
  @QueryParams('format', 'version', 'diff')
  async routerConfig(
    @Param('id', uuid) id: string,
    @Query('format') format = 'junos',
    @Query('version') version: string | undefined,
    @Query('diff') diff: string | undefined,
    @Res() res: Response,
  ) {
    const fields: Record<string, string[]> = {};
    if (!['junos', 'frr'].includes(format)) fields.format = ['must be junos or frr'];
    const v = intParam(fields, 'version', version, 1, 2_147_483_647);
    const d = intParam(fields, 'diff', diff, 1, 2_147_483_647);
    if (Object.keys(fields).length) throw invalidQuery(fields, 'invalid router config query');
    await this.get(id);
    const row = await this.read.routerConfig(id, v);
    if (!row)
      throw new NotFoundException({
        status: 404,
        code: 'router-config-not-found',
        message: `no router config${v ? ` version ${v}` : ''} for cluster ${id} yet`,
      });
    res.set('X-Config-Version', String(row.version)).type('text/plain');
    if (d !== undefined) {
      const base = await this.read.routerConfig(id, d);
      if (!base) throw new NotFoundException({ status: 404, code: 'router-config-not-found', message: `no router config version ${diff}` });
      res.send(redactSecrets(unifiedDiff(base.configs[format] ?? '', row.configs[format] ?? '', `${format} v${base.version}`, `${format} v${row.version}`)));
      return;
    }
    res.send(redactSecrets(row.configs[format] ?? ''));
  }

  @Post(':id/router/rollback')
  @HttpCode(202)
  @ApiOperation({
    summary: "Roll the core router's config back to an earlier version",
    description:
      'router-config publishes the configs of `toVersion` as a new version (`rollbackOf`): the FRR core applies it, a Junos core gets the ' +
      "commit-confirmed procedure of that version. The rollback holds until the cluster's router inputs (RRs, pools, BGP settings) change again. " +
      '`?dryRun=true`: nothing is written; the answer holds the diff from the current version to `toVersion` per format (secrets redacted).',
  })
  @ApiQuery({ name: 'dryRun', required: false, type: Boolean })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 202, description: '{clusterId, fromVersion, toVersion}; the new version appears in GET /clusters/{id}/router/configs' })
  @ApiResponse({ status: 200, description: 'dry run: {clusterId, fromVersion, toVersion, dryRun: true, diffs: {junos, frr}}' })
  @ApiErrors(400, 404, 409)
  @QueryParams('dryRun')
  async rollbackRouterConfig(
    @Param('id', uuid) id: string,
    @Body() body: RollbackRouterConfigBody,
    @Query('dryRun') dryRun: string | undefined,
    @ReqInfo() info: RequestInfo,
    @Res({ passthrough: true }) res: Response,
  ) {
    const dry = dryRunParam(dryRun);
    await this.get(id);
    const current = await this.read.routerConfig(id, undefined);
    if (dry) {
      // The same checks as the decider's, on the read model; nothing is sent.
      if (!current) throw new ConflictException({ status: 409, code: 'router-config-none', message: `cluster ${id} has no core router config yet` });
      const target = body.toVersion <= current.version ? await this.read.routerConfig(id, body.toVersion) : undefined;
      if (!target)
        throw new NotFoundException({ status: 404, code: 'router-config-version-not-found', message: `router config version ${body.toVersion} not found` });
      if (target.version === current.version) {
        throw new ConflictException({ status: 409, code: 'router-config-current', message: `version ${body.toVersion} is the current core router config` });
      }
      const diffs = Object.fromEntries(
        ['junos', 'frr'].map((f) => [
          f,
          redactSecrets(unifiedDiff(current.configs[f] ?? '', target.configs[f] ?? '', `${f} v${current.version}`, `${f} v${target.version}`)),
        ]),
      );
      res.status(200); // nothing accepted: an answer
      return { clusterId: id, fromVersion: current.version, toVersion: target.version, dryRun: true, diffs };
    }
    await this.bus.send(
      'inventory',
      'RollbackRouterConfig',
      { clusterId: id, toVersion: body.toVersion, ...(body.reason !== undefined ? { reason: body.reason } : {}) },
      info,
    );
    return { clusterId: id, fromVersion: current?.version ?? null, toVersion: body.toVersion };
  }

  @Post(':id/networks')
  @ApiOperation({ summary: 'Add a network (CIDR) with optional pools' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 201, type: NetworkDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async addNetwork(
    @Param('id', uuid) id: string,
    @Body() body: AddNetworkBody,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    await this.get(id);
    if (dryRunParam(dryRun)) return okDry(res, await this.dry.run('AddNetwork', { clusterId: id, ...body }, info.actor, undefined, 'ipam'));
    const { networkId } = await this.bus.send<{ networkId: string }>('ipam', 'AddNetwork', { clusterId: id, ...body }, info);
    return (await this.read.networks(id)).find((n) => n.id === networkId);
  }

  @Get(':id/networks')
  @ApiOperation({ summary: "List the cluster's networks with pool usage" })
  @ApiResponse({ status: 200, type: [NetworkDto] })
  @ApiErrors(400, 404)
  async networks(@Param('id', uuid) id: string) {
    await this.get(id);
    return this.read.networks(id);
  }

  @Post(':id/networks/:networkId/pools')
  @ApiOperation({ summary: 'Add an address pool to a network' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 201, type: NetworkDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async addPool(
    @Param('id', uuid) id: string,
    @Param('networkId', uuid) networkId: string,
    @Body() body: AddPoolBody,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    await this.get(id);
    if (dryRunParam(dryRun)) return okDry(res, await this.dry.run('AddPool', { clusterId: id, networkId, ...body }, info.actor, undefined, 'ipam'));
    await this.bus.send('ipam', 'AddPool', { clusterId: id, networkId, ...body }, info);
    return (await this.read.networks(id)).find((n) => n.id === networkId);
  }

  @Post(':id/nodes')
  @ApiOperation({ summary: 'Join a node (hypervisor) to the cluster' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 201, type: NodeDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async join(
    @Param('id', uuid) id: string,
    @Body() body: JoinNodeBody,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    if (dryRunParam(dryRun)) return okDry(res, await this.dry.run('JoinNode', { clusterId: id, ...body }, info.actor));
    const { nodeId } = await this.bus.send<{ nodeId: string }>('inventory', 'JoinNode', { clusterId: id, ...body }, info);
    const n = await this.read.nodeRow(nodeId);
    return n ? this.read.node(n) : { id: nodeId };
  }

  @Get(':id/nodes')
  @ApiOperation({ summary: "List the cluster's nodes" })
  @ApiResponse({ status: 200, type: [NodeDto] })
  @ApiErrors(400, 404)
  async nodes(@Param('id', uuid) id: string) {
    await this.get(id);
    return this.read.nodes(id);
  }
}

@ApiTags('nodes')
@ApiAuth()
@Roles('admin', 'operator')
@Controller('nodes')
export class NodesController {
  constructor(
    private readonly bus: CommandBus,
    private readonly dry: DryRun,
    private readonly read: ReadModel,
  ) {}

  private async row(id: string) {
    const n = await this.read.nodeRow(id);
    if (!n) throw new NotFoundException({ status: 404, code: 'node-not-found', message: `node ${id} not found` });
    return n;
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a node' })
  @ApiResponse({ status: 200, type: NodeDto })
  @ApiErrors(400, 404)
  async get(@Param('id', uuid) id: string) {
    return this.read.node(await this.row(id));
  }

  @Get(':id/status')
  @ApiOperation({ summary: 'Node status: desired vs applied generation, drift, BGP sessions' })
  @ApiResponse({ status: 200, type: NodeStatusDto })
  @ApiErrors(400, 404)
  async status(@Param('id', uuid) id: string) {
    return this.read.nodeStatus(await this.row(id));
  }

  @Post(':id/drain')
  @HttpCode(200)
  @ApiOperation({ summary: 'Drain a node (no new VMs); with evacuate: true, also move its VMs away' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: NodeDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async drain(@Param('id', uuid) id: string, @Body() body: DrainNodeBody, @Query('dryRun') dryRun: string | undefined, @ReqInfo() info: RequestInfo) {
    if (dryRunParam(dryRun)) return this.dry.run('DrainNode', { nodeId: id, ...(body?.evacuate ? { evacuate: true } : {}) }, info.actor, this.dry.evacuation);
    await this.bus.send('inventory', 'DrainNode', { nodeId: id, ...(body?.evacuate ? { evacuate: true } : {}) }, info);
    return this.get(id);
  }

  @Post(':id/evacuate')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Evacuate a node: drain it and migrate every VM (make-before-break) to the active node with the fewest VMs, a few at a time',
    description:
      'Progress: GET /nodes/{id}/status (evacuation), the node events NodeEvacuationStarted/NodeEvacuated and VmMigrationRequested with evacuation: true. 409 no-target-node when the VMs have nowhere to go.',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: NodeDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async evacuate(@Param('id', uuid) id: string, @Query('dryRun') dryRun: string | undefined, @ReqInfo() info: RequestInfo) {
    if (dryRunParam(dryRun)) return this.dry.run('EvacuateNode', { nodeId: id }, info.actor, this.dry.evacuation);
    await this.bus.send('inventory', 'EvacuateNode', { nodeId: id }, info);
    return this.get(id);
  }

  @Post(':id/undrain')
  @HttpCode(200)
  @ApiOperation({ summary: 'Return a drained node to service (stops an evacuation; migrations already started finish)' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: NodeDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async undrain(@Param('id', uuid) id: string, @Query('dryRun') dryRun: string | undefined, @ReqInfo() info: RequestInfo) {
    if (dryRunParam(dryRun)) return this.dry.run('UndrainNode', { nodeId: id }, info.actor);
    await this.bus.send('inventory', 'UndrainNode', { nodeId: id }, info);
    return this.get(id);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Remove a node from the cluster' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: NodeDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async remove(@Param('id', uuid) id: string, @Query('dryRun') dryRun: string | undefined, @ReqInfo() info: RequestInfo) {
    if (dryRunParam(dryRun)) return this.dry.run('RemoveNode', { nodeId: id }, info.actor);
    await this.bus.send('inventory', 'RemoveNode', { nodeId: id }, info);
    return this.get(id);
  }
}
