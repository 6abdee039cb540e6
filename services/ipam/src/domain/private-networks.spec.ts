import { DeciderSpecification } from '@fabric/testing';
import { PRIVATE_VNI_MIN } from '@fabric/contracts';
import { type IpamCommand, type IpamEvent, ipamDecider } from './ipam.decider';
import { duePrivateReleases, privateMac } from './private-networks';

const spec = DeciderSpecification.for(ipamDecider);
const clusterId = '11111111-1111-4111-8111-111111111111';
const pubNet = '44444444-4444-4444-8444-444444444441';
const pool = '55555555-5555-4555-8555-555555555541';
const netA = '66666666-6666-4666-8666-666666666661';
const netB = '66666666-6666-4666-8666-666666666662';
const netC = '66666666-6666-4666-8666-666666666663';
const vm = (n: number) => `33333333-3333-4333-8333-${String(n).padStart(12, '0')}`;
const at = '2030-01-01T00:00:00.000Z';

const create = (networkId: string, ownerId: string, name: string, cidr: string): IpamCommand => ({
  type: 'CreatePrivateNetwork',
  data: { clusterId, networkId, ownerId, name, cidr },
  context: { gatewayIp: '10.0.0.1' },
});
const created = (networkId: string, ownerId: string, name: string, cidr: string, vni: number, family: 4 | 6 = 4): IpamEvent => ({
  type: 'PrivateNetworkCreated',
  data: { clusterId, networkId, ownerId, name, cidr, family, vni },
});
const attach = (networkId: string, n: number): IpamCommand => ({ type: 'AttachPrivateNetwork', data: { clusterId, networkId, vmId: vm(n) } });
const attached = (networkId: string, n: number, ip: string, vni = PRIVATE_VNI_MIN, ownerId = 'tenant-a'): IpamEvent => ({
  type: 'PrivateNetworkAttached',
  data: { clusterId, networkId, vmId: vm(n), ownerId, vni, ip, family: 4, mac: privateMac(vm(n), networkId) },
});
const detached = (networkId: string, n: number, ip: string, reason: 'detached' | 'vm-deleted' = 'detached'): IpamEvent => ({
  type: 'PrivateNetworkDetached',
  data: { clusterId, networkId, vmId: vm(n), ip, releaseAt: at, reason },
});
/** A VM of `ownerId` whose public address IPAM allocated. */
const vmWithAddress = (n: number, ownerId = 'tenant-a'): IpamEvent[] => [
  {
    type: 'IpAllocated',
    data: { clusterId, vmId: vm(n), ownerId, ip: `203.0.113.${10 + n}`, family: 4, networkId: pubNet, poolId: pool },
  },
];
const publicNet: IpamEvent[] = [
  { type: 'NetworkAdded', data: { clusterId, networkId: pubNet, cidr: '203.0.113.0/24', family: 4 } },
  { type: 'PoolAdded', data: { clusterId, networkId: pubNet, poolId: pool, start: '203.0.113.10', end: '203.0.113.200' } },
];
const netOfA = created(netA, 'tenant-a', 'backend', '192.168.10.0/29', PRIVATE_VNI_MIN);

