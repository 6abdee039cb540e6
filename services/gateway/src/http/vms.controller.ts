import { BadRequestException, Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { CreateVm, OWNER_PATTERN, UUID_PATTERN, canonicalIp, isIp } from '@fabric/contracts';
import { CommandBus, RequestInfo } from './command-bus';
import { DryRun, DryRunQuery, dryRunParam } from './dry-run';
import { AddVmAddressBody, BlackholeBody, MigrateVmBody } from './dto';
import { ReqInfo } from './request-info';
import { intParam, invalidQuery, QueryParams, uuidParam } from './validation';
import { ReadModel } from '../read/read-model';
import { ApiHeader, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/roles';
import { ApiAuth, ApiErrors } from './api-docs';
import { VmAcceptedDto, VmAddressAcceptedDto, VmDto, VmWithHistoryDto } from './responses';

const uuid = uuidParam;
const STATUSES = ['requested', 'ip-allocated', 'applied', 'announced', 'at-core', 'failed', 'migrating', 'deleted'];

@ApiTags('vms')
@ApiAuth()
@Roles('admin', 'operator')
@Controller('vms')
export class VmsController {
  constructor(
    private readonly bus: CommandBus,
    private readonly dry: DryRun,
    private readonly read: ReadModel,
  ) {}

  /** Accepted: the address is allocated and the route announced asynchronously; follow GET /vms/:id. */
  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Create a VM: an address is allocated and its route announced asynchronously (follow GET /vms/:id)' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 202, type: VmAcceptedDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async create(@Body() body: CreateVm, @Query('dryRun') dryRun: string | undefined, @Res({ passthrough: true }) res: Response, @ReqInfo() info: RequestInfo) {
    if (dryRunParam(dryRun)) {
      const answer = await this.dry.run('CreateVm', body, info.actor, this.dry.newVmAddresses);
      res.status(200);
      return answer;
    }
    const { vmId, addresses } = await this.bus.send<{ vmId: string; addresses: object[] }>('inventory', 'CreateVm', body, info, {
      acceptedResource: (r) => r.vmId,
    });
    return { id: vmId, status: 'requested', addresses, links: { self: `/api/v1/vms/${vmId}` } };
  }

  @Get()
  @ApiOperation({ summary: 'List VMs' })
  @ApiQuery({ name: 'clusterId', required: false })
  @ApiQuery({ name: 'nodeId', required: false })
  @ApiQuery({ name: 'ownerId', required: false })
  @ApiQuery({ name: 'status', required: false, enum: STATUSES })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-10000, default 1000' })
  @ApiQuery({ name: 'offset', required: false, type: Number })
  @ApiResponse({ status: 200, type: [VmDto] })
  @ApiErrors(400)
  @QueryParams('clusterId', 'nodeId', 'ownerId', 'status', 'limit', 'offset')
  list(@Query() q: Record<string, string>) {
    const fields: Record<string, string[]> = {};
    if (q.clusterId && !UUID_PATTERN.test(q.clusterId)) fields.clusterId = ['must be a UUID'];
    if (q.nodeId && !UUID_PATTERN.test(q.nodeId)) fields.nodeId = ['must be a UUID'];
    if (q.ownerId && !OWNER_PATTERN.test(q.ownerId)) fields.ownerId = ['invalid owner id'];
    if (q.status && !STATUSES.includes(q.status)) fields.status = [`must be one of ${STATUSES.join(', ')}`];
    const limit = intParam(fields, 'limit', q.limit, 1, 10_000) ?? 1000;
    // Postgres OFFSET is a bigint; anything past 2^31 is no real page anyway.
    const offset = intParam(fields, 'offset', q.offset, 0, 2_147_483_647) ?? 0;
    if (Object.keys(fields).length) throw invalidQuery(fields);
    return this.read.vms({ clusterId: q.clusterId, nodeId: q.nodeId, ownerId: q.ownerId, status: q.status }, limit, offset);
  }

  @Get(':id')
  @Roles('admin', 'operator', 'rtbh')
  @ApiOperation({ summary: 'Get a VM with its status history (requested → ip-allocated → applied → announced → at-core)' })
  @ApiResponse({ status: 200, type: VmWithHistoryDto })
  @ApiErrors(400, 404)
  async get(@Param('id', uuid) id: string) {
    await this.bus.waitForResource(id);
    const vm = await this.read.vmWithHistory(id);
    if (!vm) throw new NotFoundException({ status: 404, code: 'vm-not-found', message: `vm ${id} not found` });
    return vm;
  }

  @Delete(':id')
  @HttpCode(202)
  @ApiOperation({ summary: 'Delete a VM (its address is held during the release cool-down)' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 202, type: VmAcceptedDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async remove(
    @Param('id', uuid) id: string,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    if (dryRunParam(dryRun)) {
      const answer = await this.dry.run('DeleteVm', { vmId: id }, info.actor);
      res.status(200);
      return answer;
    }
    await this.bus.send('inventory', 'DeleteVm', { vmId: id }, info);
    return { id, status: 'deleted' };
  }

  @Post(':id/blackhole')
  @HttpCode(200)
  @Roles('admin', 'operator', 'rtbh')
  @ApiOperation({ summary: 'RTBH: announce the VM address with the blackhole community; the core discards its traffic (audited with actor and reason)' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: VmDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async blackhole(@Param('id', uuid) id: string, @Body() body: BlackholeBody, @Query('dryRun') dryRun: string | undefined, @ReqInfo() info: RequestInfo) {
    if (dryRunParam(dryRun)) return this.dry.run('BlackholeVm', { vmId: id, reason: body.reason }, info.actor);
    await this.bus.send('inventory', 'BlackholeVm', { vmId: id, reason: body.reason }, info);
    return this.read.vm((await this.read.vmRow(id))!);
  }

  @Delete(':id/blackhole')
  @HttpCode(200)
  @Roles('admin', 'operator', 'rtbh')
  @ApiOperation({ summary: 'Lift the RTBH: the VM address is announced normally again' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 200, type: VmDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async liftBlackhole(@Param('id', uuid) id: string, @Query('dryRun') dryRun: string | undefined, @ReqInfo() info: RequestInfo) {
    if (dryRunParam(dryRun)) return this.dry.run('LiftBlackhole', { vmId: id }, info.actor);
    await this.bus.send('inventory', 'LiftBlackhole', { vmId: id }, info);
    return this.read.vm((await this.read.vmRow(id))!);
  }

  @Post(':id/migrate')
  @HttpCode(202)
  @ApiOperation({ summary: 'Migrate a VM to another node (make-before-break)' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 202, type: VmAcceptedDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async migrate(
    @Param('id', uuid) id: string,
    @Body() body: MigrateVmBody,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    if (dryRunParam(dryRun)) {
      const answer = await this.dry.run('MigrateVm', { vmId: id, nodeId: body.nodeId }, info.actor);
      res.status(200);
      return answer;
    }
    await this.bus.send('inventory', 'MigrateVm', { vmId: id, nodeId: body.nodeId }, info);
    return { id, status: 'migrating', nodeId: body.nodeId };
  }

  /** Accepted: IPAM allocates the address asynchronously; follow GET /vms/:id (`addresses`). */
  @Post(':id/addresses')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Add an extra address to a VM: allocated from the cluster pools of the family (or the one asked for), then routed like the primary',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 202, type: VmAddressAcceptedDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async addAddress(
    @Param('id', uuid) id: string,
    @Body() body: AddVmAddressBody,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    const payload = { vmId: id, ...(body.family !== undefined ? { family: body.family } : {}), ...(body.ip !== undefined ? { ip: body.ip } : {}) };
    if (dryRunParam(dryRun)) {
      const answer = await this.dry.run('AddVmAddress', payload, info.actor, this.dry.extraAddress);
      res.status(200);
      return answer;
    }
    const r = await this.bus.send<{ vmId: string; requestId: string }>('inventory', 'AddVmAddress', payload, info);
    const family = body.family ?? (body.ip !== undefined && isIp(body.ip, 6) ? 6 : 4);
    return {
      vmId: id,
      requestId: r.requestId,
      family,
      ...(body.ip !== undefined ? { ip: canonicalIp(body.ip) } : {}),
      status: 'requested',
      links: { self: `/api/v1/vms/${id}` },
    };
  }

  @Delete(':id/addresses/:ip')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Remove an extra address of a VM: withdrawn at once, held by IPAM for the release cool-down (the primary address cannot be removed)',
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' })
  @ApiResponse({ status: 202, description: '{vmId, ip, status: "releasing"}' })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async removeAddress(
    @Param('id', uuid) id: string,
    @Param('ip') ip: string,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    if (!isIp(ip))
      throw new BadRequestException({
        status: 400,
        code: 'invalid-ip',
        message: 'ip must be an IPv4 or IPv6 address',
        fields: { ip: ['must be an IP address'] },
      });
    const payload = { vmId: id, ip: canonicalIp(ip) };
    if (dryRunParam(dryRun)) {
      const answer = await this.dry.run('RemoveVmAddress', payload, info.actor);
      res.status(200);
      return answer;
    }
    await this.bus.send('inventory', 'RemoveVmAddress', payload, info);
    return { vmId: id, ip: payload.ip, status: 'releasing' };
  }
}
