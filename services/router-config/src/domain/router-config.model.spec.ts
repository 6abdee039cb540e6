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

  it('a cluster without RR gets the direct-peering warning in the Junos procedure and no FRR command', () => {
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
