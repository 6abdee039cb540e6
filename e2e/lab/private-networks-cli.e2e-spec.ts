/**
 * Issue 14's "done when", driven the way an operator does it: every write and read goes through the real
 * `cli/fabricctl` (argument arrays, an operator token this test creates), on a lab of three nodes and one RR with
 * FRR EVPN beside BIRD (docs/operations/private-networks.md). Tenant A: `backend` 192.168.50.0/24 (a VM on each
 * node) and `mgmt` 10.20.0.0/24; tenant B: `backend` with the SAME block and `front` 172.16.30.0/24. Then the
 * matrix: same-network VMs on different nodes ping each other, the other tenant is never reached (also not with a
 * spoofed source and a static neighbour entry of the other tenant's MAC), the VMs' public /32s are at the core
 * (fabricctl says at-core, the core's FRR holds them via the right node), and a detach removes the VM's interface
 * from the guest, the node and the other nodes' EVPN tables.
 */
import { vmNamespaceName } from '../../agents/src/roles/node';
import { guestPrivateInterfaceName, privateInterfaceName } from '../../agents/src/drivers/evpn';
import { eventually } from '@fabric/testing/infra';
import { http } from '../support/control-plane';
import { evpnRoutes, linkNames, neighbourMac, nodeNamespace, type2, type3 } from '../support/evpn';
import { fabricctl } from '../support/fabricctl';
import { type Fabric, pingFrom, startFabric } from '../support/fabric';
import { runIn } from '../support/net';

jest.setTimeout(600_000);

interface Attachment {
  networkId: string;
  name: string;
  vni: number;
  ip: string;
  mac: string;
  status: string;
}
interface Vm {
  id: string;
  name: string;
  node: string;
  ns: string;
  ip: string;
  priv: Record<string, Attachment>;
}
interface Net {
  id: string;
  vni: number;
}

