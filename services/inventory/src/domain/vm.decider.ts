/** VM aggregate (subject vm.<vmId>): placement on a node, deletion, make-before-break migration. */
import {
  type Decider,
  type EventOf,
  MAX_EXTRA_ADDRESSES,
  VM_ADDRESSING,
  type VmAddressing,
  VM_DRIVERS,
  type VmDriver,
  conflict,
  invalid,
  notFound,
} from '@fabric/contracts';
import type { NodeStatus } from './node.decider';
import { familyOf, requireIp, sameIp } from './ip-input';

export type VmEvent = EventOf<
  'VmCreated' | 'VmDeleted' | 'VmMigrationRequested' | 'VmMigrationCompleted' | 'VmBlackholed' | 'VmBlackholeLifted' | 'VmAddressRequested' | 'VmAddressRemoved'
>;
export type VmStatus = 'created' | 'migrating' | 'deleted';

/** What the handler looked up about a node (null: no such node). */
export type NodeFacts = { clusterId: string; status: NodeStatus } | null;

export type CreateVmCommand = {
  type: 'CreateVm';
  /** secondRequestId: the request id of a dual-stack VM's second address (derived from the VM id by the handler). */
  data: {
    vmId: string;
    clusterId: string;
    nodeId: string;
    name: string;
    ownerId: string;
    ip?: string;
    family?: 4 | 6;
    addressing?: VmAddressing;
    driver?: VmDriver;
    secondRequestId?: string;
  };
  /** node: the target node; nameTaken: another live VM of the cluster has this name; poolFamilies: the families the cluster has pools of. */
  context: { node: NodeFacts; nameTaken: boolean; poolFamilies?: (4 | 6)[] };
};
export type DeleteVmCommand = { type: 'DeleteVm'; data: { vmId: string } };
export type MigrateVmCommand = {
  type: 'MigrateVm';
  /** evacuation: the migration is part of evacuating the VM's current node. */
  data: { vmId: string; nodeId: string; evacuation?: boolean };
  context: { targetNode: NodeFacts };
};
/** Sent when node `nodeId` announced the VM; completes only the migration to that node. */
export type CompleteMigrationCommand = { type: 'CompleteMigration'; data: { vmId: string; nodeId: string } };
export type BlackholeVmCommand = { type: 'BlackholeVm'; data: { vmId: string; reason: string } };
export type LiftBlackholeCommand = { type: 'LiftBlackhole'; data: { vmId: string; reason?: string } };
/**
 * What the handler knows about the VM's addresses (IPAM decides them, so they are not in this aggregate): the
 * primary (IpAllocated), the extra addresses held (VmAddressAllocated, not yet VmAddressRemoved) and the extra
 * address requests IPAM has not answered yet.
 */
export type AddressFacts = { primaryIp?: string; extraIps: string[]; pending: number };
export type AddVmAddressCommand = {
  type: 'AddVmAddress';
  /** requestId: derived from the command id by the handler (a retried command asks for the same address). */
  data: { vmId: string; requestId: string; family?: 4 | 6; ip?: string };
  context: { addresses: AddressFacts };
};
export type RemoveVmAddressCommand = { type: 'RemoveVmAddress'; data: { vmId: string; ip: string }; context: { addresses: AddressFacts } };
export type VmCommand =
  | CreateVmCommand
  | DeleteVmCommand
  | MigrateVmCommand
  | CompleteMigrationCommand
  | BlackholeVmCommand
  | LiftBlackholeCommand
  | AddVmAddressCommand
  | RemoveVmAddressCommand;

export type VmState =
  | { status: 'absent' }
  | {
      status: VmStatus;
      vmId: string;
      clusterId: string;
      /** Current placement; during a migration, the target node. */
      nodeId: string;
      /** Source node while migrating (both nodes announce until completion). */
      previousNodeId?: string;
      name: string;
      ownerId: string;
      family: 4 | 6;
      requestedIp?: string;
      driver: VmDriver;
      /** RTBH in force: the address is announced with the blackhole community. */
      blackholed?: boolean;
    };
type KnownVm = Exclude<VmState, { status: 'absent' }>;

