import { NodeRole, vmNamespaceName } from './node';
import { FrrRouterRole } from './frr-router';
import { RrRole } from './rr';

const bird = { configPath: '/run/x/bird.conf', controlSocket: '/run/x/bird.ctl' };
const node = (over: Record<string, unknown> = {}) => ({
  kind: 'node',
  targetId: 'n1',
  clusterId: 'c',
  generation: 3,
  hash: 'h',
  sourceSeq: 1,
  nodeName: 'node1',
  underlayIp: '198.18.0.101',
  gateway: { ip: '10.0.0.1', mac: 'fe:ff:ff:ff:ff:ff' },
  protocolNumber: 200,
  bird: 'router id 1.2.3.4;\n',
  vms: [{ vmId: '1221ab71-f77a-4c1e-9d3b-2f4a5b6c7d8e', ifName: 'vm1221ab71f77a4', ip: '203.0.113.10', family: 4, driver: 'netns', leaving: true }],
  ...over,
});

describe('role payload validation', () => {
  const role = new NodeRole({ namespace: 'fab-node1', bird, vmNamespacePrefix: 'fab-vm' });

  it('accepts a node desired state of this target', () => {
    expect(role.validate(node(), 'n1').generation).toBe(3);
  });

  it('rejects another target, another kind, or malformed fields', () => {
    expect(() => role.validate(node(), 'n2')).toThrow(/targetId/);
    expect(() => role.validate(node({ kind: 'rr' }), 'n1')).toThrow(/kind/);
    expect(() => role.validate(node({ generation: -1 }), 'n1')).toThrow(/generation/);
    expect(() => role.validate(node({ vms: [{ ...node().vms[0], ip: '203.0.113.300' }] }), 'n1')).toThrow(/vms\[0\]\.ip/);
    expect(() => role.validate(node({ vms: [{ ...node().vms[0], driver: 'lxc' }] }), 'n1')).toThrow(/driver/);
    expect(() => role.validate(node({ gateway: { ip: '10.0.0.1' } }), 'n1')).toThrow(/gateway/);
    expect(() => role.validate('[]', 'n1')).toThrow(/object/);
  });

  it('given a valid payload, when the next repeats its VMs, then only new addresses are parsed, never a remembered one under another family', () => {
    const r = new NodeRole({ namespace: 'fab-node1', bird, vmNamespacePrefix: 'fab-vm' });
    const vm0 = node().vms[0];
    r.validate(node(), 'n1');
    expect(r.validate(node({ vms: [vm0, { ...vm0, ifName: 'vm2', ip: '2001:db8::2', family: 6 }] }), 'n1').vms).toHaveLength(2);
    expect(() => r.validate(node({ vms: [{ ...vm0, family: 6 }] }), 'n1')).toThrow(/vms\[0\]\.ip is not an IPv6/);
    expect(() => r.validate(node({ vms: [vm0, { ...vm0, ip: '203.0.113.10 dev lo' }] }), 'n1')).toThrow(/vms\[1\]\.ip/);
    expect(() => r.validate(node({ vms: [{ ...vm0, ip: ['203.0.113.10'] }] }), 'n1')).toThrow(/vms\[0\]\.ip/);
  });

  it('extra addresses: either family, each an address, none repeated (nor the VM address), at most 16', () => {
    const r = new NodeRole({ namespace: 'fab-node1', bird, vmNamespacePrefix: 'fab-vm' });
    const vm0 = node().vms[0];
    const d = r.validate(node({ vms: [{ ...vm0, extraIps: ['203.0.113.11', '2001:db8::b'] }] }), 'n1');
    expect(r.netlinkVms(d)[0]).toMatchObject({ ip: '203.0.113.10', extraIps: ['203.0.113.11', '2001:db8::b'] });
    expect(r.netlinkVms(r.validate(node(), 'n1'))[0]).not.toHaveProperty('extraIps');
    expect(() => r.validate(node({ vms: [{ ...vm0, extraIps: '203.0.113.11' }] }), 'n1')).toThrow(/extraIps must be an array/);
    expect(() => r.validate(node({ vms: [{ ...vm0, extraIps: ['203.0.113.11; reboot'] }] }), 'n1')).toThrow(/extraIps\[0\] is not an IP/);
    expect(() => r.validate(node({ vms: [{ ...vm0, extraIps: ['203.0.113.010'] }] }), 'n1')).toThrow(/extraIps\[0\]/);
    expect(() => r.validate(node({ vms: [{ ...vm0, extraIps: ['203.0.113.10'] }] }), 'n1')).toThrow(/repeats/);
    expect(() => r.validate(node({ vms: [{ ...vm0, extraIps: Array.from({ length: 17 }, (_, i) => `203.0.114.${i}`) }] }), 'n1')).toThrow(/at most 16/);
  });

  it('VM namespaces are <prefix><first 8 hex of the vm id>', () => {
    expect(vmNamespaceName('fab-vm', '1221AB71-f77a-4c1e-9d3b-2f4a5b6c7d8e')).toBe('fab-vm1221ab71');
    expect(() => vmNamespaceName('fab-vm', 'not-a-uuid')).toThrow(/8 hex/);
  });

  it('rr and router payloads', () => {
    const rr = new RrRole({ namespace: 'fab-rr1', bird });
    expect(rr.validate({ kind: 'rr', targetId: 'c_rr1', generation: 1, hash: 'h', bird: 'x' }, 'c_rr1').bird).toBe('x');
    expect(() => rr.validate({ kind: 'rr', targetId: 'c_rr1', generation: 1, hash: 'h' }, 'c_rr1')).toThrow(/bird/);
    const frr = new FrrRouterRole({ namespace: 'fab-core' });
    expect(frr.validate({ kind: 'router', targetId: 'c', generation: 1, hash: 'h', vendor: 'frr', config: '!' }, 'c').config).toBe('!');
    expect(() => frr.validate({ kind: 'router', targetId: 'c', generation: 1, hash: 'h', vendor: 'junos', config: 'set x' }, 'c')).toThrow(/Junos/);
    expect(() => new FrrRouterRole({ namespace: '' })).toThrow(/namespace/);
  });
});

