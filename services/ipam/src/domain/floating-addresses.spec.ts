import { DeciderSpecification } from '@fabric/testing';
import { type IpamEvent, ipamDecider } from './ipam.decider';
import { dueFloatingReleases, floatingsOfVm } from './floating-addresses';

const spec = DeciderSpecification.for(ipamDecider);
const clusterId = '11111111-1111-4111-8111-111111111111';
const net4 = '44444444-4444-4444-8444-444444444441';
const pool4 = '55555555-5555-4555-8555-555555555541';
const fid = '66666666-6666-4666-8666-666666666661';
const vm = (n: number) => `33333333-3333-4333-8333-${String(n).padStart(12, '0')}`;
const owner = 'cust-1';

const base: IpamEvent[] = [
  { type: 'NetworkAdded', data: { clusterId, networkId: net4, cidr: '203.0.113.0/24', family: 4 } },
  { type: 'PoolAdded', data: { clusterId, networkId: net4, poolId: pool4, start: '203.0.113.10', end: '203.0.113.20' } },
];
const vmHas = (n: number, ip: string, ownerId = owner): IpamEvent => ({
  type: 'IpAllocated',
  data: { clusterId, vmId: vm(n), ownerId, ip, family: 4, networkId: net4, poolId: pool4 },
});
const allocated = (ip = '203.0.113.10'): IpamEvent => ({
  type: 'FloatingAddressAllocated',
  data: { clusterId, floatingId: fid, ownerId: owner, ip, family: 4, networkId: net4, poolId: pool4 },
});
const f = { clusterId, floatingId: fid, ownerId: owner, ip: '203.0.113.10' };
const attached = (n: number, from?: number): IpamEvent => ({
  type: 'FloatingAddressAttached',
  data: { ...f, vmId: vm(n), ...(from ? { fromVmId: vm(from) } : {}) },
});
const withVms = [...base, allocated(), vmHas(1, '203.0.113.11'), vmHas(2, '203.0.113.12')];
const attach = (n: number, allowOtherOwner?: boolean) => ({
  type: 'AttachFloating' as const,
  data: { clusterId, floatingId: fid, vmId: vm(n), ...(allowOtherOwner ? { allowOtherOwner } : {}) },
});

