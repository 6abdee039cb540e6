import { DeciderSpecification } from '@fabric/testing';
import { type JoinNodeCommand, type NodeEvent, nodeDecider } from './node.decider';

const spec = DeciderSpecification.for(nodeDecider);
const clusterId = '11111111-1111-4111-8111-111111111111';
const nodeId = '22222222-2222-4222-8222-222222222222';

const join = (over: Partial<JoinNodeCommand['data']> = {}, ctx: Partial<JoinNodeCommand['context']> = {}): JoinNodeCommand => ({
  type: 'JoinNode',
  data: { nodeId, clusterId, name: 'node1', underlayIp: '198.18.0.11', ...over },
  context: { clusterExists: true, nameTaken: false, underlayTaken: false, routeReflectorIps: ['198.18.0.2', '2001:db8::2'], gatewayIp: '10.0.0.1', ...ctx },
});
const joined = (over: Record<string, string> = {}): NodeEvent => ({
  type: 'NodeJoined',
  data: { nodeId, clusterId, name: 'node1', underlayIp: '198.18.0.11', ...over },
});
const drained: NodeEvent = { type: 'NodeDrained', data: { nodeId, clusterId } };
const left: NodeEvent = { type: 'NodeLeft', data: { nodeId, clusterId } };
const drain = { type: 'DrainNode' as const, data: { nodeId } };
const evacuate = (vmCount: number, targets = 2) => ({ type: 'EvacuateNode' as const, data: { nodeId }, context: { vmCount, targets } });
const evacuating = (vmCount: number): NodeEvent => ({ type: 'NodeEvacuationStarted', data: { nodeId, clusterId, vmCount } });
const evacuated: NodeEvent = { type: 'NodeEvacuated', data: { nodeId, clusterId } };
const undrained: NodeEvent = { type: 'NodeUndrained', data: { nodeId, clusterId } };
const undrain = { type: 'UndrainNode' as const, data: { nodeId } };
const complete = { type: 'CompleteEvacuation' as const, data: { nodeId } };
const remove = (vmCount: number) => ({ type: 'RemoveNode' as const, data: { nodeId }, context: { vmCount } });

