import { DeciderSpecification } from '@fabric/testing';
import {
  type AddNetworkCommand,
  type AllocateCommand,
  type IpamEvent,
  type PoolSpec,
  dueExtraReleases,
  dueReleases,
  ipamDecider,
  ipamUsage,
} from './ipam.decider';

const spec = DeciderSpecification.for(ipamDecider);
const clusterId = '11111111-1111-4111-8111-111111111111';
const net4 = '44444444-4444-4444-8444-444444444441';
const net6 = '44444444-4444-4444-8444-444444444446';
const pool4 = '55555555-5555-4555-8555-555555555541';
const pool4b = '55555555-5555-4555-8555-555555555542';
const pool6 = '55555555-5555-4555-8555-555555555561';
const vm = (n: number) => `33333333-3333-4333-8333-${String(n).padStart(12, '0')}`;
const gw = { gatewayIp: '10.0.0.1' };

const addNetwork = (cidr: string, pools?: PoolSpec[], networkId = net4, gatewayIp = '10.0.0.1'): AddNetworkCommand => ({
  type: 'AddNetwork',
  data: { clusterId, networkId, cidr, ...(pools ? { pools } : {}) },
  context: { gatewayIp },
});
const addPool = (start: string, end: string, poolId = pool4b, networkId = net4) => ({
  type: 'AddPool' as const,
  data: { clusterId, networkId, poolId, start, end },
  context: gw,
});
const allocate = (n: number, family: 4 | 6 = 4, requestedIp?: string): AllocateCommand => ({
  type: 'Allocate',
  data: { clusterId, vmId: vm(n), ownerId: `owner-${n}`, family, ...(requestedIp ? { requestedIp } : {}) },
});

const networkAdded = (cidr: string, family: 4 | 6 = 4, networkId = net4): IpamEvent => ({ type: 'NetworkAdded', data: { clusterId, networkId, cidr, family } });
const poolAdded = (start: string, end: string, poolId = pool4, networkId = net4): IpamEvent => ({
  type: 'PoolAdded',
  data: { clusterId, networkId, poolId, start, end },
});
const ipAllocated = (n: number, ip: string, family: 4 | 6 = 4, poolId = pool4, networkId = net4): IpamEvent => ({
  type: 'IpAllocated',
  data: { clusterId, vmId: vm(n), ownerId: `owner-${n}`, ip, family, networkId, poolId },
});
const scheduled = (n: number, ip: string, releaseAt = '2030-01-01T00:00:00.000Z'): IpamEvent => ({
  type: 'IpReleaseScheduled',
  data: { clusterId, vmId: vm(n), ip, releaseAt },
});
const released = (n: number, ip: string): IpamEvent => ({ type: 'IpReleased', data: { clusterId, vmId: vm(n), ownerId: `owner-${n}`, ip } });

/** /24 with one pool .10-.20, and a v6 /64 with a pool covering ::1-::ffff */
const v4 = [networkAdded('203.0.113.0/24'), poolAdded('203.0.113.10', '203.0.113.20')];
const v6 = [networkAdded('2001:db8::/64', 6, net6), poolAdded('2001:db8::1', '2001:db8::ffff', pool6, net6)];

/** IpAllocationFailed with this reason and a non-trivial message (messages are prose, not asserted verbatim). */
const expectFailure = (given: IpamEvent[], cmd: AllocateCommand, reason: string) =>
  spec
    .given(given)
    .when(cmd)
    .thenState((_s, events) => {
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'IpAllocationFailed', data: { clusterId, vmId: cmd.data.vmId, reason } });
      expect((events[0].data as { message: string }).message.length).toBeGreaterThan(10);
    });

