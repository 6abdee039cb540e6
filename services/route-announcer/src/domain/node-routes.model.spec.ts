import { type FabricEvent, vmInterfaceName } from '@fabric/contracts';
import { contentHash } from '@fabric/renderers';
import { NodeRoutesModel } from './node-routes.model';
import { CLUSTER, NODE1, NODE2, NODE3, baseFabric, ev, vm } from '@fabric/testing/fabric';

const given = (...events: FabricEvent[]) => {
  const m = new NodeRoutesModel({ protocolNumber: 200 });
  events.forEach((e, i) => m.apply(e, i + 1));
  return m;
};
const vmsOf = (m: NodeRoutesModel, nodeId: string) => m.desired(nodeId)!.vms;

describe('route-announcer model', () => {
  it('a joined node gets its BIRD config with every RR, gateway and protocol number, and no VMs', () => {
    const m = given(...baseFabric());
    const d = m.desired(NODE1)!;
    expect(d).toMatchObject({
      kind: 'node',
      targetId: NODE1,
      clusterId: CLUSTER,
      nodeName: 'node-1',
      underlayIp: '198.18.0.10',
      gateway: { ip: '10.0.0.1', mac: 'fe:ff:ff:ff:ff:ff' },
      protocolNumber: 200,
      vms: [],
    });
    expect(d.bird).toContain('neighbor 198.18.0.2 as 65000;');
    expect(d.bird).toContain('neighbor 198.18.0.3 as 65000;');
    expect(d.bird).toContain('krt_source = 200');
    expect(m.nodeIds().sort()).toEqual([NODE1, NODE2, NODE3]);
  });

  it('honours another protocol number', () => {
    const m = new NodeRoutesModel({ protocolNumber: 201 });
    baseFabric().forEach((e) => m.apply(e));
    expect(m.desired(NODE1)!.protocolNumber).toBe(201);
    expect(m.desired(NODE1)!.bird).toContain('krt_source = 201');
  });

  describe('direct cluster (lab only)', () => {
    const direct = () => [
      ev.clusterCreated({ topology: 'direct' }),
      ev.nodeJoined(NODE1, 'node-1', '198.18.0.10'),
      ev.nodeJoined(NODE2, 'node-2', '198.18.0.11'),
    ];
    it('given a direct cluster, then each node peers the core over eBGP instead of an RR', () => {
      const d = given(...direct()).desired(NODE1)!;
      expect(d.bird).toContain('neighbor 198.18.0.1 as 65001;');
      expect(d.bird).not.toContain('protocol bgp rr_');
    });
    it('given a migration, when the core (not an RR) holds the route via the new node, then the migration is ready', () => {
      const m = given(...direct(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'), ev.migrationRequested(vm(1), NODE1, NODE2));
      m.apply(ev.routesObserved('router', CLUSTER, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.10' }]));
      expect(m.readyMigrations()).toEqual([]);
      m.apply(ev.routesChanged('router', CLUSTER, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.11' }], [], undefined, 1));
      expect(m.readyMigrations()).toEqual([expect.objectContaining({ vmId: vm(1), toNodeId: NODE2 })]);
    });
  });

  describe('floating addresses', () => {
    const F = '66666666-6666-4666-8666-666666666661';
    const two = () => [
      ...baseFabric(),
      ev.vmCreated(vm(1), NODE1),
      ev.ipAllocated(vm(1), '203.0.113.10'),
      ev.vmCreated(vm(2), NODE2),
      ev.ipAllocated(vm(2), '203.0.113.20'),
    ];
    it('given two VMs, when a floating address is attached to one, then only its node routes it (like an extra address)', () => {
      const m = given(...two(), ev.floatingAttached(F, '203.0.113.50', vm(1)));
      expect(vmsOf(m, NODE1)[0].extraIps).toEqual(['203.0.113.50']);
      expect(vmsOf(m, NODE2)[0]).not.toHaveProperty('extraIps');
      expect(m.readyFloatingMoves()).toEqual([]);
    });
    it('when it moves, both nodes route it until the new node is seen on an RR; completion withdraws it from the old VM', () => {
      const m = given(...two(), ev.floatingAttached(F, '203.0.113.50', vm(1)));
      expect(m.apply(ev.floatingAttached(F, '203.0.113.50', vm(2), vm(1)), 100)).toEqual([NODE2]);
      expect(vmsOf(m, NODE1)[0].extraIps).toEqual(['203.0.113.50']);
      expect(vmsOf(m, NODE2)[0].extraIps).toEqual(['203.0.113.50']);
      // The old node's route is not the signal.
      m.apply(ev.routesChanged('rr', 'rr1', [{ prefix: '203.0.113.50/32', nextHop: '198.18.0.10' }]));
      expect(m.readyFloatingMoves()).toEqual([]);
      m.apply(ev.routesChanged('rr', 'rr1', [{ prefix: '203.0.113.50/32', nextHop: '198.18.0.11' }]));
      expect(m.readyFloatingMoves()).toEqual([{ clusterId: CLUSTER, floatingId: F, vmId: vm(2), attachSeq: 100 }]);
      expect(m.apply(ev.floatingMoveCompleted(F, '203.0.113.50', vm(2), vm(1)))).toEqual([NODE1]);
      expect(vmsOf(m, NODE1)[0]).not.toHaveProperty('extraIps');
      expect(vmsOf(m, NODE2)[0].extraIps).toEqual(['203.0.113.50']);
      expect(m.readyFloatingMoves()).toEqual([]);
    });
    it('when it moves between two VMs of one node, only the new VM routes it (one route per address) and the move is ready at once', () => {
      const m = given(...two(), ev.vmCreated(vm(3), NODE1), ev.ipAllocated(vm(3), '203.0.113.30'), ev.floatingAttached(F, '203.0.113.50', vm(1)));
      m.apply(ev.routesChanged('rr', 'rr1', [{ prefix: '203.0.113.50/32', nextHop: '198.18.0.10' }]));
      m.apply(ev.floatingAttached(F, '203.0.113.50', vm(3), vm(1)), 200);
      const byVm = Object.fromEntries(vmsOf(m, NODE1).map((v) => [v.vmId, v.extraIps]));
      expect(byVm).toEqual({ [vm(1)]: undefined, [vm(3)]: ['203.0.113.50'] });
      expect(m.readyFloatingMoves()).toEqual([{ clusterId: CLUSTER, floatingId: F, vmId: vm(3), attachSeq: 200 }]);
    });
    it('when detached during a move, both VMs give it up', () => {
      const m = given(...two(), ev.floatingAttached(F, '203.0.113.50', vm(1)), ev.floatingAttached(F, '203.0.113.50', vm(2), vm(1)));
      expect(m.apply(ev.floatingDetached(F, '203.0.113.50', vm(2), vm(1))).sort()).toEqual([NODE1, NODE2].sort());
      expect(vmsOf(m, NODE1)[0]).not.toHaveProperty('extraIps');
      expect(vmsOf(m, NODE2)[0]).not.toHaveProperty('extraIps');
    });
  });

  describe('extra addresses', () => {
    const routed = () => [...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10')];
    it('given a routed VM, when an extra address is allocated, then only its node lists it (both families, sorted)', () => {
      const m = given(...routed());
      const before = contentHash(m.desired(NODE2)!);
      expect(m.apply(ev.addressAllocated(vm(1), '203.0.113.12'))).toEqual([NODE1]);
      expect(m.apply(ev.addressAllocated(vm(1), '2001:DB8::5'))).toEqual([NODE1]);
      expect(m.apply(ev.addressAllocated(vm(1), '203.0.113.11'))).toEqual([NODE1]);
      expect(vmsOf(m, NODE1)).toEqual([expect.objectContaining({ ip: '203.0.113.10', extraIps: ['2001:db8::5', '203.0.113.11', '203.0.113.12'] })]);
      expect(contentHash(m.desired(NODE2)!)).toBe(before);
      expect(m.apply(ev.addressAllocated(vm(1), '203.0.113.11'))).toEqual([]); // a redelivery changes nothing
    });
    it('given a VM without extra addresses, its record has no extraIps (states of other VMs keep their hash)', () => {
      expect(vmsOf(given(...routed()), NODE1)[0]).not.toHaveProperty('extraIps');
    });
    it('when an extra address is removed, it is withdrawn at once; the last one removes extraIps', () => {
      const m = given(...routed(), ev.addressAllocated(vm(1), '203.0.113.11'), ev.addressAllocated(vm(1), '203.0.113.12'));
      expect(m.apply(ev.addressRemoved(vm(1), '203.0.113.11'))).toEqual([NODE1]);
      expect(vmsOf(m, NODE1)[0].extraIps).toEqual(['203.0.113.12']);
      expect(m.apply(ev.addressRemoved(vm(1), '203.0.113.12'))).toEqual([NODE1]);
      expect(vmsOf(m, NODE1)[0]).not.toHaveProperty('extraIps');
      expect(m.apply(ev.addressRemoved(vm(1), '203.0.113.12'))).toEqual([]);
    });
    it('given a migration, both nodes carry every address (the old one as leaving); completion leaves them on the new node', () => {
      const m = given(...routed(), ev.addressAllocated(vm(1), '203.0.113.11'));
      expect(m.apply(ev.migrationRequested(vm(1), NODE1, NODE2)).sort()).toEqual([NODE1, NODE2].sort());
      expect(vmsOf(m, NODE1)).toEqual([expect.objectContaining({ extraIps: ['203.0.113.11'], leaving: true })]);
      expect(vmsOf(m, NODE2)).toEqual([expect.objectContaining({ extraIps: ['203.0.113.11'] })]);
      m.apply(ev.migrationCompleted(vm(1), NODE1, NODE2));
      expect(vmsOf(m, NODE1)).toEqual([]);
      expect(vmsOf(m, NODE2)[0].extraIps).toEqual(['203.0.113.11']);
    });
    it('deleting the VM withdraws every address; a late allocation for it changes nothing', () => {
      const m = given(...routed(), ev.addressAllocated(vm(1), '203.0.113.11'));
      expect(m.apply(ev.vmDeleted(vm(1), NODE1))).toEqual([NODE1]);
      expect(vmsOf(m, NODE1)).toEqual([]);
      expect(m.apply(ev.addressAllocated(vm(1), '203.0.113.12'))).toEqual([]);
    });
    it('RTBH covers the extra addresses too', () => {
      const m = given(...routed(), ev.addressAllocated(vm(1), '203.0.113.11'));
      m.apply({ type: 'VmBlackholed', data: { vmId: vm(1), clusterId: CLUSTER, reason: 'flood' } });
      expect(m.desired(NODE1)!.bird).toContain('203.0.113.11/32');
    });
    it('survives a snapshot round trip', () => {
      const m = given(...routed(), ev.addressAllocated(vm(1), '203.0.113.11'));
      const copy = new NodeRoutesModel({ protocolNumber: 200 });
      copy.restore(structuredClone(m.snapshot()));
      expect(copy.desired(NODE1)).toEqual(m.desired(NODE1));
    });
  });

  describe('RTBH', () => {
    const bh = (vmId: string): FabricEvent => ({ type: 'VmBlackholed', data: { vmId, clusterId: CLUSTER, reason: 'flood' } });
    const lift = (vmId: string): FabricEvent => ({ type: 'VmBlackholeLifted', data: { vmId, clusterId: CLUSTER } });
    it('given a routed VM, when it is blackholed, then its node tags its route with 65535:666; lifting removes it', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'));
      expect(m.desired(NODE1)!.bird).not.toContain('65535,666');
      expect(m.apply(bh(vm(1)))).toEqual([NODE1]);
      expect(m.desired(NODE1)!.bird).toContain('if net ~ [ 203.0.113.10/32 ] then bgp_community.add((65535,666));');
      expect(m.desired(NODE2)!.bird).not.toContain('65535,666');
      expect(m.apply(bh(vm(1)))).toEqual([]); // a repeated event changes nothing
      expect(m.apply(lift(vm(1)))).toEqual([NODE1]);
      expect(m.desired(NODE1)!.bird).not.toContain('65535,666');
    });
    it('given a blackholed VM migrating, both placements tag it; deleting it forgets the blackhole', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'), bh(vm(1)));
      expect(m.apply(ev.migrationRequested(vm(1), NODE1, NODE2)).sort()).toEqual([NODE1, NODE2].sort());
      for (const n of [NODE1, NODE2]) expect(m.desired(n)!.bird).toContain('203.0.113.10/32 ] then bgp_community.add((65535,666))');
      m.apply(ev.vmDeleted(vm(1), NODE2));
      expect(m.desired(NODE2)!.bird).not.toContain('65535,666');
    });
  });

  describe('VMs', () => {
    it('given a VM created on node-1, when its IP is allocated, then node-1 (only) routes it', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1));
      expect(vmsOf(m, NODE1)).toEqual([]); // no address yet
      expect(m.apply(ev.ipAllocated(vm(1), '203.0.113.10'))).toEqual([NODE1]);
      expect(vmsOf(m, NODE1)).toEqual([{ vmId: vm(1), ifName: vmInterfaceName(vm(1)), ip: '203.0.113.10', family: 4, driver: 'netns' }]);
      expect(vmsOf(m, NODE2)).toEqual([]);
    });

    it("takes the primary's family from the allocation: a dual-stack VM created IPv4 whose IPv6 address became its primary", () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(2), NODE3, 4), ev.ipAllocated(vm(2), '2001:db8::1:7'));
      expect(vmsOf(m, NODE3)).toEqual([expect.objectContaining({ vmId: vm(2), ip: '2001:db8::1:7', family: 6 })]);
    });

    it('the BIRD config does not change when VMs come and go', () => {
      const m = given(...baseFabric());
      const before = m.desired(NODE1)!.bird;
      m.apply(ev.vmCreated(vm(1), NODE1));
      m.apply(ev.ipAllocated(vm(1), '203.0.113.10'));
      expect(m.desired(NODE1)!.bird).toBe(before);
    });

    it('an IPv6 VM is a /128 route (canonical address) on its node', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(2), NODE3, 6), ev.ipAllocated(vm(2), '2001:DB8:0::1:5'));
      expect(vmsOf(m, NODE3)).toEqual([expect.objectContaining({ vmId: vm(2), ip: '2001:db8::1:5', family: 6 })]);
      expect(m.desired(NODE3)!.underlayIp6).toBe('2001:db8:ffff::12');
      expect(m.desired(NODE3)!.bird).toContain('next hop address 2001:db8:ffff::12;');
    });

    it('a VM whose allocation failed is not routed', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(3), NODE1), ev.ipAllocationFailed(vm(3)));
      expect(vmsOf(m, NODE1)).toEqual([]);
    });

    it('given a routed VM, when it is deleted, then the route is withdrawn at once (before IPAM releases the address)', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'));
      expect(m.apply(ev.vmDeleted(vm(1), NODE1))).toEqual([NODE1]);
      expect(vmsOf(m, NODE1)).toEqual([]);
    });

    it('VMs are listed in a stable order, so equal content gives an equal hash', () => {
      const a = given(
        ...baseFabric(),
        ev.vmCreated(vm(2), NODE1),
        ev.ipAllocated(vm(2), '203.0.113.12'),
        ev.vmCreated(vm(1), NODE1),
        ev.ipAllocated(vm(1), '203.0.113.11'),
      );
      const b = given(
        ...baseFabric(),
        ev.vmCreated(vm(1), NODE1),
        ev.ipAllocated(vm(1), '203.0.113.11'),
        ev.vmCreated(vm(2), NODE1),
        ev.ipAllocated(vm(2), '203.0.113.12'),
      );
      expect(contentHash(a.desired(NODE1))).toBe(contentHash(b.desired(NODE1)));
    });
  });

  describe('route reflectors', () => {
    it('given nodes, when an RR is added, then every live node is dirty and peers with it', () => {
      const m = given(...baseFabric());
      expect(m.apply(ev.rrAdded('rr-3', '198.18.0.4')).sort()).toEqual([NODE1, NODE2, NODE3]);
      expect(m.desired(NODE2)!.bird).toContain('neighbor 198.18.0.4 as 65000;');
    });
    it('when an RR is removed, then nodes stop peering with it', () => {
      const m = given(...baseFabric(), ev.rrRemoved('RR-2'));
      expect(m.desired(NODE1)!.bird).not.toContain('198.18.0.3');
    });
    it('a cluster without RR cannot be rendered (the node BIRD config needs a peer)', () => {
      const m = given(ev.clusterCreated(), ev.nodeJoined(NODE1, 'node-1', '198.18.0.10'));
      expect(() => m.desired(NODE1)).toThrow(/routeReflectors/);
    });
  });

  describe('make-before-break migration', () => {
    const routed = () => [...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10')];

    it('when a migration is requested, then the VM is on both nodes, the old one leaving', () => {
      const m = given(...routed());
      expect(m.apply(ev.migrationRequested(vm(1), NODE1, NODE2)).sort()).toEqual([NODE1, NODE2]);
      expect(vmsOf(m, NODE1)).toEqual([expect.objectContaining({ vmId: vm(1), ip: '203.0.113.10', leaving: true })]);
      expect(vmsOf(m, NODE2)).toEqual([expect.not.objectContaining({ leaving: expect.anything() })]);
      expect(vmsOf(m, NODE2)[0].ip).toBe('203.0.113.10');
    });

    it('when an RR holds the prefix via the NEW node, then the migration is ready to complete', () => {
      const m = given(...routed(), ev.migrationRequested(vm(1), NODE1, NODE2));
      m.apply(ev.routesObserved('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.10' }]));
      expect(m.readyMigrations()).toEqual([]); // only the old node so far
      m.apply(ev.routesObserved('router', CLUSTER, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.11' }]));
      expect(m.readyMigrations()).toEqual([]); // the core is not an RR
      m.apply(
        ev.routesObserved('rr', `${CLUSTER}_rr-2`, [
          { prefix: '203.0.113.10/32', nextHop: '198.18.0.10' },
          { prefix: '203.0.113.10/32', nextHop: '198.18.0.11' },
        ]),
      );
      expect(m.readyMigrations()).toEqual([{ vmId: vm(1), clusterId: CLUSTER, toNodeId: NODE2, requestSeq: routed().length + 1 }]);
    });

    it("given route deltas (RoutesChanged), when the new node's route is added on an RR, then the migration is ready", () => {
      const m = given(
        ...routed(),
        ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.10' }], [], 'full', 1),
        ev.migrationRequested(vm(1), NODE1, NODE2),
      );
      m.apply(ev.routesChanged('rr', `${CLUSTER}_rr-1`, [], [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.10' }], undefined, 0));
      expect(m.readyMigrations()).toEqual([]);
      m.apply(ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.11' }], [], undefined, 1));
      expect(m.readyMigrations().map((r) => r.toNodeId)).toEqual([NODE2]);
    });

    it('given a route already held via the new node (a migration back), when any delta of that RR arrives, then the migration is ready', () => {
      const m = given(
        ...routed(),
        ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.11' }], [], 'full', 1),
        ev.migrationRequested(vm(1), NODE1, NODE2),
      );
      m.apply(ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.99/32', nextHop: '198.18.0.10' }], [], undefined, 2));
      expect(m.readyMigrations().map((r) => r.toNodeId)).toEqual([NODE2]);
    });

    it("given a resync that no longer holds the new node's route, then it does not make the migration ready", () => {
      const m = given(...routed(), ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.11' }], [], 'full', 1));
      m.apply(ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.10' }], [], 'full', 1));
      m.apply(ev.migrationRequested(vm(1), NODE1, NODE2));
      m.apply(ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.99/32', nextHop: '198.18.0.10' }], [], undefined, 2));
      expect(m.readyMigrations()).toEqual([]);
    });

    it('when the migration completes, then the VM is only on the new node', () => {
      const m = given(
        ...routed(),
        ev.migrationRequested(vm(1), NODE1, NODE2),
        ev.routesObserved('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.11' }]),
      );
      expect(m.apply(ev.migrationCompleted(vm(1), NODE1, NODE2)).sort()).toEqual([NODE1, NODE2]);
      expect(vmsOf(m, NODE1)).toEqual([]);
      expect(vmsOf(m, NODE2)).toEqual([expect.objectContaining({ vmId: vm(1) })]);
      expect(vmsOf(m, NODE2)[0].leaving).toBeUndefined();
      expect(m.readyMigrations()).toEqual([]);
    });

    it("an IPv6 VM completes on the new node's IPv6 underlay next hop", () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(2), NODE1, 6), ev.ipAllocated(vm(2), '2001:db8::1:7'), ev.migrationRequested(vm(2), NODE1, NODE3));
      m.apply(ev.routesObserved('rr', `${CLUSTER}_rr-1`, [{ prefix: '2001:db8::1:7/128', nextHop: '198.18.0.12' }]));
      expect(m.readyMigrations()).toEqual([]);
      m.apply(ev.routesObserved('rr', `${CLUSTER}_rr-1`, [{ prefix: '2001:DB8::1:7/128', nextHop: '2001:db8:ffff:0::12' }]));
      expect(m.readyMigrations().map((r) => r.toNodeId)).toEqual([NODE3]);
    });

    it('deleting a migrating VM withdraws it from both nodes', () => {
      const m = given(...routed(), ev.migrationRequested(vm(1), NODE1, NODE2));
      expect(m.apply(ev.vmDeleted(vm(1), NODE2)).sort()).toEqual([NODE1, NODE2]);
      expect(vmsOf(m, NODE1)).toEqual([]);
      expect(vmsOf(m, NODE2)).toEqual([]);
    });
  });

  describe('node lifecycle', () => {
    it('a drained node keeps its VMs', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'));
      expect(m.apply(ev.nodeDrained(NODE1))).toEqual([]);
      expect(vmsOf(m, NODE1)).toHaveLength(1);
    });
    it('a node that left gets a final state without VMs, frozen: later RR changes do not touch it', () => {
      const m = given(...baseFabric(), ev.nodeDrained(NODE1));
      expect(m.apply(ev.nodeLeft(NODE1))).toEqual([NODE1]);
      const final = m.desired(NODE1)!;
      expect(final.vms).toEqual([]);
      expect(m.apply(ev.rrAdded('rr-3', '198.18.0.4')).sort()).toEqual([NODE2, NODE3]);
      expect(m.desired(NODE1)).toEqual(final);
    });
  });

  describe('private networks (EVPN data plane)', () => {
    const NET = '66666666-6666-4666-8666-666666666661';
    const created: FabricEvent = {
      type: 'PrivateNetworkCreated',
      data: { clusterId: CLUSTER, networkId: NET, ownerId: 'tenant-a', name: 'backend', cidr: '192.168.10.0/24', family: 4, vni: 10000 },
    };
    const attached = (n: number, ip: string): FabricEvent => ({
      type: 'PrivateNetworkAttached',
      data: { clusterId: CLUSTER, networkId: NET, vmId: vm(n), ownerId: 'tenant-a', vni: 10000, ip, family: 4, mac: `02:00:00:00:00:0${n}` },
    });
    const detached = (n: number): FabricEvent => ({
      type: 'PrivateNetworkDetached',
      data: { clusterId: CLUSTER, networkId: NET, vmId: vm(n), ip: '192.168.10.2', releaseAt: '2030-01-01T00:00:00.000Z' },
    });
    const routed = (n: number, node: string) => [ev.vmCreated(vm(n), node), ev.ipAllocated(vm(n), `203.0.113.${10 + n}`)];

    it('given a VM attached on node-1, then only node-1 gets the VNI and an EVPN FRR config; node-2 stays without', () => {
      const m = given(...baseFabric(), created, ...routed(1, NODE1), ...routed(2, NODE2));
      expect(m.apply(attached(1, '192.168.10.2'))).toEqual([NODE1]);
      const d = m.desired(NODE1)!;
      expect(d.privateNetworks).toEqual([
        {
          networkId: NET,
          vni: 10000,
          cidr: '192.168.10.0/24',
          family: 4,
          interfaces: [{ vmId: vm(1), ip: '192.168.10.2', prefixLength: 24, mac: '02:00:00:00:00:01' }],
        },
      ]);
      expect(d.evpn).toContain('advertise-all-vni');
      expect(d.evpn).toContain(' neighbor 198.18.0.2 port 1790');
      expect(m.desired(NODE2)).not.toHaveProperty('privateNetworks');
      expect(m.desired(NODE2)).not.toHaveProperty('evpn');
    });

    it('given the last VM of the node detached, then the node state has neither privateNetworks nor evpn (the same hash as before)', () => {
      const m = given(...baseFabric(), created, ...routed(1, NODE1));
      const before = contentHash(m.desired(NODE1));
      m.apply(attached(1, '192.168.10.2'));
      expect(m.apply(detached(1))).toEqual([NODE1]);
      expect(contentHash(m.desired(NODE1))).toBe(before);
    });

    it('given an attached VM migrating, then both nodes carry it until completion; deleting it empties both', () => {
      const m = given(...baseFabric(), created, ...routed(1, NODE1), attached(1, '192.168.10.2'));
      expect(m.apply(ev.migrationRequested(vm(1), NODE1, NODE2)).sort()).toEqual([NODE1, NODE2].sort());
      expect(m.desired(NODE2)!.privateNetworks![0].interfaces.map((i) => i.vmId)).toEqual([vm(1)]);
      expect(m.desired(NODE1)!.privateNetworks).toHaveLength(1);
      m.apply(ev.vmDeleted(vm(1), NODE2));
      m.apply(detached(1));
      for (const n of [NODE1, NODE2]) expect(m.desired(n)).not.toHaveProperty('evpn');
    });
  });
});