describe('private networks (IPAM decider)', () => {
  describe('CreatePrivateNetwork', () => {
    it('creates the network with the first VNI of the range, canonical CIDR', () =>
      spec
        .given(publicNet)
        .when(create(netA, 'tenant-a', 'backend', '192.168.10.0/29'))
        .then([netOfA]));

    it('gives the next network a VNI past every VNI used so far, also after a delete', () =>
      spec
        .given([netOfA, { type: 'PrivateNetworkDeleted', data: { clusterId, networkId: netA, ownerId: 'tenant-a', vni: PRIVATE_VNI_MIN } }])
        .when(create(netB, 'tenant-a', 'backend', '192.168.10.0/29'))
        .then([created(netB, 'tenant-a', 'backend', '192.168.10.0/29', PRIVATE_VNI_MIN + 1)]));

    it('lets two owners use the same CIDR and name (separate VNIs)', () =>
      spec
        .given([netOfA])
        .when(create(netB, 'tenant-b', 'backend', '192.168.10.0/29'))
        .then([created(netB, 'tenant-b', 'backend', '192.168.10.0/29', PRIVATE_VNI_MIN + 1)]));

    it('accepts unique local IPv6', () =>
      spec
        .given([])
        .when(create(netA, 'tenant-a', 'v6', 'fd00:1::/64'))
        .then([created(netA, 'tenant-a', 'v6', 'fd00:1::/64', PRIVATE_VNI_MIN, 6)]));

    it.each([
      ['203.0.113.0/24', 'private-network-not-private'],
      ['2001:db8::/64', 'private-network-not-private'],
      ['10.0.0.0/8', 'private-network-size'],
      ['192.168.1.0/30', 'private-network-size'],
      ['fd00::/32', 'private-network-size'],
      ['192.168.1.5/24', 'cidr-host-bits-set'],
      ['192.168.1.0', 'invalid-cidr'],
    ])('refuses %s (%s)', (cidr, code) =>
      spec
        .given([])
        .when(create(netA, 'tenant-a', 'x', cidr))
        .thenThrows({ status: 400, code }),
    );

    it('refuses a name that is no identifier', () =>
      spec
        .given([])
        .when(create(netA, 'tenant-a', 'a b;', '192.168.1.0/24'))
        .thenThrows({ status: 400, code: 'invalid-name' }));

    it("refuses an overlap with the same owner's network and a taken name", () => {
      spec
        .given([netOfA])
        .when(create(netB, 'tenant-a', 'other', '192.168.10.0/24'))
        .thenThrows({ status: 409, code: 'private-network-overlap' });
      spec
        .given([netOfA])
        .when(create(netB, 'tenant-a', 'backend', '192.168.20.0/24'))
        .thenThrows({ status: 409, code: 'private-network-name-taken' });
    });

    it("refuses the cluster's public space and its gateway", () => {
      spec
        .given([])
        .when(create(netA, 'tenant-a', 'x', '10.0.0.0/24'))
        .thenThrows({ status: 409, code: 'private-network-contains-gateway' });
      spec
        .given([{ type: 'NetworkAdded', data: { clusterId, networkId: pubNet, cidr: '100.64.0.0/24', family: 4 } }])
        .when(create(netA, 'tenant-a', 'x', '100.64.0.0/16'))
        .thenThrows({ status: 409, code: 'private-network-overlaps-public' });
    });
  });

  describe('AttachPrivateNetwork', () => {
    it('gives the VM the lowest free address after the reserved first host, and a stable MAC', () =>
      spec
        .given([...publicNet, netOfA, ...vmWithAddress(1)])
        .when(attach(netA, 1))
        .then([attached(netA, 1, '192.168.10.2')]));

    it('never gives one address to two VMs, and refuses a full network', () => {
      const given = [...publicNet, netOfA, ...[1, 2, 3, 4, 5, 6].flatMap((n) => vmWithAddress(n))];
      const full = [2, 3, 4, 5, 6].map((n, i) => attached(netA, n, `192.168.10.${2 + i}`));
      spec
        .given([...given, full[0]])
        .when(attach(netA, 3))
        .then([attached(netA, 3, '192.168.10.3')]);
      spec
        .given([...given, ...full])
        .when(attach(netA, 1))
        .thenThrows({ status: 409, code: 'private-network-full' });
    });

    it('refuses another owner, a twice-attached VM, a deleted VM, a VM without address, an unknown network', () => {
      spec
        .given([netOfA, ...vmWithAddress(1, 'tenant-b')])
        .when(attach(netA, 1))
        .thenThrows({ status: 409, code: 'private-network-owner-mismatch' });
      spec
        .given([netOfA, ...vmWithAddress(1), attached(netA, 1, '192.168.10.2')])
        .when(attach(netA, 1))
        .thenThrows({ status: 409, code: 'already-attached' });
      spec
        .given([netOfA, ...vmWithAddress(1), { type: 'IpReleaseScheduled', data: { clusterId, vmId: vm(1), ip: '203.0.113.11', releaseAt: at } }])
        .when(attach(netA, 1))
        .thenThrows({ status: 409, code: 'vm-deleted' });
      spec.given([netOfA]).when(attach(netA, 1)).thenThrows({ status: 409, code: 'vm-not-ready' });
      spec.given(vmWithAddress(1)).when(attach(netC, 1)).thenThrows({ status: 404, code: 'private-network-not-found' });
    });

    it('keeps a detached address held during the cool-down, then hands it out again', () => {
      const given = [netOfA, ...vmWithAddress(1), ...vmWithAddress(2), attached(netA, 1, '192.168.10.2'), detached(netA, 1, '192.168.10.2')];
      spec
        .given(given)
        .when(attach(netA, 2))
        .then([attached(netA, 2, '192.168.10.3')]);
      spec
        .given([...given, { type: 'PrivateIpReleased', data: { clusterId, networkId: netA, vmId: vm(1), ip: '192.168.10.2' } }])
        .when(attach(netA, 2))
        .then([attached(netA, 2, '192.168.10.2')]);
    });
  });

  describe('DetachPrivateNetwork, VM deletion, release, delete', () => {
    const withVm = [netOfA, ...vmWithAddress(1), attached(netA, 1, '192.168.10.2')];

    it('detaches with the release time', () =>
      spec
        .given(withVm)
        .when({ type: 'DetachPrivateNetwork', data: { clusterId, networkId: netA, vmId: vm(1), releaseAt: at } })
        .then([detached(netA, 1, '192.168.10.2')]));

    it('refuses to detach what is not attached', () =>
      spec
        .given([netOfA])
        .when({ type: 'DetachPrivateNetwork', data: { clusterId, networkId: netA, vmId: vm(1), releaseAt: at } })
        .thenThrows({ status: 404, code: 'attachment-not-found' }));

    it('detaches every network of a deleted VM with its public release (one decision)', () =>
      spec
        .given(withVm)
        .when({ type: 'ScheduleRelease', data: { clusterId, vmId: vm(1), releaseAt: at } })
        .then([
          { type: 'IpReleaseScheduled', data: { clusterId, vmId: vm(1), ip: '203.0.113.11', releaseAt: at } },
          detached(netA, 1, '192.168.10.2', 'vm-deleted'),
        ]));

    it('releases a detached address once due, and only then', () => {
      spec
        .given([...withVm, detached(netA, 1, '192.168.10.2')])
        .when({ type: 'ReleasePrivateIp', data: { clusterId, networkId: netA, ip: '192.168.10.2' } })
        .then([{ type: 'PrivateIpReleased', data: { clusterId, networkId: netA, vmId: vm(1), ip: '192.168.10.2' } }]);
      spec
        .given(withVm)
        .when({ type: 'ReleasePrivateIp', data: { clusterId, networkId: netA, ip: '192.168.10.2' } })
        .then([]);
      spec
        .given([...withVm, detached(netA, 1, '192.168.10.2')])
        .when({ type: 'ReleasePrivateIp', data: { clusterId, networkId: netA, ip: '192.168.10.6' } })
        .thenState((s) => {
          expect(duePrivateReleases(s.private, '2029-12-31T23:59:59Z')).toEqual([]);
          expect(duePrivateReleases(s.private, at)).toEqual([{ networkId: netA, vmId: vm(1), ip: '192.168.10.2', releaseAt: at }]);
        });
    });

    it('refuses to delete a network with VMs attached; deletes it once they are detached', () => {
      spec
        .given(withVm)
        .when({ type: 'DeletePrivateNetwork', data: { clusterId, networkId: netA } })
        .thenThrows({ status: 409, code: 'private-network-in-use' });
      spec
        .given([...withVm, detached(netA, 1, '192.168.10.2')])
        .when({ type: 'DeletePrivateNetwork', data: { clusterId, networkId: netA } })
        .then([{ type: 'PrivateNetworkDeleted', data: { clusterId, networkId: netA, ownerId: 'tenant-a', vni: PRIVATE_VNI_MIN } }]);
    });
  });
});
