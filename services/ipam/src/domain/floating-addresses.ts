/**
 * Floating addresses inside the IPAM aggregate of a cluster: allocated to an owner from the cluster's pools (never
 * held twice, the same cool-down after a release), attached to one VM of the cluster at a time, moved to another VM
 * make-before-break: `FloatingAddressAttached {fromVmId}` keeps both VMs routed until route-announcer sees the new
 * node's route at the route reflectors and sends CompleteFloatingMove. Pure; ipam.decider.ts dispatches here.
 */
import { type AllocationFailureReason, DomainError, type EventOf, conflict, invalid, notFound } from '@fabric/contracts';
import { type IpFamily, bigIntToIp, canonical, describe, isValidIp, parseIp } from '@fabric/ipam-math';
import type { IpHolding, IpamPool, IpamState } from './ipam.decider';

export type FloatingEvent = EventOf<
  | 'FloatingAddressAllocated'
  | 'FloatingAddressAttached'
  | 'FloatingAddressMoveCompleted'
  | 'FloatingAddressDetached'
  | 'FloatingAddressReleaseScheduled'
  | 'FloatingAddressReleased'
>;

export type AllocateFloatingCommand = {
  type: 'AllocateFloating';
  data: { clusterId: string; floatingId: string; ownerId: string; family?: 4 | 6; requestedIp?: string };
};
export type AttachFloatingCommand = {
  type: 'AttachFloating';
  data: { clusterId: string; floatingId: string; vmId: string; allowOtherOwner?: boolean };
};
export type CompleteFloatingMoveCommand = { type: 'CompleteFloatingMove'; data: { clusterId: string; floatingId: string; vmId: string } };
export type DetachFloatingCommand = { type: 'DetachFloating'; data: { clusterId: string; floatingId: string } };
/** DELETE: held until `releaseAt`; refused while attached (detach first). */
export type ScheduleFloatingReleaseCommand = { type: 'ScheduleFloatingRelease'; data: { clusterId: string; floatingId: string; releaseAt: string } };
/** Sent by the release timer once `releaseAt` passed (see dueFloatingReleases). */
export type ReleaseFloatingCommand = { type: 'ReleaseFloating'; data: { clusterId: string; floatingId: string } };
/**
 * Sent by IPAM's reactor on VmDeleted, one per floating address the VM held (floatingsOfVm): one event per command,
 * so a billing event is never in an EventBatch.
 */
export type FloatingVmGoneCommand = { type: 'FloatingVmGone'; data: { clusterId: string; floatingId: string; vmId: string } };
export type FloatingCommand =
  | AllocateFloatingCommand
  | AttachFloatingCommand
  | CompleteFloatingMoveCommand
  | DetachFloatingCommand
  | ScheduleFloatingReleaseCommand
  | ReleaseFloatingCommand
  | FloatingVmGoneCommand;

export const FLOATING_COMMAND_TYPES: ReadonlySet<string> = new Set([
  'AllocateFloating',
  'AttachFloating',
  'CompleteFloatingMove',
  'DetachFloating',
  'ScheduleFloatingRelease',
  'ReleaseFloating',
  'FloatingVmGone',
]);
export const FLOATING_EVENT_TYPES: ReadonlySet<string> = new Set([
  'FloatingAddressAllocated',
  'FloatingAddressAttached',
  'FloatingAddressMoveCompleted',
  'FloatingAddressDetached',
  'FloatingAddressReleaseScheduled',
  'FloatingAddressReleased',
]);

/** A floating address (also in `byIp` under its id as holder: no address is ever held twice). */
export interface FloatingHolding extends IpHolding {
  floatingId: string;
  clusterId: string;
  /** The VM it is attached to. */
  attachedVmId?: string;
  /** During a move: the VM it leaves (still routed until the move completes). */
  fromVmId?: string;
}

/** The allocation helper of the IPAM decider (the requested address, or the lowest free one of the family). */
export type PickAddress = (
  state: IpamState,
  family: unknown,
  requestedIp: string | undefined,
) => { pool: IpamPool; value: bigint } | { reason: AllocationFailureReason; message: string };

const STATUS_OF_REASON: Record<AllocationFailureReason, 400 | 409 | 422> = {
  'pool-exhausted': 409,
  'address-taken': 409,
  'outside-pools': 422,
  'no-network': 422,
  'family-mismatch': 400,
  // An extra address of a VM without its primary: never the case for a floating address, which has no VM.
  'no-primary-address': 409,
};

