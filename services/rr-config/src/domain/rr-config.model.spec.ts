import { type FabricEvent, placementKey, rrTargetId } from '@fabric/contracts';
import { NODE_PART_TARGET, PLACEMENT_TARGET, RrConfigModel, nodePartKey } from './rr-config.model';
import { CLUSTER, NET4, NODE1, NODE2, NODE3, POOL4B, baseFabric, ev, vm } from '@fabric/testing/fabric';

const RR1 = rrTargetId(CLUSTER, 'rr-1');
const RR2 = rrTargetId(CLUSTER, 'rr-2');
const given = (...events: FabricEvent[]) => {
  const m = new RrConfigModel();
  events.forEach((e) => m.apply(e));
  return m;
};
const bird = (m: RrConfigModel, rr = RR1) => m.desired(rr)!.bird;
/** A node's part (its session on every RR of the cluster) and its dirty-target id. */
const part = (m: RrConfigModel, nodeId: string) => m.nodePart(nodePartKey(CLUSTER, nodeId));
const partTarget = (nodeId: string) => NODE_PART_TARGET + nodePartKey(CLUSTER, nodeId);
/** Import filter line of one node's IPv4 / IPv6 filter. */
const filter = (config: string, name: string) => {
  const start = config.indexOf(`filter ${name} {`);
  return config.slice(start, config.indexOf('\n}', start));
};

