/**
 * Hypervisor integration on the real lab: the test plays LXD (a p2p veth with `host_name` and `hwaddr` from
 * GET /vms/:id/lxd-device) and libvirt (a tap named by GET /vms/:id/libvirt-interface), the node agent configures
 * the host side, and the guest is configured ONLY from GET /vms/:id/network-config — then the core pings it.
 */
import { randomBytes } from 'node:crypto';
import { eventually } from '@fabric/testing/infra';
import { http } from '../support/control-plane';
import { coreRoute, type Fabric, pingFrom, startFabric } from '../support/fabric';
import { applyNetworkConfig } from '../support/guest-config';
import { runIn } from '../support/net';

jest.setTimeout(300_000);

describe('hypervisor and guest network documents on a real BGP lab', () => {
  let f: Fabric;
  const guests: string[] = [];

  beforeAll(async () => {
    f = await startFabric({ nodes: 1, rrs: 1 });
  });
  afterAll(async () => {
    for (const g of guests) await runIn(undefined, 'ip', ['netns', 'del', g], 10000, true).catch(() => undefined);
    await f?.close();
  });

  const node1 = () => f.lab.nodes[0];

  async function createVm(name: string, driver: 'tap' | 'veth', family: 4 | 6 = 4) {
    const r = await http('POST', `${f.api}/vms`, { clusterId: f.clusterId, nodeId: f.nodeIds.node1, name, ownerId: 'customer-1', driver, family });
    expect(r.status).toBe(202);
    // 'applied': the node agent has the VM in its desired state (its interface is still missing).
    return eventually(
      async () => {
        const g = await http('GET', `${f.api}/vms/${r.body.id}`);
        return g.body.ip && g.body.status !== 'ip-allocated' && g.body.status !== 'requested' ? (g.body as { id: string; ip: string }) : undefined;
      },
      30000,
      100,
      `${name} in the node's desired state`,
    );
  }

  async function hostLink(ifName: string) {
    const out = await runIn(undefined, 'ip', ['-j', '-n', node1().namespace, 'addr', 'show', 'dev', ifName], 10000, true);
    return (JSON.parse(out || '[]') as { address: string; flags: string[]; addr_info: { local: string }[] }[])[0];
  }

  /** Plays LXD for a `nictype: p2p` device: a veth pair, host side `host_name`, guest side with `hwaddr`. */
  async function lxdStart(device: { host_name: string; hwaddr: string }): Promise<string> {
    const guest = `${node1().vmNamespacePrefix}g${randomBytes(3).toString('hex')}`;
    guests.push(guest);
    await runIn(undefined, 'ip', ['netns', 'add', guest]);
    await runIn(undefined, 'ip', ['-n', node1().namespace, 'link', 'add', device.host_name, 'type', 'veth', 'peer', 'name', 'lxdtmp0', 'netns', guest]);
    await runIn(undefined, 'ip', ['-n', guest, 'link', 'set', 'dev', 'lxdtmp0', 'address', device.hwaddr]);
    await runIn(undefined, 'ip', ['-n', node1().namespace, 'link', 'set', 'dev', device.host_name, 'up']);
    return guest;
  }

  it.each([4, 6] as const)('an LXD guest (IPv%s) configured only from its network-config answers ping from the core', async (family) => {
    const vm = await createVm(`lxd${family}`, 'veth', family);
    const device = await http('GET', `${f.api}/vms/${vm.id}/lxd-device`);
    expect(device.status).toBe(200);
    expect(device.body.eth0).toMatchObject({ type: 'nic', nictype: 'p2p', name: 'eth0' });
    const nc = await fetch(`${f.api}/vms/${vm.id}/network-config`, { headers: { authorization: `Bearer ${f.cp.adminToken}` } });
    expect(nc.status).toBe(200);
    expect(nc.headers.get('content-type')).toContain('application/yaml');
    expect(nc.headers.get('x-guest-mac')).toBe(device.body.eth0.hwaddr);
    expect(nc.headers.get('x-host-interface')).toBe(device.body.eth0.host_name);
    const doc = await nc.text();

    const guest = await lxdStart(device.body.eth0);
    // What a netlink link event does: the agent configures the new host-side interface.
    await f.agents.get('node1')!.reconcileNow();
    const host = await hostLink(device.body.eth0.host_name);
    const cluster = await http('GET', `${f.api}/clusters/${f.clusterId}`);
    expect(host.address).toBe(cluster.body.gateway.mac.toLowerCase());

    const applied = await applyNetworkConfig(guest, doc);
    expect(applied.length).toBeGreaterThan(0);
    await eventually(async () => (await coreRoute(f, vm.ip))?.gateway === (family === 4 ? node1().ipv4 : node1().ipv6), 60000, 100, `${vm.ip} at the core`);
    await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 20000, 200, `ping ${vm.ip} from the core`);
    const eth0 = JSON.parse(await runIn(guest, 'ip', ['-j', 'addr', 'show', 'dev', 'eth0']))[0];
    expect(eth0.address).toBe(device.body.eth0.hwaddr);
  });

  it('a libvirt tap named as the interface document says gets the gateway MAC and the /32 route', async () => {
    const vm = await createVm('kvm1', 'tap');
    const r = await http('GET', `${f.api}/vms/${vm.id}/libvirt-interface`);
    expect(r.status).toBe(200);
    const xml = r.body as string;
    expect(xml).toMatch(/^<interface type='ethernet'>/);
    expect(xml).not.toContain('bridge');
    const dev = /<target dev='([a-z0-9]+)'\/>/.exec(xml)![1];
    const mac = /<mac address='([0-9a-f:]+)'\/>/.exec(xml)![1];
    const nc = await http('GET', `${f.api}/vms/${vm.id}/network-config`);
    expect(nc.body).toContain(`macaddress: ${mac}`);
    expect((await http('GET', `${f.api}/vms/${vm.id}/libvirt-interface?managed=no`)).body).toContain(`<target dev='${dev}' managed='no'/>`);

    // What libvirt does for a managed ethernet interface: a tap with the target name and a MAC derived from the guest's.
    await runIn(undefined, 'ip', ['-n', node1().namespace, 'tuntap', 'add', 'dev', dev, 'mode', 'tap']);
    await runIn(undefined, 'ip', ['-n', node1().namespace, 'link', 'set', 'dev', dev, 'address', `fe${mac.slice(2)}`]);
    await f.agents.get('node1')!.reconcileNow();
    const cluster = await http('GET', `${f.api}/clusters/${f.clusterId}`);
    const host = await hostLink(dev);
    expect(host.address).toBe(cluster.body.gateway.mac.toLowerCase());
    expect(host.addr_info.map((a) => a.local)).toContain(cluster.body.gateway.ip);
    const route = await runIn(undefined, 'ip', ['-n', node1().namespace, 'route', 'show', `${vm.ip}/32`]);
    expect(route).toContain(`dev ${dev}`);
    await eventually(async () => (await coreRoute(f, vm.ip))?.gateway === node1().ipv4, 60000, 100, `${vm.ip} at the core`);
  });

  it('answers 4xx with a reason for bad or unfit requests', async () => {
    expect((await http('GET', `${f.api}/vms/not-a-uuid/network-config`)).status).toBe(400);
    const missing = await http('GET', `${f.api}/vms/00000000-0000-4000-8000-000000000000/network-config`);
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('vm-not-found');
    const vm = await createVm('wrongdriver', 'veth');
    const mismatch = await http('GET', `${f.api}/vms/${vm.id}/libvirt-interface`);
    expect(mismatch.status).toBe(409);
    expect(mismatch.body.code).toBe('driver-mismatch');
    const badQuery = await http('GET', `${f.api}/vms/${vm.id}/libvirt-interface?managed=maybe`);
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.fields.managed).toBeDefined();
  });
});
