import { Body, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { BgpSettingsInput, CreateCluster, isName, rrTargetId, RrDesiredState } from '@fabric/contracts';
import { EventStore } from '@fabric/eventstore';
import { redactSecrets, unifiedDiff } from '@fabric/renderers';
import { CommandBus, RequestInfo } from './command-bus';
import { AddNetworkBody, AddPoolBody, AddRouteReflectorBody, ChangeBgpPasswordBody, DrainNodeBody, JoinNodeBody } from './dto';
import { ReqInfo } from './request-info';
import { intParam, invalidQuery, QueryParams, uuidParam } from './validation';
import { ReadModel } from '../read/read-model';
import { EVENT_STORE } from '../tokens';
import { ApiHeader, ApiOperation, ApiParam, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles';
import { ApiAuth, ApiErrors } from './api-docs';
import { ClusterDto, NetworkDto, NodeDto, NodeStatusDto } from './responses';

const uuid = uuidParam;

interface BgpPreview {
  changed: string[];
  md5Rotated: boolean;
  before: Record<string, unknown>;
  after: Record<string, unknown>;
}
/** Settings only the route reflectors render (what they add towards the core, what they do on a node's prefix limit). */
const RR_ONLY_SETTINGS = new Set(['coreCommunity', 'prefixLimitAction']);
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
    private readonly read: ReadModel,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Create a cluster (ASNs, community, route reflectors, core router)' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 201, type: ClusterDto })
  @ApiErrors(400, 409)
  async create(@Body() body: CreateCluster, @ReqInfo() info: RequestInfo) {
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
  async addRr(@Param('id', uuid) id: string, @Body() body: AddRouteReflectorBody, @ReqInfo() info: RequestInfo) {
    await this.bus.send('inventory', 'AddRouteReflector', { clusterId: id, ...body }, info);
    return this.get(id);
  }

  @Put(':id/bgp/md5-password')
  @ApiOperation({ summary: "Rotate the cluster's BGP MD5 password: every node, RR and the core get it in a new generation (see docs/security.md)" })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: ClusterDto })
  @ApiErrors(400, 404)
  async changeBgpPassword(@Param('id', uuid) id: string, @Body() body: ChangeBgpPasswordBody, @ReqInfo() info: RequestInfo) {
    await this.bus.send('inventory', 'ChangeBgpPassword', { clusterId: id, md5Password: body.md5Password }, info);
    return this.get(id);
  }

  @Patch(':id/bgp')
  @ApiOperation({
    summary: "Change the cluster's BGP settings (timers, graceful restart, BFD, MD5 rotation, communities, prefix-limit action)",
    description:
      'Only the fields given change; a timer set to null returns to the daemon default. Every affected node, RR and the core get a new ' +
      'generation. `?dryRun=true`: nothing is written; the answer lists the settings before/after, their diff and the targets that would change.',
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
    if (dryRun !== undefined && dryRun !== 'true' && dryRun !== 'false') throw invalidQuery({ dryRun: ['must be true or false'] }, 'invalid query');
    if (dryRun === 'true') {
      // No idempotency claim: a dry run writes nothing, so repeating it is harmless.
      const r = await this.bus.send<BgpPreview>('inventory', 'ChangeBgpSettings', { ...body, clusterId: id, dryRun: true }, { actor: info.actor });
      return { ...r, settingsDiff: settingsDiff(r.before, r.after), targets: await this.affectedTargets(id, r) };
    }
    await this.bus.send('inventory', 'ChangeBgpSettings', { ...body, clusterId: id }, info);
    return this.get(id);
  }

  /** The targets whose desired config a settings change touches (docs/bgp-settings.md). */
  private async affectedTargets(id: string, r: BgpPreview) {
    const c = await this.get(id);
    const rrOnly = r.changed.every((k) => RR_ONLY_SETTINGS.has(k)) && !r.md5Rotated;
    if (!r.changed.length && !r.md5Rotated) return [];
    const nodes = rrOnly ? [] : (await this.read.nodes(id)).filter((n) => n.status !== 'left').map((n) => ({ kind: 'node', id: n.id, name: n.name }));
    const rrs = c.routeReflectors.map((rr) => ({ kind: 'rr', id: rrTargetId(id, rr.name), name: rr.name }));
    const core = rrOnly ? [] : [{ kind: 'router', id, name: c.coreRouter.name }];
    return [...nodes, ...rrs, ...core];
  }

  @Delete(':id/route-reflectors/:name')
  @ApiOperation({ summary: 'Remove a route reflector from the cluster' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: ClusterDto })
  @ApiErrors(400, 404, 409)
  async removeRr(@Param('id', uuid) id: string, @Param('name') name: string, @ReqInfo() info: RequestInfo) {
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

  @Post(':id/networks')
  @ApiOperation({ summary: 'Add a network (CIDR) with optional pools' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 201, type: NetworkDto })
  @ApiErrors(400, 404, 409)
  async addNetwork(@Param('id', uuid) id: string, @Body() body: AddNetworkBody, @ReqInfo() info: RequestInfo) {
    await this.get(id);
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
  async addPool(@Param('id', uuid) id: string, @Param('networkId', uuid) networkId: string, @Body() body: AddPoolBody, @ReqInfo() info: RequestInfo) {
    await this.get(id);
    await this.bus.send('ipam', 'AddPool', { clusterId: id, networkId, ...body }, info);
    return (await this.read.networks(id)).find((n) => n.id === networkId);
  }

  @Post(':id/nodes')
  @ApiOperation({ summary: 'Join a node (hypervisor) to the cluster' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 201, type: NodeDto })
  @ApiErrors(400, 404, 409)
  async join(@Param('id', uuid) id: string, @Body() body: JoinNodeBody, @ReqInfo() info: RequestInfo) {
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
  async drain(@Param('id', uuid) id: string, @Body() body: DrainNodeBody, @ReqInfo() info: RequestInfo) {
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
  async evacuate(@Param('id', uuid) id: string, @ReqInfo() info: RequestInfo) {
    await this.bus.send('inventory', 'EvacuateNode', { nodeId: id }, info);
    return this.get(id);
  }

  @Post(':id/undrain')
  @HttpCode(200)
  @ApiOperation({ summary: 'Return a drained node to service (stops an evacuation; migrations already started finish)' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: NodeDto })
  @ApiErrors(400, 404, 409)
  async undrain(@Param('id', uuid) id: string, @ReqInfo() info: RequestInfo) {
    await this.bus.send('inventory', 'UndrainNode', { nodeId: id }, info);
    return this.get(id);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Remove a node from the cluster' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: NodeDto })
  @ApiErrors(400, 404, 409)
  async remove(@Param('id', uuid) id: string, @ReqInfo() info: RequestInfo) {
    await this.bus.send('inventory', 'RemoveNode', { nodeId: id }, info);
    return this.get(id);
  }
}
