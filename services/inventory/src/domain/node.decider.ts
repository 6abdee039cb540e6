/** Node aggregate (subject node.<nodeId>): a hypervisor joining, draining, being evacuated and leaving its cluster. */
import { type Decider, type EventOf, conflict, invalid, notFound } from '@fabric/contracts';
import { requireUnicastIp, sameIp } from './ip-input';

export type NodeEvent = EventOf<'NodeJoined' | 'NodeDrained' | 'NodeEvacuationStarted' | 'NodeEvacuated' | 'NodeUndrained' | 'NodeLeft'>;
export type NodeStatus = 'active' | 'drained' | 'left';

export type JoinNodeCommand = {
  type: 'JoinNode';
  /** underlayIp is IPv4; underlayIp6 (optional) is the next hop of IPv6 VM routes. */
  data: { nodeId: string; clusterId: string; name: string; underlayIp: string; underlayIp6?: string };
  context: {
    clusterExists: boolean;
    /** Another node of the cluster has this name. */
    nameTaken: boolean;
    /** Another node of the cluster has this underlay IP (or this underlayIp6). */
    underlayTaken: boolean;
    /** Current RR addresses of the cluster. */
    routeReflectorIps: string[];
    /** Optional: the cluster gateway IP, which every node holds on its VM interfaces. */
    gatewayIp?: string;
    /** Optional: the core router's address (a node there would take over the core's BGP sessions). */
    coreRouterIp?: string;
    /** Optional: the address pool (`start-end`) of the cluster holding underlayIp / underlayIp6. */
    underlayInPool?: string;
  };
};
export type DrainNodeCommand = { type: 'DrainNode'; data: { nodeId: string } };
export type RemoveNodeCommand = {
  type: 'RemoveNode';
  data: { nodeId: string };
  /** vmCount: VMs currently placed on the node (including the source and target of a migration in progress). */
  context: { vmCount: number };
};
export type EvacuateNodeCommand = {
  type: 'EvacuateNode';
  data: { nodeId: string };
  /** vmCount: VMs on the node; targets: other active nodes of the cluster that could take them. */
  context: { vmCount: number; targets: number };
};
export type UndrainNodeCommand = { type: 'UndrainNode'; data: { nodeId: string } };
/** Internal (the evacuation process): no VM is left on the node. */
export type CompleteEvacuationCommand = { type: 'CompleteEvacuation'; data: { nodeId: string } };
export type NodeCommand = JoinNodeCommand | DrainNodeCommand | EvacuateNodeCommand | UndrainNodeCommand | CompleteEvacuationCommand | RemoveNodeCommand;

export type NodeState =
  | { status: 'absent' }
  | { status: NodeStatus; nodeId: string; clusterId: string; name: string; underlayIp: string; underlayIp6?: string; evacuating?: boolean };
type KnownNode = Exclude<NodeState, { status: 'absent' }>;

function joinNode(cmd: JoinNodeCommand, state: NodeState): NodeEvent[] {
  const d = cmd.data;
  const ctx = cmd.context;
  // Node ids are never reused, not even after the node left: history (placements, routes) refers to them.
  if (state.status !== 'absent') throw conflict('node-exists', `node ${d.nodeId} already joined cluster ${state.clusterId}`);
  if (!ctx?.clusterExists) throw notFound('cluster', String(d.clusterId));
  const underlayIp = requireUnicastIp(d.underlayIp, 'underlayIp', 4);
  const underlayIp6 = d.underlayIp6 === undefined ? undefined : requireUnicastIp(d.underlayIp6, 'underlayIp6', 6);
  for (const [field, ip] of [
    ['underlayIp', underlayIp],
    ['underlayIp6', underlayIp6],
  ] as const) {
    if (!ip) continue;
    if ((ctx.routeReflectorIps ?? []).some((rr) => sameIp(rr, ip))) {
      throw invalid('underlay-is-route-reflector', `${field} ${ip} is a route reflector of the cluster`, { [field]: ['is a route reflector address'] });
    }
    if (sameIp(ctx.gatewayIp, ip)) {
      throw invalid('underlay-is-gateway', `${field} ${ip} is the VM gateway address of the cluster`, { [field]: ['is the gateway address'] });
    }
    if (sameIp(ctx.coreRouterIp, ip)) {
      throw invalid(
        'underlay-is-core-router',
        `${field} ${ip} is the core router's address: every route reflector would peer with this node instead of the core`,
        { [field]: ['is the core router address'] },
      );
    }
  }
  if (ctx.underlayInPool)
    throw conflict('underlay-in-pool', `the node's underlay address is inside the cluster's VM address pool ${ctx.underlayInPool}: IPAM could give it to a VM`);
  if (ctx.nameTaken) throw conflict('node-name-taken', `cluster already has a node named ${d.name}`);
  if (ctx.underlayTaken) throw conflict('underlay-ip-taken', `cluster already has a node with underlay IP ${underlayIp}`);
  return [{ type: 'NodeJoined', data: { nodeId: d.nodeId, clusterId: d.clusterId, name: d.name, underlayIp, ...(underlayIp6 ? { underlayIp6 } : {}) } }];
}