function floatingOf(state: IpamState, floatingId: string): FloatingHolding {
  const f = state.floating.get(floatingId);
  if (!f) throw notFound('floating-address', floatingId);
  return f;
}

const base = (f: FloatingHolding) => ({ clusterId: f.clusterId, floatingId: f.floatingId, ownerId: f.ownerId, ip: f.ip });

export function decideFloating(cmd: FloatingCommand, state: IpamState, pick: PickAddress): FloatingEvent[] {
  switch (cmd.type) {
    case 'AllocateFloating': {
      const d = cmd.data;
      if (state.floating.has(d.floatingId)) return []; // a retried command
      if (d.requestedIp !== undefined && !isValidIp(d.requestedIp))
        throw invalid('invalid-ip', `ip must be a valid IP address, got ${describe(d.requestedIp)}`, { ip: ['must be a valid IP address'] });
      const family = d.family ?? (d.requestedIp !== undefined ? parseIp(d.requestedIp).family : 4);
      const p = pick(state, family, d.requestedIp);
      if (!('pool' in p)) throw new DomainError(STATUS_OF_REASON[p.reason], p.reason, p.message);
      return [
        {
          type: 'FloatingAddressAllocated',
          data: {
            clusterId: d.clusterId,
            floatingId: d.floatingId,
            ownerId: d.ownerId,
            ip: bigIntToIp(p.value, p.pool.family),
            family: p.pool.family,
            networkId: p.pool.networkId,
            poolId: p.pool.poolId,
          },
        },
      ];
    }
    case 'AttachFloating': {
      const d = cmd.data;
      const f = floatingOf(state, d.floatingId);
      if (f.releaseAt !== undefined) throw conflict('floating-address-released', `floating address ${f.ip} is being released`);
      const vm = state.byVm.get(d.vmId);
      const status = state.vms.get(d.vmId);
      if (!status) throw notFound('vm', d.vmId);
      if (status === 'release-scheduled' || status === 'released') throw conflict('vm-deleted', `VM ${d.vmId} is deleted`);
      if (status === 'failed' || !vm) throw conflict('vm-without-address', `VM ${d.vmId} has no address (its allocation failed)`);
      if (vm.ownerId !== f.ownerId && !d.allowOtherOwner)
        throw conflict('owner-mismatch', `floating address ${f.ip} belongs to ${f.ownerId}, VM ${d.vmId} to ${vm.ownerId}`);
      if (f.attachedVmId === d.vmId) return []; // attached there already
      if (f.fromVmId !== undefined) throw conflict('move-in-progress', `floating address ${f.ip} is still moving from VM ${f.fromVmId}`);
      return [{ type: 'FloatingAddressAttached', data: { ...base(f), vmId: d.vmId, ...(f.attachedVmId ? { fromVmId: f.attachedVmId } : {}) } }];
    }
    case 'CompleteFloatingMove': {
      const f = state.floating.get(cmd.data.floatingId);
      // A stale completion (detached, moved again, released meanwhile) changes nothing.
      if (!f || f.attachedVmId !== cmd.data.vmId || f.fromVmId === undefined) return [];
      return [{ type: 'FloatingAddressMoveCompleted', data: { ...base(f), vmId: f.attachedVmId, fromVmId: f.fromVmId } }];
    }
    case 'DetachFloating': {
      const f = floatingOf(state, cmd.data.floatingId);
      if (!f.attachedVmId) throw conflict('not-attached', `floating address ${f.ip} is not attached`);
      return [detached(f, 'detached')];
    }
    case 'ScheduleFloatingRelease': {
      const f = floatingOf(state, cmd.data.floatingId);
      if (f.releaseAt !== undefined) return [];
      if (f.attachedVmId) throw conflict('floating-address-attached', `floating address ${f.ip} is attached to VM ${f.attachedVmId}: detach it first`);
      const releaseAt = cmd.data.releaseAt;
      if (typeof releaseAt !== 'string' || Number.isNaN(Date.parse(releaseAt)))
        throw invalid('invalid-release-at', `releaseAt must be an ISO 8601 timestamp, got ${describe(releaseAt)}`);
      return [{ type: 'FloatingAddressReleaseScheduled', data: { ...base(f), releaseAt: new Date(releaseAt).toISOString() } }];
    }
    case 'FloatingVmGone': {
      // A deleted VM: the address is detached (it stays its owner's); a move away from it is over.
      const f = state.floating.get(cmd.data.floatingId);
      if (!f) return [];
      if (f.attachedVmId === cmd.data.vmId) return [detached(f, 'vm-deleted')];
      if (f.fromVmId === cmd.data.vmId) return [{ type: 'FloatingAddressMoveCompleted', data: { ...base(f), vmId: f.attachedVmId!, fromVmId: f.fromVmId } }];
      return [];
    }
    case 'ReleaseFloating': {
      const f = state.floating.get(cmd.data.floatingId);
      if (!f || f.releaseAt === undefined) return [];
      return [{ type: 'FloatingAddressReleased', data: base(f) }];
    }
  }
}

