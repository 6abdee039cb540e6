import { DesiredIndex, type DesiredVm, type NodeModel, planNode, type PreparedVm } from './node-plan';

const scope = { namespace: 'node1', ifPrefix: 'vm' };
const GW = { ip4: '100.64.0.1/32', mac: '02:00:5e:00:00:01' };
const vm = (i: number, extra: Partial<DesiredVm> = {}): DesiredVm => ({
  ifName: `vm${i}`,
  ip: `100.65.${i >> 8}.${i & 255}`,
  family: 4,
  driver: 'tap',
  ...extra,
});
const vms = (n: number) => Array.from({ length: n }, (_, i) => vm(i + 1));
const names = (ps: readonly PreparedVm[]) => ps.map((p) => p.ifName).sort();

/** A node on which every desired VM of the index is converged (what a successful reconcile leaves). */
function converged(index: DesiredIndex): NodeModel {
  const m: NodeModel = { ifs: new Map(), routes: new Map(), namespaces: new Set(), forwarding: { ipv4: true, ipv6: true } };
  for (const v of index.vms()) {
    m.ifs.set(v.ifName, { ifName: v.ifName, mac: GW.mac, up: true, kind: 'tun', addresses: [GW.ip4] });
    m.routes.set(v.dst, [{ dst: v.dst, dev: v.ifName, family: v.family, metric: v.routeMetric }]);
  }
  return m;
}

describe('DesiredIndex: each desired VM is validated and parsed once per record', () => {
  it('given an empty index, when a list arrives, then every VM is new and prepared', () => {
    const index = new DesiredIndex(scope);
    const d = index.update([vm(1), vm(2, { family: 6, ip: '2001:DB8::0:2', metric: 4096 })]);
    expect(names(d.changed)).toEqual(['vm1', 'vm2']);
    expect(d.gone).toEqual([]);
    expect(d.unchanged).toBe(false);
    expect(index.get('vm2')).toMatchObject({ dst: '2001:db8::2/128', routeMetric: 4096, ip: '2001:DB8::0:2' });
    expect(index.get('vm1')).toMatchObject({ dst: '100.65.0.1/32', routeMetric: 0 });
    expect(index.owner('2001:db8::2/128')?.ifName).toBe('vm2');
  });

  it('given 1,000 VMs held, when the same list arrives as new objects in another order, then nothing is parsed and it is unchanged', () => {
    const index = new DesiredIndex(scope);
    index.update(vms(1000));
    const before = index.get('vm7');
    const d = index.update(vms(1000).reverse());
    expect(d).toEqual({ changed: [], gone: [], unchanged: true });
    expect(index.get('vm7')).toBe(before); // the very object prepared the first time
  });

  it('given 1,000 VMs held, when one is added, then only that one is changed', () => {
    const index = new DesiredIndex(scope);
    index.update(vms(1000));
    const d = index.update([...vms(1000), vm(1001)]);
    expect(names(d.changed)).toEqual(['vm1001']);
    expect(d.gone).toEqual([]);
    expect(index.size).toBe(1001);
  });

  it('given VMs held, when one changes metric and another is removed, then the changed one is new and both old records are gone', () => {
    const index = new DesiredIndex(scope);
    index.update(vms(3));
    const old1 = index.get('vm1');
    const d = index.update([vm(1, { metric: 4096 }), vm(2)]);
    expect(names(d.changed)).toEqual(['vm1']);
    expect(d.gone).toEqual([old1, expect.objectContaining({ ifName: 'vm3', dst: '100.65.0.3/32' })]);
    expect(index.owner('100.65.0.3/32')).toBeUndefined();
    expect(index.owner('100.65.0.1/32')?.routeMetric).toBe(4096);
  });

  it('given VMs held, when two swap their addresses, then both are changed and each owns its new address', () => {
    const index = new DesiredIndex(scope);
    index.update(vms(2));
    const d = index.update([vm(1, { ip: '100.65.0.2' }), vm(2, { ip: '100.65.0.1' })]);
    expect(names(d.changed)).toEqual(['vm1', 'vm2']);
    expect(index.owner('100.65.0.1/32')?.ifName).toBe('vm2');
    expect(index.owner('100.65.0.2/32')?.ifName).toBe('vm1');
  });

  it('given an address held by an unchanged VM, when a new VM takes it, then refused and the index is as it was', () => {
    const index = new DesiredIndex(scope);
    index.update(vms(2));
    expect(() => index.update([...vms(2), vm(3, { ip: '100.65.0.2' })])).toThrow(/duplicate VM address 100\.65\.0\.2/);
    expect(() => index.update([vm(1), vm(2), vm(3, { ip: '100.65.0.9' }), vm(4, { ip: '100.65.0.9' })])).toThrow(/duplicate VM address/);
    expect(index.update(vms(2)).unchanged).toBe(true);
  });

  it('given a held VM, when the same interface appears twice (even with the same record), then refused', () => {
    const index = new DesiredIndex(scope);
    index.update(vms(2));
    expect(() => index.update([vm(1), vm(1), vm(2)])).toThrow(/duplicate interface vm1/);
    expect(() => index.update([vm(1), vm(1, { metric: 5 }), vm(2)])).toThrow(/duplicate interface vm1/);
  });

  it.each<[string, Partial<DesiredVm>, RegExp]>([
    ['an address with a second argument', { ip: '100.65.0.1 dev lo' }, /invalid IPv4 address/],
    ['another family', { family: 6 }, /invalid IPv6 address/],
    ['a netns driver without namespace', { driver: 'netns' }, /needs a valid vmNamespace/],
    ['a namespace with a newline', { driver: 'netns', vmNamespace: 'x\nnetns del y' }, /needs a valid vmNamespace/],
    ['the node namespace as VM namespace', { driver: 'netns', vmNamespace: 'node1' }, /equals the node namespace/],
    ['a negative metric', { metric: -1 }, /invalid route metric/],
  ])('given a valid VM held, when its record comes back with %s, then it is validated again and refused', (_what, change, error) => {
    const index = new DesiredIndex(scope);
    index.update([vm(1)]);
    expect(() => index.update([vm(1, change)])).toThrow(error);
    expect(index.get('vm1')).toMatchObject({ ip: '100.65.0.1', driver: 'tap' });
  });

  it('given names outside the prefix or too long, then refused', () => {
    const index = new DesiredIndex(scope);
    expect(() => index.update([{ ...vm(1), ifName: 'tap1' }])).toThrow(/invalid VM interface name/);
    expect(() => index.update([{ ...vm(1), ifName: 'vm1234567890abcd' }])).toThrow(/invalid VM interface name/);
    expect(() => index.update([{ ...vm(1), ifName: 'vm1\nlink del dev lo' }])).toThrow(/invalid VM interface name/);
  });
});

