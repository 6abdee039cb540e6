/**
 * Tenant private networks over VXLAN/EVPN on a real lab (docs/operations/private-networks.md): FRR beside BIRD on
 * the nodes and the RR. Two tenants each get a network with the SAME block (separate L2 domains, VNIs apart); each
 * has a VM on node1 and one on node2. The VMs of one network reach each other across the nodes (type-2 and type-3
 * routes reflected by the RR's FRR); the other tenant's VM with the same address is never the one answering; the
 * public /32s still reach the core; a VM migrated to a third node keeps its private address and MAC, reachable from
 * its network's VM on another node, and the node it left drops the VNI; deleting a VM removes its port and, with the
 * last VM, the node's VNI.
 */
import { vmNamespaceName } from '../../agents/src/roles/node';
import { eventually } from '@fabric/testing/infra';
import { http } from '../support/control-plane';
import { coreRoute, type Fabric, pingFrom, startFabric } from '../support/fabric';
import { evpnRoutes as evpnRoutesOf, linkNames, neighbourMac, nodeNamespace, type2, type3 } from '../support/evpn';
import { runIn } from '../support/net';

jest.setTimeout(600_000);

interface Vm {
  id: string;
  ip: string;
  node: string;
  ns: string;
  priv?: { ip: string; mac: string; vni: number };
}