function detached(f: FloatingHolding, reason: 'detached' | 'vm-deleted'): FloatingEvent {
  return {
    type: 'FloatingAddressDetached',
    data: { ...base(f), vmId: f.attachedVmId!, ...(f.fromVmId ? { fromVmId: f.fromVmId } : {}), reason },
  };
}

/** The floating addresses a VM holds (attached, or leaving it during a move): FloatingVmGone for each when it is deleted. */
export function floatingsOfVm(state: IpamState, vmId: string): string[] {
  return [...state.floating.values()].filter((f) => f.attachedVmId === vmId || f.fromVmId === vmId).map((f) => f.floatingId);
}

/** Mutates `state` (see the IPAM decider's evolve). */
export function evolveFloating(state: IpamState, event: FloatingEvent): void {
  switch (event.type) {
    case 'FloatingAddressAllocated': {
      const d = event.data;
      const { family, value } = parseIp(d.ip);
      const h: FloatingHolding = {
        vmId: d.floatingId,
        floatingId: d.floatingId,
        clusterId: d.clusterId,
        ownerId: d.ownerId,
        ip: bigIntToIp(value, family),
        value,
        family: family as IpFamily,
        networkId: d.networkId,
        poolId: d.poolId,
      };
      state.floating.set(d.floatingId, h);
      state.byIp[family].set(value, h);
      const pool = state.pools.get(d.poolId);
      if (pool) {
        pool.used++;
        const taken = state.byIp[family];
        pool.allocator.markTaken(value, (v) => taken.has(v));
      }
      return;
    }
    case 'FloatingAddressAttached': {
      const f = state.floating.get(event.data.floatingId);
      if (!f) return;
      f.attachedVmId = event.data.vmId;
      if (event.data.fromVmId) f.fromVmId = event.data.fromVmId;
      else delete f.fromVmId;
      return;
    }
    case 'FloatingAddressMoveCompleted': {
      const f = state.floating.get(event.data.floatingId);
      if (f) delete f.fromVmId;
      return;
    }
    case 'FloatingAddressDetached': {
      const f = state.floating.get(event.data.floatingId);
      if (!f) return;
      delete f.attachedVmId;
      delete f.fromVmId;
      return;
    }
    case 'FloatingAddressReleaseScheduled': {
      const f = state.floating.get(event.data.floatingId);
      if (f) f.releaseAt = event.data.releaseAt;
      return;
    }
    case 'FloatingAddressReleased': {
      const f = state.floating.get(event.data.floatingId);
      if (!f) return;
      state.floating.delete(f.floatingId);
      if (state.byIp[f.family].get(f.value) === f) state.byIp[f.family].delete(f.value);
      const pool = state.pools.get(f.poolId);
      if (pool) {
        pool.used--;
        pool.allocator.markFree(f.value);
      }
      return;
    }
  }
}

/** Floating addresses whose cool-down has ended at `now`: the release timer sends ReleaseFloating for each. */
export function dueFloatingReleases(state: IpamState, now: Date | string): { floatingId: string; releaseAt: string }[] {
  const t = new Date(now).getTime();
  const due: { floatingId: string; releaseAt: string }[] = [];
  for (const f of state.floating.values())
    if (f.releaseAt !== undefined && Date.parse(f.releaseAt) <= t) due.push({ floatingId: f.floatingId, releaseAt: f.releaseAt });
  return due.sort((a, b) => Date.parse(a.releaseAt) - Date.parse(b.releaseAt));
}

/** Canonical text of an address (for callers comparing user input). */
export const canonicalFloatingIp = (ip: string) => canonical(ip);
