/** Floating addresses (modelled in IPAM): held by an owner, attached to one VM of its cluster, moved make-before-break. */
import { Body, Controller, Delete, ForbiddenException, Get, HttpCode, Inject, NotFoundException, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiProperty, ApiPropertyOptional, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { IsBoolean, IsOptional } from 'class-validator';
import type { Response } from 'express';
import { AllocateFloatingAddress, IsCanonicalUuid, OWNER_PATTERN, UUID_PATTERN } from '@fabric/contracts';
import { DataSource } from 'typeorm';
import { CommandBus, RequestInfo } from './command-bus';
import { DryRun, DryRunQuery, dryRunParam } from './dry-run';
import { ReqInfo } from './request-info';
import { invalidQuery, QueryParams, uuidParam } from './validation';
import { Roles } from '../auth/roles';
import { type AuthedRequest } from '../auth/auth.guard';
import { ApiAuth, ApiErrors } from './api-docs';
import { floatingAddresses } from '../read/floating-read';
import { ReadModel } from '../read/read-model';
import { DATA_SOURCE } from '../tokens';

const IDEMPOTENCY = { name: 'Idempotency-Key', required: false, description: 'retry-safe write: the same key returns the same result' };

export class AttachFloatingBody {
  @ApiProperty({ format: 'uuid', description: 'a VM of the same cluster and owner; attached elsewhere, the address moves (make-before-break)' })
  @IsCanonicalUuid()
  vmId: string;
  @ApiPropertyOptional({ description: 'admin tokens only: attach to a VM of another owner' })
  @IsOptional()
  @IsBoolean()
  allowOtherOwner?: boolean;
}

export class FloatingAddressDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) clusterId: string;
  @ApiProperty({ example: 'cust-42' }) ownerId: string;
  @ApiProperty({ example: '203.0.113.60' }) ip: string;
  @ApiProperty({ enum: [4, 6] }) family: number;
  @ApiProperty({ enum: ['allocated', 'attached', 'moving', 'releasing'] }) status: string;
  @ApiProperty({ format: 'uuid', nullable: true, description: 'the VM it is attached to' }) vmId: string | null;
  @ApiProperty({ format: 'uuid', nullable: true, description: 'moving: the VM it leaves once the new node announces it' }) fromVmId: string | null;
  @ApiProperty({ enum: ['at-core', 'announced', 'none'] }) route: string;
  @ApiProperty({ type: [String], description: 'next hops the core holds for the address (two during a move)' }) coreNextHops: string[];
  @ApiProperty({ format: 'date-time' }) allocatedAt: string;
  @ApiProperty({ format: 'date-time', nullable: true }) releaseAt: string | null;
}

@ApiTags('floating addresses')
@ApiAuth()
@Roles('admin', 'operator')
@Controller('floating-addresses')
export class FloatingAddressesController {
  constructor(
    private readonly bus: CommandBus,
    private readonly dry: DryRun,
    private readonly read: ReadModel,
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
  ) {}

  private async one(id: string) {
    const [f] = await floatingAddresses(this.ds, { id });
    if (!f) throw new NotFoundException({ status: 404, code: 'floating-address-not-found', message: `floating address ${id} not found` });
    return f;
  }

  @Post()
  @ApiOperation({ summary: "Allocate a floating address to an owner from the cluster's pools (the next free one, or `ip`)" })
  @ApiHeader(IDEMPOTENCY)
  @ApiResponse({ status: 201, type: FloatingAddressDto })
  @ApiErrors(400, 404, 409, 422)
  @DryRunQuery()
  async create(
    @Body() body: AllocateFloatingAddress,
    @Query('dryRun') dryRun: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @ReqInfo() info: RequestInfo,
  ) {
    if (!(await this.read.clusterRow(body.clusterId)))
      throw new NotFoundException({ status: 404, code: 'cluster-not-found', message: `cluster ${body.clusterId} not found` });
    if (dryRunParam(dryRun)) {
      res.status(200);
      return this.dry.run('AllocateFloatingAddress', body, info.actor, undefined, 'ipam');
    }
    const { floatingId } = await this.bus.send<{ floatingId: string }>('ipam', 'AllocateFloatingAddress', body, info);
    return this.one(floatingId);
  }

