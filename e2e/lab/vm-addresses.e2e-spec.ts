/**
 * Extra VM addresses on a real BGP lab: an extra IPv4 address of a running VM is routed on its node, accepted by
 * the RR (its origin placement), installed at the FRR core and answers ping from the core; removing it withdraws
 * it at the core (the primary stays); deleting the VM withdraws every address. A migration moves every address.
 * A VM created without a family in the (dual-stack) lab cluster gets an IPv4 and an IPv6 address, both at the core.
 */
import { eventually } from '@fabric/testing/infra';
import { http } from '../support/control-plane';
import { atCoreVia, coreRoute, type Fabric, goneAtCore, pingFrom, startFabric } from '../support/fabric';

jest.setTimeout(600_000);

describe('extra VM addresses on a real BGP lab', () => {
  let f: Fabric;

  beforeAll(async () => {
    f = await startFabric({ nodes: 2, rrs: 1 });
  });
  afterAll(async () => {
    await f?.close();
  });

  const atCore = (ip: string, via: string) => atCoreVia(f, ip, via);
  const goneAt = (ip: string) => goneAtCore(f, ip);

  const createVm = async (name: string, nodeName: string, family?: 4) => {
    const body = { clusterId: f.clusterId, nodeId: f.nodeIds[nodeName], name, ownerId: 'customer-1', driver: 'netns', ...(family ? { family } : {}) };
    const c = await http('POST', `${f.api}/vms`, body);
    expect(c.status).toBe(202);
    return eventually(
      async () => {
        const g = await http('GET', `${f.api}/vms/${c.body.id}`);
        return g.body.ip ? g.body : undefined;
      },
      15000,
      50,
      'an address',
    );
  };
  const add = async (vmId: string) => {
    const r = await http('POST', `${f.api}/vms/${vmId}/addresses`, { family: 4 });
    expect(r.status).toBe(202);
    return eventually(
      async () =>
        (await http('GET', `${f.api}/vms/${vmId}`)).body.addresses.find((a: any) => a.requestId === r.body.requestId && a.ip && a.status !== 'requested'),
      15000,
      50,
      'the extra address allocated',
    );
  };

  it('an extra address reaches the core and answers ping; removed, it is withdrawn; the VM deleted, all are gone', async () => {
    const node = f.lab.nodes[0];
    const vm = await createVm('multi', node.name, 4);
    const vmId = vm.id as string;
    await atCore(vm.ip, node.ipv4);

    const extra = await add(vmId);
    expect(extra).toMatchObject({ family: 4, primary: false });
    expect(extra.ip).not.toBe(vm.ip);
    await atCore(extra.ip, node.ipv4);
    await eventually(() => pingFrom(f.lab.core.namespace, extra.ip), 10000, 200, `ping ${extra.ip}`);
    // The read model follows the address to the core, like the VM's own route.
    await eventually(
      async () => ((await http('GET', `${f.api}/vms/${vmId}`)).body.addresses.find((a: any) => a.ip === extra.ip)?.status === 'at-core' ? true : undefined),
      30000,
      100,
      `${extra.ip} at-core in the read model`,
    );

    const second = await add(vmId);
    await atCore(second.ip, node.ipv4);
    expect((await http('DELETE', `${f.api}/vms/${vmId}/addresses/${extra.ip}`)).status).toBe(202);
    await goneAt(extra.ip);
    expect(await pingFrom(f.lab.core.namespace, extra.ip)).toBe(false);
    // The rest of the VM is untouched.
    expect((await coreRoute(f, vm.ip))?.gateway).toBe(node.ipv4);
    expect((await coreRoute(f, second.ip))?.gateway).toBe(node.ipv4);
    await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 10000, 200, `ping ${vm.ip}`);

    expect((await http('DELETE', `${f.api}/vms/${vmId}`)).status).toBe(202);
    await goneAt(vm.ip);
    await goneAt(second.ip);
  });

  it('a VM created without a family in the dual-stack lab cluster gets a /32 and a /128; both reach the core and answer ping', async () => {
    const node = f.lab.nodes[1];
    const vm = await createVm('dual', node.name);
    const vmId = vm.id as string;
    const v6 = await eventually(
      async () => (await http('GET', `${f.api}/vms/${vmId}`)).body.addresses.find((a: any) => a.family === 6 && a.ip && a.status !== 'requested'),
      15000,
      50,
      'the IPv6 address allocated',
    );
    expect(vm.family).toBe(4);
    expect(v6).toMatchObject({ family: 6, primary: false, status: expect.not.stringMatching(/^failed$/) });
    await atCore(vm.ip, node.ipv4);
    await atCore(v6.ip, node.ipv6);
    await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 10000, 200, `ping ${vm.ip}`);
    await eventually(() => pingFrom(f.lab.core.namespace, v6.ip), 10000, 200, `ping ${v6.ip}`);
    // The read model follows both routes to the core: the primary as the VM's status, the second as its own.
    await eventually(
      async () => {
        const addrs = (await http('GET', `${f.api}/vms/${vmId}`)).body.addresses as any[];
        return addrs.length === 2 && addrs.every((a) => a.status === 'at-core') ? true : undefined;
      },
      30000,
      100,
      'both addresses at-core in the read model',
    );
    expect((await http('DELETE', `${f.api}/vms/${vmId}`)).status).toBe(202);
    await goneAt(vm.ip);
    await goneAt(v6.ip);
  });

  it('a migration moves every address of the VM to the new node (make-before-break)', async () => {
    const [n1, n2] = f.lab.nodes;
    const vm = await createVm('mover', n1.name, 4);
    const extra = await add(vm.id);
    await atCore(extra.ip, n1.ipv4);
    expect((await http('POST', `${f.api}/vms/${vm.id}/migrate`, { nodeId: f.nodeIds[n2.name] })).status).toBe(202);
    await eventually(
      async () => ((await http('GET', `${f.api}/vms/${vm.id}`)).body.status !== 'migrating' ? true : undefined),
      60000,
      100,
      'migration completed',
    );
    await atCore(vm.ip, n2.ipv4);
    await atCore(extra.ip, n2.ipv4);
    await eventually(() => pingFrom(f.lab.core.namespace, extra.ip), 10000, 200, `ping ${extra.ip} on ${n2.name}`);
    expect((await http('DELETE', `${f.api}/vms/${vm.id}`)).status).toBe(202);
    await goneAt(vm.ip);
    await goneAt(extra.ip);
  });
});