function checkNode(node: NodeFacts | undefined, nodeId: string, clusterId: string): void {
  if (!node) throw notFound('node', String(nodeId));
  if (node.clusterId !== clusterId) throw conflict('node-in-other-cluster', `node ${nodeId} belongs to another cluster than ${clusterId}`);
  if (node.status !== 'active') throw conflict('node-not-active', `node ${nodeId} is ${node.status}: no VMs can be placed on it`);
}

/**
 * The families of a new VM's addresses: the primary's, and the second one's when dual-stack. A request naming a
 * family or an address (and no `addressing`) keeps getting that family only; without either, a cluster with pools
 * of both families gives one address of each.
 */
export function vmAddressPlan(
  d: Pick<CreateVmCommand['data'], 'ip' | 'family' | 'addressing'>,
  poolFamilies: readonly (4 | 6)[] = [],
): { family: 4 | 6; second?: 4 | 6 } {
  if (d.family !== undefined && d.family !== 4 && d.family !== 6) throw invalid('invalid-family', 'family must be 4 or 6', { family: ['must be 4 or 6'] });
  if (d.addressing !== undefined && !VM_ADDRESSING.includes(d.addressing)) {
    throw invalid('invalid-addressing', `addressing must be one of ${VM_ADDRESSING.join(', ')}`, { addressing: ['unknown addressing'] });
  }
  const requestedIp = d.ip === undefined ? undefined : requireIp(d.ip, 'ip');
  const single = d.addressing === 'ipv4' ? 4 : d.addressing === 'ipv6' ? 6 : undefined;
  if (single !== undefined && d.family !== undefined && d.family !== single) {
    throw invalid('addressing-family-mismatch', `family ${d.family} contradicts addressing ${d.addressing}`, {
      family: [`must be ${single} with ${d.addressing}`],
    });
  }
  const family: 4 | 6 = d.family ?? single ?? (requestedIp && familyOf(requestedIp) === 6 ? 6 : 4);
  if (requestedIp && familyOf(requestedIp) !== family) {
    throw invalid('ip-family-mismatch', `ip ${requestedIp} is not an IPv${family} address`, { ip: [`must be an IPv${family} address`] });
  }
  const both = poolFamilies.includes(4) && poolFamilies.includes(6);
  if (d.addressing === 'dual-stack' && !both) {
    throw conflict('cluster-not-dual-stack', 'dual-stack needs address pools of both families in the cluster');
  }
  const dual = d.addressing === 'dual-stack' || (d.addressing === undefined && d.family === undefined && requestedIp === undefined && both);
  return dual ? { family, second: family === 4 ? 6 : 4 } : { family };
}

function createVm(cmd: CreateVmCommand, state: VmState): VmEvent[] {
  const d = cmd.data;
  if (state.status !== 'absent') throw conflict('vm-exists', `VM ${d.vmId} already exists`);
  const { family, second } = vmAddressPlan(d, cmd.context?.poolFamilies);
  const requestedIp = d.ip === undefined ? undefined : requireIp(d.ip, 'ip');
  const driver = d.driver ?? 'tap';
  if (!VM_DRIVERS.includes(driver)) throw invalid('invalid-driver', `driver must be one of ${VM_DRIVERS.join(', ')}`, { driver: ['unknown driver'] });
  checkNode(cmd.context?.node, d.nodeId, d.clusterId);
  if (cmd.context.nameTaken) throw conflict('vm-name-taken', `cluster already has a VM named ${d.name}`);
  if (second !== undefined && !d.secondRequestId) throw invalid('missing-request-id', 'a dual-stack VM needs the request id of its second address');
  // The second family is an extra address requested in the same decision: IPAM, the node, the RRs, billing and
  // the projections handle it like any extra address.
  const secondAddress: VmEvent[] =
    second !== undefined && d.secondRequestId
      ? [
          {
            type: 'VmAddressRequested',
            data: { vmId: d.vmId, clusterId: d.clusterId, ownerId: d.ownerId, requestId: d.secondRequestId, family: second, dualStack: true },
          },
        ]
      : [];
  return [
    {
      type: 'VmCreated',
      data: {
        vmId: d.vmId,
        clusterId: d.clusterId,
        nodeId: d.nodeId,
        name: d.name,
        ownerId: d.ownerId,
        ...(requestedIp ? { requestedIp } : {}),
        family,
        driver,
      },
    },
    ...secondAddress,
  ];
}

