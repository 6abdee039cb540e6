import { DomainError } from '@fabric/contracts';
import { DeciderSpecification } from '@fabric/testing';
import { type ClusterEvent, type CreateClusterCommand, type CreateClusterData, clusterDecider } from './cluster.decider';

const spec = DeciderSpecification.for(clusterDecider);
const clusterId = '11111111-1111-4111-8111-111111111111';

const input = (over: Partial<CreateClusterData> = {}): CreateClusterData => ({
  clusterId,
  name: 'lab',
  fabricAsn: 65000,
  coreAsn: 65001,
  community: '65000:100',
  routeReflectors: [
    { name: 'rr1', ip: '198.18.0.2' },
    { name: 'rr2', ip: '198.18.0.3' },
  ],
  coreRouter: { name: 'core', ip: '198.18.0.1', vendor: 'frr' },
  // What inventory passes after storing the (given or generated) password: its secret reference.
  bgp: { md5Password: '{{secret:1}}' },
  ...over,
});
const create = (over: Partial<CreateClusterData> = {}, nameTaken = false): CreateClusterCommand => ({
  type: 'CreateCluster',
  data: input(over),
  context: { nameTaken },
});
const created = (over: Record<string, unknown> = {}): ClusterEvent => ({
  type: 'ClusterCreated',
  data: {
    clusterId,
    name: 'lab',
    fabricAsn: 65000,
    coreAsn: 65001,
    community: '65000:100',
    gateway: { ip: '10.0.0.1', mac: 'fe:ff:ff:ff:ff:ff' },
    coreRouter: { name: 'core', ip: '198.18.0.1', vendor: 'frr' },
    rrClusterId: '198.18.0.2',
    bgp: { md5Password: '{{secret:1}}', gracefulRestart: true, bfd: false, prefixLimitAction: 'restart', coreCommunity: 'no-export' },
    ...over,
  },
});
const rrAdded = (name: string, ip: string): ClusterEvent => ({ type: 'RouteReflectorAdded', data: { clusterId, name, ip } });
const existing = [created(), rrAdded('rr1', '198.18.0.2'), rrAdded('rr2', '198.18.0.3')];
const code = (status: number, c: string) => (e: DomainError) => e instanceof DomainError && e.status === status && e.code === c;