  @Get()
  @ApiOperation({ summary: 'List floating addresses (optionally one owner’s, one cluster’s)' })
  @ApiQuery({ name: 'owner', required: false })
  @ApiQuery({ name: 'clusterId', required: false })
  @ApiResponse({ status: 200, type: [FloatingAddressDto] })
  @ApiErrors(400)
  @QueryParams('owner', 'clusterId')
  async list(@Query() q: Record<string, string>) {
    if (q.owner !== undefined && !OWNER_PATTERN.test(q.owner)) throw invalidQuery({ owner: ['invalid owner id'] });
    if (q.clusterId !== undefined && !UUID_PATTERN.test(q.clusterId)) throw invalidQuery({ clusterId: ['must be a UUID'] });
    return floatingAddresses(this.ds, { ownerId: q.owner, clusterId: q.clusterId });
  }

  @Get(':id')
  @ApiOperation({ summary: 'A floating address: status, attached VM (and the VM it leaves during a move), route status' })
  @ApiResponse({ status: 200, type: FloatingAddressDto })
  @ApiErrors(400, 404)
  get(@Param('id', uuidParam) id: string) {
    return this.one(id);
  }

  @Post(':id/attach')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Attach to a VM, or move to another VM: the new node announces it first, the old one withdraws once the route is at the RRs',
    description: '409 owner-mismatch for a VM of another owner (admin tokens may pass allowOtherOwner), 409 move-in-progress during a move.',
  })
  @ApiHeader(IDEMPOTENCY)
  @ApiResponse({ status: 200, type: FloatingAddressDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async attach(
    @Param('id', uuidParam) id: string,
    @Body() body: AttachFloatingBody,
    @Query('dryRun') dryRun: string | undefined,
    @Req() req: AuthedRequest,
    @ReqInfo() info: RequestInfo,
  ) {
    const f = await this.one(id);
    if (body.allowOtherOwner && req.principal?.role !== 'admin')
      throw new ForbiddenException({ status: 403, code: 'forbidden', message: 'only an admin token may attach to a VM of another owner (allowOtherOwner)' });
    const vm = await this.read.vmRow(body.vmId);
    if (!vm) throw new NotFoundException({ status: 404, code: 'vm-not-found', message: `vm ${body.vmId} not found` });
    const payload = { clusterId: f.clusterId, floatingId: id, vmId: body.vmId, ...(body.allowOtherOwner ? { allowOtherOwner: true } : {}) };
    if (dryRunParam(dryRun)) return this.dry.run('AttachFloatingAddress', payload, info.actor, undefined, 'ipam');
    await this.bus.send('ipam', 'AttachFloatingAddress', payload, info);
    return this.one(id);
  }

  @Post(':id/detach')
  @HttpCode(200)
  @ApiOperation({ summary: 'Detach from its VM: withdrawn at once; the address stays its owner’s' })
  @ApiHeader(IDEMPOTENCY)
  @ApiResponse({ status: 200, type: FloatingAddressDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async detach(@Param('id', uuidParam) id: string, @Query('dryRun') dryRun: string | undefined, @ReqInfo() info: RequestInfo) {
    const f = await this.one(id);
    const payload = { clusterId: f.clusterId, floatingId: id };
    if (dryRunParam(dryRun)) return this.dry.run('DetachFloatingAddress', payload, info.actor, undefined, 'ipam');
    await this.bus.send('ipam', 'DetachFloatingAddress', payload, info);
    return this.one(id);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Release: held for the release cool-down, then back in its pool; 409 floating-address-attached while attached' })
  @ApiHeader(IDEMPOTENCY)
  @ApiResponse({ status: 200, type: FloatingAddressDto })
  @ApiErrors(400, 404, 409)
  @DryRunQuery()
  async remove(@Param('id', uuidParam) id: string, @Query('dryRun') dryRun: string | undefined, @ReqInfo() info: RequestInfo) {
    const f = await this.one(id);
    const payload = { clusterId: f.clusterId, floatingId: id };
    if (dryRunParam(dryRun)) return this.dry.run('ReleaseFloatingAddress', payload, info.actor, undefined, 'ipam');
    await this.bus.send('ipam', 'ReleaseFloatingAddress', payload, info);
    const [after] = await floatingAddresses(this.ds, { id });
    // Released at once without a cool-down: the row is gone.
    return after ?? { ...f, status: 'released', vmId: null, fromVmId: null, route: 'none', coreNextHops: [] };
  }
}
