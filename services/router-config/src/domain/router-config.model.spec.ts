import { type FabricEvent } from '@fabric/contracts';
import { type LastRouterConfig, NO_RR_WARNING, RouterConfigModel, nextRouterConfig } from './router-config.model';
import { CLUSTER, NET4, NODE1, NODE2, POOL4B, baseFabric, ev, vm } from '@fabric/testing/fabric';

const given = (...events: FabricEvent[]) => {
  const m = new RouterConfigModel();
  events.forEach((e) => m.apply(e));
  return m;
};
const asLast = (d: NonNullable<ReturnType<typeof nextRouterConfig>>): LastRouterConfig => ({ version: d.version, hash: d.hash, configs: d.configs });

describe('router-config model', () => {
  it('renders the Junos procedure and the FRR config from RRs, pools and ASNs', () => {
    const r = given(...baseFabric()).render(CLUSTER)!;
    expect(r.vendor).toBe('frr');
    expect(r.configs.junos).toContain('commit confirmed 5');
    expect(r.configs.junos).toContain('set protocols bgp group FABRIC-PAR1 peer-as 65000');
    expect(r.configs.junos).toContain('run show bgp neighbor 198.18.0.2 | match Accepted');
    expect(r.configs.junos).toContain('route-filter 203.0.113.96/30 prefix-length-range /32-/32');
    expect(r.configs.junos).not.toContain(NO_RR_WARNING);
    expect(r.configs.frr).toContain('router bgp 65001');
    expect(r.configs.frr).toContain(' neighbor 198.18.0.3 remote-as 65000');
    expect(r.configs.frr).toContain('permit 203.0.113.100/32');
    expect(r.frrDesired).toBe(r.configs.frr);
  });

  it('given a rendered version, when VMs and nodes come and go, then nothing is dirty and the hash is unchanged', () => {
    const m = given(...baseFabric());
    const v1 = nextRouterConfig(null, m.render(CLUSTER)!)!;
    for (const e of [
      ev.nodeJoined('22222222-2222-4222-8222-222222222229', 'node-9', '198.18.0.19'),
      ev.vmCreated(vm(1), NODE1),
      ev.ipAllocated(vm(1), '203.0.113.10'),
      ev.migrationRequested(vm(1), NODE1, NODE2),
      ev.migrationCompleted(vm(1), NODE1, NODE2),
      ev.vmDeleted(vm(1), NODE2),
      ev.nodeDrained(NODE1),
      ev.nodeLeft(NODE1),
    ]) {
      expect(m.apply(e)).toEqual([]);
    }
    expect(nextRouterConfig(asLast(v1), m.render(CLUSTER)!)).toBeNull();
  });

  describe('direct cluster (lab only): the core peers every node', () => {
    const NODE9 = '22222222-2222-4222-8222-222222222229';
    const direct = () => [
      ev.clusterCreated({ topology: 'direct' }),
      ev.nodeJoined(NODE1, 'node-1', '198.18.0.10'),
      ev.networkAdded(NET4, '203.0.113.0/24', 4),
      ev.poolAdded(NET4, POOL4B, '203.0.113.128', '203.0.113.255'),
    ];
    it('given a direct cluster with one node, then the core config has that node as its one neighbor and is applied to the FRR core', () => {
      const r = given(...direct()).render(CLUSTER)!;
      expect(r.configs.frr).toContain(' neighbor 198.18.0.10 description node node-1');
      expect(r.configs.frr).toMatch(/^! WARNING: lab\/test stand only/m);
      expect(r.configs.junos).toContain('neighbor 198.18.0.10 description "node node-1"');
      expect(r.configs.junos).not.toContain(NO_RR_WARNING);
      expect(r.frrDesired).toBe(r.configs.frr);
    });
    it('given no node yet, then the FRR core still gets a config (no neighbor)', () => {
      const r = given(ev.clusterCreated({ topology: 'direct' })).render(CLUSTER)!;
      expect(r.configs.frr).not.toContain('remote-as');
      expect(r.frrDesired).toBe(r.configs.frr);
    });
    it('when a node joins, then the cluster is dirty and the next version adds just its neighbor; when it leaves, it is removed', () => {
      const m = given(...direct());
      const v1 = nextRouterConfig(null, m.render(CLUSTER)!)!;
      expect(m.apply(ev.nodeJoined(NODE9, 'node-9', '198.18.0.19'))).toEqual([CLUSTER]);
      const v2 = nextRouterConfig(asLast(v1), m.render(CLUSTER)!)!;
      expect(v2.diffs.frr).toContain('+ neighbor 198.18.0.19 remote-as 65000');
      expect(v2.diffs.frr).not.toMatch(/^[-+] neighbor 198\.18\.0\.10/m);
      expect(m.apply(ev.nodeLeft(NODE9))).toEqual([CLUSTER]);
      expect(m.render(CLUSTER)!.configs.frr).not.toContain('198.18.0.19');
      expect(m.render(CLUSTER)!.hash).toBe(v1.hash);
    });
    it('when VMs come and go, then nothing is dirty (the core filter does not name VMs)', () => {
      const m = given(...direct());
      for (const e of [ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.130'), ev.vmDeleted(vm(1), NODE1)]) expect(m.apply(e)).toEqual([]);
    });
    it('given an RR cluster, when a node leaves that never joined, or any node joins, then nothing is dirty', () => {
      const m = given(...baseFabric());
      expect(m.apply(ev.nodeJoined(NODE9, 'node-9', '198.18.0.19'))).toEqual([]);
      expect(m.apply(ev.nodeLeft(NODE9))).toEqual([]);
    });
  });

  it('version 1 diffs against an empty config', () => {
    const v1 = nextRouterConfig(null, given(...baseFabric()).render(CLUSTER)!)!;
    expect(v1).toMatchObject({ clusterId: CLUSTER, version: 1 });
    expect(v1.diffs.frr).toContain('+router bgp 65001');
    expect(v1.diffs.junos).toContain('+IP-Fabric: apply the border router configuration for FABRIC-PAR1');
  });

  it('when a pool is added, then a new version with a diff of just that (and the prefix limits it sizes)', () => {
    const m = given(...baseFabric());
    const v1 = nextRouterConfig(null, m.render(CLUSTER)!)!;
    expect(m.apply(ev.poolAdded(NET4, POOL4B, '203.0.113.128', '203.0.113.255'))).toEqual([CLUSTER]);
    const v2 = nextRouterConfig(asLast(v1), m.render(CLUSTER)!)!;
    expect(v2.version).toBe(2);
    expect(v2.hash).not.toBe(v1.hash);
    expect(v2.diffs.frr).toMatch(/^\+ip prefix-list FABRIC-POOLS seq \d+ permit 203\.0\.113\.128\/25 ge 32 le 32$/m);
    expect(v2.diffs.junos).toContain('+     set policy-options prefix-list FABRIC-PAR1-POOLS 203.0.113.128/25');
    // The core's IPv4 prefix limit follows the pools' size: it changes with them, nothing else does.
    expect(v2.diffs.frr).toMatch(/^\+ {2}neighbor \S+ maximum-prefix \d+ restart 5 force$/m);
    expect(
      v2.diffs.frr
        .split('\n')
        .filter((l) => /^[-+][^-+]/.test(l))
        .every((l) => l.includes('FABRIC-POOLS') || / maximum-prefix /.test(l)),
    ).toBe(true);
  });

  it('when an RR is added or removed, then a new version peers with exactly the current RRs', () => {
    const m = given(...baseFabric());
    const v1 = nextRouterConfig(null, m.render(CLUSTER)!)!;
    expect(m.apply(ev.rrAdded('rr-3', '198.18.0.4'))).toEqual([CLUSTER]);
    const v2 = nextRouterConfig(asLast(v1), m.render(CLUSTER)!)!;
    expect(v2.diffs.frr).toContain('+ neighbor 198.18.0.4 remote-as 65000');
    expect(v2.diffs.junos).toContain('run show bgp neighbor 198.18.0.4 | match Accepted');
    m.apply(ev.rrRemoved('rr-1'));
    const v3 = nextRouterConfig(asLast(v2), m.render(CLUSTER)!)!;
    expect(v3.version).toBe(3);
    expect(v3.diffs.frr).toContain('- neighbor 198.18.0.2 remote-as 65000');
    expect(v3.configs.frr).not.toContain('198.18.0.2');
  });

  it('given a BMP station in the settings, then the core config reports to it; unset, the station is gone; the dry run shows it', () => {
    const m = given(...baseFabric());
    const v1 = nextRouterConfig(null, m.render(CLUSTER)!)!;
    const settings = (bmpStation?: { address: string; port: number }): FabricEvent => ({
      type: 'ClusterBgpSettingsChanged',
      data: {
        clusterId: CLUSTER,
        community: '65000:100',
        bgp: { gracefulRestart: false, bfd: false, ...(bmpStation ? { bmpStation } : {}) },
        changed: ['bmpStation'],
      },
    });
    const preview = m.previewBgp(CLUSTER, '65000:100', { gracefulRestart: false, bfd: false, bmpStation: { address: '198.18.254.1', port: 11019 } }, false);
    expect(preview[0].config).toContain(' bmp connect 198.18.254.1 port 11019 min-retry 1000 max-retry 10000');
    expect(m.render(CLUSTER)!.hash).toBe(v1.hash);
    expect(m.apply(settings({ address: '198.18.254.1', port: 11019 }))).toEqual([CLUSTER]);
    const v2 = nextRouterConfig(asLast(v1), m.render(CLUSTER)!)!;
    expect(v2.diffs.frr).toContain('+ bmp targets FABRIC-BMP');
    expect(v2.diffs.junos).toMatch(/station-address 198\.18\.254\.1/);
    m.apply(settings());
    const v3 = nextRouterConfig(asLast(v2), m.render(CLUSTER)!)!;
    expect(v3.configs.frr).not.toContain('bmp');
    expect(v3.diffs.frr).toContain('- bmp targets FABRIC-BMP');
  });

  describe('rollback', () => {
    const rendered = (d: NonNullable<ReturnType<typeof nextRouterConfig>>): FabricEvent => ({ type: 'RouterConfigRendered', data: d });
    const rollback = (toVersion: number, fromVersion: number): FabricEvent => ({
      type: 'RouterConfigRollbackRequested',
      data: { clusterId: CLUSTER, toVersion, fromVersion },
    });
    /** v1 from the base fabric, v2 after a second pool: both published (folded back as our own events). */
    const twoVersions = () => {
      const m = given(...baseFabric());
      const v1 = nextRouterConfig(null, m.render(CLUSTER)!)!;
      m.apply(rendered(v1));
      m.apply(ev.poolAdded(NET4, POOL4B, '203.0.113.128', '203.0.113.255'));
      const v2 = nextRouterConfig(asLast(v1), m.render(CLUSTER)!)!;
      m.apply(rendered(v2));
      return { m, v1, v2 };
    };

    it("given v1 and v2, when a rollback to v1 is asked, then v3 carries v1's configs, says so, and the FRR core gets them", () => {
      const { m, v1, v2 } = twoVersions();
      expect(m.apply(rollback(1, 2))).toEqual([CLUSTER]);
      const r = m.render(CLUSTER)!;
      expect(r.configs).toEqual(v1.configs);
      expect(r.frrDesired).toBe(v1.configs.frr);
      const v3 = nextRouterConfig(asLast(v2), r)!;
      expect(v3).toMatchObject({ version: 3, hash: v1.hash, rollbackOf: 1 });
      expect(v3.diffs.frr).toMatch(/^-ip prefix-list FABRIC-POOLS seq \d+ permit 203\.0\.113\.128\/25 ge 32 le 32$/m);
    });

    it('the rollback holds across a replay, and its own output does not end it', () => {
      const { m, v2 } = twoVersions();
      m.apply(rollback(1, 2));
      const v3 = nextRouterConfig(asLast(v2), m.render(CLUSTER)!)!;
      expect(m.apply(rendered(v3))).toEqual([]);
      expect(nextRouterConfig(asLast(v3), m.render(CLUSTER)!)).toBeNull();
      // VMs and nodes are not router inputs: the rollback stays.
      expect(m.apply(ev.vmCreated(vm(1), NODE1))).toEqual([]);
      expect(m.render(CLUSTER)!.rollbackOf).toBe(1);
    });

    it('when the inputs change after a rollback, then the config follows the inputs again', () => {
      const { m, v2 } = twoVersions();
      m.apply(rollback(1, 2));
      const v3 = nextRouterConfig(asLast(v2), m.render(CLUSTER)!)!;
      m.apply(rendered(v3));
      expect(m.apply(ev.rrRemoved('rr-2'))).toEqual([CLUSTER]);
      const r = m.render(CLUSTER)!;
      expect(r.rollbackOf).toBeUndefined();
      expect(r.configs.frr).toContain('203.0.113.128/25');
      expect(r.configs.frr).not.toContain('neighbor 198.18.0.3 ');
    });

    it('a rollback to a version this model never saw changes nothing', () => {
      const { m } = twoVersions();
      expect(m.apply(rollback(7, 2))).toEqual([]);
      expect(m.render(CLUSTER)!.rollbackOf).toBeUndefined();
    });
  });

  it('an RR cluster without RR (yet) gets the no-RR warning in the Junos procedure and no FRR command', () => {
    const r = given(ev.clusterCreated(), ev.networkAdded(NET4, '203.0.113.0/24', 4), ev.poolAdded(NET4, POOL4B, '203.0.113.128', '203.0.113.255')).render(
      CLUSTER,
    )!;
    expect(r.configs.junos).toContain(`WARNING: ${NO_RR_WARNING}`);
    expect(r.configs.junos).toContain('203.0.113.128/25');
    expect(r.configs.frr).toMatch(/^! WARNING/);
    expect(r.frrDesired).toBeUndefined();
  });

  it('a Junos cluster gets no FRR command', () => {
    const m = given(ev.clusterCreated({ coreRouter: { name: 'mx1', ip: '198.18.0.1', vendor: 'junos' } }), ev.rrAdded('rr-1', '198.18.0.2'));
    const r = m.render(CLUSTER)!;
    expect(r.vendor).toBe('junos');
    expect(r.frrDesired).toBeUndefined();
    expect(r.configs.frr).toContain('hostname mx1'); // still rendered: diffable, and for FRR-based routers
  });

  it('nothing before ClusterCreated', () => {
    const m = given(ev.rrAdded('rr-1', '198.18.0.2'));
    expect(m.render(CLUSTER)).toBeUndefined();
    expect(m.clusterIds()).toEqual([]);
  });
});