describe('rr-config model', () => {
  it('every RR of the cluster gets a state with its name, address and shared rr cluster id', () => {
    const m = given(...baseFabric());
    expect(m.targetIds().sort()).toEqual([RR1, RR2]);
    expect(m.desired(RR2)).toMatchObject({ kind: 'rr', targetId: RR2, clusterId: CLUSTER, rrName: 'rr-2', ip: '198.18.0.3' });
    for (const rr of [RR1, RR2]) expect(bird(m, rr)).toContain('rr cluster id 198.18.0.254;');
    expect(bird(m, RR2)).toContain('router id 198.18.0.3;');
    expect(bird(m)).toContain('neighbor 198.18.0.1 as 65001;'); // the core
  });

  it('exports exactly the pool ranges as CIDRs (host routes only)', () => {
    const m = given(...baseFabric());
    // 203.0.113.10-203.0.113.100 → minimal exact cover
    expect(bird(m)).toContain(
      '203.0.113.10/31{32,32}, 203.0.113.12/30{32,32}, 203.0.113.16/28{32,32}, 203.0.113.32/27{32,32}, 203.0.113.64/27{32,32}, 203.0.113.96/30{32,32}, 203.0.113.100/32',
    );
    expect(bird(m)).toContain('2001:db8::1:0/112{128,128}');
  });

  describe('nodes', () => {
    it('given RRs, when a node joins, then one node part is written (its rr-client session for every RR) and no RR command', () => {
      const m = given(...baseFabric());
      const before = [bird(m, RR1), bird(m, RR2)];
      const node9 = '22222222-2222-4222-8222-222222222229';
      expect(m.apply(ev.nodeJoined(node9, 'node-9', '198.18.0.19'))).toEqual([partTarget(node9)]);
      expect([bird(m, RR1), bird(m, RR2)]).toEqual(before);
      const p = part(m, node9)!;
      expect(p.protocol).toBe('node_node_9');
      expect(p.bird).toContain('protocol bgp node_node_9 from fabric_node_v4 {');
      expect(p.bird).toContain('neighbor 198.18.0.19 as 65000;');
      expect(m.nodePartKeys()).toContain(nodePartKey(CLUSTER, node9));
      // The RRs' commands hold the template the part inherits from, and no node session.
      for (const rr of [RR1, RR2]) {
        expect(bird(m, rr)).toContain('template bgp fabric_node_v4 {');
        expect(bird(m, rr)).not.toMatch(/^protocol bgp node_/m);
        expect(m.desired(rr)!.nodeParts).toBe('kv');
      }
    });

    it('when a node leaves, then its node part is gone and no RR command changes', () => {
      const m = given(...baseFabric(), ev.nodeDrained(NODE2));
      expect(part(m, NODE2)!.bird).toContain('neighbor 198.18.0.11 as 65000;'); // drained: still a client
      const before = bird(m);
      expect(m.apply(ev.nodeLeft(NODE2))).toEqual([partTarget(NODE2)]);
      expect(part(m, NODE2)).toBeUndefined();
      expect(m.nodePartKeys()).not.toContain(nodePartKey(CLUSTER, NODE2));
      expect(bird(m)).toBe(before);
    });

    it('a node with an IPv6 underlay address cannot be rendered (the RRs peer over IPv4); the others can', () => {
      const node6 = '22222222-2222-4222-8222-222222222226';
      const m = given(...baseFabric(), ev.nodeJoined(node6, 'node-6', '2001:db8:ff::16'));
      expect(() => part(m, node6)).toThrow(/IPv6 underlay/);
      expect(part(m, NODE1)).toBeDefined();
    });

    it('a settings change rewrites the node parts only where their text changes (the prefix-limit action)', () => {
      const m = given(...baseFabric());
      const before = part(m, NODE1)!.bird;
      const settings = { ...(baseFabric()[0] as { data: { bgp: object } }).data.bgp, prefixLimitAction: 'disable' };
      const dirty = m.apply({ type: 'ClusterBgpSettingsChanged', data: { clusterId: CLUSTER, community: '65000:100', bgp: settings } } as never);
      expect(dirty).toEqual(expect.arrayContaining([partTarget(NODE1), RR1, RR2]));
      expect(dirty.indexOf(partTarget(NODE1))).toBeLessThan(dirty.indexOf(RR1)); // parts flushed before the commands
      expect(part(m, NODE1)!.bird).not.toBe(before);
      expect(part(m, NODE1)!.bird).toContain('receive limit 256 action disable;');
    });
  });

  describe('VM placements (ROAs in the placements bucket, never in the RR config)', () => {
    const tag = (m: RrConfigModel, nodeId: string) => part(m, nodeId)!.originTag;
    const placed = (m: RrConfigModel) => [...m.placementKeys()].sort().map((k) => [k, m.placement(k)]);

    it('every node gets a distinct private 32-bit origin tag, named in its node part with its protocol', () => {
      const m = given(...baseFabric());
      const tags = [NODE1, NODE2, NODE3].map((n) => tag(m, n));
      expect(new Set(tags).size).toBe(3);
      for (const t of tags) expect(t).toBeGreaterThanOrEqual(4200000000);
      expect(part(m, NODE1)!.bird).toContain(`import where fabric_node4(${tag(m, NODE1)});`);
      expect(part(m, NODE1)!.protocol).toBe('node_node_1');
      // Stable: a replay gives the same tags.
      const again = given(...baseFabric());
      expect([NODE1, NODE2, NODE3].map((n) => tag(again, n))).toEqual(tags);
    });

    it('when a VM gets its address, then one placement of its node is dirtied and no RR', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1));
      const before = bird(m);
      const key = placementKey(CLUSTER, '203.0.113.10', tag(m, NODE1));
      expect(m.apply(ev.ipAllocated(vm(1), '203.0.113.10'))).toEqual([PLACEMENT_TARGET + key]);
      expect(placed(m)).toEqual([[key, { prefix: '203.0.113.10/32', maxLen: 32, originTag: tag(m, NODE1) }]]);
      expect(bird(m)).toBe(before);
      expect(key).toBe(`${CLUSTER}.203-0-113-10.${tag(m, NODE1)}`);
    });

    it('given a routed VM, an extra address dirties only its own placement; removing it deletes only that one', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'));
      const primary = placementKey(CLUSTER, '203.0.113.10', tag(m, NODE1));
      const k4 = placementKey(CLUSTER, '203.0.113.11', tag(m, NODE1));
      const k6 = placementKey(CLUSTER, '2001:db8::5', tag(m, NODE1));
      expect(m.apply(ev.addressAllocated(vm(1), '203.0.113.11'))).toEqual([PLACEMENT_TARGET + k4]);
      expect(m.apply(ev.addressAllocated(vm(1), '2001:db8::5'))).toEqual([PLACEMENT_TARGET + k6]);
      expect(m.placement(k6)).toEqual({ prefix: '2001:db8::5/128', maxLen: 128, originTag: tag(m, NODE1) });
      expect(m.apply(ev.addressAllocated(vm(1), '203.0.113.11'))).toEqual([]);
      expect(m.apply(ev.addressRemoved(vm(1), '203.0.113.11'))).toEqual([PLACEMENT_TARGET + k4]);
      expect([...m.placementKeys()].sort()).toEqual([primary, k6].sort());
    });

    it('a floating address moving from a VM on node 1 to one on node 2 is placed on both nodes until the move completes (origin validation allows both)', () => {
      const F = '66666666-6666-4666-8666-666666666661';
      const m = given(
        ...baseFabric(),
        ev.vmCreated(vm(1), NODE1),
        ev.ipAllocated(vm(1), '203.0.113.10'),
        ev.vmCreated(vm(2), NODE2),
        ev.ipAllocated(vm(2), '203.0.113.20'),
      );
      const k1 = placementKey(CLUSTER, '203.0.113.50', tag(m, NODE1));
      const k2 = placementKey(CLUSTER, '203.0.113.50', tag(m, NODE2));
      expect(m.apply(ev.floatingAttached(F, '203.0.113.50', vm(1)))).toEqual([PLACEMENT_TARGET + k1]);
      expect(m.apply(ev.floatingAttached(F, '203.0.113.50', vm(2), vm(1)))).toEqual([PLACEMENT_TARGET + k2]);
      expect(m.placement(k1)).toBeDefined();
      expect(m.placement(k2)).toEqual({ prefix: '203.0.113.50/32', maxLen: 32, originTag: tag(m, NODE2) });
      expect(m.apply(ev.floatingMoveCompleted(F, '203.0.113.50', vm(2), vm(1)))).toEqual([PLACEMENT_TARGET + k1]);
      expect(m.placement(k1)).toBeUndefined();
      expect(m.apply(ev.floatingDetached(F, '203.0.113.50', vm(2)))).toEqual([PLACEMENT_TARGET + k2]);
      expect(m.placement(k2)).toBeUndefined();
    });

    it('a floating address moving between two VMs of one node keeps its placement when the move completes', () => {
      const F = '66666666-6666-4666-8666-666666666661';
      const m = given(
        ...baseFabric(),
        ev.vmCreated(vm(1), NODE1),
        ev.ipAllocated(vm(1), '203.0.113.10'),
        ev.vmCreated(vm(3), NODE1),
        ev.ipAllocated(vm(3), '203.0.113.30'),
      );
      const k1 = placementKey(CLUSTER, '203.0.113.50', tag(m, NODE1));
      m.apply(ev.floatingAttached(F, '203.0.113.50', vm(1)));
      m.apply(ev.floatingAttached(F, '203.0.113.50', vm(3), vm(1)));
      expect(m.apply(ev.floatingMoveCompleted(F, '203.0.113.50', vm(3), vm(1)))).toEqual([PLACEMENT_TARGET + k1]);
      expect(m.placement(k1)).toEqual({ prefix: '203.0.113.50/32', maxLen: 32, originTag: tag(m, NODE1) });
      expect(m.apply(ev.floatingDetached(F, '203.0.113.50', vm(3)))).toEqual([PLACEMENT_TARGET + k1]);
      expect(m.placement(k1)).toBeUndefined();
    });

    it('a migration places every address of the VM on both nodes, completion removes them from the old one; deletion removes all', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'), ev.addressAllocated(vm(1), '203.0.113.11'));
      m.apply(ev.migrationRequested(vm(1), NODE1, NODE2));
      const on = (nodeId: string) => [...m.placementKeys()].filter((k) => k.endsWith(`.${tag(m, nodeId)}`)).length;
      expect([on(NODE1), on(NODE2)]).toEqual([2, 2]);
      m.apply(ev.migrationCompleted(vm(1), NODE1, NODE2));
      expect([on(NODE1), on(NODE2)]).toEqual([0, 2]);
      m.apply(ev.vmDeleted(vm(1), NODE2));
      expect([...m.placementKeys()]).toEqual([]);
    });

    it("a node's receive limit moves only at a bucket edge: the 129th VM changes that node's part, never an RR command", () => {
      const m = given(...baseFabric());
      const limit = () => /receive limit (\d+)/.exec(part(m, NODE1)!.bird)![1];
      expect(limit()).toBe('256');
      for (let i = 1; i <= 128; i++) {
        m.apply(ev.vmCreated(vm(i), NODE1));
        expect(m.apply(ev.ipAllocated(vm(i), `10.1.${i >> 8}.${i & 255}`)).some((t) => !t.startsWith(PLACEMENT_TARGET))).toBe(false);
      }
      expect(limit()).toBe('256');
      m.apply(ev.vmCreated(vm(129), NODE1));
      const dirty = m.apply(ev.ipAllocated(vm(129), '10.1.1.129'));
      expect(dirty).toContain(partTarget(NODE1));
      expect(dirty).not.toEqual(expect.arrayContaining([RR1]));
      expect(limit()).toBe('512');
      // Back under the edge: the limit follows down.
      expect(m.apply(ev.vmDeleted(vm(129), NODE1))).toContain(partTarget(NODE1));
      expect(limit()).toBe('256');
    });

    it('an IPv6 VM is a /128 placement with the address as 32 hex digits in its key', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(2), NODE3, 6), ev.ipAllocated(vm(2), '2001:db8::1:5'));
      expect(placed(m)).toEqual([
        [`${CLUSTER}.20010db8000000000000000000010005.${tag(m, NODE3)}`, { prefix: '2001:db8::1:5/128', maxLen: 128, originTag: tag(m, NODE3) }],
      ]);
    });

    it('when the VM is deleted, then its placement is gone', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'));
      expect(m.apply(ev.vmDeleted(vm(1), NODE1))).toEqual([PLACEMENT_TARGET + placementKey(CLUSTER, '203.0.113.10', tag(m, NODE1))]);
      expect(placed(m)).toEqual([]);
    });

    it('during a migration both nodes have a placement; after completion only the new one', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'), ev.migrationRequested(vm(1), NODE1, NODE2));
      expect(
        placed(m)
          .map(([, v]) => (v as { originTag: number }).originTag)
          .sort(),
      ).toEqual([tag(m, NODE1), tag(m, NODE2)].sort());
      m.apply(ev.migrationCompleted(vm(1), NODE1, NODE2));
      expect(placed(m)).toEqual([[placementKey(CLUSTER, '203.0.113.10', tag(m, NODE2)), { prefix: '203.0.113.10/32', maxLen: 32, originTag: tag(m, NODE2) }]]);
    });

    it('a VM without an address (allocation failed) has no placement', () => {
      const m = given(...baseFabric(), ev.vmCreated(vm(3), NODE1), ev.ipAllocationFailed(vm(3)));
      expect(placed(m)).toEqual([]);
    });

    it('a node that rejoins keeps its tag; a new node never gets the tag of one that left', () => {
      const m = given(...baseFabric());
      const t2 = tag(m, NODE2);
      m.apply(ev.nodeLeft(NODE2));
      m.apply(ev.nodeJoined(NODE2, 'node-2', '198.18.0.11'));
      expect(tag(m, NODE2)).toBe(t2);
    });
  });

  describe('route reflectors and pools', () => {
    it('an added RR gets its own state; the others are untouched (RRs do not peer with each other)', () => {
      const m = given(...baseFabric());
      const before = bird(m);
      expect(m.apply(ev.rrAdded('rr-3', '198.18.0.4'))).toEqual([rrTargetId(CLUSTER, 'rr-3')]);
      expect(m.desired(rrTargetId(CLUSTER, 'rr-3'))!.bird).toContain('router id 198.18.0.4;');
      expect(bird(m)).toBe(before);
    });

    it('a removed RR gets no further state', () => {
      const m = given(...baseFabric());
      expect(m.apply(ev.rrRemoved('rr-2'))).toEqual([]);
      expect(m.desired(RR2)).toBeUndefined();
      expect(m.targetIds()).toEqual([RR1]);
    });

    it('a new pool is exported by every RR', () => {
      const m = given(...baseFabric());
      expect(m.apply(ev.poolAdded(NET4, POOL4B, '203.0.113.128', '203.0.113.255')).sort()).toEqual([RR1, RR2]);
      expect(bird(m)).toContain('203.0.113.128/25{32,32}');
    });

    it('an IPv6-only RR cannot be rendered (BIRD needs an IPv4 router id)', () => {
      const m = given(...baseFabric(), ev.rrAdded('rr-6', '2001:db8:ffff::2'));
      expect(() => m.desired(rrTargetId(CLUSTER, 'rr-6'))).toThrow(/IPv4/);
    });

    it('events of a cluster that is not created yet render nothing', () => {
      const m = given(ev.rrAdded('rr-1', '198.18.0.2'), ev.nodeJoined(NODE1, 'node-1', '198.18.0.10'));
      expect(m.desired(RR1)).toBeUndefined();
      expect(part(m, NODE1)).toBeUndefined();
      expect(m.apply(ev.clusterCreated())).toEqual([partTarget(NODE1), RR1]);
      expect(bird(m)).toContain('template bgp fabric_node_v4 {');
      expect(part(m, NODE1)!.bird).toContain('neighbor 198.18.0.10 as 65000;');
    });
  });

  describe('EVPN reflector (tenant private networks)', () => {
    const NET = '66666666-6666-4666-8666-666666666661';
    const NET_B = '66666666-6666-4666-8666-666666666662';
    const created = (networkId: string, vni: number): FabricEvent => ({
      type: 'PrivateNetworkCreated',
      data: { clusterId: CLUSTER, networkId, ownerId: 'tenant-a', name: `n${vni}`, cidr: '192.168.10.0/24', family: 4, vni },
    });
    const deleted = (networkId: string): FabricEvent => ({
      type: 'PrivateNetworkDeleted',
      data: { clusterId: CLUSTER, networkId, ownerId: 'tenant-a', vni: 10000 },
    });

    it('given no private network, then the RRs have no EVPN config', () => {
      expect(given(...baseFabric()).desired(RR1)).not.toHaveProperty('evpn');
    });

    it('given the first network, then every RR (and only then) gets an FRR reflector for every live node; the last deletion removes it', () => {
      const m = given(...baseFabric());
      expect(m.apply(created(NET, 10000)).sort()).toEqual([RR1, RR2].sort());
      const evpn = m.desired(RR1)!.evpn!;
      expect(evpn).toContain(' bgp cluster-id 198.18.0.254');
      expect(evpn).toContain('  neighbor 198.18.0.10 route-reflector-client');
      expect(m.apply(created(NET_B, 10001))).toEqual([]);
      expect(m.apply(deleted(NET))).toEqual([]);
      expect(m.apply(deleted(NET_B)).sort()).toEqual([RR1, RR2].sort());
      expect(m.desired(RR1)).not.toHaveProperty('evpn');
    });
  });

  describe('dry run of a settings change', () => {
    it('given RRs, when previewing BFD and a hold time, then every RR renders them and the model is left as it was', () => {
      const m = given(...baseFabric());
      const before = [bird(m, RR1), bird(m, RR2)];
      const preview = m.previewBgp(CLUSTER, '65000:100', { gracefulRestart: true, bfd: true, holdTime: 9, bfdMinRxMs: 100 }, false);
      expect(preview.map((p) => p.targetId).sort()).toEqual([RR1, RR2]);
      for (const p of preview) {
        expect(p.kind).toBe('rr');
        expect(p.config).toContain('bfd on;');
        expect(p.config).toContain('hold time 9;');
        expect(p.config).toContain('min rx interval 100 ms;');
      }
      expect([bird(m, RR1), bird(m, RR2)]).toEqual(before);
    });

    it('given a cluster without MD5, when previewing a rotation, then the password is a secret reference, never a value', () => {
      const m = given(...baseFabric());
      const [p] = m.previewBgp(CLUSTER, '65000:100', { gracefulRestart: true, bfd: false }, true);
      if (!bird(m).includes('password')) expect(p.config).toMatch(/password "\{\{secret:\d+\}\}";/);
    });

    it('given an unknown cluster, then nothing is previewed', () => {
      expect(given(...baseFabric()).previewBgp('00000000-0000-4000-8000-000000000009', '65000:100', { gracefulRestart: true, bfd: true }, false)).toEqual([]);
    });
  });

  describe('a node on an address the core or an RR has (refused by the API; an older or forged history)', () => {
    const BAD = '22222222-2222-4222-8222-2222222222bd';
    it('given it joins, then every RR command fails to render with the reason, its node part is never written, and it recovers when it leaves', () => {
      const m = given(...baseFabric());
      expect(m.apply(ev.nodeJoined(BAD, 'bad', '198.18.0.1'))).toEqual([partTarget(BAD), RR1, RR2]);
      expect(() => m.desired(RR1)).toThrow(/node bad is on 198\.18\.0\.1, the address of the core router core/);
      expect(() => part(m, BAD)).toThrow(/198\.18\.0\.1/);
      expect(part(m, NODE1)).toBeDefined();
      expect(m.apply({ type: 'NodeLeft', data: { nodeId: BAD, clusterId: CLUSTER } })).toEqual([partTarget(BAD), RR1, RR2]);
      expect(m.desired(RR1)).toBeDefined();
      expect(part(m, BAD)).toBeUndefined();
    });
  });
});