describe('planNode: the writes for the VMs, routes and interfaces it is given', () => {
  const proto = 200;

  it('given 1,000 converged VMs, when one is added and only the change is planned, then only its three lines', () => {
    const index = new DesiredIndex(scope);
    index.update(vms(1000));
    const model = converged(index);
    model.ifs.set('vm1001', { ifName: 'vm1001', mac: '52:54:00:00:00:01', up: false, kind: 'tun', addresses: [] });
    const d = index.update([...vms(1000), vm(1001)]);
    const plan = planNode({
      model,
      desired: index,
      protocolNumber: proto,
      gateway: GW,
      vms: d.changed,
      orphanDsts: ['100.65.3.233/32'],
      orphanIfs: ['vm1001'],
    });
    expect(plan.batch.map((l) => l.join(' '))).toEqual([
      'link set dev vm1001 address 02:00:5e:00:00:01 up',
      'address add 100.64.0.1/32 dev vm1001',
      'route replace 100.65.3.233/32 dev vm1001 scope link proto 200 metric 0',
    ]);
    expect(plan.staleIfs).toEqual(['vm1001']);
    expect(plan.staleDsts).toEqual(['100.65.3.233/32']);
  });

  it('given a converged node, when everything is planned, then nothing to write', () => {
    const index = new DesiredIndex(scope);
    index.update(vms(50));
    const model = converged(index);
    const plan = planNode({
      model,
      desired: index,
      protocolNumber: proto,
      gateway: GW,
      vms: index.vms(),
      orphanDsts: model.routes.keys(),
      orphanIfs: model.ifs.keys(),
    });
    expect(plan.batch).toEqual([]);
  });

  it('given drift on an unchanged VM, when everything is planned (a resync), then it is repaired; when only a change is planned, it is left to the resync', () => {
    const index = new DesiredIndex(scope);
    index.update(vms(10));
    const model = converged(index);
    model.routes.delete('100.65.0.5/32');
    model.ifs.get('vm6')!.up = false;
    model.routes.set('100.65.9.9/32', [{ dst: '100.65.9.9/32', dev: 'vm2', family: 4, metric: 0 }]);
    const all = planNode({
      model,
      desired: index,
      protocolNumber: proto,
      gateway: GW,
      vms: index.vms(),
      orphanDsts: model.routes.keys(),
      orphanIfs: model.ifs.keys(),
    });
    expect(all.batch.map((l) => l.join(' ')).sort()).toEqual([
      'link set dev vm6 up',
      'route del 100.65.9.9/32 dev vm2 proto 200 metric 0',
      'route replace 100.65.0.5/32 dev vm5 scope link proto 200 metric 0',
    ]);
    const d = index.update([...vms(10), vm(11)]);
    model.ifs.set('vm11', { ifName: 'vm11', mac: GW.mac, up: true, kind: 'tun', addresses: [GW.ip4] });
    const some = planNode({ model, desired: index, protocolNumber: proto, gateway: GW, vms: d.changed, orphanDsts: ['100.65.0.11/32'], orphanIfs: ['vm11'] });
    expect(some.batch.map((l) => l.join(' '))).toEqual(['route replace 100.65.0.11/32 dev vm11 scope link proto 200 metric 0']);
  });

  it('given a VM changing metric and one removed, when the change is planned, then the new route is written before the old ones are deleted', () => {
    const index = new DesiredIndex(scope);
    index.update(vms(5));
    const model = converged(index);
    const d = index.update([vm(1, { metric: 4096 }), vm(2), vm(4), vm(5)]);
    const dsts = [...d.changed, ...d.gone].map((v) => v.dst);
    const ifs = [...d.changed, ...d.gone].map((v) => v.ifName);
    const plan = planNode({ model, desired: index, protocolNumber: proto, gateway: GW, vms: d.changed, orphanDsts: new Set(dsts), orphanIfs: new Set(ifs) });
    expect(plan.batch.map((l) => l.join(' '))).toEqual([
      'route replace 100.65.0.1/32 dev vm1 scope link proto 200 metric 4096',
      'route del 100.65.0.1/32 dev vm1 proto 200 metric 0',
      'route del 100.65.0.3/32 dev vm3 proto 200 metric 0',
      'address del 100.64.0.1/32 dev vm3', // a tap is the hypervisor's: only our address goes
    ]);
  });

  it('given a tap the hypervisor has not created, then it is missing and looked at again next time', () => {
    const index = new DesiredIndex(scope);
    const d = index.update([vm(1)]);
    const model = converged(new DesiredIndex(scope));
    const plan = planNode({ model, desired: index, protocolNumber: proto, gateway: GW, vms: d.changed, orphanDsts: [], orphanIfs: [] });
    expect(plan).toMatchObject({ batch: [], missing: ['vm1'], staleIfs: ['vm1'], staleDsts: ['100.65.0.1/32'] });
  });

  it('given lab VMs, when one is added and one removed, then its veth and namespace are made and the unused namespace goes', () => {
    const index = new DesiredIndex(scope);
    index.update([vm(1, { driver: 'netns', vmNamespace: 'vmns1' }), vm(2, { driver: 'netns', vmNamespace: 'vmns2' })]);
    const model = converged(index);
    model.ifs.get('vm2')!.kind = 'veth';
    model.ifs.get('vm2')!.peerNamespace = 'vmns2';
    model.namespaces.add('vmns1').add('vmns2');
    const d = index.update([vm(1, { driver: 'netns', vmNamespace: 'vmns1' }), vm(3, { driver: 'netns', vmNamespace: 'vmns3' })]);
    const plan = planNode({
      model,
      desired: index,
      protocolNumber: proto,
      gateway: GW,
      vms: d.changed,
      orphanDsts: ['100.65.0.2/32', '100.65.0.3/32'],
      orphanIfs: ['vm2', 'vm3'],
    });
    expect(plan.nsAdds).toEqual(['vmns3']);
    expect(plan.newVeths).toEqual(['vmns3']);
    expect(plan.vmSides.map((v) => v.ifName)).toEqual(['vm3']);
    expect(plan.namespacesToDelete).toEqual(['vmns2']);
    expect(plan.batch.map((l) => l.join(' '))).toEqual([
      'link add vm3 type veth peer name eth0 netns vmns3',
      'link set dev vm3 address 02:00:5e:00:00:01 up',
      'address add 100.64.0.1/32 dev vm3',
      'route replace 100.65.0.3/32 dev vm3 scope link proto 200 metric 0',
      'route del 100.65.0.2/32 dev vm2 proto 200 metric 0',
      'link del dev vm2',
    ]);
  });
});