describe('node decider', () => {
  describe('JoinNode', () => {
    it('joins', () => spec.given([]).when(join()).then([joined()]));
    it('joins with an IPv6 underlay too, canonicalised', () => {
      spec
        .given([])
        .when(join({ underlayIp6: '2001:DB8:0::11' }))
        .then([joined({ underlayIp6: '2001:db8::11' })]);
    });
    it('400 when underlayIp is not IPv4 or underlayIp6 not IPv6', () => {
      spec
        .given([])
        .when(join({ underlayIp: '2001:db8::11' }))
        .thenThrows({ status: 400, code: 'invalid-ip' });
      spec
        .given([])
        .when(join({ underlayIp6: '198.18.0.12' }))
        .thenThrows({ status: 400, code: 'invalid-ip' });
    });
    it('404 when the cluster does not exist', () => {
      spec
        .given([])
        .when(join({}, { clusterExists: false }))
        .thenThrows({ status: 404, code: 'cluster-not-found' });
    });
    it('409 on a duplicate name in the cluster', () => {
      spec
        .given([])
        .when(join({}, { nameTaken: true }))
        .thenThrows({ status: 409, code: 'node-name-taken' });
    });
    it('409 on a duplicate underlay IP in the cluster', () => {
      spec
        .given([])
        .when(join({}, { underlayTaken: true }))
        .thenThrows({ status: 409, code: 'underlay-ip-taken' });
    });
    it('409 when the underlay IP is inside a VM address pool of the cluster', () => {
      spec
        .given([])
        .when(join({}, { underlayInPool: '198.18.0.10-198.18.0.20' }))
        .thenThrows({ status: 409, code: 'underlay-in-pool' });
    });
    it('400 when the underlay IP is the core router (any spelling)', () => {
      spec
        .given([])
        .when(join({ underlayIp: '198.18.0.1' }, { coreRouterIp: '198.18.0.1' }))
        .thenThrows({ status: 400, code: 'underlay-is-core-router' });
      spec
        .given([])
        .when(join({ underlayIp6: '2001:DB8::1' }, { coreRouterIp: '2001:db8:0::1' }))
        .thenThrows({ status: 400, code: 'underlay-is-core-router' });
    });
    it.each(['0.0.0.0', '127.0.0.1', '169.254.1.1', '224.0.0.5', '255.255.255.255', '240.0.0.1'])(
      '400 when the underlay IP %s is not routable unicast',
      (ip) => {
        spec
          .given([])
          .when(join({ underlayIp: ip }))
          .thenThrows({ status: 400, code: 'address-not-unicast' });
      },
    );
    it('400 when the IPv6 underlay is loopback or link-local', () => {
      for (const ip of ['::1', 'fe80::1', 'ff02::1'])
        spec
          .given([])
          .when(join({ underlayIp6: ip }))
          .thenThrows({ status: 400, code: 'address-not-unicast' });
    });
    it('400 when the underlay IP is a route reflector (any spelling)', () => {
      spec
        .given([])
        .when(join({ underlayIp: '198.18.0.2' }))
        .thenThrows({ status: 400, code: 'underlay-is-route-reflector' });
      spec
        .given([])
        .when(join({ underlayIp6: '2001:db8:0::2' }))
        .thenThrows({ status: 400, code: 'underlay-is-route-reflector' });
    });
    it('400 when the underlay IP is the gateway', () => {
      spec
        .given([])
        .when(join({ underlayIp: '10.0.0.1' }))
        .thenThrows({ status: 400, code: 'underlay-is-gateway' });
    });
    it('409 when the node id already joined (or left)', () => {
      spec.given([joined()]).when(join()).thenThrows({ status: 409, code: 'node-exists' });
      spec.given([joined(), left]).when(join()).thenThrows({ status: 409, code: 'node-exists' });
    });
    it('400 (not a crash) on garbage underlay; odd names are not its concern', () => {
      spec
        .given([])
        .when(join({ underlayIp: '"}\n{' }))
        .thenThrows({ status: 400, code: 'invalid-ip' });
      spec
        .given([])
        .when(join({ name: 'a"{}\nb' }))
        .then([joined({ name: 'a"{}\nb' })]);
    });
  });

  describe('EvacuateNode', () => {
    it('drains an active node and starts its evacuation', () =>
      spec
        .given([joined()])
        .when(evacuate(3))
        .then([drained, evacuating(3)]));
    it('starts the evacuation of a drained node', () =>
      spec
        .given([joined(), drained])
        .when(evacuate(3))
        .then([evacuating(3)]));
    it('is idempotent while evacuating', () =>
      spec
        .given([joined(), drained, evacuating(3)])
        .when(evacuate(1))
        .thenNothingHappened());
    it('evacuates again after an evacuation finished', () =>
      spec
        .given([joined(), drained, evacuating(3), evacuated])
        .when(evacuate(1))
        .then([evacuating(1)]));
    it('an empty node needs no target', () =>
      spec
        .given([joined()])
        .when(evacuate(0, 0))
        .then([drained, evacuating(0)]));
    it('409 when VMs have nowhere to go', () => spec.given([joined()]).when(evacuate(2, 0)).thenThrows({ status: 409, code: 'no-target-node' }));
    it('409 when the node left', () => spec.given([joined(), left]).when(evacuate(0)).thenThrows({ status: 409, code: 'node-left' }));
    it('404 when not joined', () => spec.given([]).when(evacuate(0)).thenThrows({ status: 404, code: 'node-not-found' }));
  });

  describe('CompleteEvacuation', () => {
    it('ends an evacuation', () =>
      spec
        .given([joined(), drained, evacuating(2)])
        .when(complete)
        .then([evacuated]));
    it('does nothing without an evacuation', () => spec.given([joined(), drained]).when(complete).thenNothingHappened());
    it('does nothing twice', () =>
      spec
        .given([joined(), drained, evacuating(2), evacuated])
        .when(complete)
        .thenNothingHappened());
    it('does nothing after an undrain stopped the evacuation', () =>
      spec
        .given([joined(), drained, evacuating(2), undrained])
        .when(complete)
        .thenNothingHappened());
  });

  describe('UndrainNode', () => {
    it('returns a drained node to service', () => spec.given([joined(), drained]).when(undrain).then([undrained]));
    it('stops an evacuation', () =>
      spec
        .given([joined(), drained, evacuating(4)])
        .when(undrain)
        .then([undrained]));
    it('is idempotent on an active node', () => spec.given([joined()]).when(undrain).thenNothingHappened());
    it('409 when the node left', () => spec.given([joined(), left]).when(undrain).thenThrows({ status: 409, code: 'node-left' }));
  });

  describe('DrainNode', () => {
    it('drains an active node', () => spec.given([joined()]).when(drain).then([drained]));
    it('is idempotent on a drained node', () => spec.given([joined(), drained]).when(drain).thenNothingHappened());
    it('404 when not joined', () => spec.given([]).when(drain).thenThrows({ status: 404, code: 'node-not-found' }));
    it('409 when the node left', () => spec.given([joined(), left]).when(drain).thenThrows({ status: 409, code: 'node-left' }));
  });

  describe('RemoveNode', () => {
    it('removes a drained empty node', () => spec.given([joined(), drained]).when(remove(0)).then([left]));
    it('removes an active empty node', () => spec.given([joined()]).when(remove(0)).then([left]));
    it('409 while VMs are placed on it', () => {
      spec
        .given([joined(), drained])
        .when(remove(3))
        .thenThrows((e) => {
          expect(e).toMatchObject({ status: 409, code: 'node-has-vms' });
          expect(e.message).toMatch(/drain/);
        });
    });
    it('is idempotent once left', () => spec.given([joined(), left]).when(remove(0)).thenNothingHappened());
    it('404 when not joined', () => spec.given([]).when(remove(0)).thenThrows({ status: 404, code: 'node-not-found' }));
  });
});
