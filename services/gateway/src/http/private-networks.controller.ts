/** Tenant private networks (VXLAN/EVPN, modelled in IPAM): the cluster's networks and a VM's attachments. */
import { Body, Controller, Delete, Get, HttpCode, NotFoundException, ConflictException, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiHeader, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { OWNER_PATTERN } from '@fabric/contracts';
import { CommandBus, RequestInfo } from './command-bus';
import { AttachPrivateNetworkBody, CreatePrivateNetworkBody } from './dto';
import { DryRun, dryRunParam, DryRunQuery } from './dry-run';
import { ReqInfo } from './request-info';
import { invalidQuery, QueryParams, uuidParam } from './validation';
import { ReadModel } from '../read/read-model';
import { Roles } from '../auth/roles';
import { ApiAuth, ApiErrors } from './api-docs';
import { PrivateNetworkDto, VmPrivateAttachmentDto } from './responses';

const uuid = uuidParam;
const IDEMPOTENCY = { name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' };

@ApiTags('private networks')
@ApiAuth()
@Roles('admin', 'operator')
@Controller('clusters')
export class PrivateNetworksController {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ReadModel,
    private readonly dry: DryRun,
  ) {}

  private async cluster(id: string) {
    if (!(await this.read.clusterRow(id))) throw new NotFoundException({ status: 404, code: 'cluster-not-found', message: `cluster ${id} not found` });
  }

  private async network(clusterId: string, networkId: string) {
    const n = await this.read.privateNetworkRow(networkId);
    if (!n || n.clusterId !== clusterId) {
      throw new NotFoundException({
        status: 404,
        code: 'private-network-not-found',
        message: `private network ${networkId} not found in cluster ${clusterId}`,
      });
    }
    return n;
  }

  @Post(':id/private-networks')
  @ApiOperation({ summary: "Create a tenant's private network: the control plane allocates its VNI (unique in the cluster)" })
  @ApiHeader(IDEMPOTENCY)
  @ApiResponse({ status: 201, type: PrivateNetworkDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async create(
    @Param('id', uuid) id: string,
    @Body() body: CreatePrivateNetworkBody,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    await this.cluster(id);
    if (dryRunParam(dryRun)) {
      res.status(200);
      return this.dry.run('CreatePrivateNetwork', { clusterId: id, ...body }, info.actor, undefined, 'ipam');
    }
    const { networkId } = await this.bus.send<{ networkId: string }>('ipam', 'CreatePrivateNetwork', { clusterId: id, ...body }, info);
    return this.read.privateNetworkWithAttachments(await this.network(id, networkId));
  }

  @Get(':id/private-networks')
  @ApiOperation({ summary: "List the cluster's private networks (optionally one owner's) with their attachments" })
  @ApiQuery({ name: 'ownerId', required: false })
  @ApiResponse({ status: 200, type: [PrivateNetworkDto] })
  @ApiErrors(400, 404)
  @QueryParams('ownerId')
  async list(@Param('id', uuid) id: string, @Query() q: Record<string, string>) {
    if (q.ownerId !== undefined && !OWNER_PATTERN.test(q.ownerId)) throw invalidQuery({ ownerId: ['invalid owner id'] });
    await this.cluster(id);
    return this.read.privateNetworks(id, q.ownerId);
  }

  @Get(':id/private-networks/:networkId')
  @ApiOperation({ summary: 'Get a private network with its attachments (VM, address, MAC)' })
  @ApiResponse({ status: 200, type: PrivateNetworkDto })
  @ApiErrors(400, 404)
  async get(@Param('id', uuid) id: string, @Param('networkId', uuid) networkId: string) {
    return this.read.privateNetworkWithAttachments(await this.network(id, networkId));
  }

  @Delete(':id/private-networks/:networkId')
  @ApiOperation({ summary: 'Delete a private network (409 private-network-in-use while VMs are attached); its VNI is freed' })
  @ApiHeader(IDEMPOTENCY)
  @ApiResponse({ status: 200, type: PrivateNetworkDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async remove(
    @Param('id', uuid) id: string,
    @Param('networkId', uuid) networkId: string,
    @Query('dryRun') dryRun: string | undefined,
    @ReqInfo() info: RequestInfo,
  ) {
    const before = await this.read.privateNetworkWithAttachments(await this.network(id, networkId));
    if (dryRunParam(dryRun)) return this.dry.run('DeletePrivateNetwork', { clusterId: id, networkId }, info.actor, undefined, 'ipam');
    await this.bus.send('ipam', 'DeletePrivateNetwork', { clusterId: id, networkId }, info);
    return { ...before, attachedVms: 0, attachments: [] };
  }
}

@ApiTags('private networks')
@ApiAuth()
@Roles('admin', 'operator')
@Controller('vms')
export class VmPrivateNetworksController {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ReadModel,
    private readonly dry: DryRun,
  ) {}

  private async vm(id: string) {
    await this.bus.waitForResource(id);
    const v = await this.read.vmRow(id);
    if (!v) throw new NotFoundException({ status: 404, code: 'vm-not-found', message: `vm ${id} not found` });
    return v;
  }

  @Get(':id/private-networks')
  @ApiOperation({ summary: "A VM's private addresses: one interface per attached network (and addresses cooling down after a detach)" })
  @ApiResponse({ status: 200, type: [VmPrivateAttachmentDto] })
  @ApiErrors(400, 404)
  async list(@Param('id', uuid) id: string) {
    await this.vm(id);
    return this.read.vmPrivateNetworks(id);
  }

  @Post(':id/private-networks')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Attach a VM to a private network of its owner in its cluster: an address from the network and a stable MAC for its interface',
    description: 'The VM must have its public address (status ip-allocated or later): 409 vm-not-ready before.',
  })
  @ApiHeader(IDEMPOTENCY)
  @ApiResponse({ status: 200, type: [VmPrivateAttachmentDto] })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async attach(
    @Param('id', uuid) id: string,
    @Body() body: AttachPrivateNetworkBody,
    @Query('dryRun') dryRun: string | undefined,
    @ReqInfo() info: RequestInfo,
  ) {
    const v = await this.vm(id);
    const n = await this.read.privateNetworkRow(body.networkId);
    if (n && n.clusterId !== v.clusterId) {
      throw new ConflictException({
        status: 409,
        code: 'private-network-other-cluster',
        message: `private network ${n.name} is in cluster ${n.clusterId}, vm ${id} in cluster ${v.clusterId}`,
      });
    }
    const payload = { clusterId: v.clusterId, networkId: body.networkId, vmId: id };
    if (dryRunParam(dryRun)) return this.dry.run('AttachPrivateNetwork', payload, info.actor, undefined, 'ipam');
    await this.bus.send('ipam', 'AttachPrivateNetwork', payload, info);
    return this.read.vmPrivateNetworks(id);
  }

  @Delete(':id/private-networks/:networkId')
  @ApiOperation({ summary: 'Detach a VM from a private network: its address is held for the release cool-down, then freed' })
  @ApiHeader(IDEMPOTENCY)
  @ApiResponse({ status: 200, type: [VmPrivateAttachmentDto] })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async detach(
    @Param('id', uuid) id: string,
    @Param('networkId', uuid) networkId: string,
    @Query('dryRun') dryRun: string | undefined,
    @ReqInfo() info: RequestInfo,
  ) {
    const v = await this.vm(id);
    const payload = { clusterId: v.clusterId, networkId, vmId: id };
    if (dryRunParam(dryRun)) return this.dry.run('DetachPrivateNetwork', payload, info.actor, undefined, 'ipam');
    await this.bus.send('ipam', 'DetachPrivateNetwork', payload, info);
    return this.read.vmPrivateNetworks(id);
  }
}