describe('ipam decider', () => {
  describe('extra addresses (AllocateExtra / ScheduleExtraRelease / ReleaseExtra)', () => {
    const req = (n: number) => `66666666-6666-4666-8666-${String(n).padStart(12, '0')}`;
    const allocateExtra = (r: number, family: 4 | 6 = 4, requestedIp?: string) => ({
      type: 'AllocateExtra' as const,
      data: { clusterId, vmId: vm(1), ownerId: 'owner-1', requestId: req(r), family, ...(requestedIp ? { requestedIp } : {}) },
    });
    const extraAllocated = (r: number, ip: string, family: 4 | 6 = 4, poolId = pool4, networkId = net4): IpamEvent => ({
      type: 'VmAddressAllocated',
      data: { clusterId, vmId: vm(1), ownerId: 'owner-1', requestId: req(r), ip, family, networkId, poolId },
    });
    const extraScheduled = (ip: string, releaseAt = '2030-01-01T00:00:00.000Z'): IpamEvent => ({
      type: 'VmAddressReleaseScheduled',
      data: { clusterId, vmId: vm(1), ip, releaseAt },
    });
    const extraReleased = (ip: string): IpamEvent => ({ type: 'VmAddressReleased', data: { clusterId, vmId: vm(1), ownerId: 'owner-1', ip } });
    const withPrimary = [...v4, ...v6, ipAllocated(1, '203.0.113.10')];

    it('given a VM with its primary address, allocates the next free address of the family', () => {
      spec
        .given(withPrimary)
        .when(allocateExtra(1))
        .then([extraAllocated(1, '203.0.113.11')]);
      spec
        .given(withPrimary)
        .when(allocateExtra(1, 6))
        .then([extraAllocated(1, '2001:db8::1', 6, pool6, net6)]);
    });
    it('allocates a requested address of a pool, and never one held (primary or extra) by anyone', () => {
      spec
        .given(withPrimary)
        .when(allocateExtra(1, 4, '203.0.113.15'))
        .then([extraAllocated(1, '203.0.113.15')]);
      spec
        .given([...withPrimary, extraAllocated(1, '203.0.113.11')])
        .when(allocate(2))
        .then([ipAllocated(2, '203.0.113.12')]);
      spec
        .given([...withPrimary, extraAllocated(1, '203.0.113.11')])
        .when(allocateExtra(2, 4, '203.0.113.11'))
        .thenState((_s, events) => expect(events).toMatchObject([{ type: 'VmAddressAllocationFailed', data: { requestId: req(2), reason: 'address-taken' } }]));
    });
    it('fails with a reason when outside the pools or when the family has no network', () => {
      spec
        .given(withPrimary)
        .when(allocateExtra(1, 4, '198.51.100.1'))
        .thenState((_s, events) => expect(events).toMatchObject([{ type: 'VmAddressAllocationFailed', data: { reason: 'outside-pools' } }]));
      spec
        .given([...v4, ipAllocated(1, '203.0.113.10')])
        .when(allocateExtra(1, 6))
        .thenState((_s, events) => expect(events).toMatchObject([{ type: 'VmAddressAllocationFailed', data: { reason: 'no-network' } }]));
    });
    it('given a VM whose primary allocation failed, fails its extra address (a dual-stack VM with its IPv4 pool exhausted holds no IPv6 address)', () =>
      spec
        .given([...v4, ...v6, { type: 'IpAllocationFailed', data: { clusterId, vmId: vm(1), reason: 'pool-exhausted', message: 'no free IPv4 address' } }])
        .when(allocateExtra(1, 6))
        .thenState((_s, events) =>
          expect(events).toMatchObject([{ type: 'VmAddressAllocationFailed', data: { requestId: req(1), reason: 'no-primary-address' } }]),
        ));
    it('given a dual-stack VM whose first family failed, allocates the second family as its primary and fails the first on the request', () => {
      const failedV4: IpamEvent = {
        type: 'IpAllocationFailed',
        data: { clusterId, vmId: vm(1), reason: 'pool-exhausted', message: 'every IPv4 pool of the cluster is full (1 pool(s))' },
      };
      const dual = { ...allocateExtra(1, 6), data: { ...allocateExtra(1, 6).data, dualStack: true } };
      spec
        .given([...v4, ...v6, failedV4])
        .when(dual)
        .then([
          { type: 'IpAllocated', data: { clusterId, vmId: vm(1), ownerId: 'owner-1', ip: '2001:db8::1', family: 6, networkId: net6, poolId: pool6 } },
          {
            type: 'VmAddressAllocationFailed',
            data: {
              clusterId,
              vmId: vm(1),
              requestId: req(1),
              reason: 'pool-exhausted',
              message: "every IPv4 pool of the cluster is full (1 pool(s)); the VM's IPv6 address is its primary",
              family: 4,
            },
          },
        ]);
      // Then the VM holds its IPv6 address like any primary: the request is answered, a redelivery allocates nothing.
      spec
        .given([...v4, ...v6, failedV4])
        .when(dual)
        .thenState((s) => {
          expect(s.byVm.get(vm(1))).toMatchObject({ ip: '2001:db8::1', family: 6 });
          expect(s.vms.get(vm(1))).toBe('allocated');
          expect(s.primaryFailures.size).toBe(0);
          expect(ipamDecider.decide(dual, s)).toEqual([]);
          expect(ipamDecider.decide(allocate(1, 4), s)).toEqual([]);
        });
      // Both families exhausted: the request fails with its own family's reason, the VM stays failed.
      spec
        .given([...v4, networkAdded('2001:db8::/64', 6, net6), failedV4])
        .when(dual)
        .thenState((_s, events) =>
          expect(events).toMatchObject([{ type: 'VmAddressAllocationFailed', data: { requestId: req(1), reason: 'pool-exhausted' } }]),
        );
    });
    it('is idempotent per request, and allocates nothing for a VM being released', () => {
      spec
        .given([...withPrimary, extraAllocated(1, '203.0.113.11')])
        .when(allocateExtra(1))
        .then([]);
      spec
        .given([...withPrimary, scheduled(1, '203.0.113.10')])
        .when(allocateExtra(1))
        .then([]);
    });
    it('a removed address is held for the cool-down, then released and free again', () => {
      const held = [...withPrimary, extraAllocated(1, '203.0.113.11')];
      spec
        .given(held)
        .when({ type: 'ScheduleExtraRelease', data: { clusterId, vmId: vm(1), ip: '203.0.113.11', releaseAt: '2030-01-01T00:00:00Z' } })
        .then([extraScheduled('203.0.113.11')]);
      spec
        .given([...held, extraScheduled('203.0.113.11')])
        .when(allocate(2, 4, '203.0.113.11'))
        .thenState((_s, events) => expect(events).toMatchObject([{ type: 'IpAllocationFailed', data: { reason: 'address-taken' } }]));
      spec
        .given([...held, extraScheduled('203.0.113.11')])
        .when({ type: 'ScheduleExtraRelease', data: { clusterId, vmId: vm(1), ip: '203.0.113.11', releaseAt: '2031-01-01T00:00:00Z' } })
        .then([]);
      spec
        .given([...held, extraScheduled('203.0.113.11')])
        .when({ type: 'Release', data: { clusterId, vmId: vm(9) } })
        .thenState((s) => {
          expect(dueExtraReleases(s, '2029-12-31T23:59:59Z')).toEqual([]);
          expect(dueExtraReleases(s, '2030-01-01T00:00:00Z')).toEqual([{ vmId: vm(1), ip: '203.0.113.11', releaseAt: '2030-01-01T00:00:00.000Z' }]);
        });
      spec
        .given([...held, extraScheduled('203.0.113.11')])
        .when({ type: 'ReleaseExtra', data: { clusterId, vmId: vm(1), ip: '203.0.113.11' } })
        .then([extraReleased('203.0.113.11')]);
      spec
        .given([...held, extraScheduled('203.0.113.11'), extraReleased('203.0.113.11')])
        .when(allocate(2))
        .then([ipAllocated(2, '203.0.113.11')]);
    });
    it('deleting the VM schedules the release of its primary and every extra address', () =>
      spec
        .given([...withPrimary, extraAllocated(1, '203.0.113.11'), extraAllocated(2, '2001:db8::1', 6, pool6, net6)])
        .when({ type: 'ScheduleRelease', data: { clusterId, vmId: vm(1), releaseAt: '2030-01-01T00:00:00Z' } })
        .then([scheduled(1, '203.0.113.10'), extraScheduled('203.0.113.11'), extraScheduled('2001:db8::1')]));
    it('counts extra addresses in the pool usage', () =>
      spec
        .given([...withPrimary, extraAllocated(1, '203.0.113.11')])
        .when({ type: 'Release', data: { clusterId, vmId: vm(9) } })
        .thenState((s) => expect(ipamUsage(s).find((p) => p.poolId === pool4)?.used).toBe(2)));
  });

  describe('AddNetwork', () => {
    it('adds an IPv4 network with pools', () => {
      spec
        .given([])
        .when(
          addNetwork('203.0.113.0/24', [
            { poolId: pool4, start: '203.0.113.10', end: '203.0.113.20' },
            { poolId: pool4b, start: '203.0.113.100', end: '203.0.113.200' },
          ]),
        )
        .then([networkAdded('203.0.113.0/24'), poolAdded('203.0.113.10', '203.0.113.20'), poolAdded('203.0.113.100', '203.0.113.200', pool4b)]);
    });
    it('adds an IPv6 network, canonicalising addresses', () => {
      spec
        .given([])
        .when(addNetwork('2001:DB8:0::/64', [{ poolId: pool6, start: '2001:DB8::1', end: '2001:db8:0:0:ffff:ffff:ffff:ffff' }], net6))
        .then([networkAdded('2001:db8::/64', 6, net6), poolAdded('2001:db8::1', '2001:db8::ffff:ffff:ffff:ffff', pool6, net6)]);
    });
    it('adds a network without pools', () =>
      spec
        .given([])
        .when(addNetwork('198.51.100.0/24'))
        .then([networkAdded('198.51.100.0/24')]));
    it('400 on an invalid CIDR (no crash on quotes/braces/newlines)', () => {
      for (const bad of ['203.0.113.0', '203.0.113.0/33', '10.1/8', '"}\n{/24', ''])
        spec.given([]).when(addNetwork(bad)).thenThrows({ status: 400, code: 'invalid-cidr' });
    });
    it('400 when host bits are set, suggesting the network', () => {
      spec
        .given([])
        .when(addNetwork('203.0.113.5/24'))
        .thenThrows((e) => {
          expect(e).toMatchObject({ status: 400, code: 'cidr-host-bits-set' });
          expect(e.message).toContain('203.0.113.0/24');
        });
    });
    it('409 network-overlap with an existing network (v4 and v6)', () => {
      spec
        .given(v4)
        .when(addNetwork('203.0.112.0/23', undefined, net6))
        .thenThrows({ status: 409, code: 'network-overlap' });
      spec
        .given(v6)
        .when(addNetwork('2001:db8::/48', undefined, net4))
        .thenThrows({ status: 409, code: 'network-overlap' });
    });
    it('allows adjacent networks and same numbers in the other family', () => {
      spec
        .given(v4)
        .when(addNetwork('203.0.112.0/24', undefined, net6))
        .then([networkAdded('203.0.112.0/24', 4, net6)]);
      // ::cb00:7100/120 (an older event) has the same numbers as 203.0.113.0/24
      spec
        .given([networkAdded('::cb00:7100/120', 6, net6)])
        .when(addNetwork('203.0.113.0/24'))
        .then([networkAdded('203.0.113.0/24')]);
    });
    it('409 when the network id exists', () => spec.given(v4).when(addNetwork('198.51.100.0/24')).thenThrows({ status: 409, code: 'network-exists' }));
    it('400 pool-outside-network', () => {
      spec
        .given([])
        .when(addNetwork('203.0.113.0/24', [{ poolId: pool4, start: '203.0.113.200', end: '203.0.114.5' }]))
        .thenThrows({ status: 400, code: 'pool-outside-network' });
      spec
        .given([])
        .when(addNetwork('203.0.113.0/24', [{ poolId: pool4, start: '2001:db8::1', end: '2001:db8::2' }]))
        .thenThrows({ status: 400, code: 'pool-outside-network' });
    });
    it('400 pool-contains-gateway (default and custom gateway)', () => {
      spec
        .given([])
        .when(addNetwork('10.0.0.0/24', [{ poolId: pool4, start: '10.0.0.1', end: '10.0.0.50' }]))
        .thenThrows({ status: 400, code: 'pool-contains-gateway' });
      spec
        .given([])
        .when(addNetwork('203.0.113.0/24', [{ poolId: pool4, start: '203.0.113.1', end: '203.0.113.50' }], net4, '203.0.113.1'))
        .thenThrows({ status: 400, code: 'pool-contains-gateway' });
    });
    it('allows the gateway inside the network but outside the pools', () => {
      spec
        .given([])
        .when(addNetwork('10.0.0.0/24', [{ poolId: pool4, start: '10.0.0.2', end: '10.0.0.50' }]))
        .then([networkAdded('10.0.0.0/24'), poolAdded('10.0.0.2', '10.0.0.50')]);
    });
    it('400 when start > end', () => {
      spec
        .given([])
        .when(addNetwork('203.0.113.0/24', [{ poolId: pool4, start: '203.0.113.20', end: '203.0.113.10' }]))
        .thenThrows({ status: 400, code: 'pool-start-after-end' });
    });
    it('409 when the given pools overlap each other', () => {
      spec
        .given([])
        .when(
          addNetwork('203.0.113.0/24', [
            { poolId: pool4, start: '203.0.113.10', end: '203.0.113.20' },
            { poolId: pool4b, start: '203.0.113.20', end: '203.0.113.30' },
          ]),
        )
        .thenThrows({ status: 409, code: 'pool-overlap' });
    });
    it('400 on a pool containing the network or broadcast address', () => {
      spec
        .given([])
        .when(addNetwork('203.0.113.0/24', [{ poolId: pool4, start: '203.0.113.0', end: '203.0.113.0' }]))
        .thenThrows({ status: 400, code: 'pool-contains-reserved-address' });
      spec
        .given([])
        .when(addNetwork('203.0.113.0/24', [{ poolId: pool4, start: '203.0.113.0', end: '203.0.113.20' }]))
        .thenThrows({ status: 400, code: 'pool-contains-reserved-address' });
      spec
        .given([])
        .when(addNetwork('203.0.113.0/24', [{ poolId: pool4, start: '203.0.113.200', end: '203.0.113.255' }]))
        .thenThrows({ status: 400, code: 'pool-contains-reserved-address' });
      spec
        .given([])
        .when(addNetwork('2001:db8::/64', [{ poolId: pool6, start: '2001:db8::', end: '2001:db8::ff' }], net6))
        .thenThrows({ status: 400, code: 'pool-contains-reserved-address' });
      // /31 and /32 have no reserved address (RFC 3021)
      spec
        .given([])
        .when(addNetwork('203.0.113.0/31', [{ poolId: pool4, start: '203.0.113.0', end: '203.0.113.1' }]))
        .then([networkAdded('203.0.113.0/31'), poolAdded('203.0.113.0', '203.0.113.1')]);
    });
    it('400 on garbage pool addresses', () => {
      spec
        .given([])
        .when(addNetwork('203.0.113.0/24', [{ poolId: pool4, start: '"{}\n', end: '203.0.113.9' }]))
        .thenThrows({ status: 400, code: 'invalid-ip' });
    });
  });

  describe('AddPool', () => {
    it('adds a pool to an existing network', () => {
      spec
        .given(v4)
        .when(addPool('203.0.113.100', '203.0.113.200'))
        .then([poolAdded('203.0.113.100', '203.0.113.200', pool4b)]);
    });
    it('adds an IPv6 pool', () => {
      spec
        .given(v6)
        .when(addPool('2001:db8::1:0', '2001:db8::1:ffff', pool4b, net6))
        .then([poolAdded('2001:db8::1:0', '2001:db8::1:ffff', pool4b, net6)]);
    });
    it('404 on unknown network', () => spec.given([]).when(addPool('203.0.113.1', '203.0.113.2')).thenThrows({ status: 404, code: 'network-not-found' }));
    it('409 when overlapping an existing pool', () => {
      spec.given(v4).when(addPool('203.0.113.20', '203.0.113.30')).thenThrows({ status: 409, code: 'pool-overlap' });
      spec
        .given(v6)
        .when(addPool('2001:db8::ff00', '2001:db8::1:0', pool4b, net6))
        .thenThrows({ status: 409, code: 'pool-overlap' });
    });
    it('409 when the pool id exists', () =>
      spec
        .given(v4)
        .when(addPool('203.0.113.100', '203.0.113.200', pool4))
        .thenThrows({ status: 409, code: 'pool-exists' }));
    it('400 outside the network / containing the gateway / start > end', () => {
      spec.given(v4).when(addPool('198.51.100.1', '198.51.100.2')).thenThrows({ status: 400, code: 'pool-outside-network' });
      spec
        .given([networkAdded('10.0.0.0/8')])
        .when(addPool('10.0.0.0', '10.0.0.255'))
        .thenThrows({ status: 400, code: 'pool-contains-gateway' });
      spec.given(v4).when(addPool('203.0.113.200', '203.0.113.100')).thenThrows({ status: 400, code: 'pool-start-after-end' });
    });
  });

  describe('Allocate', () => {
    it('allocates the lowest free IPv4 address of the pool', () => {
      spec
        .given(v4)
        .when(allocate(1))
        .then([ipAllocated(1, '203.0.113.10')]);
      spec
        .given([...v4, ipAllocated(1, '203.0.113.10')])
        .when(allocate(2))
        .then([ipAllocated(2, '203.0.113.11')]);
    });
    it('allocates IPv6 from a 2001:db8::/64 pool', () => {
      spec
        .given([...v4, ...v6])
        .when(allocate(1, 6))
        .then([ipAllocated(1, '2001:db8::1', 6, pool6, net6)]);
    });
    it('never allocates the network or broadcast address of an IPv4 network', () => {
      const whole = [networkAdded('198.51.100.0/30'), poolAdded('198.51.100.0', '198.51.100.3')];
      spec
        .given(whole)
        .when(allocate(1))
        .then([ipAllocated(1, '198.51.100.1')]);
      spec
        .given([...whole, ipAllocated(1, '198.51.100.1'), ipAllocated(2, '198.51.100.2')])
        .when(allocate(3))
        .thenState((_s, ev) => expect(ev[0]).toMatchObject({ type: 'IpAllocationFailed', data: { reason: 'pool-exhausted' } }));
      expectFailure(whole, allocate(4, 4, '198.51.100.3'), 'outside-pools');
    });
    it('never allocates the IPv6 subnet-router anycast address', () => {
      spec
        .given([networkAdded('2001:db8::/64', 6, net6), poolAdded('2001:db8::', '2001:db8::ff', pool6, net6)])
        .when(allocate(1, 6))
        .then([ipAllocated(1, '2001:db8::1', 6, pool6, net6)]);
    });
    it('moves on to the next pool when the first is full', () => {
      const full = [...v4, poolAdded('203.0.113.100', '203.0.113.100', pool4b)];
      const taken = Array.from({ length: 11 }, (_, i) => ipAllocated(i + 1, `203.0.113.${10 + i}`));
      spec
        .given([...full, ...taken])
        .when(allocate(50))
        .then([ipAllocated(50, '203.0.113.100', 4, pool4b)]);
    });
    it('reuses a released address (lowest first)', () => {
      spec
        .given([...v4, ipAllocated(1, '203.0.113.10'), ipAllocated(2, '203.0.113.11'), released(1, '203.0.113.10')])
        .when(allocate(3))
        .then([ipAllocated(3, '203.0.113.10')]);
    });
    it('allocates a requested address (any spelling)', () => {
      spec
        .given(v4)
        .when(allocate(1, 4, '203.0.113.15'))
        .then([ipAllocated(1, '203.0.113.15')]);
      spec
        .given([...v4, ...v6])
        .when(allocate(1, 6, '2001:DB8::0:42'))
        .then([ipAllocated(1, '2001:db8::42', 6, pool6, net6)]);
    });
    it('skips requested addresses when allocating the lowest', () => {
      spec
        .given([...v4, ipAllocated(1, '203.0.113.10'), ipAllocated(2, '203.0.113.11'), ipAllocated(3, '203.0.113.12')])
        .when(allocate(4))
        .then([ipAllocated(4, '203.0.113.13')]);
      spec
        .given([...v4, ipAllocated(1, '203.0.113.11')])
        .when(allocate(2))
        .then([ipAllocated(2, '203.0.113.10')]);
      spec
        .given([...v4, ipAllocated(1, '203.0.113.11'), ipAllocated(2, '203.0.113.10')])
        .when(allocate(3))
        .then([ipAllocated(3, '203.0.113.12')]);
    });
    it('is idempotent: a VM that holds an address gets nothing more', () => {
      spec
        .given([...v4, ipAllocated(1, '203.0.113.10')])
        .when(allocate(1))
        .thenNothingHappened();
      spec
        .given([...v4, ipAllocated(1, '203.0.113.10')])
        .when(allocate(1, 4, '203.0.113.19'))
        .thenNothingHappened();
    });
    it('is idempotent after a failure and after a release', () => {
      spec
        .given([{ type: 'IpAllocationFailed', data: { clusterId, vmId: vm(1), reason: 'no-network', message: 'cluster has no IPv4 network' } }, ...v4])
        .when(allocate(1))
        .thenNothingHappened();
      spec
        .given([...v4, ipAllocated(1, '203.0.113.10'), released(1, '203.0.113.10')])
        .when(allocate(1))
        .thenNothingHappened();
    });
    it('fails pool-exhausted when every pool of the family is full', () => {
      const taken = Array.from({ length: 11 }, (_, i) => ipAllocated(i + 1, `203.0.113.${10 + i}`));
      expectFailure([...v4, ...taken], allocate(99), 'pool-exhausted');
    });
    it('fails pool-exhausted when the family has networks but no pool', () => {
      expectFailure([networkAdded('203.0.113.0/24')], allocate(1), 'pool-exhausted');
    });
    it('fails address-taken, also while the address cools down', () => {
      expectFailure([...v4, ipAllocated(1, '203.0.113.15')], allocate(2, 4, '203.0.113.15'), 'address-taken');
      spec
        .given([...v4, ipAllocated(1, '203.0.113.15'), scheduled(1, '203.0.113.15')])
        .when(allocate(2, 4, '203.0.113.15'))
        .thenState((_s, ev) => expect(ev[0]).toMatchObject({ data: { reason: 'address-taken', message: expect.stringContaining('2030-01-01') } }));
    });
    it('fails outside-pools for an address outside every pool (or garbage)', () => {
      expectFailure(v4, allocate(1, 4, '203.0.113.50'), 'outside-pools');
      expectFailure(v4, allocate(1, 4, '192.0.2.1'), 'outside-pools');
      expectFailure([...v4, ...v6], allocate(1, 6, '2001:db8::1:0'), 'outside-pools');
      expectFailure(v4, allocate(1, 4, '"}{\n'), 'outside-pools');
    });
    it('fails no-network when the cluster has no network of the family', () => {
      expectFailure([], allocate(1), 'no-network');
      expectFailure(v4, allocate(1, 6), 'no-network');
    });
    it('fails family-mismatch when the requested address is of the other family', () => {
      expectFailure([...v4, ...v6], allocate(1, 4, '2001:db8::5'), 'family-mismatch');
      expectFailure([...v4, ...v6], allocate(1, 6, '203.0.113.12'), 'family-mismatch');
    });
    it('records the failure so a retry is a no-op', () => {
      spec
        .given([])
        .when(allocate(1))
        .thenState((s) => expect(s.vms.get(vm(1))).toBe('failed'));
    });
  });

  describe('ScheduleRelease', () => {
    const schedule = (n: number, releaseAt = '2030-01-01T00:00:00Z') => ({ type: 'ScheduleRelease' as const, data: { clusterId, vmId: vm(n), releaseAt } });
    const holding = [...v4, ipAllocated(1, '203.0.113.10')];
    it('schedules the release of the held address', () =>
      spec
        .given(holding)
        .when(schedule(1))
        .then([scheduled(1, '203.0.113.10')]));
    it('keeps the address held (not allocatable) until released', () => {
      spec
        .given([...holding, scheduled(1, '203.0.113.10')])
        .when(allocate(2))
        .then([ipAllocated(2, '203.0.113.11')]);
    });
    it('is a no-op when the VM holds nothing', () => spec.given(v4).when(schedule(1)).thenNothingHappened());
    it('is a no-op when already scheduled', () =>
      spec
        .given([...holding, scheduled(1, '203.0.113.10')])
        .when(schedule(1, '2031-01-01T00:00:00Z'))
        .thenNothingHappened());
    it('400 on a malformed releaseAt', () => {
      spec.given(holding).when(schedule(1, 'tomorrow"}\n')).thenThrows({ status: 400, code: 'invalid-release-at' });
    });
  });

  describe('Release', () => {
    const release = (n: number) => ({ type: 'Release' as const, data: { clusterId, vmId: vm(n) } });
    it('releases a scheduled address with its owner', () => {
      spec
        .given([...v4, ipAllocated(1, '203.0.113.10'), scheduled(1, '203.0.113.10')])
        .when(release(1))
        .then([released(1, '203.0.113.10')]);
    });
    it('releases an IPv6 address', () => {
      spec
        .given([...v6, ipAllocated(1, '2001:db8::1', 6, pool6, net6)])
        .when(release(1))
        .then([released(1, '2001:db8::1')]);
    });
    it('is a no-op when nothing is held', () => {
      spec.given(v4).when(release(1)).thenNothingHappened();
      spec
        .given([...v4, ipAllocated(1, '203.0.113.10'), released(1, '203.0.113.10')])
        .when(release(1))
        .thenNothingHappened();
    });
    it('frees the address for the next allocation', () => {
      spec
        .given([...v4, ipAllocated(1, '203.0.113.10'), ipAllocated(2, '203.0.113.11')])
        .when(release(1))
        .thenState((s) => expect(ipamUsage(s)[0].used).toBe(1));
    });
  });

  describe('queries', () => {
    it('ipamUsage reports size (bigint, allocatable) and used per pool', () => {
      spec
        .given([
          ...v4,
          ...v6,
          networkAdded('198.51.100.0/24', 4, pool4b),
          poolAdded('198.51.100.0', '198.51.100.255', '66666666-6666-4666-8666-666666666666', pool4b),
          ipAllocated(1, '203.0.113.10'),
          ipAllocated(2, '203.0.113.11'),
        ])
        .when(allocate(3, 6))
        .thenState((s) => {
          expect(ipamUsage(s)).toEqual([
            { poolId: pool4, networkId: net4, family: 4, start: '203.0.113.10', end: '203.0.113.20', size: 11n, used: 2, free: 9n },
            { poolId: pool6, networkId: net6, family: 6, start: '2001:db8::1', end: '2001:db8::ffff', size: 65535n, used: 1, free: 65534n },
            expect.objectContaining({ start: '198.51.100.0', end: '198.51.100.255', size: 254n, used: 0 }),
          ]);
        });
    });
    it('dueReleases lists the cooled-down holdings', () => {
      spec
        .given([
          ...v4,
          ipAllocated(1, '203.0.113.10'),
          ipAllocated(2, '203.0.113.11'),
          scheduled(1, '203.0.113.10', '2030-01-01T00:00:00.000Z'),
          scheduled(2, '203.0.113.11', '2030-06-01T00:00:00.000Z'),
        ])
        .when({ type: 'Release', data: { clusterId, vmId: vm(9) } })
        .thenState((s) => {
          expect(dueReleases(s, '2030-02-01T00:00:00Z')).toEqual([{ vmId: vm(1), ip: '203.0.113.10', releaseAt: '2030-01-01T00:00:00.000Z' }]);
          expect(dueReleases(s, '2029-01-01T00:00:00Z')).toEqual([]);
        });
    });
  });

  describe('at scale', () => {
    function run(state = ipamDecider.initialState(), cmd: Parameters<typeof ipamDecider.decide>[0]) {
      const events = ipamDecider.decide(cmd, state);
      for (const e of events) state = ipamDecider.evolve(state, e);
      return { state, events };
    }

    it('allocates 10,000 unique addresses from a /16 pool by repeated decide + evolve', () => {
      let state = ipamDecider.initialState();
      state = run(state, addNetwork('100.64.0.0/16', [{ poolId: pool4, start: '100.64.0.1', end: '100.64.255.254' }])).state;
      const ips = new Set<string>();
      for (let i = 0; i < 10_000; i++) {
        const r = run(state, allocate(i));
        state = r.state;
        expect(r.events[0].type).toBe('IpAllocated');
        ips.add((r.events[0].data as { ip: string }).ip);
      }
      expect(ips.size).toBe(10_000);
      expect(ips.has('100.64.0.0')).toBe(false); // network address reserved
      expect(ips.has('100.64.0.1')).toBe(true);
      expect(ipamUsage(state)[0]).toMatchObject({ size: 65534n, used: 10_000 });

      // churn: release every other address, the next allocations refill the lowest holes first
      for (let i = 0; i < 10_000; i += 2) state = run(state, { type: 'Release', data: { clusterId, vmId: vm(i) } }).state;
      const first = run(state, allocate(20_000));
      expect(first.events[0].data).toMatchObject({ ip: '100.64.0.1' });
      state = first.state;
      for (let i = 1; i < 5_000; i++) state = run(state, allocate(20_000 + i)).state;
      expect(ipamUsage(state)[0].used).toBe(10_000);
      expect(run(state, allocate(30_000)).events[0].data).toMatchObject({ ip: '100.64.39.17' }); // 10,001st address
    });

    it('allocates 10,000 unique addresses from an IPv6 /64 pool', () => {
      let state = ipamDecider.initialState();
      state = run(state, addNetwork('2001:db8::/64', [{ poolId: pool6, start: '2001:db8::1', end: '2001:db8::ffff:ffff:ffff:ffff' }], net6)).state;
      const ips = new Set<string>();
      for (let i = 0; i < 10_000; i++) {
        const r = run(state, allocate(i, 6));
        state = r.state;
        ips.add((r.events[0].data as { ip: string }).ip);
      }
      expect(ips.size).toBe(10_000);
      expect(ipamUsage(state)[0].size).toBe((1n << 64n) - 1n);
    });
  });

  describe('address safety: only routable unicast networks, pools free of reserved and infrastructure addresses', () => {
    const withCtx = (cidr: string, ctx: Partial<AddNetworkCommand['context']>, pools?: PoolSpec[], networkId = net4): AddNetworkCommand => ({
      type: 'AddNetwork',
      data: { clusterId, networkId, cidr, ...(pools ? { pools } : {}) },
      context: { gatewayIp: '10.0.0.1', ...ctx },
    });
    it.each([
      ['the IPv4 default route', '0.0.0.0/0', 'network-is-default-route'],
      ['the IPv6 default route', '::/0', 'network-is-default-route'],
      ['the unspecified / this-network block', '0.0.0.0/24', 'network-not-unicast'],
      ['loopback', '127.0.0.0/24', 'network-not-unicast'],
      ['link-local', '169.254.10.0/24', 'network-not-unicast'],
      ['multicast', '224.0.1.0/24', 'network-not-unicast'],
      ['class E', '240.0.0.0/24', 'network-not-unicast'],
      ['the limited broadcast address', '255.255.255.255/32', 'network-not-unicast'],
      ['a block straddling class E', '224.0.0.0/3', 'network-not-unicast'],
      ['IPv6 loopback', '::1/128', 'network-not-unicast'],
      ['IPv6 unspecified', '::/128', 'network-not-unicast'],
      ['IPv6 link-local', 'fe80::/64', 'network-not-unicast'],
      ['IPv6 multicast', 'ff02::/64', 'network-not-unicast'],
      ['an IPv4 block wider than /16', '100.0.0.0/8', 'network-too-wide'],
      ['an IPv6 block wider than /32', '2000::/16', 'network-too-wide'],
    ])('400: %s (%s)', (_, cidr, code) => {
      spec
        .given([])
        .when(addNetwork(cidr, undefined, cidr.includes(':') ? net6 : net4))
        .thenThrows((e) => {
          expect(e).toMatchObject({ status: 400, code, fields: { cidr: [expect.any(String)] } });
        });
    });
    it('400 invalid-cidr on an IPv4-mapped IPv6 block (one spelling per address)', () => {
      spec
        .given([])
        .when(addNetwork('::ffff:203.0.113.0/120', undefined, net6))
        .thenThrows({ status: 400, code: 'invalid-cidr' });
    });
    it("the minimum prefix length is the operator's: a /12 is accepted when the policy allows it", () => {
      spec
        .given([])
        .when(withCtx('100.64.0.0/12', { policy: { minPrefixLength: { 4: 8, 6: 32 } } }))
        .then([networkAdded('100.64.0.0/12')]);
      spec
        .given([])
        .when(withCtx('203.0.113.0/24', { policy: { minPrefixLength: { 4: 25, 6: 32 } } }))
        .thenThrows({ status: 400, code: 'network-too-wide' });
    });
    it('private, CGNAT and unique-local networks are routable inside a fabric: accepted', () => {
      spec
        .given([])
        .when(addNetwork('10.1.0.0/16'))
        .then([networkAdded('10.1.0.0/16')]);
      spec
        .given([])
        .when(addNetwork('fd00:1::/64', undefined, net6))
        .then([networkAdded('fd00:1::/64', 6, net6)]);
    });
    it('400 when a pool contains a route reflector, the core router or a node underlay address', () => {
      const infrastructure = [
        { ip: '203.0.113.5', what: 'route reflector rr1' },
        { ip: '203.0.113.6', what: 'core router core' },
        { ip: '2001:db8::7', what: 'node node1 (underlay IPv6)' },
      ];
      for (const ip of ['203.0.113.5', '203.0.113.6']) {
        spec
          .given([])
          .when(withCtx('203.0.113.0/24', { infrastructure }, [{ poolId: pool4, start: ip, end: ip }]))
          .thenThrows((e) => {
            expect(e).toMatchObject({ status: 400, code: 'pool-contains-infrastructure-address' });
            expect(e.message).toContain(ip);
          });
      }
      spec
        .given([])
        .when(withCtx('2001:db8::/64', { infrastructure }, [{ poolId: pool6, start: '2001:db8::1', end: '2001:db8::ff' }], net6))
        .thenThrows({ status: 400, code: 'pool-contains-infrastructure-address' });
      spec
        .given(v4)
        .when({
          ...addPool('203.0.113.100', '203.0.113.200'),
          context: { gatewayIp: '10.0.0.1', infrastructure: [{ ip: '203.0.113.150', what: 'node node2 (underlay)' }] },
        })
        .thenThrows({ status: 400, code: 'pool-contains-infrastructure-address' });
      // next to them is fine
      spec
        .given([])
        .when(withCtx('203.0.113.0/24', { infrastructure }, [{ poolId: pool4, start: '203.0.113.10', end: '203.0.113.20' }]))
        .then([networkAdded('203.0.113.0/24'), poolAdded('203.0.113.10', '203.0.113.20')]);
    });
    it('409 when a cluster behind the same core router already holds an overlapping network', () => {
      const other = '11111111-1111-4111-8111-222222222222';
      spec
        .given([])
        .when(withCtx('203.0.113.128/25', { sharedCoreNetworks: [{ clusterId: other, cidr: '203.0.113.0/24' }] }))
        .thenThrows((e) => {
          expect(e).toMatchObject({ status: 409, code: 'network-overlap-shared-core' });
          expect(e.message).toContain(other);
        });
      spec
        .given([])
        .when(withCtx('198.51.100.0/24', { sharedCoreNetworks: [{ clusterId: other, cidr: '203.0.113.0/24' }] }))
        .then([networkAdded('198.51.100.0/24')]);
    });
  });
});
