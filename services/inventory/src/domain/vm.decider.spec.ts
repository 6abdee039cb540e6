import { DeciderSpecification } from '@fabric/testing';
import { type CreateVmCommand, type NodeFacts, type VmEvent, vmDecider } from './vm.decider';

const spec = DeciderSpecification.for(vmDecider);
const clusterId = '11111111-1111-4111-8111-111111111111';
const otherCluster = '99999999-9999-4999-8999-999999999999';
const node1 = '22222222-2222-4222-8222-222222222221';
const node2 = '22222222-2222-4222-8222-222222222222';
const vmId = '33333333-3333-4333-8333-333333333333';
const active: NodeFacts = { clusterId, status: 'active' };

const create = (over: Partial<CreateVmCommand['data']> = {}, ctx: Partial<CreateVmCommand['context']> = {}): CreateVmCommand => ({
  type: 'CreateVm',
  data: { vmId, clusterId, nodeId: node1, name: 'web1', ownerId: 'cust-42', ...over },
  context: { node: active, nameTaken: false, ...ctx },
});
const created = (over: Record<string, unknown> = {}): VmEvent => ({
  type: 'VmCreated',
  data: { vmId, clusterId, nodeId: node1, name: 'web1', ownerId: 'cust-42', family: 4, driver: 'tap', ...over },
});
const deleted = (nodeId = node1): VmEvent => ({ type: 'VmDeleted', data: { vmId, clusterId, nodeId, ownerId: 'cust-42' } });
const migrationRequested: VmEvent = { type: 'VmMigrationRequested', data: { vmId, clusterId, fromNodeId: node1, toNodeId: node2 } };
const migrationCompleted: VmEvent = { type: 'VmMigrationCompleted', data: { vmId, clusterId, fromNodeId: node1, toNodeId: node2 } };
const migrate = (targetNode: NodeFacts, nodeId = node2) => ({ type: 'MigrateVm' as const, data: { vmId, nodeId }, context: { targetNode } });
const complete = (nodeId = node2) => ({ type: 'CompleteMigration' as const, data: { vmId, nodeId } });

const blackholed: VmEvent = { type: 'VmBlackholed', data: { vmId, clusterId, reason: 'syn flood' } };
const lifted: VmEvent = { type: 'VmBlackholeLifted', data: { vmId, clusterId } };