describe('cluster decider', () => {
  describe('CreateCluster', () => {
    it('creates the cluster with defaults and one RouteReflectorAdded per RR', () => {
      spec.given([]).when(create()).then(existing);
    });

    it('keeps given gateway, rrClusterId and BGP options; canonicalises addresses', () => {
      spec
        .given([])
        .when(
          create({
            gateway: { ip: '100.64.0.1', mac: 'FE:FF:FF:00:00:01' },
            rrClusterId: '1.1.1.1',
            bgp: { md5Password: 's3cret!', gracefulRestart: false, bfd: true },
            routeReflectors: [{ name: 'rr6', ip: '2001:DB8:0::2' }],
          }),
        )
        .then([
          created({
            gateway: { ip: '100.64.0.1', mac: 'fe:ff:ff:00:00:01' },
            rrClusterId: '1.1.1.1',
            bgp: { md5Password: 's3cret!', gracefulRestart: false, bfd: true, prefixLimitAction: 'restart', coreCommunity: 'no-export' },
          }),
          rrAdded('rr6', '2001:db8::2'),
        ]);
    });

    it('keeps the prefix limit action and core community given', () => {
      spec
        .given([])
        .when(create({ bgp: { md5Password: '{{secret:1}}', prefixLimitAction: 'disable', coreCommunity: '65001:666' } }))
        .then([
          created({ bgp: { md5Password: '{{secret:1}}', gracefulRestart: true, bfd: false, prefixLimitAction: 'disable', coreCommunity: '65001:666' } }),
          ...existing.slice(1),
        ]);
    });

    it('records an MD5 opt-out with its reason (no password)', () => {
      spec
        .given([])
        .when(create({ bgp: { md5OptOut: 'lab core without md5' } }))
        .then([
          created({ bgp: { gracefulRestart: true, bfd: false, prefixLimitAction: 'restart', coreCommunity: 'no-export', md5OptOut: 'lab core without md5' } }),
          ...existing.slice(1),
        ]);
    });

    it('refuses a cluster without MD5 and without an opt-out, and one with both', () => {
      spec
        .given([])
        .when(create({ bgp: {} }))
        .thenThrows(code(400, 'md5-required'));
      spec
        .given([])
        .when(create({ bgp: { md5Password: '{{secret:1}}', md5OptOut: 'why not' } }))
        .thenThrows(code(400, 'md5-conflict'));
    });

    it('uses the first IPv4 RR as rr cluster id, skipping IPv6 ones', () => {
      spec
        .given([])
        .when(
          create({
            routeReflectors: [
              { name: 'a', ip: '2001:db8::2' },
              { name: 'b', ip: '198.18.0.9' },
            ],
          }),
        )
        .thenState((s) => expect(s.status === 'active' && s.rrClusterId).toBe('198.18.0.9'));
    });

    it('defaults rr cluster id to 0.0.0.1 when there is no RR', () => {
      spec
        .given([])
        .when(create({ routeReflectors: [] }))
        .then([created({ rrClusterId: '0.0.0.1' })]);
    });

    it('allows a community whose ASN part differs from fabricAsn', () => {
      spec
        .given([])
        .when(create({ community: '64999:1' }))
        .then([created({ community: '64999:1' }), ...existing.slice(1)]);
    });

    it('409 when the cluster exists', () => {
      spec.given(existing).when(create()).thenThrows(code(409, 'cluster-exists'));
    });
    it('409 when the name is taken by another cluster', () => {
      spec.given([]).when(create({}, true)).thenThrows(code(409, 'cluster-name-taken'));
    });
    it('400 on duplicate RR names (case-insensitive)', () => {
      spec
        .given([])
        .when(
          create({
            routeReflectors: [
              { name: 'rr1', ip: '198.18.0.2' },
              { name: 'RR1', ip: '198.18.0.3' },
            ],
          }),
        )
        .thenThrows({ status: 400, code: 'duplicate-route-reflector' });
    });
    it('400 on duplicate RR addresses, whatever their spelling', () => {
      spec
        .given([])
        .when(
          create({
            routeReflectors: [
              { name: 'a', ip: '2001:db8::2' },
              { name: 'b', ip: '2001:DB8:0:0::2' },
            ],
          }),
        )
        .thenThrows({ status: 400, code: 'duplicate-route-reflector' });
    });
    it('400 when fabricAsn equals coreAsn, saying why', () => {
      spec
        .given([])
        .when(create({ coreAsn: 65000 }))
        .thenThrows((e: DomainError) => {
          expect(e).toMatchObject({ status: 400, code: 'ibgp-core-not-supported' });
          expect(e.message).toMatch(/eBGP/);
        });
    });
    it('400 when an RR or the core uses the gateway address', () => {
      spec
        .given([])
        .when(create({ routeReflectors: [{ name: 'rr1', ip: '10.0.0.1' }] }))
        .thenThrows(code(400, 'ip-is-gateway'));
      spec
        .given([])
        .when(create({ coreRouter: { name: 'core', ip: '10.0.0.1', vendor: 'junos' } }))
        .thenThrows(code(400, 'ip-is-gateway'));
    });
    it('400 when an RR has the core router address', () => {
      spec
        .given([])
        .when(create({ routeReflectors: [{ name: 'rr1', ip: '198.18.0.1' }] }))
        .thenThrows(code(400, 'ip-is-core-router'));
    });
    it('400 (not a crash) on unvalidated garbage', () => {
      spec
        .given([])
        .when(create({ routeReflectors: [{ name: 'x"}\n', ip: '1.2.3.4"; }' }] }))
        .thenThrows(code(400, 'invalid-ip'));
      spec
        .given([])
        .when(create({ gateway: { ip: '10.0.0.1', mac: '{}\n' } }))
        .thenThrows(code(400, 'invalid-mac'));
      spec
        .given([])
        .when(create({ gateway: { ip: '2001:db8::1', mac: 'fe:ff:ff:ff:ff:ff' } }))
        .thenThrows(code(400, 'invalid-ip'));
      spec
        .given([])
        .when(create({ rrClusterId: '2001:db8::1' }))
        .thenThrows(code(400, 'invalid-ip'));
    });
    it('does not crash on names with quotes, braces or newlines', () => {
      spec
        .given([])
        .when(create({ name: 'a"b{c}\nd', routeReflectors: [] }))
        .then([created({ name: 'a"b{c}\nd', rrClusterId: '0.0.0.1' })]);
    });
  });

  describe('CreateCluster with topology direct (lab/test stands only)', () => {
    it('given no RRs and topology direct, then the cluster is created as direct, with no RR event', () => {
      spec
        .given([])
        .when(create({ topology: 'direct', routeReflectors: [] }))
        .then([created({ rrClusterId: '0.0.0.1', topology: 'direct' })]);
    });
    it("given topology 'route-reflectors' explicitly, then the event is the default one (no topology field)", () => {
      spec
        .given([])
        .when(create({ topology: 'route-reflectors' }))
        .then(existing);
    });
    it('given topology direct and route reflectors, then 400 and nothing is written', () => {
      spec
        .given([])
        .when(create({ topology: 'direct' }))
        .thenThrows(code(400, 'direct-with-route-reflectors'));
    });
    it('given an unknown topology, then 400', () => {
      spec
        .given([])
        .when(create({ topology: 'mesh' as never, routeReflectors: [] }))
        .thenThrows(code(400, 'invalid-topology'));
    });
    it('given a direct cluster, when an RR is added, then 409 (a direct cluster takes no RR)', () => {
      spec
        .given([created({ rrClusterId: '0.0.0.1', topology: 'direct' })])
        .when({ type: 'AddRouteReflector', data: { clusterId, name: 'rr1', ip: '198.18.0.2' } })
        .thenThrows(code(409, 'direct-topology'));
    });
  });

  describe('AddRouteReflector', () => {
    const add = (name: string, ip: string, ipTakenByNode = false) => ({
      type: 'AddRouteReflector' as const,
      data: { clusterId, name, ip },
      context: { ipTakenByNode },
    });
    it('adds an RR', () => {
      spec
        .given(existing)
        .when(add('rr3', '198.18.0.4'))
        .then([rrAdded('rr3', '198.18.0.4')]);
    });
    it('adds an IPv6 RR in canonical form', () => {
      spec
        .given(existing)
        .when(add('rr6', '2001:DB8::0:2'))
        .then([rrAdded('rr6', '2001:db8::2')]);
    });
    it('404 on unknown cluster', () => {
      spec.given([]).when(add('rr3', '198.18.0.4')).thenThrows(code(404, 'cluster-not-found'));
    });
    it('409 on duplicate name', () => {
      spec.given(existing).when(add('rr1', '198.18.0.4')).thenThrows(code(409, 'route-reflector-name-taken'));
    });
    it('409 on duplicate address', () => {
      spec.given(existing).when(add('rr3', '198.18.0.3')).thenThrows(code(409, 'route-reflector-ip-taken'));
    });
    it('409 when a node uses the address as underlay', () => {
      spec
        .given(existing)
        .when(add('rr3', '198.18.0.10', true))
        .thenThrows(code(409, 'ip-taken-by-node'));
    });
    it('400 on the gateway address', () => {
      spec.given(existing).when(add('rr3', '10.0.0.1')).thenThrows(code(400, 'ip-is-gateway'));
    });
    it('409 when the address is inside a VM address pool of the cluster', () => {
      spec
        .given(existing)
        .when({ ...add('rr3', '203.0.113.5'), context: { ipInPool: '203.0.113.1-203.0.113.9' } })
        .thenThrows(code(409, 'ip-in-pool'));
    });
    it('400 when the address is not routable unicast (loopback, multicast)', () => {
      spec.given(existing).when(add('rr3', '127.0.0.1')).thenThrows(code(400, 'address-not-unicast'));
      spec.given(existing).when(add('rr3', 'ff02::2')).thenThrows(code(400, 'address-not-unicast'));
    });
    it('can re-add a name after removal', () => {
      spec
        .given([...existing, { type: 'RouteReflectorRemoved', data: { clusterId, name: 'rr1' } }])
        .when(add('rr1', '198.18.0.2'))
        .then([rrAdded('rr1', '198.18.0.2')]);
    });
    it('409 beyond 16 RRs', () => {
      const many = Array.from({ length: 16 }, (_, i) => rrAdded(`r${i}`, `198.18.1.${i + 1}`));
      spec
        .given([created(), ...many])
        .when(add('r17', '198.18.2.1'))
        .thenThrows(code(409, 'too-many-route-reflectors'));
    });
  });

  describe('ChangeBgpPassword (rotation; the data is a secret reference)', () => {
    const change = (md5Password: string) => ({ type: 'ChangeBgpPassword' as const, data: { clusterId, md5Password } });
    it('records the new reference', () => {
      spec
        .given(existing)
        .when(change('{{secret:7}}'))
        .then([{ type: 'BgpPasswordChanged', data: { clusterId, md5Password: '{{secret:7}}' } }]);
    });
    it('nothing when the reference is already current', () => {
      spec
        .given([...existing, { type: 'BgpPasswordChanged', data: { clusterId, md5Password: '{{secret:7}}' } }])
        .when(change('{{secret:7}}'))
        .then([]);
    });
    it('404 on unknown cluster', () => {
      spec.given([]).when(change('{{secret:7}}')).thenThrows(code(404, 'cluster-not-found'));
    });
  });

  describe('RemoveRouteReflector', () => {
    const remove = (name: string) => ({ type: 'RemoveRouteReflector' as const, data: { clusterId, name } });
    it('removes an RR', () => {
      spec
        .given(existing)
        .when(remove('rr2'))
        .then([{ type: 'RouteReflectorRemoved', data: { clusterId, name: 'rr2' } }]);
    });
    it('404 on unknown RR', () => {
      spec.given(existing).when(remove('rr9')).thenThrows(code(404, 'route-reflector-not-found'));
    });
    it('404 on an RR already removed', () => {
      spec
        .given([...existing, { type: 'RouteReflectorRemoved', data: { clusterId, name: 'rr2' } }])
        .when(remove('rr2'))
        .thenThrows(code(404, 'route-reflector-not-found'));
    });
    it('404 on unknown cluster', () => {
      spec.given([]).when(remove('rr1')).thenThrows(code(404, 'cluster-not-found'));
    });
  });

  describe('ChangeBgpSettings (PATCH /clusters/:id/bgp)', () => {
    const settings = (over: Record<string, unknown>, md5Password?: string) => ({
      type: 'ChangeBgpSettings' as const,
      data: { clusterId, settings: over, ...(md5Password ? { md5Password } : {}) },
    });
    const baseBgp = { gracefulRestart: true, bfd: false, prefixLimitAction: 'restart' as const, coreCommunity: 'no-export' };
    const changed = (bgp: Record<string, unknown>, names: string[], community = '65000:100'): ClusterEvent => ({
      type: 'ClusterBgpSettingsChanged',
      data: { clusterId, community, bgp: { ...baseBgp, ...bgp }, changed: names },
    });

    it('given timers and BFD, records the whole non-secret settings and what changed', () => {
      spec
        .given(existing)
        .when(settings({ holdTime: 9, keepaliveTime: 3, bfd: true, bfdMinRxMs: 100, bfdMinTxMs: 100, bfdMultiplier: 3, gracefulRestartTime: 60 }))
        .then([
          changed({ holdTime: 9, keepaliveTime: 3, bfd: true, bfdMinRxMs: 100, bfdMinTxMs: 100, bfdMultiplier: 3, gracefulRestartTime: 60 }, [
            'bfd',
            'holdTime',
            'keepaliveTime',
            'gracefulRestartTime',
            'bfdMinRxMs',
            'bfdMinTxMs',
            'bfdMultiplier',
          ]),
        ]);
    });

    it('given a timer set to null, it returns to the default; the password reference stays in the state', () => {
      const withHold = [...existing, changed({ holdTime: 9 }, ['holdTime'])];
      spec
        .given(withHold)
        .when(settings({ holdTime: null }))
        .then([changed({}, ['holdTime'])]);
      const state = withHold.reduce(clusterDecider.evolve, clusterDecider.initialState());
      expect(state).toMatchObject({ bgp: { md5Password: '{{secret:1}}', holdTime: 9 } });
    });

    it('given a BMP station, it is recorded canonical; null unsets it; the same again is nothing', () => {
      spec
        .given(existing)
        .when(settings({ bmpStation: { address: '2001:DB8::0:9', port: 11019 } }))
        .then([changed({ bmpStation: { address: '2001:db8::9', port: 11019 } }, ['bmpStation'])]);
      const withBmp = [...existing, changed({ bmpStation: { address: '198.18.254.1', port: 11019 } }, ['bmpStation'])];
      spec
        .given(withBmp)
        .when(settings({ bmpStation: null }))
        .then([changed({}, ['bmpStation'])]);
      spec
        .given(withBmp)
        .when(settings({ bmpStation: { address: '198.18.254.1', port: 11019 } }))
        .then([]);
    });

    it.each([
      [{ address: 'collector', port: 11019 }, 'bmpStation.address'],
      [{ address: '198.18.254.1', port: 0 }, 'bmpStation.port'],
      [{ address: '198.18.254.1', port: 65536 }, 'bmpStation.port'],
      [{ address: '198.18.254.1', port: 1.5 }, 'bmpStation.port'],
      ['198.18.254.1:11019', 'bmpStation'],
    ])('given the BMP station %j, then 400 naming %s', (bmpStation, field) => {
      spec
        .given(existing)
        .when(settings({ bmpStation }))
        .thenThrows((e: DomainError) => code(400, 'invalid-bgp-settings')(e) && JSON.stringify(e).includes(`"${field}"`));
    });

    it('given the same values again, nothing', () => {
      spec
        .given(existing)
        .when(settings({ bfd: false, gracefulRestart: true, community: '65000:100' }))
        .then([]);
    });

    it('given a community and a rotation, both events in one decision', () => {
      spec
        .given(existing)
        .when(settings({ community: '65000:200' }, '{{secret:9}}'))
        .then([changed({}, ['community'], '65000:200'), { type: 'BgpPasswordChanged', data: { clusterId, md5Password: '{{secret:9}}' } }]);
    });

    it('given a rotation on a cluster created without MD5, the opt-out ends', () => {
      const optedOut = [created({ bgp: { ...baseBgp, md5OptOut: 'lab core without md5' } })];
      spec
        .given(optedOut)
        .when(settings({}, '{{secret:9}}'))
        .then([changed({}, ['md5OptOut']), { type: 'BgpPasswordChanged', data: { clusterId, md5Password: '{{secret:9}}' } }]);
    });

    it.each([
      [{ holdTime: 1 }, 'holdTime'],
      [{ holdTime: 65536 }, 'holdTime'],
      [{ holdTime: 9, keepaliveTime: 9 }, 'keepaliveTime'],
      [{ holdTime: 0, keepaliveTime: 1 }, 'keepaliveTime'],
      [{ keepaliveTime: 3 }, 'keepaliveTime'],
      [{ bfdMinRxMs: 9 }, 'bfdMinRxMs'],
      [{ bfdMinTxMs: 60001 }, 'bfdMinTxMs'],
      [{ bfdMultiplier: 256 }, 'bfdMultiplier'],
      [{ gracefulRestartTime: 0 }, 'gracefulRestartTime'],
      [{ holdTime: 3.5 }, 'holdTime'],
      [{ community: '65535:666' }, 'community'],
    ])('given %j, 400 invalid-bgp-settings naming %s', (over, field) => {
      spec
        .given(existing)
        .when(settings(over))
        .thenThrows((e: DomainError) => code(400, 'invalid-bgp-settings')(e) && JSON.stringify(e).includes(field));
    });

    it('given a hold time that the current keepalive does not fit under, 400', () => {
      spec
        .given([...existing, changed({ holdTime: 90, keepaliveTime: 30 }, ['holdTime', 'keepaliveTime'])])
        .when(settings({ holdTime: 20 }))
        .thenThrows(code(400, 'invalid-bgp-settings'));
    });

    it('given hold time 0: allowed for an FRR core (RFC 4271), refused for a Junos core', () => {
      spec
        .given(existing)
        .when(settings({ holdTime: 0 }))
        .then([changed({ holdTime: 0 }, ['holdTime'])]);
      spec
        .given([created({ coreRouter: { name: 'core', ip: '198.18.0.1', vendor: 'junos' } })])
        .when(settings({ holdTime: 0 }))
        .thenThrows(code(400, 'invalid-bgp-settings'));
    });

    it('404 on unknown cluster', () => {
      spec
        .given([])
        .when(settings({ holdTime: 9 }))
        .thenThrows(code(404, 'cluster-not-found'));
    });
  });

  describe('RollbackRouterConfig', () => {
    const rollback = (toVersion: number, currentVersion: number, reason?: string) => ({
      type: 'RollbackRouterConfig' as const,
      data: { clusterId, toVersion, ...(reason !== undefined ? { reason } : {}) },
      context: { currentVersion },
    });
    it('asks for an earlier version, recording the current one and the reason', () => {
      spec
        .given(existing)
        .when(rollback(2, 4, 'v4 broke the uplinks'))
        .then([{ type: 'RouterConfigRollbackRequested', data: { clusterId, toVersion: 2, fromVersion: 4, reason: 'v4 broke the uplinks' } }]);
    });
    it('409 for the current version, 404 for a version that does not exist, 409 when there is no config yet', () => {
      spec.given(existing).when(rollback(4, 4)).thenThrows(code(409, 'router-config-current'));
      spec.given(existing).when(rollback(5, 4)).thenThrows(code(404, 'router-config-version-not-found'));
      spec.given(existing).when(rollback(1, 0)).thenThrows(code(409, 'router-config-none'));
    });
    it('400 for a version below 1, 404 for an unknown cluster', () => {
      spec.given(existing).when(rollback(0, 4)).thenThrows(code(400, 'invalid-version'));
      spec.given([]).when(rollback(1, 4)).thenThrows(code(404, 'cluster-not-found'));
    });
  });
});
