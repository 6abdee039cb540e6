/**
 * A direct (RR-less) lab cluster on real BGP: no route reflector, every node peers the FRR core over eBGP. A VM's
 * /32 reaches the core via its node; a joining node becomes a new core neighbor with no manual step; a migration
 * moves the route make-before-break and completes (its new route is seen at the core itself).
 */
import { DIRECT_TOPOLOGY_WARNING } from '@fabric/contracts';
import { eventually } from '@fabric/testing/infra';
import { http } from '../support/control-plane';
import { coreRoute, type Fabric, pingFrom, startFabric } from '../support/fabric';
import { runIn } from '../support/net';

jest.setTimeout(600_000);

describe('direct topology (lab only): nodes peer the core', () => {
  let f: Fabric;

  beforeAll(async () => {
    f = await startFabric({ nodes: 2, rrs: 0, registerNodes: 1 });
  });
  afterAll(async () => {
    await f?.close();
  });

  const node = (name: string) => f.lab.nodes.find((n) => n.name === name)!;
  /** The core's BGP neighbors (address → state), as bgpd shows them. */
  async function coreNeighbors(): Promise<Record<string, string>> {
    const out = JSON.parse(await runIn(undefined, 'vtysh', ['-N', f.lab.core.frr.pathspace, '-c', 'show bgp neighbors json']));
    return Object.fromEntries(Object.entries(out as Record<string, { bgpState?: string }>).map(([ip, n]) => [ip, n.bgpState ?? '']));
  }
  async function createVm(name: string, nodeName: string): Promise<{ id: string; ip: string }> {
    const r = await http('POST', `${f.api}/vms`, {
      clusterId: f.clusterId,
      nodeId: f.nodeIds[nodeName],
      name,
      ownerId: 'customer-1',
      driver: 'netns',
      family: 4,
    });
    expect(r.status).toBe(202);
    return eventually(
      async () => {
        const g = await http('GET', `${f.api}/vms/${r.body.id}`);
        return g.body.ip ? g.body : undefined;
      },
      15000,
      50,
      `${name} to get an address`,
    );
  }

  it('shows the lab-only warning on the cluster', async () => {
    const g = await http('GET', `${f.api}/clusters/${f.clusterId}`);
    expect(g.status).toBe(200);
    expect(g.body).toMatchObject({ topology: 'direct', routeReflectors: [], warning: DIRECT_TOPOLOGY_WARNING });
  });

  it("brings a VM's route to the core over the node's own session", async () => {
    const n1 = node('node1');
    await eventually(async () => ((await coreNeighbors())[n1.ipv4] === 'Established' ? true : undefined), 60000, 200, 'core session to node1');
    expect(Object.keys(await coreNeighbors())).toEqual([n1.ipv4]);
    const vm = await createVm('web1', 'node1');
    await eventually(async () => ((await coreRoute(f, vm.ip))?.gateway === n1.ipv4 ? true : undefined), 60000, 100, `${vm.ip} at the core via node1`);
    await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 10000, 200, `ping ${vm.ip}`);
    await eventually(async () => ((await http('GET', `${f.api}/vms/${vm.id}`)).body.status === 'at-core' ? true : undefined), 30000, 100, 'status at-core');
  });

  it('adds a core neighbor when a node joins, then moves a VM there make-before-break', async () => {
    const n2 = node('node2');
    const j = await http('POST', `${f.api}/clusters/${f.clusterId}/nodes`, { name: 'node2', underlayIp: n2.ipv4, underlayIp6: n2.ipv6 });
    expect(j.status).toBe(201);
    f.nodeIds.node2 = j.body.id;
    await f.startMemberAgent('node2');
    await eventually(async () => ((await coreNeighbors())[n2.ipv4] === 'Established' ? true : undefined), 60000, 200, 'core session to node2');
    expect(Object.keys(await coreNeighbors()).sort()).toEqual([node('node1').ipv4, n2.ipv4].sort());

    const vm = await createVm('web2', 'node1');
    await eventually(async () => ((await coreRoute(f, vm.ip))?.gateway === node('node1').ipv4 ? true : undefined), 60000, 100, `${vm.ip} via node1`);
    const m = await http('POST', `${f.api}/vms/${vm.id}/migrate`, { nodeId: f.nodeIds.node2 });
    expect(m.status).toBe(202);
    await eventually(async () => ((await coreRoute(f, vm.ip))?.gateway === n2.ipv4 ? true : undefined), 60000, 50, `${vm.ip} via node2`);
    await eventually(
      async () => {
        const g = await http('GET', `${f.api}/vms/${vm.id}`);
        return g.body.status === 'at-core' && g.body.nodeId === f.nodeIds.node2 ? true : undefined;
      },
      60000,
      100,
      'migration completed',
    );
    await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 10000, 200, `ping ${vm.ip} on node2`);
  });
});