describe('private networks in the node payload (schema 1.1)', () => {
  const role = new NodeRole({ namespace: 'fab-node1', bird, vmNamespacePrefix: 'fab-vm' });
  const vmId = '1221ab71-f77a-4c1e-9d3b-2f4a5b6c7d8e';
  const net = (over: Record<string, unknown> = {}) => ({
    networkId: '66666666-6666-4666-8666-666666666661',
    vni: 10000,
    cidr: '192.168.10.0/24',
    family: 4,
    interfaces: [{ vmId, ip: '192.168.10.2', prefixLength: 24, mac: '02:00:00:00:00:01', ...over }],
  });

  it('given a VM of the netns driver in a network, then its port is p<vni hex><vm hex> with the lab VM namespace', () => {
    const d = role.validate(node({ privateNetworks: [net()], evpn: 'frr defaults traditional\n' }), 'n1');
    expect(role.evpnNetworks(d)).toEqual([
      { vni: 10000, ports: [{ ifName: 'p0027101221ab71', mac: '02:00:00:00:00:01', ip: '192.168.10.2', prefixLength: 24, vmNamespace: 'fab-vm1221ab71' }] },
    ]);
  });

  it('rejects a malformed network, interface or FRR text', () => {
    expect(() => role.validate(node({ privateNetworks: {} }), 'n1')).toThrow(/privateNetworks must be an array/);
    expect(() => role.validate(node({ privateNetworks: [{ ...net(), vni: 0 }] }), 'n1')).toThrow(/vni/);
    expect(() => role.validate(node({ privateNetworks: [net({ mac: 'zz' })] }), 'n1')).toThrow(/ip and a mac/);
    expect(() => role.validate(node({ privateNetworks: [net({ ip: '192.168.10.2; rm' })] }), 'n1')).toThrow(/ip and a mac/);
    expect(() => role.validate(node({ privateNetworks: [net({ prefixLength: 0 })] }), 'n1')).toThrow(/prefixLength/);
    expect(() => role.validate(node({ evpn: 'router bgp 1\u0000' }), 'n1')).toThrow(/evpn/);
    expect(() => role.validate(node({ evpn: 42 }), 'n1')).toThrow(/evpn/);
  });

  it('given EVPN text but no FRR on this node, then the apply fails with a readable reason (the public part is applied first)', async () => {
    const { applyEvpnFrr } = await import('./evpn-common');
    await expect(applyEvpnFrr(undefined, 'frr defaults traditional\n', undefined)).rejects.toThrow(/no FRR/);
    await expect(applyEvpnFrr(undefined, undefined, undefined)).resolves.toEqual({ applied: undefined, operations: [] });
  });
});

describe('privateInterfaceName', () => {
  it('is 15 bytes: p, the VNI as 6 hex digits, the first 8 hex of the VM id; invalid input throws', async () => {
    const { privateInterfaceName } = await import('../drivers/evpn');
    expect(privateInterfaceName(16777215, 'ABCDEF01-0000-4000-8000-000000000000')).toBe('pffffffabcdef01');
    expect(() => privateInterfaceName(0, 'abcdef01')).toThrow();
    expect(() => privateInterfaceName(10000, 'xyz')).toThrow();
  });
});
