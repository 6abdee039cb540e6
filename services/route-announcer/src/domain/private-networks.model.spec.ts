import type { FabricEvent } from '@fabric/contracts';
import { CLUSTER, NODE1, NODE2, NODE3, ev, vm } from '@fabric/testing/fabric';
import { PrivateNetworksModel } from './private-networks.model';

const NET = '66666666-6666-4666-8666-666666666661';
const NET2 = '66666666-6666-4666-8666-666666666662';
const created = (networkId = NET, vni = 10000, cidr = '192.168.10.0/24'): FabricEvent => ({
  type: 'PrivateNetworkCreated',
  data: { clusterId: CLUSTER, networkId, ownerId: 'tenant-a', name: 'backend', cidr, family: 4, vni },
});
const attached = (n: number, ip: string, networkId = NET, vni = 10000): FabricEvent => ({
  type: 'PrivateNetworkAttached',
  data: { clusterId: CLUSTER, networkId, vmId: vm(n), ownerId: 'tenant-a', vni, ip, family: 4, mac: `02:00:00:00:00:0${n}` },
});
const detached = (n: number, networkId = NET): FabricEvent => ({
  type: 'PrivateNetworkDetached',
  data: { clusterId: CLUSTER, networkId, vmId: vm(n), ip: '192.168.10.2', releaseAt: '2030-01-01T00:00:00.000Z' },
});
const given = (...events: FabricEvent[]) => {
  const m = new PrivateNetworksModel();
  events.forEach((e) => m.apply(e));
  return m;
};
const vnis = (m: PrivateNetworksModel, node: string) => m.forNode(node).map((n) => [n.vni, n.interfaces.map((i) => i.vmId)]);

describe('private networks per node (what the data plane must configure)', () => {
  it('given VMs of one network on two nodes, each node carries the VNI with only its own VM; a node without VM carries nothing', () => {
    const m = given(created(), ev.vmCreated(vm(1), NODE1), ev.vmCreated(vm(2), NODE2), attached(1, '192.168.10.2'), attached(2, '192.168.10.3'));
    expect(m.forNode(NODE1)).toEqual([
      {
        networkId: NET,
        vni: 10000,
        cidr: '192.168.10.0/24',
        family: 4,
        interfaces: [{ vmId: vm(1), ip: '192.168.10.2', prefixLength: 24, mac: '02:00:00:00:00:01' }],
      },
    ]);
    expect(vnis(m, NODE2)).toEqual([[10000, [vm(2)]]]);
    expect(m.forNode(NODE3)).toEqual([]);
  });

  it('when a VM attaches or detaches, its node changes; the VNI goes with the last VM of the node', () => {
    const m = given(created(), created(NET2, 10001, '172.16.0.0/24'), ev.vmCreated(vm(1), NODE1));
    expect(m.apply(attached(1, '192.168.10.2'))).toEqual([NODE1]);
    expect(m.apply(attached(1, '172.16.0.2', NET2, 10001))).toEqual([NODE1]);
    expect(vnis(m, NODE1)).toEqual([
      [10000, [vm(1)]],
      [10001, [vm(1)]],
    ]);
    expect(m.apply(detached(1))).toEqual([NODE1]);
    expect(m.apply(detached(1))).toEqual([]);
    expect(vnis(m, NODE1)).toEqual([[10001, [vm(1)]]]);
  });

  it('while a VM migrates both nodes carry it (make-before-break); after completion only the new one', () => {
    const m = given(created(), ev.vmCreated(vm(1), NODE1), attached(1, '192.168.10.2'));
    expect(m.apply(ev.migrationRequested(vm(1), NODE1, NODE2))).toEqual([NODE2]);
    expect(vnis(m, NODE1)).toEqual([[10000, [vm(1)]]]);
    expect(vnis(m, NODE2)).toEqual([[10000, [vm(1)]]]);
    expect(m.apply(ev.migrationCompleted(vm(1), NODE1, NODE2))).toEqual([NODE1]);
    expect(m.forNode(NODE1)).toEqual([]);
    expect(vnis(m, NODE2)).toEqual([[10000, [vm(1)]]]);
  });

  it('given a migration request delivered twice, when it completes twice, then the VM is on the new node only', () => {
    const m = given(created(), ev.vmCreated(vm(1), NODE1), attached(1, '192.168.10.2'), ev.migrationRequested(vm(1), NODE1, NODE2));
    m.apply(ev.migrationRequested(vm(1), NODE1, NODE2));
    expect(m.apply(ev.migrationCompleted(vm(1), NODE1, NODE2))).toEqual([NODE1]);
    expect(m.apply(ev.migrationCompleted(vm(1), NODE1, NODE2))).toEqual([]);
    expect(m.forNode(NODE1)).toEqual([]);
    expect(vnis(m, NODE2)).toEqual([[10000, [vm(1)]]]);
    // and back: the old node again, only once
    m.apply(ev.migrationRequested(vm(1), NODE2, NODE1));
    m.apply(ev.migrationCompleted(vm(1), NODE2, NODE1));
    expect(vnis(m, NODE1)).toEqual([[10000, [vm(1)]]]);
    expect(m.forNode(NODE2)).toEqual([]);
  });

  it("given the node ids of the caller, when VMs are placed, then each placement holds the caller's node id", () => {
    const held = new Map([[NODE1, NODE1]]);
    const asked: string[] = [];
    const m = new PrivateNetworksModel((id) => (asked.push(id), held.get(id) ?? id));
    [created(), ev.vmCreated(vm(1), NODE1), attached(1, '192.168.10.2'), ev.migrationRequested(vm(1), NODE1, NODE2)].forEach((e) => m.apply(e));
    expect(asked).toEqual([NODE1, NODE2]);
    expect(vnis(m, NODE1)).toEqual([[10000, [vm(1)]]]);
    expect(vnis(m, NODE2)).toEqual([[10000, [vm(1)]]]);
  });

  it('a deleted VM leaves its node; a VM without networks changes nothing', () => {
    const m = given(created(), ev.vmCreated(vm(1), NODE1), ev.vmCreated(vm(2), NODE1), attached(1, '192.168.10.2'));
    expect(m.apply(ev.vmDeleted(vm(2), NODE1))).toEqual([]);
    expect(m.apply(ev.vmDeleted(vm(1), NODE1))).toEqual([NODE1]);
    expect(m.apply(detached(1))).toEqual([]);
    expect(m.forNode(NODE1)).toEqual([]);
  });
});