function requireNode(state: NodeState, nodeId: string): KnownNode {
  if (state.status === 'absent') throw notFound('node', String(nodeId));
  return state;
}

function drainNode(cmd: DrainNodeCommand, state: NodeState): NodeEvent[] {
  const n = requireNode(state, cmd.data.nodeId);
  if (n.status === 'drained') return [];
  if (n.status === 'left') throw conflict('node-left', `node ${n.nodeId} has left the cluster`);
  return [{ type: 'NodeDrained', data: { nodeId: n.nodeId, clusterId: n.clusterId } }];
}

function evacuateNode(cmd: EvacuateNodeCommand, state: NodeState): NodeEvent[] {
  const n = requireNode(state, cmd.data.nodeId);
  if (n.status === 'left') throw conflict('node-left', `node ${n.nodeId} has left the cluster`);
  if (n.evacuating) return [];
  const { vmCount, targets } = cmd.context ?? {};
  if (typeof vmCount !== 'number' || typeof targets !== 'number') throw new Error('EvacuateNode needs context.vmCount and context.targets'); // handler bug
  if (vmCount > 0 && targets === 0) {
    throw conflict('no-target-node', `node ${n.nodeId} has ${vmCount} VM(s) and the cluster has no other active node to take them`);
  }
  const ids = { nodeId: n.nodeId, clusterId: n.clusterId };
  return [...(n.status === 'active' ? [{ type: 'NodeDrained' as const, data: ids }] : []), { type: 'NodeEvacuationStarted', data: { ...ids, vmCount } }];
}

function undrainNode(cmd: UndrainNodeCommand, state: NodeState): NodeEvent[] {
  const n = requireNode(state, cmd.data.nodeId);
  if (n.status === 'left') throw conflict('node-left', `node ${n.nodeId} has left the cluster`);
  if (n.status === 'active') return [];
  return [{ type: 'NodeUndrained', data: { nodeId: n.nodeId, clusterId: n.clusterId } }];
}

function completeEvacuation(cmd: CompleteEvacuationCommand, state: NodeState): NodeEvent[] {
  if (state.status === 'absent' || !state.evacuating) return [];
  return [{ type: 'NodeEvacuated', data: { nodeId: state.nodeId, clusterId: state.clusterId } }];
}

function removeNode(cmd: RemoveNodeCommand, state: NodeState): NodeEvent[] {
  const n = requireNode(state, cmd.data.nodeId);
  if (n.status === 'left') return [];
  const vmCount = cmd.context?.vmCount;
  if (typeof vmCount !== 'number') throw new Error('RemoveNode needs context.vmCount'); // handler bug, not user input
  if (vmCount > 0) {
    throw conflict('node-has-vms', `node ${n.nodeId} still has ${vmCount} VM(s): drain it and migrate or delete them first`);
  }
  return [{ type: 'NodeLeft', data: { nodeId: n.nodeId, clusterId: n.clusterId } }];
}

export const nodeDecider: Decider<NodeCommand, NodeState, NodeEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide(command, state) {
    switch (command.type) {
      case 'JoinNode':
        return joinNode(command, state);
      case 'DrainNode':
        return drainNode(command, state);
      case 'EvacuateNode':
        return evacuateNode(command, state);
      case 'UndrainNode':
        return undrainNode(command, state);
      case 'CompleteEvacuation':
        return completeEvacuation(command, state);
      case 'RemoveNode':
        return removeNode(command, state);
      default:
        throw invalid('unknown-command', `unknown node command ${String((command as { type?: unknown }).type)}`);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'NodeJoined': {
        const { nodeId, clusterId, name, underlayIp, underlayIp6 } = event.data;
        return { status: 'active', nodeId, clusterId, name, underlayIp, ...(underlayIp6 ? { underlayIp6 } : {}) };
      }
      case 'NodeDrained':
        return state.status === 'absent' ? state : { ...state, status: 'drained' };
      case 'NodeEvacuationStarted':
        return state.status === 'absent' ? state : { ...state, status: 'drained', evacuating: true };
      case 'NodeEvacuated':
        return state.status === 'absent' ? state : { ...state, evacuating: false };
      case 'NodeUndrained':
        return state.status === 'absent' ? state : { ...state, status: 'active', evacuating: false };
      case 'NodeLeft':
        return state.status === 'absent' ? state : { ...state, status: 'left', evacuating: false };
      default:
        return state;
    }
  },
};
