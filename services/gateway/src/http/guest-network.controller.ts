/**
 * What a hypervisor and a guest need to plug a VM into the fabric (docs/operations/hypervisors.md): the libvirt
 * `<interface>`, the LXD `nic` device and the guest's cloud-init network-config v2, rendered from the read model.
 */
import { BadRequestException, ConflictException, Controller, Get, NotFoundException, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOperation, ApiProduces, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { GuestNetworkInput, renderLibvirtInterface, renderLxdDevice, renderNetworkConfig, vmGuestMac } from '@fabric/renderers';
import { vmInterfaceName } from '@fabric/contracts';
import { CommandBus } from './command-bus';
import { ReadModel } from '../read/read-model';
import { Roles } from '../auth/roles';
import { ApiAuth, ApiErrors } from './api-docs';
import { QueryParams, uuidParam } from './validation';

const uuid = uuidParam;
const DRIVER_OF = { libvirt: 'tap', lxd: 'veth' } as const;

@ApiTags('vms')
@ApiAuth()
@Roles('admin', 'operator')
@Controller('vms')
export class GuestNetworkController {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ReadModel,
  ) {}

  @Get(':id/libvirt-interface')
  @ApiOperation({ summary: "libvirt domain XML <interface type='ethernet'>: the tap the node agent configures, the guest MAC, no bridge" })
  @ApiProduces('application/xml')
  @QueryParams('managed')
  @ApiQuery({ name: 'managed', required: false, enum: ['yes', 'no'], description: "no: the tap is created before the domain starts (libvirt `managed='no'`)" })
  @ApiResponse({ status: 200, description: 'XML fragment for the domain <devices>', content: { 'application/xml': { schema: { type: 'string' } } } })
  @ApiErrors(400, 404, 409)
  async libvirt(@Param('id', uuid) id: string, @Query('managed') managed: string | undefined, @Res() res: Response) {
    if (managed !== undefined && managed !== 'yes' && managed !== 'no') {
      throw new BadRequestException({ status: 400, code: 'validation-failed', message: 'invalid query', fields: { managed: ['must be yes or no'] } });
    }
    const input = await this.input(id, 'libvirt');
    res.type('application/xml').send(renderLibvirtInterface(input, { precreatedTap: managed === 'no' }));
  }

  @Get(':id/lxd-device')
  @ApiOperation({ summary: 'LXD nic device (nictype p2p: a veth with host_name, configured by the node agent)' })
  @ApiResponse({ status: 200, description: '`devices` entry for the instance config' })
  @ApiErrors(400, 404, 409)
  async lxd(@Param('id', uuid) id: string) {
    return renderLxdDevice(await this.input(id, 'lxd'));
  }

  @Get(':id/network-config')
  @ApiOperation({ summary: 'cloud-init network-config v2 of the guest: its /32 or /128, matched by its MAC, on-link default route to the gateway' })
  @ApiProduces('application/yaml')
  @ApiResponse({
    status: 200,
    description: 'YAML; `X-Guest-Mac` and `X-Host-Interface` headers',
    content: { 'application/yaml': { schema: { type: 'string' } } },
  })
  @ApiErrors(400, 404, 409)
  async networkConfig(@Param('id', uuid) id: string, @Res() res: Response) {
    const input = await this.input(id);
    res
      .type('application/yaml')
      .set('X-Guest-Mac', vmGuestMac(input.vmId, input.gateway.mac))
      .set('X-Host-Interface', vmInterfaceName(input.vmId))
      .send(renderNetworkConfig(input));
  }

  private async input(id: string, hypervisor?: keyof typeof DRIVER_OF): Promise<GuestNetworkInput> {
    await this.bus.waitForResource(id);
    const vm = await this.read.vmRow(id);
    if (!vm || vm.status === 'deleted') throw new NotFoundException({ status: 404, code: 'vm-not-found', message: `vm ${id} not found` });
    if (hypervisor && vm.driver !== DRIVER_OF[hypervisor]) {
      throw new ConflictException({
        status: 409,
        code: 'driver-mismatch',
        message: `vm ${id} uses driver ${vm.driver}; ${hypervisor} needs driver ${DRIVER_OF[hypervisor]}`,
      });
    }
    if (!vm.ip) throw new ConflictException({ status: 409, code: 'ip-not-allocated', message: `vm ${id} has no address yet (status ${vm.status})` });
    const cluster = await this.read.clusterRow(vm.clusterId);
    if (!cluster) throw new NotFoundException({ status: 404, code: 'cluster-not-found', message: `cluster ${vm.clusterId} not found` });
    const extraIps = (await this.read.vmAddresses(vm))
      .filter((a) => !a.primary && a.ip && !['requested', 'failed', 'releasing'].includes(a.status))
      .map((a) => a.ip!);
    return { vmId: vm.id, ip: vm.ip, family: vm.family === 6 ? 6 : 4, gateway: cluster.gateway, ...(extraIps.length ? { extraIps } : {}) };
  }
}