describe('vm decider', () => {
  describe('AddVmAddress / RemoveVmAddress (extra addresses)', () => {
    const requestId = '44444444-4444-4444-8444-444444444444';
    const facts = (extraIps: string[] = [], pending = 0) => ({ primaryIp: '203.0.113.10', extraIps, pending });
    const add = (data: { family?: 4 | 6; ip?: string } = {}, addresses = facts()) => ({
      type: 'AddVmAddress' as const,
      data: { vmId, requestId, ...data },
      context: { addresses },
    });
    const rm = (ip: string, addresses = facts(['203.0.113.11'])) => ({ type: 'RemoveVmAddress' as const, data: { vmId, ip }, context: { addresses } });
    const requested = (over: Record<string, unknown> = {}): VmEvent => ({
      type: 'VmAddressRequested',
      data: { vmId, clusterId, ownerId: 'cust-42', requestId, family: 4, ...over },
    });
    it('given a VM, asks IPAM for an IPv4 address by default', () => spec.given([created()]).when(add()).then([requested()]));
    it('given a VM, asks for an IPv6 address, or a specific one (family from the address, canonical)', () => {
      spec
        .given([created()])
        .when(add({ family: 6 }))
        .then([requested({ family: 6 })]);
      spec
        .given([created()])
        .when(add({ ip: '2001:DB8::0:5' }))
        .then([requested({ family: 6, requestedIp: '2001:db8::5' })]);
    });
    it('given a migrating VM, accepts the request (the address follows the VM)', () =>
      spec.given([created(), migrationRequested]).when(add()).then([requested()]));
    it('400 on a bad address or family mismatch, 404 unknown VM, 409 deleted VM', () => {
      spec
        .given([created()])
        .when(add({ ip: 'nope' }))
        .thenThrows({ status: 400, code: 'invalid-ip' });
      spec
        .given([created()])
        .when(add({ ip: '203.0.113.9', family: 6 }))
        .thenThrows({ status: 400, code: 'ip-family-mismatch' });
      spec.given([]).when(add()).thenThrows({ status: 404 });
      spec.given([created(), deleted()]).when(add()).thenThrows({ status: 409, code: 'vm-deleted' });
    });
    it("409 when the address is already the VM's, or when the VM holds the maximum", () => {
      spec
        .given([created()])
        .when(add({ ip: '203.0.113.10' }))
        .thenThrows({ status: 409, code: 'address-already-assigned' });
      spec
        .given([created()])
        .when(add({ ip: '203.0.113.11' }, facts(['203.0.113.11'])))
        .thenThrows({ status: 409, code: 'address-already-assigned' });
      const many = Array.from({ length: 15 }, (_, i) => `203.0.113.${20 + i}`);
      spec
        .given([created()])
        .when(add({}, facts(many, 1)))
        .thenThrows({ status: 409, code: 'too-many-addresses' });
      spec
        .given([created()])
        .when(add({}, facts(many, 0)))
        .then([requested()]);
    });
    it('given an extra address, removes it', () =>
      spec
        .given([created()])
        .when(rm('203.0.113.11'))
        .then([{ type: 'VmAddressRemoved', data: { vmId, clusterId, ownerId: 'cust-42', ip: '203.0.113.11' } }]));
    it('409 for the primary address, 404 for an address the VM does not hold, 409 when deleted, 400 when not an address', () => {
      spec.given([created()]).when(rm('203.0.113.10')).thenThrows({ status: 409, code: 'primary-address' });
      spec.given([created()]).when(rm('203.0.113.12')).thenThrows({ status: 404, code: 'address-not-found' });
      spec.given([created(), deleted()]).when(rm('203.0.113.11')).thenThrows({ status: 409, code: 'vm-deleted' });
      spec.given([created()]).when(rm('x')).thenThrows({ status: 400, code: 'invalid-ip' });
    });
  });

  describe('BlackholeVm / LiftBlackhole (RTBH)', () => {
    const bh = { type: 'BlackholeVm' as const, data: { vmId, reason: 'syn flood' } };
    const lift = { type: 'LiftBlackhole' as const, data: { vmId } };
    it('given a VM, blackholes it with the reason', () => spec.given([created()]).when(bh).then([blackholed]));
    it('given a migrating VM, blackholes it too (every node announcing it tags the route)', () =>
      spec.given([created(), migrationRequested]).when(bh).then([blackholed]));
    it('409 when already blackholed, 404 when unknown, 409 when deleted', () => {
      spec.given([created(), blackholed]).when(bh).thenThrows({ status: 409, code: 'vm-already-blackholed' });
      spec.given([]).when(bh).thenThrows({ status: 404 });
      spec.given([created(), deleted()]).when(bh).thenThrows({ status: 409, code: 'vm-deleted' });
    });
    it('given a blackholed VM, lifts it (with an optional reason); then it can be blackholed again', () => {
      spec.given([created(), blackholed]).when(lift).then([lifted]);
      spec
        .given([created(), blackholed])
        .when({ type: 'LiftBlackhole', data: { vmId, reason: 'over' } })
        .then([{ type: 'VmBlackholeLifted', data: { vmId, clusterId, reason: 'over' } }]);
      spec.given([created(), blackholed, lifted]).when(bh).then([blackholed]);
    });
    it('409 when lifting a VM that is not blackholed (or deleted since)', () => {
      spec.given([created()]).when(lift).thenThrows({ status: 409, code: 'vm-not-blackholed' });
      spec.given([created(), blackholed, deleted()]).when(lift).thenThrows({ status: 409, code: 'vm-not-blackholed' });
    });
  });

  describe('CreateVm: dual-stack by default when the cluster has pools of both families', () => {
    const secondRequestId = '55555555-5555-4555-8555-555555555555';
    const both = { poolFamilies: [4, 6] as (4 | 6)[] };
    const second = (family: 4 | 6 = 6): VmEvent => ({
      type: 'VmAddressRequested',
      data: { vmId, clusterId, ownerId: 'cust-42', requestId: secondRequestId, family, dualStack: true },
    });
    it('given pools of both families, a request naming no family gets an IPv4 primary and an IPv6 extra address, in one decision', () =>
      spec
        .given([])
        .when(create({ secondRequestId }, both))
        .then([created(), second(6)]));
    it('given pools of one family only, the VM gets one address (IPv4 by default)', () => {
      spec
        .given([])
        .when(create({ secondRequestId }, { poolFamilies: [4] }))
        .then([created()]);
      spec
        .given([])
        .when(create({ secondRequestId }, { poolFamilies: [] }))
        .then([created()]);
    });
    it('a request naming a family or an address keeps getting that family only', () => {
      spec
        .given([])
        .when(create({ secondRequestId, family: 6 }, both))
        .then([created({ family: 6 })]);
      spec
        .given([])
        .when(create({ secondRequestId, family: 4 }, both))
        .then([created()]);
      spec
        .given([])
        .when(create({ secondRequestId, ip: '203.0.113.7' }, both))
        .then([created({ requestedIp: '203.0.113.7' })]);
    });
    it('addressing ipv4 / ipv6 asks for that family only; dual-stack with family 6 makes IPv6 the primary', () => {
      spec
        .given([])
        .when(create({ secondRequestId, addressing: 'ipv4' }, both))
        .then([created()]);
      spec
        .given([])
        .when(create({ secondRequestId, addressing: 'ipv6' }, both))
        .then([created({ family: 6 })]);
      spec
        .given([])
        .when(create({ secondRequestId, addressing: 'dual-stack', family: 6 }, both))
        .then([created({ family: 6 }), second(4)]);
      spec
        .given([])
        .when(create({ secondRequestId, addressing: 'dual-stack', ip: '2001:db8::7' }, both))
        .then([created({ family: 6, requestedIp: '2001:db8::7' }), second(4)]);
    });
    it('400 on an unknown addressing or one that contradicts the family; 409 dual-stack without pools of both families', () => {
      spec
        .given([])
        .when(create({ secondRequestId, addressing: 'both' as 'ipv4' }, both))
        .thenThrows({ status: 400, code: 'invalid-addressing' });
      spec
        .given([])
        .when(create({ secondRequestId, addressing: 'ipv4', family: 6 }, both))
        .thenThrows({ status: 400, code: 'addressing-family-mismatch' });
      spec
        .given([])
        .when(create({ secondRequestId, addressing: 'ipv6', ip: '203.0.113.7' }, both))
        .thenThrows({ status: 400, code: 'ip-family-mismatch' });
      spec
        .given([])
        .when(create({ secondRequestId, addressing: 'dual-stack' }, { poolFamilies: [6] }))
        .thenThrows({ status: 409, code: 'cluster-not-dual-stack' });
    });
  });

  describe('CreateVm', () => {
    it('creates an IPv4 VM with defaults', () => spec.given([]).when(create()).then([created()]));
    it('keeps a requested IPv4 address and driver', () => {
      spec
        .given([])
        .when(create({ ip: '203.0.113.7', driver: 'netns' }))
        .then([created({ requestedIp: '203.0.113.7', driver: 'netns' })]);
    });
    it('infers family 6 from a requested IPv6 address and canonicalises it', () => {
      spec
        .given([])
        .when(create({ ip: '2001:DB8:0::7' }))
        .then([created({ requestedIp: '2001:db8::7', family: 6 })]);
    });
    it('honours family 6 without an address', () =>
      spec
        .given([])
        .when(create({ family: 6 }))
        .then([created({ family: 6 })]));
    it('400 when the requested address is not of the requested family', () => {
      spec
        .given([])
        .when(create({ ip: '2001:db8::7', family: 4 }))
        .thenThrows({ status: 400, code: 'ip-family-mismatch' });
      spec
        .given([])
        .when(create({ ip: '203.0.113.7', family: 6 }))
        .thenThrows({ status: 400, code: 'ip-family-mismatch' });
    });
    it('404 on unknown node', () =>
      spec
        .given([])
        .when(create({}, { node: null }))
        .thenThrows({ status: 404, code: 'node-not-found' }));
    it('409 when the node is in another cluster', () => {
      spec
        .given([])
        .when(create({}, { node: { clusterId: otherCluster, status: 'active' } }))
        .thenThrows({ status: 409, code: 'node-in-other-cluster' });
    });
    it('409 node-not-active when drained or left', () => {
      spec
        .given([])
        .when(create({}, { node: { clusterId, status: 'drained' } }))
        .thenThrows({ status: 409, code: 'node-not-active' });
      spec
        .given([])
        .when(create({}, { node: { clusterId, status: 'left' } }))
        .thenThrows({ status: 409, code: 'node-not-active' });
    });
    it('409 on a duplicate name in the cluster', () => {
      spec
        .given([])
        .when(create({}, { nameTaken: true }))
        .thenThrows({ status: 409, code: 'vm-name-taken' });
    });
    it('409 when the VM id exists', () => spec.given([created()]).when(create()).thenThrows({ status: 409, code: 'vm-exists' }));
    it('400 (not a crash) on garbage ip, family or driver; odd names pass through', () => {
      spec
        .given([])
        .when(create({ ip: '"}{\n' }))
        .thenThrows({ status: 400, code: 'invalid-ip' });
      spec
        .given([])
        .when(create({ family: 5 as 4 }))
        .thenThrows({ status: 400, code: 'invalid-family' });
      spec
        .given([])
        .when(create({ driver: 'x"}' as 'tap' }))
        .thenThrows({ status: 400, code: 'invalid-driver' });
      spec
        .given([])
        .when(create({ name: 'a"b\n{}' }))
        .then([created({ name: 'a"b\n{}' })]);
    });
  });

  describe('DeleteVm', () => {
    const del = { type: 'DeleteVm' as const, data: { vmId } };
    it('deletes', () => spec.given([created()]).when(del).then([deleted()]));
    it('deletes a migrating VM from its target placement', () =>
      spec
        .given([created(), migrationRequested])
        .when(del)
        .then([deleted(node2)]));
    it('is idempotent', () => spec.given([created(), deleted()]).when(del).thenNothingHappened());
    it('404 on unknown VM', () => spec.given([]).when(del).thenThrows({ status: 404, code: 'vm-not-found' }));
  });

  describe('MigrateVm', () => {
    it('requests a migration', () => {
      spec.given([created()]).when(migrate(active)).then([migrationRequested]);
    });
    it('tracks the previous node while migrating', () => {
      spec
        .given([created()])
        .when(migrate(active))
        .thenState((s) => expect(s).toMatchObject({ status: 'migrating', nodeId: node2, previousNodeId: node1 }));
    });
    it('404 on unknown VM', () => spec.given([]).when(migrate(active)).thenThrows({ status: 404, code: 'vm-not-found' }));
    it('404 on unknown target node', () => spec.given([created()]).when(migrate(null)).thenThrows({ status: 404, code: 'node-not-found' }));
    it('409 when the target is in another cluster', () => {
      spec
        .given([created()])
        .when(migrate({ clusterId: otherCluster, status: 'active' }))
        .thenThrows({ status: 409, code: 'node-in-other-cluster' });
    });
    it('409 when the target is not active', () => {
      spec
        .given([created()])
        .when(migrate({ clusterId, status: 'drained' }))
        .thenThrows({ status: 409, code: 'node-not-active' });
    });
    it('409 when the target is the current node', () => {
      spec.given([created()]).when(migrate(active, node1)).thenThrows({ status: 409, code: 'same-node' });
    });
    it('409 when a migration is in progress', () => {
      spec.given([created(), migrationRequested]).when(migrate(active, node1)).thenThrows({ status: 409, code: 'migration-in-progress' });
    });
    it('409 when the VM is deleted', () => {
      spec.given([created(), deleted()]).when(migrate(active)).thenThrows({ status: 409, code: 'vm-deleted' });
    });
    it('can migrate again after completion', () => {
      spec
        .given([created(), migrationRequested, migrationCompleted])
        .when(migrate(active, node1))
        .then([{ type: 'VmMigrationRequested', data: { vmId, clusterId, fromNodeId: node2, toNodeId: node1 } }]);
    });
  });

  describe('CompleteMigration', () => {
    it('completes', () => spec.given([created(), migrationRequested]).when(complete()).then([migrationCompleted]));
    it('leaves the VM created on the new node', () => {
      spec
        .given([created(), migrationRequested])
        .when(complete())
        .thenState((s) => {
          expect(s).toMatchObject({ status: 'created', nodeId: node2 });
          expect(s).not.toHaveProperty('previousNodeId');
        });
    });
    it('ignores an announcement by the source node', () => spec.given([created(), migrationRequested]).when(complete(node1)).thenNothingHappened());
    it('is a no-op when not migrating', () => {
      spec.given([created()]).when(complete()).thenNothingHappened();
      spec.given([created(), migrationRequested, migrationCompleted]).when(complete()).thenNothingHappened();
      spec
        .given([created(), migrationRequested, deleted(node2)])
        .when(complete())
        .thenNothingHappened();
      spec.given([]).when(complete()).thenNothingHappened();
    });
  });
});