function requireVm(state: VmState, vmId: string): KnownVm {
  if (state.status === 'absent') throw notFound('vm', String(vmId));
  return state;
}

function deleteVm(cmd: DeleteVmCommand, state: VmState): VmEvent[] {
  const vm = requireVm(state, cmd.data.vmId);
  if (vm.status === 'deleted') return [];
  // Allowed while migrating: VmDeleted withdraws every placement of the VM.
  return [{ type: 'VmDeleted', data: { vmId: vm.vmId, clusterId: vm.clusterId, nodeId: vm.nodeId, ownerId: vm.ownerId } }];
}

function migrateVm(cmd: MigrateVmCommand, state: VmState): VmEvent[] {
  const vm = requireVm(state, cmd.data.vmId);
  if (vm.status === 'deleted') throw conflict('vm-deleted', `VM ${vm.vmId} is deleted`);
  if (vm.status === 'migrating') throw conflict('migration-in-progress', `VM ${vm.vmId} is already migrating to node ${vm.nodeId}`);
  const target = cmd.data.nodeId;
  if (!cmd.context?.targetNode) throw notFound('node', String(target));
  if (target === vm.nodeId) throw conflict('same-node', `VM ${vm.vmId} already runs on node ${target}`);
  checkNode(cmd.context.targetNode, target, vm.clusterId);
  return [
    {
      type: 'VmMigrationRequested',
      data: { vmId: vm.vmId, clusterId: vm.clusterId, fromNodeId: vm.nodeId, toNodeId: target, ...(cmd.data.evacuation ? { evacuation: true } : {}) },
    },
  ];
}

function completeMigration(cmd: CompleteMigrationCommand, state: VmState): VmEvent[] {
  if (state.status !== 'migrating' || !state.previousNodeId) return [];
  if (cmd.data.nodeId !== state.nodeId) return []; // the source node or a stale report of an earlier migration
  return [{ type: 'VmMigrationCompleted', data: { vmId: state.vmId, clusterId: state.clusterId, fromNodeId: state.previousNodeId, toNodeId: state.nodeId } }];
}

/** RTBH on a live VM (any placement, also while migrating: every node announcing it tags the route). */
function blackholeVm(cmd: BlackholeVmCommand, state: VmState): VmEvent[] {
  const vm = requireVm(state, cmd.data.vmId);
  if (vm.status === 'deleted') throw conflict('vm-deleted', `VM ${vm.vmId} is deleted`);
  if (vm.blackholed) throw conflict('vm-already-blackholed', `VM ${vm.vmId} is already blackholed`);
  return [{ type: 'VmBlackholed', data: { vmId: vm.vmId, clusterId: vm.clusterId, reason: cmd.data.reason } }];
}

function liftBlackhole(cmd: LiftBlackholeCommand, state: VmState): VmEvent[] {
  const vm = requireVm(state, cmd.data.vmId);
  if (!vm.blackholed || vm.status === 'deleted') throw conflict('vm-not-blackholed', `VM ${vm.vmId} is not blackholed`);
  return [
    { type: 'VmBlackholeLifted', data: { vmId: vm.vmId, clusterId: vm.clusterId, ...(cmd.data.reason !== undefined ? { reason: cmd.data.reason } : {}) } },
  ];
}