describe('private networks (VXLAN + EVPN) on a real BGP lab', () => {
  let f: Fabric;
  const vms: Record<'a1' | 'a2' | 'b1' | 'b2', Vm> = {} as never;
  const nets: Record<'a' | 'b', { id: string; vni: number }> = {} as never;

  beforeAll(async () => {
    f = await startFabric({ nodes: 3, rrs: 1, evpn: true });
  });
  afterAll(async () => {
    await f?.close();
  });

  const nodeNs = (node: string) => nodeNamespace(f, node);
  const evpnRoutes = (node: string) => evpnRoutesOf(f, node);
  const links = (node: string) => linkNames(nodeNs(node));

  async function createVm(name: string, owner: string, node: string): Promise<Vm> {
    const r = await http('POST', `${f.api}/vms`, { clusterId: f.clusterId, nodeId: f.nodeIds[node], name, ownerId: owner, driver: 'netns', family: 4 });
    expect(r.status).toBe(202);
    const vm = await eventually(
      async () => {
        const g = await http('GET', `${f.api}/vms/${r.body.id}`);
        return g.body.ip ? (g.body as { id: string; ip: string }) : undefined;
      },
      30000,
      100,
      `${name} has an address`,
    );
    const prefix = f.lab.nodes.find((n) => n.name === node)!.vmNamespacePrefix;
    return { id: vm.id, ip: vm.ip, node, ns: vmNamespaceName(prefix, vm.id) };
  }

  it('creates two tenants’ networks with the same block and attaches a VM of each on both nodes', async () => {
    for (const [k, owner] of [
      ['a', 'tenant-a'],
      ['b', 'tenant-b'],
    ] as const) {
      const r = await http('POST', `${f.api}/clusters/${f.clusterId}/private-networks`, { ownerId: owner, name: 'backend', cidr: '192.168.50.0/24' });
      expect(r.status).toBe(201);
      nets[k] = { id: r.body.id, vni: r.body.vni };
    }
    expect(nets.a.vni).not.toBe(nets.b.vni);
    vms.a1 = await createVm('a1', 'tenant-a', 'node1');
    vms.a2 = await createVm('a2', 'tenant-a', 'node2');
    vms.b1 = await createVm('b1', 'tenant-b', 'node1');
    vms.b2 = await createVm('b2', 'tenant-b', 'node2');
    for (const [k, net] of [
      ['a1', nets.a],
      ['a2', nets.a],
      ['b1', nets.b],
      ['b2', nets.b],
    ] as const) {
      const r = await http('POST', `${f.api}/vms/${vms[k].id}/private-networks`, { networkId: net.id });
      expect(r.status).toBe(200);
      vms[k].priv = { ip: r.body[0].ip, mac: r.body[0].mac, vni: r.body[0].vni };
    }
    // Same block, separate L2 domains: each tenant's first two addresses.
    expect([vms.a1.priv!.ip, vms.a2.priv!.ip]).toEqual([vms.b1.priv!.ip, vms.b2.priv!.ip]);
  });

  it('puts one VXLAN + bridge per VNI on each node that has a VM of it, and FRR exchanges type-3 and type-2 routes via the RR', async () => {
    for (const node of ['node1', 'node2']) {
      await eventually(
        async () => {
          const l = await links(node);
          return [nets.a.vni, nets.b.vni].every((v) => l.includes(`vx${v}`) && l.includes(`br${v}`)) ? true : undefined;
        },
        60000,
        200,
        `VXLAN devices on ${node}`,
      );
    }
    // node3 has no VM of either network: nothing of them is configured there.
    expect((await links('node3')).filter((l) => /^(vx|br)\d+$/.test(l))).toEqual([]);
    const vx = JSON.parse(await runIn(undefined, 'ip', ['-j', '-d', '-n', nodeNs('node1'), 'link', 'show', `vx${nets.a.vni}`]))[0];
    expect(vx.linkinfo.info_data).toMatchObject({ id: nets.a.vni, local: f.lab.nodes[0].ipv4, port: 4789, learning: false });
    // The VM's port learns nothing: only its static MAC becomes a type-2 route, whatever the guest sends from.
    const ports = (JSON.parse(await runIn(undefined, 'ip', ['-j', '-d', '-n', nodeNs('node1'), 'link', 'show', 'master', `br${nets.a.vni}`])) as any[]).filter(
      (l) => /^p[0-9a-f]{14}$/.test(l.ifname),
    );
    expect(ports.length).toBeGreaterThan(0);
    for (const port of ports) expect(port.linkinfo.info_slave_data).toMatchObject({ learning: false });
    // node1 learns node2's VTEP (type-3, inclusive multicast) and node2's VM MACs (type-2) for both VNIs.
    const node2Ip = f.lab.nodes[1].ipv4;
    await eventually(
      async () => {
        const text = await evpnRoutes('node1');
        const ok = text.includes(type3(node2Ip)) && [vms.a2, vms.b2].every((v) => text.includes(type2(v.priv!.mac)));
        return ok ? text : undefined;
      },
      90000,
      500,
      'type-3 and type-2 routes of node2 on node1',
    );
  });

  it('lets VMs of one network ping each other across nodes, never the other tenant’s VM with the same address', async () => {
    for (const [from, to, other] of [
      [vms.a1, vms.a2, vms.b2],
      [vms.b1, vms.b2, vms.a2],
      [vms.a2, vms.a1, vms.b1],
    ]) {
      await eventually(() => pingFrom(from.ns, to.priv!.ip).then((ok) => ok || undefined), 30000, 300, `ping ${to.priv!.ip} from ${from.ns}`);
      const mac = await neighbourMac(from.ns, to.priv!.ip);
      expect(mac).toBe(to.priv!.mac);
      expect(mac).not.toBe(other.priv!.mac);
    }
    // Node2's bridge of tenant A never learnt a MAC of tenant B (no frame crossed the VNIs).
    const fdb = await runIn(undefined, 'bridge', ['-n', nodeNs('node2'), 'fdb', 'show', 'br', `br${nets.a.vni}`]);
    expect(fdb).not.toContain(vms.b1.priv!.mac);
    expect(fdb).not.toContain(vms.b2.priv!.mac);
  });

  it('keeps the public /32 of the same VMs reachable from the core', async () => {
    for (const v of Object.values(vms)) {
      await eventually(
        async () => ((await coreRoute(f, v.ip))?.gateway === f.lab.nodes.find((n) => n.name === v.node)!.ipv4 ? true : undefined),
        60000,
        200,
        `${v.ip} at the core`,
      );
      await eventually(() => pingFrom(f.lab.core.namespace, v.ip).then((ok) => ok || undefined), 10000, 200, `ping ${v.ip} from the core`);
    }
  });

  it('migrates a VM to a third node: its private address and MAC stay, its network reaches it there, the old node drops the VNI', async () => {
    // a1 leaves node1 (where b1 keeps VNI b) for node3, which had no VM of either network.
    const m = await http('POST', `${f.api}/vms/${vms.a1.id}/migrate`, { nodeId: f.nodeIds.node3 });
    expect(m.status).toBe(202);
    await eventually(
      async () => ((await http('GET', `${f.api}/vms/${vms.a1.id}`)).body.status !== 'migrating' ? true : undefined),
      90000,
      200,
      'migration completed',
    );
    const moved: Vm = { ...vms.a1, node: 'node3', ns: vmNamespaceName(f.lab.nodes[2].vmNamespacePrefix, vms.a1.id) };
    const att = (await http('GET', `${f.api}/vms/${vms.a1.id}/private-networks`)).body as { ip: string; mac: string; vni: number }[];
    expect(att).toEqual([expect.objectContaining({ ip: vms.a1.priv!.ip, mac: vms.a1.priv!.mac, vni: nets.a.vni })]);
    await eventually(
      async () => {
        const [l1, l3] = [await links('node1'), await links('node3')];
        return !l1.includes(`vx${nets.a.vni}`) && l1.includes(`vx${nets.b.vni}`) && l3.includes(`vx${nets.a.vni}`) && !l3.includes(`vx${nets.b.vni}`)
          ? true
          : undefined;
      },
      60000,
      200,
      `VNI ${nets.a.vni} moved from node1 to node3, VNI ${nets.b.vni} stays on node1 only`,
    );
    await eventually(() => pingFrom(vms.a2.ns, moved.priv!.ip).then((ok) => ok || undefined), 60000, 300, `ping ${moved.priv!.ip} (a1 on node3) from a2`);
    expect(await neighbourMac(vms.a2.ns, moved.priv!.ip)).toBe(vms.a1.priv!.mac);
    // Tenant B is untouched: b1 on node1 still reaches b2.
    expect(await pingFrom(vms.b1.ns, vms.b2.priv!.ip)).toBe(true);
    vms.a1 = moved;
  });

  it('removes a deleted VM’s port and, with the last VM of the VNI on the node, the VXLAN and bridge; the type-2 route goes', async () => {
    const d = await http('DELETE', `${f.api}/vms/${vms.a2.id}`);
    expect(d.status).toBe(202);
    await eventually(
      async () => {
        const l = await links('node2');
        return !l.includes(`vx${nets.a.vni}`) && !l.includes(`br${nets.a.vni}`) && l.includes(`vx${nets.b.vni}`) ? true : undefined;
      },
      60000,
      200,
      `node2 without VNI ${nets.a.vni}, still with ${nets.b.vni}`,
    );
    await eventually(
      async () => {
        const text = await evpnRoutes('node1');
        return !text.includes(type2(vms.a2.priv!.mac)) && text.includes(type2(vms.b2.priv!.mac)) ? true : undefined;
      },
      60000,
      500,
      'a2’s type-2 route withdrawn on node1',
    );
    expect(await pingFrom(vms.b1.ns, vms.b2.priv!.ip)).toBe(true);
  });
});