describe('extra addresses of a VM: one host route each on its interface', () => {
  const proto = 200;
  const plan = (index: DesiredIndex, model: NodeModel, changed: Iterable<PreparedVm>, orphanDsts: Iterable<string>) =>
    planNode({ model, desired: index, protocolNumber: proto, gateway: GW, vms: changed, orphanDsts, orphanIfs: [] }).batch.map((l) => l.join(' '));

  it('given a converged VM, when it gets an IPv4 and an IPv6 extra address, then their routes (and the IPv6 gateway) are added', () => {
    const index = new DesiredIndex(scope);
    index.update([vm(1)]);
    const model = converged(index);
    const d = index.update([vm(1, { extraIps: ['100.66.0.9', '2001:DB8::9'] })]);
    expect(names(d.changed)).toEqual(['vm1']);
    expect(index.owner('100.66.0.9/32')?.ifName).toBe('vm1');
    expect(index.owner('2001:db8::9/128')?.ifName).toBe('vm1');
    expect(plan(index, model, d.changed, [])).toEqual([
      'address add fe80::1/64 dev vm1 nodad',
      'route replace 100.66.0.9/32 dev vm1 scope link proto 200 metric 0',
      'route replace 2001:db8::9/128 dev vm1 proto 200 metric 1024',
    ]);
  });

  it('given a VM with an extra address routed, when the address is removed, then only its route is deleted', () => {
    const index = new DesiredIndex(scope);
    index.update([vm(1, { extraIps: ['100.66.0.9'] })]);
    const model = converged(index);
    model.routes.set('100.66.0.9/32', [{ dst: '100.66.0.9/32', dev: 'vm1', family: 4, metric: 0 }]);
    expect(plan(index, model, index.vms(), model.routes.keys())).toEqual([]);
    const d = index.update([vm(1)]);
    expect(index.owner('100.66.0.9/32')).toBeUndefined();
    expect(plan(index, model, d.changed, ['100.65.0.1/32', '100.66.0.9/32'])).toEqual(['route del 100.66.0.9/32 dev vm1 proto 200 metric 0']);
  });

  it('a leaving VM keeps every address at the leaving metric', () => {
    const index = new DesiredIndex(scope);
    const d = index.update([vm(1, { extraIps: ['100.66.0.9'], metric: 4096 })]);
    const model = converged(index);
    model.routes.delete('100.66.0.9/32');
    expect(plan(index, model, d.changed, [])).toEqual(['route replace 100.66.0.9/32 dev vm1 scope link proto 200 metric 4096']);
  });

  it('refuses an extra address that is not one, repeats the VM address or another VM holds', () => {
    const index = new DesiredIndex(scope);
    expect(() => index.update([vm(1, { extraIps: ['nope'] })])).toThrow(/invalid extra address/);
    expect(() => index.update([vm(1, { extraIps: ['100.65.0.1'] })])).toThrow(/duplicate/);
    expect(() => index.update([vm(1, { extraIps: ['100.66.0.9', '100.66.0.9'] })])).toThrow(/duplicate/);
    expect(() => index.update([vm(1), vm(2, { extraIps: ['100.65.0.1'] })])).toThrow(/duplicate VM address 100.65.0.1/);
    expect(index.size).toBe(0);
  });
});