describe('floating addresses (IPAM decider)', () => {
  describe('AllocateFloating', () => {
    it('given pools, allocates the lowest free address to the owner', () =>
      spec
        .given(base)
        .when({ type: 'AllocateFloating', data: { clusterId, floatingId: fid, ownerId: owner } })
        .then([allocated()]));
    it('given the address taken by a VM, a requested one is refused 409 and the next free one is picked', () => {
      spec
        .given([...base, vmHas(1, '203.0.113.10')])
        .when({ type: 'AllocateFloating', data: { clusterId, floatingId: fid, ownerId: owner, requestedIp: '203.0.113.10' } })
        .thenThrows({ status: 409, code: 'address-taken' });
      spec
        .given([...base, vmHas(1, '203.0.113.10')])
        .when({ type: 'AllocateFloating', data: { clusterId, floatingId: fid, ownerId: owner } })
        .then([allocated('203.0.113.11')]);
    });
    it('refuses a bad address (400), one outside the pools (422), a family without network (422); a retry allocates nothing', () => {
      const alloc = (data: Record<string, unknown>) => ({ type: 'AllocateFloating' as const, data: { clusterId, floatingId: fid, ownerId: owner, ...data } });
      spec
        .given(base)
        .when(alloc({ requestedIp: 'nope' }))
        .thenThrows({ status: 400, code: 'invalid-ip' });
      spec
        .given(base)
        .when(alloc({ requestedIp: '198.51.100.1' }))
        .thenThrows({ status: 422, code: 'outside-pools' });
      spec
        .given(base)
        .when(alloc({ family: 6 }))
        .thenThrows({ status: 422, code: 'no-network' });
      spec
        .given([...base, allocated()])
        .when(alloc({}))
        .then([]);
    });
    it('given a floating address, a VM allocation skips its address', () =>
      spec
        .given([...base, allocated()])
        .when({ type: 'Allocate', data: { clusterId, vmId: vm(1), ownerId: owner, family: 4 } })
        .then([vmHas(1, '203.0.113.11')]));
  });

  describe('AttachFloating (attach, move) / CompleteFloatingMove', () => {
    it('given an unattached address, attaches it to a VM of its owner', () =>
      spec
        .given(withVms)
        .when(attach(1))
        .then([attached(1)]));
    it('given it attached to VM 1, attaching to VM 2 is a move (both hold it until completed)', () =>
      spec
        .given([...withVms, attached(1)])
        .when(attach(2))
        .then([attached(2, 1)]));
    it('given a move, its completion by the new VM gives the old one up; a stale completion changes nothing', () => {
      spec
        .given([...withVms, attached(1), attached(2, 1)])
        .when({ type: 'CompleteFloatingMove', data: { clusterId, floatingId: fid, vmId: vm(2) } })
        .then([{ type: 'FloatingAddressMoveCompleted', data: { ...f, vmId: vm(2), fromVmId: vm(1) } }]);
      spec
        .given([...withVms, attached(1), attached(2, 1), { type: 'FloatingAddressMoveCompleted', data: { ...f, vmId: vm(2), fromVmId: vm(1) } }])
        .when({ type: 'CompleteFloatingMove', data: { clusterId, floatingId: fid, vmId: vm(2) } })
        .then([]);
    });
    it('given a move in progress, another move is refused 409; the same VM again changes nothing', () => {
      spec
        .given([...withVms, vmHas(3, '203.0.113.13'), attached(1), attached(2, 1)])
        .when(attach(3))
        .thenThrows({ status: 409, code: 'move-in-progress' });
      spec
        .given([...withVms, attached(1)])
        .when(attach(1))
        .then([]);
    });
    it('refuses a VM of another owner (409 owner-mismatch) unless allowed; an unknown VM 404, a deleted one 409, an unknown address 404', () => {
      const other = [...withVms, vmHas(3, '203.0.113.13', 'cust-2')];
      spec.given(other).when(attach(3)).thenThrows({ status: 409, code: 'owner-mismatch' });
      spec
        .given(other)
        .when(attach(3, true))
        .then([attached(3)]);
      spec.given(withVms).when(attach(9)).thenThrows({ status: 404, code: 'vm-not-found' });
      spec
        .given([...withVms, { type: 'IpReleaseScheduled', data: { clusterId, vmId: vm(1), ip: '203.0.113.11', releaseAt: '2030-01-01T00:00:00.000Z' } }])
        .when(attach(1))
        .thenThrows({ status: 409, code: 'vm-deleted' });
      spec.given(base).when(attach(1)).thenThrows({ status: 404, code: 'floating-address-not-found' });
    });
  });

  describe('DetachFloating / ScheduleFloatingRelease / ReleaseFloating, VM deletion', () => {
    it('given it attached, detaches it; not attached is 409', () => {
      spec
        .given([...withVms, attached(1)])
        .when({ type: 'DetachFloating', data: { clusterId, floatingId: fid } })
        .then([{ type: 'FloatingAddressDetached', data: { ...f, vmId: vm(1), reason: 'detached' } }]);
      spec
        .given(withVms)
        .when({ type: 'DetachFloating', data: { clusterId, floatingId: fid } })
        .thenThrows({ status: 409, code: 'not-attached' });
    });
    it('given it attached, a release is refused 409 (detach first); detached, it is held for the cool-down, then freed for a VM', () => {
      const releaseAt = '2030-01-01T00:00:00.000Z';
      spec
        .given([...withVms, attached(1)])
        .when({ type: 'ScheduleFloatingRelease', data: { clusterId, floatingId: fid, releaseAt } })
        .thenThrows({ status: 409, code: 'floating-address-attached' });
      spec
        .given([...withVms, attached(1), { type: 'FloatingAddressDetached', data: { ...f, vmId: vm(1), reason: 'detached' } }])
        .when({ type: 'ScheduleFloatingRelease', data: { clusterId, floatingId: fid, releaseAt } })
        .then([{ type: 'FloatingAddressReleaseScheduled', data: { ...f, releaseAt } }]);
      const scheduled: IpamEvent = { type: 'FloatingAddressReleaseScheduled', data: { ...f, releaseAt } };
      spec
        .given([...withVms, scheduled])
        .when(attach(1))
        .thenThrows({ status: 409, code: 'floating-address-released' });
      spec
        .given([...withVms, scheduled])
        .when({ type: 'ReleaseFloating', data: { clusterId, floatingId: fid } })
        .then([{ type: 'FloatingAddressReleased', data: f }]);
      spec
        .given([...base, allocated(), scheduled, { type: 'FloatingAddressReleased', data: f }])
        .when({ type: 'Allocate', data: { clusterId, vmId: vm(1), ownerId: owner, family: 4 } })
        .then([vmHas(1, '203.0.113.10')]);
    });
    it('given it attached to a VM that is deleted, detaches it (the owner keeps it); a move away from it completes; one event per command', () => {
      const gone = (n: number) => ({ type: 'FloatingVmGone' as const, data: { clusterId, floatingId: fid, vmId: vm(n) } });
      spec
        .given([...withVms, attached(1)])
        .when(gone(1))
        .then([{ type: 'FloatingAddressDetached', data: { ...f, vmId: vm(1), reason: 'vm-deleted' } }]);
      spec
        .given([...withVms, attached(1), attached(2, 1)])
        .when(gone(1))
        .then([{ type: 'FloatingAddressMoveCompleted', data: { ...f, vmId: vm(2), fromVmId: vm(1) } }]);
      spec
        .given([...withVms, attached(1), attached(2, 1)])
        .when(gone(2))
        .then([{ type: 'FloatingAddressDetached', data: { ...f, vmId: vm(2), fromVmId: vm(1), reason: 'vm-deleted' } }]);
      spec
        .given([...withVms, attached(1)])
        .when(gone(2))
        .then([]);
      let s = ipamDecider.initialState();
      for (const e of [...withVms, attached(1), attached(2, 1)]) s = ipamDecider.evolve(s, e);
      expect(floatingsOfVm(s, vm(1))).toEqual([fid]);
      expect(floatingsOfVm(s, vm(3))).toEqual([]);
    });
    it('lists the releases due', () => {
      let s = ipamDecider.initialState();
      for (const e of [...base, allocated(), { type: 'FloatingAddressReleaseScheduled', data: { ...f, releaseAt: '2030-01-01T00:00:00.000Z' } } as IpamEvent])
        s = ipamDecider.evolve(s, e);
      expect(dueFloatingReleases(s, '2029-12-31T00:00:00Z')).toEqual([]);
      expect(dueFloatingReleases(s, '2030-01-02T00:00:00Z')).toEqual([{ floatingId: fid, releaseAt: '2030-01-01T00:00:00.000Z' }]);
    });
  });
});