describe('private networks through fabricctl on a real BGP lab', () => {
  let f: Fabric;
  let cli: ReturnType<typeof fabricctl>;
  const nets: Record<string, Net> = {};
  const vms: Record<string, Vm> = {};
  const pingOk = (from: Vm, ip: string) => eventually(() => pingFrom(from.ns, ip).then((ok) => ok || undefined), 60000, 300, `ping ${ip} from ${from.name}`);

  beforeAll(async () => {
    f = await startFabric({ nodes: 3, rrs: 1, evpn: true });
    const t = await http('POST', `${f.api}/tokens`, { name: 'pn-operator', role: 'operator' });
    expect(t.status).toBe(201);
    cli = fabricctl(f.api, t.body.token);
  });
  afterAll(async () => {
    await f?.close();
  });

  it('creates two tenants’ private networks (the same block for both backends) with fabricctl', async () => {
    for (const [key, owner, name, cidr] of [
      ['a/backend', 'tenant-a', 'backend', '192.168.50.0/24'],
      ['a/mgmt', 'tenant-a', 'mgmt', '10.20.0.0/24'],
      ['b/backend', 'tenant-b', 'backend', '192.168.50.0/24'],
      ['b/front', 'tenant-b', 'front', '172.16.30.0/24'],
    ]) {
      const text = await cli.ok('private-network', 'create', '--cluster', 'lab', '--owner', owner, '--name', name, '--cidr', cidr);
      const m = /^private network (\S+) \((\S+)\) of (\S+): vni (\d+), id ([0-9a-f-]{36})$/.exec(text);
      expect(m?.slice(1, 4)).toEqual([name, cidr, owner]);
      nets[key] = { id: m![5], vni: Number(m![4]) };
    }
    expect(new Set(Object.values(nets).map((n) => n.vni)).size).toBe(4);
    const listed = await cli.json<{ id: string; ownerId: string; name: string; vni: number }[]>(
      'private-network',
      'list',
      '--cluster',
      'lab',
      '--owner',
      'tenant-b',
    );
    expect(listed.map((n) => n.name).sort()).toEqual(['backend', 'front']);
    // A tenant's block may not overlap its own other network: the CLI says why and exits 1.
    expect(await cli.ctl('private-network', 'create', '--cluster', 'lab', '--owner', 'tenant-a', '--name', 'x', '--cidr', '192.168.50.0/25')).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^error 4\d\d /),
    });
  });

  it('creates VMs on three nodes and attaches them by network name', async () => {
    for (const [name, owner, node] of [
      ['a1', 'tenant-a', 'node1'],
      ['a2', 'tenant-a', 'node2'],
      ['a3', 'tenant-a', 'node3'],
      ['b1', 'tenant-b', 'node2'],
      ['b2', 'tenant-b', 'node3'],
    ]) {
      const created = await cli.json<{ id: string }>(
        'vm',
        'create',
        '--cluster',
        'lab',
        '--node',
        node,
        '--name',
        name,
        '--owner',
        owner,
        '--driver',
        'netns',
        '--family',
        '4',
      );
      const shown = await eventually(
        async () => {
          const v = await cli.json<{ ip?: string }>('vm', 'show', created.id);
          return v.ip ? v : undefined;
        },
        30000,
        200,
        `${name} has an address`,
      );
      const prefix = f.lab.nodes.find((n) => n.name === node)!.vmNamespacePrefix;
      vms[name] = { id: created.id, name, node, ns: vmNamespaceName(prefix, created.id), ip: shown.ip!, priv: {} };
    }
    for (const [vm, net] of [
      ['a1', 'backend'],
      ['a2', 'backend'],
      ['a3', 'backend'],
      ['a1', 'mgmt'],
      ['a3', 'mgmt'],
      ['b1', 'backend'],
      ['b2', 'backend'],
      ['b1', 'front'],
      ['b2', 'front'],
    ]) {
      const text = await cli.ok('vm', 'attach-network', vms[vm].id, '--network', net);
      expect(text).toMatch(new RegExp(`^vm ${vm} attached to ${net} \\(vni \\d+\\): \\S+, mac 02(:[0-9a-f]{2}){5}$`));
    }
    // vm show --json carries the attachments: addresses and MACs come from the CLI, not the API directly.
    for (const vm of Object.values(vms)) {
      const shown = await cli.json<{ privateNetworks: Attachment[] }>('vm', 'show', vm.id);
      for (const a of shown.privateNetworks) vm.priv[a.name] = a;
    }
    expect(Object.keys(vms.a1.priv).sort()).toEqual(['backend', 'mgmt']);
    expect(vms.a3.priv.backend.vni).toBe(nets['a/backend'].vni);
    expect(vms.b1.priv.front.vni).toBe(nets['b/front'].vni);
    // Same block, separate L2 domains: both tenants' backends start at the same address.
    expect(vms.a1.priv.backend.ip).toBe(vms.b1.priv.backend.ip);
    // The text of vm show lists them as the operator reads them.
    expect(await cli.ok('vm', 'show', vms.b2.id)).toMatch(new RegExp(`private networks:\\n[\\s\\S]*front\\s+${nets['b/front'].vni}\\s+172\\.16\\.30\\.`));
    const shown = await cli.ok('private-network', 'show', nets['a/backend'].id, '--cluster', 'lab');
    for (const v of [vms.a1, vms.a2, vms.a3])
      expect(shown).toMatch(new RegExp(`${v.id}\\s+backend\\s+${nets['a/backend'].vni}\\s+${v.priv.backend.ip.replace(/\./g, '\\.')}\\s`));
  });

  it('lets same-network VMs on different nodes ping each other (each network, both tenants), the answer from the right MAC', async () => {
    const pairs: [Vm, Vm, string][] = [
      [vms.a1, vms.a2, 'backend'],
      [vms.a2, vms.a3, 'backend'],
      [vms.a3, vms.a1, 'backend'],
      [vms.a1, vms.a3, 'mgmt'],
      [vms.b1, vms.b2, 'backend'],
      [vms.b2, vms.b1, 'front'],
    ];
    for (const [from, to, net] of pairs) {
      await pingOk(from, to.priv[net].ip);
      expect({ from: from.name, to: to.name, mac: await neighbourMac(from.ns, to.priv[net].ip) }).toEqual({
        from: from.name,
        to: to.name,
        mac: to.priv[net].mac,
      });
    }
  });

  it('never reaches the other tenant: not by its address, not with a spoofed source and its MAC pinned', async () => {
    // a3 holds 192.168.50.4 in A's backend; B's backend (same block) has only .2 and .3, so nothing answers there.
    const aOnly = vms.a3.priv.backend.ip;
    expect([vms.b1.priv.backend.ip, vms.b2.priv.backend.ip]).not.toContain(aOnly);
    expect(await pingFrom(vms.b2.ns, aOnly)).toBe(false);
    // b1 spoofs: an address of A's block on its `front` interface, a3's MAC as a permanent neighbour, source = a2's
    // address. The frame enters B-front's VNI and can never reach a3 (whose MAC lives in A-backend's VNI only).
    const dev = guestPrivateInterfaceName(vms.b1.priv.front.vni);
    await runIn(vms.b1.ns, 'ip', ['address', 'add', `${vms.a2.priv.backend.ip}/32`, 'dev', dev]);
    await runIn(vms.b1.ns, 'ip', ['route', 'add', `${aOnly}/32`, 'dev', dev, 'src', vms.a2.priv.backend.ip]);
    await runIn(vms.b1.ns, 'ip', ['neigh', 'replace', aOnly, 'lladdr', vms.a3.priv.backend.mac, 'dev', dev, 'nud', 'permanent']);
    expect(await pingFrom(vms.b1.ns, aOnly)).toBe(false);
    await runIn(vms.b1.ns, 'ip', ['route', 'del', `${aOnly}/32`, 'dev', dev]);
    await runIn(vms.b1.ns, 'ip', ['address', 'del', `${vms.a2.priv.backend.ip}/32`, 'dev', dev]);
    // The bridges of A's VNI never learnt a MAC of tenant B: no frame crossed.
    for (const node of ['node2', 'node3']) {
      const fdb = await runIn(undefined, 'bridge', ['-n', nodeNamespace(f, node), 'fdb', 'show', 'br', `br${nets['a/backend'].vni}`]);
      for (const b of [vms.b1, vms.b2]) for (const a of Object.values(b.priv)) expect(fdb).not.toContain(a.mac);
    }
    // Tenant B still reaches its own VMs.
    expect(await pingFrom(vms.b1.ns, vms.b2.priv.front.ip)).toBe(true);
  });

  it('keeps the same VMs’ public /32s at the core: fabricctl says at-core, the core’s FRR holds them via their node', async () => {
    for (const vm of Object.values(vms)) {
      await eventually(
        async () => ((await cli.json<{ status: string }>('vm', 'show', vm.id)).status === 'at-core' ? true : undefined),
        60000,
        300,
        `${vm.name} at-core in fabricctl vm show`,
      );
      const via = f.lab.nodes.find((n) => n.name === vm.node)!.ipv4;
      const bgp = JSON.parse(await runIn(undefined, 'vtysh', ['-N', f.lab.core.frr.pathspace, '-c', `show ip bgp ${vm.ip}/32 json`]));
      const hops = (bgp.paths ?? []).flatMap((p: { nexthops?: { ip: string }[] }) => (p.nexthops ?? []).map((h) => h.ip));
      expect({ vm: vm.name, hops }).toEqual({ vm: vm.name, hops: [via] });
      await eventually(() => pingFrom(f.lab.core.namespace, vm.ip).then((ok) => ok || undefined), 10000, 200, `ping ${vm.ip} from the core`);
    }
    const status = await cli.json<{ clusters: { cluster: { name: string }; vmsByStatus: Record<string, number> }[] }>('status', '--cluster', 'lab');
    expect(status.clusters[0].vmsByStatus).toEqual({ 'at-core': 5 });
  });

  it('detaches a VM with fabricctl: its interface goes from the guest, the node (and the VNI with it) and the other nodes’ EVPN tables', async () => {
    const vni = nets['a/backend'].vni;
    const a3 = vms.a3;
    const port = privateInterfaceName(vni, a3.id);
    expect(await linkNames(nodeNamespace(f, 'node3'))).toContain(port);
    expect(await cli.ok('vm', 'detach-network', a3.id, '--network', 'backend')).toBe(
      'vm a3 detached (its private address is released after the IPAM cool-down)',
    );
    await eventually(
      async () => {
        const [node3, guest] = [await linkNames(nodeNamespace(f, 'node3')), await linkNames(a3.ns)];
        // a3 was A-backend's only VM on node3: the port, the VXLAN and the bridge go; a3's mgmt network and B's stay.
        const gone = !node3.includes(port) && !node3.includes(`vx${vni}`) && !node3.includes(`br${vni}`) && !guest.includes(guestPrivateInterfaceName(vni));
        const kept =
          node3.includes(`vx${nets['a/mgmt'].vni}`) &&
          node3.includes(`vx${nets['b/backend'].vni}`) &&
          guest.includes(guestPrivateInterfaceName(nets['a/mgmt'].vni));
        return gone && kept ? true : undefined;
      },
      60000,
      200,
      `a3's backend interface removed on node3 and in its guest`,
    );
    const node3Ip = f.lab.nodes[2].ipv4;
    for (const node of ['node1', 'node2']) {
      await eventually(
        async () => {
          const text = await evpnRoutes(f, node);
          // No longer a3's backend MAC; still node3's VTEP (it keeps other VNIs) and, on node1 (which has a1 in
          // it), a3's mgmt MAC.
          const mgmtKept = node !== 'node1' || text.includes(type2(a3.priv.mgmt.mac));
          return !text.includes(type2(a3.priv.backend.mac)) && mgmtKept && text.includes(type3(node3Ip)) ? true : undefined;
        },
        60000,
        500,
        `a3's backend type-2 route withdrawn on ${node}`,
      );
    }
    const shown = await cli.json<{ privateNetworks: Attachment[] }>('vm', 'show', a3.id);
    // The backend address cools down (this lab's IPAM cool-down is 0: it may already be gone); mgmt stays.
    expect(shown.privateNetworks.filter((a) => a.status === 'attached').map((a) => a.name)).toEqual(['mgmt']);
    // The others of the network still reach each other; a3 keeps its mgmt network.
    expect(await pingFrom(vms.a1.ns, vms.a2.priv.backend.ip)).toBe(true);
    await pingOk(vms.a1, a3.priv.mgmt.ip);
    expect(await pingFrom(vms.a1.ns, a3.priv.backend.ip)).toBe(false);
  });
});
