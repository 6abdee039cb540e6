/**
 * RTBH on a real BGP lab: the API blackholes a VM's address, the node announces its /32 with the blackhole
 * community, and the FRR core installs it as a discard route (its traffic dropped); lifting it restores the
 * normal route through the node and the VM answers again.
 */
import { eventually } from '@fabric/testing/infra';
import { http } from '../support/control-plane';
import { coreRoute, type Fabric, pingFrom, startFabric } from '../support/fabric';
import { runIn } from '../support/net';

jest.setTimeout(600_000);

describe('RTBH on a real BGP lab', () => {
  let f: Fabric;

  beforeAll(async () => {
    f = await startFabric({ nodes: 1, rrs: 1 });
  });
  afterAll(async () => {
    await f?.close();
  });

  /** The core's kernel route to `ip` as iproute2 shows it (type blackhole for a discarded address). */
  async function kernelRoute(ip: string): Promise<{ type?: string; gateway?: string; dev?: string } | undefined> {
    const out = await runIn(undefined, 'ip', ['-j', '-n', f.lab.core.namespace, '-4', 'route', 'show', `${ip}/32`]);
    return (JSON.parse(out || '[]') as { type?: string; gateway?: string; dev?: string }[])[0];
  }

  it('blackholes the address at the core and restores it when lifted', async () => {
    const node = f.lab.nodes[0];
    const c = await http('POST', `${f.api}/vms`, {
      clusterId: f.clusterId,
      nodeId: f.nodeIds[node.name],
      name: 'victim',
      ownerId: 'customer-1',
      driver: 'netns',
      family: 4,
    });
    expect(c.status).toBe(202);
    const vm = await eventually(
      async () => {
        const g = await http('GET', `${f.api}/vms/${c.body.id}`);
        return g.body.ip ? g.body : undefined;
      },
      15000,
      50,
      'an address',
    );
    await eventually(async () => ((await coreRoute(f, vm.ip))?.gateway === node.ipv4 ? true : undefined), 60000, 100, `${vm.ip} at the core via the node`);
    await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 10000, 200, `ping ${vm.ip}`);

    const b = await http('POST', `${f.api}/vms/${vm.id}/blackhole`, { reason: 'lab: syn flood' });
    expect(b.status).toBe(200);
    const discarded = await eventually(
      async () => {
        const r = await kernelRoute(vm.ip);
        return r?.type === 'blackhole' ? r : undefined;
      },
      60000,
      100,
      `${vm.ip} a blackhole route at the core`,
    );
    expect(discarded.gateway).toBeUndefined();
    expect(await pingFrom(f.lab.core.namespace, vm.ip)).toBe(false);
    const bgp = JSON.parse(await runIn(undefined, 'vtysh', ['-N', f.lab.core.frr.pathspace, '-c', `show ip bgp ${vm.ip}/32 json`]));
    // FRR names 65535:666 "blackhole"; the core's route-map added NO_EXPORT.
    expect(bgp.paths?.[0]?.community?.list).toEqual(expect.arrayContaining(['65000:100', 'blackhole', 'noExport']));

    const l = await http('DELETE', `${f.api}/vms/${vm.id}/blackhole`);
    expect(l.status).toBe(200);
    await eventually(async () => ((await coreRoute(f, vm.ip))?.gateway === node.ipv4 ? true : undefined), 60000, 100, `${vm.ip} via the node again`);
    expect((await kernelRoute(vm.ip))?.type).not.toBe('blackhole');
    await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 10000, 200, `ping ${vm.ip} after the lift`);
  });
});