/** An extra address for a live VM: IPAM allocates it from the cluster's pools of the family (or the address asked for). */
function addVmAddress(cmd: AddVmAddressCommand, state: VmState): VmEvent[] {
  const vm = requireVm(state, cmd.data.vmId);
  if (vm.status === 'deleted') throw conflict('vm-deleted', `VM ${vm.vmId} is deleted`);
  const d = cmd.data;
  if (d.family !== undefined && d.family !== 4 && d.family !== 6) throw invalid('invalid-family', 'family must be 4 or 6', { family: ['must be 4 or 6'] });
  const requestedIp = d.ip === undefined ? undefined : requireIp(d.ip, 'ip');
  const family: 4 | 6 = d.family ?? (requestedIp && familyOf(requestedIp) === 6 ? 6 : 4);
  if (requestedIp && familyOf(requestedIp) !== family) {
    throw invalid('ip-family-mismatch', `ip ${requestedIp} is not an IPv${family} address`, { ip: [`must be an IPv${family} address`] });
  }
  const a = cmd.context?.addresses ?? { extraIps: [], pending: 0 };
  if (requestedIp && (sameIp(requestedIp, a.primaryIp) || a.extraIps.some((x) => sameIp(x, requestedIp)))) {
    throw conflict('address-already-assigned', `VM ${vm.vmId} already has the address ${requestedIp}`);
  }
  if (a.extraIps.length + a.pending >= MAX_EXTRA_ADDRESSES) {
    throw conflict('too-many-addresses', `VM ${vm.vmId} already has ${MAX_EXTRA_ADDRESSES} extra addresses (held or being allocated)`);
  }
  return [
    {
      type: 'VmAddressRequested',
      data: { vmId: vm.vmId, clusterId: vm.clusterId, ownerId: vm.ownerId, requestId: d.requestId, family, ...(requestedIp ? { requestedIp } : {}) },
    },
  ];
}

/** Removes an extra address (withdrawn at once, held by IPAM for its cool-down); the primary address stays the VM's. */
function removeVmAddress(cmd: RemoveVmAddressCommand, state: VmState): VmEvent[] {
  const vm = requireVm(state, cmd.data.vmId);
  if (vm.status === 'deleted') throw conflict('vm-deleted', `VM ${vm.vmId} is deleted`);
  const ip = requireIp(cmd.data.ip, 'ip');
  const a = cmd.context?.addresses ?? { extraIps: [], pending: 0 };
  if (sameIp(ip, a.primaryIp)) throw conflict('primary-address', `${ip} is the primary address of VM ${vm.vmId}: it goes only with the VM`);
  const held = a.extraIps.find((x) => sameIp(x, ip));
  if (!held) throw notFound('address', ip);
  return [{ type: 'VmAddressRemoved', data: { vmId: vm.vmId, clusterId: vm.clusterId, ownerId: vm.ownerId, ip: held } }];
}

export const vmDecider: Decider<VmCommand, VmState, VmEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide(command, state) {
    switch (command.type) {
      case 'CreateVm':
        return createVm(command, state);
      case 'DeleteVm':
        return deleteVm(command, state);
      case 'MigrateVm':
        return migrateVm(command, state);
      case 'CompleteMigration':
        return completeMigration(command, state);
      case 'BlackholeVm':
        return blackholeVm(command, state);
      case 'LiftBlackhole':
        return liftBlackhole(command, state);
      case 'AddVmAddress':
        return addVmAddress(command, state);
      case 'RemoveVmAddress':
        return removeVmAddress(command, state);
      default:
        throw invalid('unknown-command', `unknown VM command ${String((command as { type?: unknown }).type)}`);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'VmCreated': {
        const { vmId, clusterId, nodeId, name, ownerId, requestedIp, family, driver } = event.data;
        return { status: 'created', vmId, clusterId, nodeId, name, ownerId, family, driver, ...(requestedIp ? { requestedIp } : {}) };
      }
      case 'VmDeleted': {
        if (state.status === 'absent') return state;
        const { previousNodeId: _, blackholed: __, ...rest } = state;
        return { ...rest, status: 'deleted' };
      }
      case 'VmBlackholed':
        return state.status === 'absent' ? state : { ...state, blackholed: true };
      case 'VmBlackholeLifted': {
        if (state.status === 'absent') return state;
        const { blackholed: _, ...rest } = state;
        return rest;
      }
      case 'VmMigrationRequested':
        if (state.status === 'absent') return state;
        return { ...state, status: 'migrating', nodeId: event.data.toNodeId, previousNodeId: event.data.fromNodeId };
      case 'VmMigrationCompleted': {
        if (state.status !== 'migrating') return state;
        const { previousNodeId: _, ...rest } = state;
        return { ...rest, status: 'created', nodeId: event.data.toNodeId };
      }
      default:
        return state;
    }
  },
};
