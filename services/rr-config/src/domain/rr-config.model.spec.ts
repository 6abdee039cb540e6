import { type FabricEvent, placementKey, rrTargetId } from '@fabric/contracts';
import { PLACEMENT_TARGET, RrConfigModel } from './rr-config.model';
import { CLUSTER, NET4, NODE1, NODE2, NODE3, POOL4B, baseFabric, ev, vm } from '@fabric/testing/fabric';

const RR1 = rrTargetId(CLUSTER, 'rr-1');
const RR2 = rrTargetId(CLUSTER, 'rr-2');
const given = (...events: FabricEvent[]) => {
  const m = new RrConfigModel();
  events.forEach((e) => m.apply(e));
  return m;
};
const bird = (m: RrConfigModel, rr = RR1) => m.desired(rr)!.bird;
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
    it('given RRs, when a node joins, then every RR gains it as an rr client', () => {
      const m = given(...baseFabric());
      expect(m.apply(ev.nodeJoined('22222222-2222-4222-8222-222222222229', 'node-9', '198.18.0.19')).sort()).toEqual([RR1, RR2]);
      for (const rr of [RR1, RR2]) {
        expect(bird(m, rr)).toContain('protocol bgp node_node_9 {');
        expect(bird(m, rr)).toContain('neighbor 198.18.0.19 as 65000;');
      }
    });

    it('when a node leaves, then every RR drops it', () => {
      const m = given(...baseFabric(), ev.nodeDrained(NODE2));
      expect(bird(m)).toContain('neighbor 198.18.0.11 as 65000;'); // drained: still a client
      expect(m.apply(ev.nodeLeft(NODE2)).sort()).toEqual([RR1, RR2]);
      for (const rr of [RR1, RR2]) expect(bird(m, rr)).not.toContain('198.18.0.11');
    });
  });

  describe('VM placements (ROAs in the placements bucket, never in the RR config)', () => {
    const tag = (m: RrConfigModel, nodeId: string) =>
      Number(Object.entries(m.desired(RR1)!.rtrNodes!).find(([, p]) => p === `node_node_${nodeId.slice(-1)}`)![0]);
    const placed = (m: RrConfigModel) => [...m.placementKeys()].sort().map((k) => [k, m.placement(k)]);

    it('every node gets a distinct private 32-bit origin tag, named in the RR state with its protocol', () => {
      const m = given(...baseFabric());
      const tags = [NODE1, NODE2, NODE3].map((n) => tag(m, n));
      expect(new Set(tags).size).toBe(3);
      for (const t of tags) expect(t).toBeGreaterThanOrEqual(4200000000);
      expect(bird(m)).toContain(`import where fabric_node4(${tag(m, NODE1)});`);
      // Stable: a replay gives the same tags.
      expect(given(...baseFabric()).desired(RR1)!.rtrNodes).toEqual(m.desired(RR1)!.rtrNodes);
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

    it("a node's receive limit moves only at a bucket edge: the 129th VM changes the RR config, the others do not", () => {
      const m = given(...baseFabric());
      const limit = () => /protocol bgp node_node_1 \{[\s\S]*?receive limit (\d+)/.exec(bird(m))![1];
      expect(limit()).toBe('256');
      for (let i = 1; i <= 128; i++) {
        m.apply(ev.vmCreated(vm(i), NODE1));
        expect(m.apply(ev.ipAllocated(vm(i), `10.1.${i >> 8}.${i & 255}`)).some((t) => t === RR1)).toBe(false);
      }
      expect(limit()).toBe('256');
      m.apply(ev.vmCreated(vm(129), NODE1));
      expect(m.apply(ev.ipAllocated(vm(129), '10.1.1.129'))).toEqual(expect.arrayContaining([RR1, RR2]));
      expect(limit()).toBe('512');
      // Back under the edge: the limit follows down.
      expect(m.apply(ev.vmDeleted(vm(129), NODE1))).toEqual(expect.arrayContaining([RR1, RR2]));
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
      m.apply(ev.clusterCreated());
      expect(bird(m)).toContain('neighbor 198.18.0.10 as 65000;');
    });
  });
});
