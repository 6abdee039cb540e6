import { Body, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, ParseUUIDPipe, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { CreateCluster, isName, rrTargetId, RrDesiredState } from '@fabric/contracts';
import { EventStore } from '@fabric/eventstore';
import { unifiedDiff } from '@fabric/renderers';
import { CommandBus, RequestInfo } from './command-bus';
import { AddNetworkBody, AddPoolBody, AddRouteReflectorBody, JoinNodeBody } from './dto';
import { ReqInfo } from './request-info';
import { ReadModel } from '../read/read-model';
import { EVENT_STORE } from '../tokens';

const uuid = new ParseUUIDPipe({ version: undefined });

@Controller('clusters')
export class ClustersController {
  constructor(private readonly bus: CommandBus, private readonly read: ReadModel, @Inject(EVENT_STORE) private readonly store: EventStore) {}

  @Post()
  async create(@Body() body: CreateCluster, @ReqInfo() info: RequestInfo) {
    const { clusterId } = await this.bus.send<{ clusterId: string }>('inventory', 'CreateCluster', body, info);
    return this.get(clusterId);
  }

  @Get()
  list() {
    return this.read.clusters();
  }

  @Get(':id')
  async get(@Param('id', uuid) id: string) {
    const c = await this.read.clusterRow(id);
    if (!c) throw new NotFoundException({ status: 404, code: 'cluster-not-found', message: `cluster ${id} not found` });
    return this.read.cluster(c);
  }

  @Post(':id/route-reflectors')
  async addRr(@Param('id', uuid) id: string, @Body() body: AddRouteReflectorBody, @ReqInfo() info: RequestInfo) {
    await this.bus.send('inventory', 'AddRouteReflector', { clusterId: id, ...body }, info);
    return this.get(id);
  }

  @Delete(':id/route-reflectors/:name')
  async removeRr(@Param('id', uuid) id: string, @Param('name') name: string, @ReqInfo() info: RequestInfo) {
    await this.bus.send('inventory', 'RemoveRouteReflector', { clusterId: id, name }, info);
    return this.get(id);
  }

  /** The BIRD config the control plane wants on this RR (the latest desired state). */
  @Get(':id/route-reflectors/:name/config')
  async rrConfig(@Param('id', uuid) id: string, @Param('name') name: string, @Res() res: Response) {
    if (!isName(name)) throw new NotFoundException({ status: 404, code: 'rr-not-found', message: 'no such route reflector' });
    const m = await this.store.nats.jsm.streams.getMessage(this.store.subjects.commandsStream, { last_by_subj: this.store.subjects.cmd('rr', rrTargetId(id, name)) });
    if (!m) throw new NotFoundException({ status: 404, code: 'rr-config-not-found', message: `no config rendered yet for route reflector ${name} of cluster ${id}` });
    const desired = m.json<RrDesiredState>();
    res.type('text/plain').set('X-Generation', String(desired.generation)).send(desired.bird);
  }

  /** Core router config, versioned: `?format=junos|frr`, `?version=N`, `?diff=<older version>`. */
  @Get(':id/router/config')
  async routerConfig(@Param('id', uuid) id: string, @Query('format') format = 'junos', @Query('version') version: string | undefined, @Query('diff') diff: string | undefined, @Res() res: Response) {
    await this.get(id);
    if (!['junos', 'frr'].includes(format)) {
      res.status(400).json({ status: 400, code: 'invalid-format', message: 'format must be junos or frr', fields: { format: ['must be junos or frr'] } });
      return;
    }
    const v = version !== undefined ? Number(version) : undefined;
    const row = await this.read.routerConfig(id, v);
    if (!row) throw new NotFoundException({ status: 404, code: 'router-config-not-found', message: `no router config${v ? ` version ${v}` : ''} for cluster ${id} yet` });
    res.set('X-Config-Version', String(row.version)).type('text/plain');
    if (diff !== undefined) {
      const base = await this.read.routerConfig(id, Number(diff));
      if (!base) throw new NotFoundException({ status: 404, code: 'router-config-not-found', message: `no router config version ${diff}` });
      res.send(unifiedDiff(base.configs[format] ?? '', row.configs[format] ?? '', `${format} v${base.version}`, `${format} v${row.version}`));
      return;
    }
    res.send(row.configs[format] ?? '');
  }

  @Post(':id/networks')
  async addNetwork(@Param('id', uuid) id: string, @Body() body: AddNetworkBody, @ReqInfo() info: RequestInfo) {
    await this.get(id);
    const { networkId } = await this.bus.send<{ networkId: string }>('ipam', 'AddNetwork', { clusterId: id, ...body }, info);
    return (await this.read.networks(id)).find((n) => n.id === networkId);
  }

  @Get(':id/networks')
  async networks(@Param('id', uuid) id: string) {
    await this.get(id);
    return this.read.networks(id);
  }

  @Post(':id/networks/:networkId/pools')
  async addPool(@Param('id', uuid) id: string, @Param('networkId', uuid) networkId: string, @Body() body: AddPoolBody, @ReqInfo() info: RequestInfo) {
    await this.get(id);
    await this.bus.send('ipam', 'AddPool', { clusterId: id, networkId, ...body }, info);
    return (await this.read.networks(id)).find((n) => n.id === networkId);
  }

  @Post(':id/nodes')
  async join(@Param('id', uuid) id: string, @Body() body: JoinNodeBody, @ReqInfo() info: RequestInfo) {
    const { nodeId } = await this.bus.send<{ nodeId: string }>('inventory', 'JoinNode', { clusterId: id, ...body }, info);
    const n = await this.read.nodeRow(nodeId);
    return n ? this.read.node(n) : { id: nodeId };
  }

  @Get(':id/nodes')
  async nodes(@Param('id', uuid) id: string) {
    await this.get(id);
    return this.read.nodes(id);
  }
}

@Controller('nodes')
export class NodesController {
  constructor(private readonly bus: CommandBus, private readonly read: ReadModel) {}

  private async row(id: string) {
    const n = await this.read.nodeRow(id);
    if (!n) throw new NotFoundException({ status: 404, code: 'node-not-found', message: `node ${id} not found` });
    return n;
  }

  @Get(':id')
  async get(@Param('id', uuid) id: string) {
    return this.read.node(await this.row(id));
  }

  @Get(':id/status')
  async status(@Param('id', uuid) id: string) {
    return this.read.nodeStatus(await this.row(id));
  }

  @Post(':id/drain')
  @HttpCode(200)
  async drain(@Param('id', uuid) id: string, @ReqInfo() info: RequestInfo) {
    await this.bus.send('inventory', 'DrainNode', { nodeId: id }, info);
    return this.get(id);
  }

  @Delete(':id')
  async remove(@Param('id', uuid) id: string, @ReqInfo() info: RequestInfo) {
    await this.bus.send('inventory', 'RemoveNode', { nodeId: id }, info);
    return this.get(id);
  }
}
