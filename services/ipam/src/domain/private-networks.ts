/**
 * Tenant private networks inside the IPAM aggregate of a cluster: the VNI of each network (unique per
 * cluster, never reused while held) and every private address (never two VMs one address, held for the
 * cool-down after a detach). Pure: the handler passes the cluster gateway in the context.
 * See docs/adr/0014-private-networks-vni-ipam.md.
 */
import { createHash } from 'node:crypto';
import { type EventOf, NAME_PATTERN, OWNER_PATTERN, PRIVATE_VNI_MAX, PRIVATE_VNI_MIN, conflict, invalid, notFound } from '@fabric/contracts';
import {
  type Cidr,
  type IpFamily,
  IpMathError,
  PoolAllocator,
  bigIntToIp,
  describe,
  isValidIp,
  parseCidr,
  parseIp,
  privateNetworkProblem,
  usableRange,
} from '@fabric/ipam-math';

export type PrivateNetworkEvent = EventOf<
  'PrivateNetworkCreated' | 'PrivateNetworkDeleted' | 'PrivateNetworkAttached' | 'PrivateNetworkDetached' | 'PrivateIpReleased'
>;

export type CreatePrivateNetworkCommand = {
  type: 'CreatePrivateNetwork';
  data: { clusterId: string; networkId: string; ownerId: string; name: string; cidr: string };
  /** The cluster's VM gateway: no private network may contain it (the guest reaches it on-link). */
  context?: { gatewayIp?: string };
};
export type DeletePrivateNetworkCommand = { type: 'DeletePrivateNetwork'; data: { clusterId: string; networkId: string } };
export type AttachPrivateNetworkCommand = { type: 'AttachPrivateNetwork'; data: { clusterId: string; networkId: string; vmId: string } };
export type DetachPrivateNetworkCommand = {
  type: 'DetachPrivateNetwork';
  data: { clusterId: string; networkId: string; vmId: string; releaseAt: string };
};
/** Sent by the release timer once a detached address's `releaseAt` passed (see duePrivateReleases). */
export type ReleasePrivateIpCommand = { type: 'ReleasePrivateIp'; data: { clusterId: string; networkId: string; ip: string } };
export type PrivateNetworkCommand =
  CreatePrivateNetworkCommand | DeletePrivateNetworkCommand | AttachPrivateNetworkCommand | DetachPrivateNetworkCommand | ReleasePrivateIpCommand;

export interface PrivateHolding {
  vmId: string;
  ip: string;
  value: bigint;
  mac: string;
  /** Set once detached: held (not attached) until then. */
  releaseAt?: string;
}
export interface PrivateNetwork {
  networkId: string;
  ownerId: string;
  name: string;
  cidr: string;
  family: IpFamily;
  vni: number;
  block: Cidr;
  allocator: PoolAllocator;
  /** vmId → its attachment. */
  attached: Map<string, PrivateHolding>;
  /** Every held address, attached or cooling down. */
  byIp: Map<bigint, PrivateHolding>;
}
export interface PrivateState {
  networks: Map<string, PrivateNetwork>;
  vnis: Map<number, string>;
  /** Next VNI to hand out: past every VNI ever used, so a freed VNI comes back only after the range wrapped. */
  nextVni: number;
}
export const initialPrivateState = (): PrivateState => ({ networks: new Map(), vnis: new Map(), nextVni: PRIVATE_VNI_MIN });

/** Everything the private decisions need from the rest of the IPAM state (the VM's public holding). */
export interface VmFacts {
  /** The VM's public address holding: present once IPAM allocated it; `releaseAt` once the VM was deleted. */
  holding?: { ownerId: string; releaseAt?: string };
  status?: 'allocated' | 'release-scheduled' | 'released' | 'failed';
}

/**
 * Allocatable span: the block minus network/broadcast (usableRange) and its first host address, kept for
 * a gateway of the network (L3 EVPN later) so that no VM has to be renumbered then.
 */
function allocatorFor(block: Cidr): PoolAllocator {
  const u = usableRange(block);
  return new PoolAllocator(u.first + 1n, u.last);
}

/** Locally administered unicast MAC of a VM's interface in a network: stable across detach/attach and migration. */
export function privateMac(vmId: string, networkId: string, attempt = 0): string {
  const h = createHash('sha256')
    .update(`${networkId}/${vmId}${attempt ? `/${attempt}` : ''}`)
    .digest();
  return [0x02, h[0], h[1], h[2], h[3], h[4]].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function network(state: PrivateState, networkId: string): PrivateNetwork {
  const n = state.networks.get(networkId);
  if (!n) throw notFound('private-network', String(networkId));
  return n;
}

function nextFreeVni(state: PrivateState): number | undefined {
  if (state.nextVni <= PRIVATE_VNI_MAX && !state.vnis.has(state.nextVni)) return state.nextVni;
  for (let v = PRIVATE_VNI_MIN; v <= PRIVATE_VNI_MAX; v++) if (!state.vnis.has(v)) return v;
  return undefined;
}

function create(cmd: CreatePrivateNetworkCommand, state: PrivateState, publicNetworks: { cidr: string; block: Cidr }[]): PrivateNetworkEvent[] {
  const d = cmd.data;
  if (state.networks.has(d.networkId)) throw conflict('network-exists', `network ${d.networkId} already exists`);
  if (typeof d.name !== 'string' || !NAME_PATTERN.test(d.name)) {
    throw invalid('invalid-name', `name must be 1-63 letters, digits or dashes, got ${describe(d.name)}`, { name: ['invalid name'] });
  }
  if (typeof d.ownerId !== 'string' || !OWNER_PATTERN.test(d.ownerId)) {
    throw invalid('invalid-owner', `ownerId must be 1-128 characters of letters, digits and . _ : @ -`, { ownerId: ['invalid owner id'] });
  }
  let block: Cidr;
  try {
    block = parseCidr(d.cidr);
  } catch (e) {
    if (!(e instanceof IpMathError)) throw e;
    throw invalid('invalid-cidr', `cidr must be a CIDR block like 192.168.10.0/24 or fd00:1::/64, got ${describe(d.cidr)}`, { cidr: ['invalid CIDR block'] });
  }
  if (block.hostBitsSet) {
    throw invalid('cidr-host-bits-set', `cidr ${d.cidr} has host bits set; did you mean ${block.canonical}?`, { cidr: [`did you mean ${block.canonical}?`] });
  }
  const problem = privateNetworkProblem(block);
  if (problem) throw invalid(problem.code, problem.message, { cidr: [problem.message] });
  const overlaps = (o: Cidr) => o.family === block.family && o.first <= block.last && block.first <= o.last;
  const mine = [...state.networks.values()].filter((n) => n.ownerId === d.ownerId);
  const sameName = mine.find((n) => n.name === d.name);
  if (sameName) throw conflict('private-network-name-taken', `owner ${d.ownerId} already has a private network named ${d.name} in this cluster`);
  const clash = mine.find((n) => overlaps(n.block));
  if (clash)
    throw conflict('private-network-overlap', `${block.canonical} overlaps ${clash.cidr} (${clash.name}), another private network of owner ${d.ownerId}`);
  // A VM holds its public address and routes everything else via the gateway: a private block that
  // covers public space (or the gateway) would hide it from the guest.
  const pub = publicNetworks.find((n) => overlaps(n.block));
  if (pub) throw conflict('private-network-overlaps-public', `${block.canonical} overlaps ${pub.cidr}, a public network of this cluster`);
  const gw = cmd.context?.gatewayIp;
  if (gw && isValidIp(gw)) {
    const g = parseIp(gw);
    if (g.family === block.family && g.value >= block.first && g.value <= block.last) {
      throw conflict('private-network-contains-gateway', `${block.canonical} contains ${gw}, the gateway every VM of the cluster uses`);
    }
  }
  const vni = nextFreeVni(state);
  if (vni === undefined) throw conflict('vni-exhausted', `every VNI ${PRIVATE_VNI_MIN}-${PRIVATE_VNI_MAX} of the cluster is in use`);
  return [
    {
      type: 'PrivateNetworkCreated',
      data: { clusterId: d.clusterId, networkId: d.networkId, ownerId: d.ownerId, name: d.name, cidr: block.canonical, family: block.family, vni },
    },
  ];
}

function remove(cmd: DeletePrivateNetworkCommand, state: PrivateState): PrivateNetworkEvent[] {
  const n = network(state, cmd.data.networkId);
  if (n.attached.size) {
    throw conflict('private-network-in-use', `private network ${n.name} still has ${n.attached.size} VM(s) attached: detach them first`);
  }
  return [{ type: 'PrivateNetworkDeleted', data: { clusterId: cmd.data.clusterId, networkId: n.networkId, ownerId: n.ownerId, vni: n.vni } }];
}

function attach(cmd: AttachPrivateNetworkCommand, state: PrivateState, vm: VmFacts): PrivateNetworkEvent[] {
  const d = cmd.data;
  const n = network(state, d.networkId);
  if (vm.status === 'release-scheduled' || vm.status === 'released' || vm.holding?.releaseAt) throw conflict('vm-deleted', `vm ${d.vmId} is deleted`);
  if (!vm.holding) {
    throw conflict('vm-not-ready', `vm ${d.vmId} has no public address in this cluster yet (attach once it is ip-allocated)`);
  }
  if (vm.holding.ownerId !== n.ownerId) {
    throw conflict('private-network-owner-mismatch', `vm ${d.vmId} belongs to ${vm.holding.ownerId}, private network ${n.name} to ${n.ownerId}`);
  }
  if (n.attached.has(d.vmId)) throw conflict('already-attached', `vm ${d.vmId} is already attached to private network ${n.name}`);
  const value = n.allocator.lowestFree((v) => n.byIp.has(v));
  if (value === undefined) throw conflict('private-network-full', `private network ${n.name} (${n.cidr}) has no free address`);
  const macs = new Set([...n.attached.values()].map((h) => h.mac));
  let mac = privateMac(d.vmId, n.networkId);
  for (let i = 1; macs.has(mac); i++) mac = privateMac(d.vmId, n.networkId, i);
  return [
    {
      type: 'PrivateNetworkAttached',
      data: {
        clusterId: d.clusterId,
        networkId: n.networkId,
        vmId: d.vmId,
        ownerId: n.ownerId,
        vni: n.vni,
        ip: bigIntToIp(value, n.family),
        family: n.family,
        mac,
      },
    },
  ];
}

function detach(cmd: DetachPrivateNetworkCommand, state: PrivateState): PrivateNetworkEvent[] {
  const d = cmd.data;
  if (typeof d.releaseAt !== 'string' || Number.isNaN(Date.parse(d.releaseAt))) {
    throw invalid('invalid-release-at', `releaseAt must be an ISO 8601 timestamp, got ${describe(d.releaseAt)}`, { releaseAt: ['must be ISO 8601'] });
  }
  const n = network(state, d.networkId);
  const h = n.attached.get(d.vmId);
  if (!h) throw notFound('attachment', `of vm ${d.vmId} to private network ${n.name}`);
  return [
    {
      type: 'PrivateNetworkDetached',
      data: { clusterId: d.clusterId, networkId: n.networkId, vmId: d.vmId, ip: h.ip, releaseAt: new Date(d.releaseAt).toISOString(), reason: 'detached' },
    },
  ];
}

/** On VmDeleted: every attachment of the VM ends, its addresses cool down like its public one. */
export function detachAllOfVm(state: PrivateState, clusterId: string, vmId: string, releaseAt: string): PrivateNetworkEvent[] {
  const out: PrivateNetworkEvent[] = [];
  for (const n of state.networks.values()) {
    const h = n.attached.get(vmId);
    if (h) out.push({ type: 'PrivateNetworkDetached', data: { clusterId, networkId: n.networkId, vmId, ip: h.ip, releaseAt, reason: 'vm-deleted' } });
  }
  return out;
}

function release(cmd: ReleasePrivateIpCommand, state: PrivateState): PrivateNetworkEvent[] {
  const n = state.networks.get(cmd.data.networkId);
  if (!n || !isValidIp(cmd.data.ip)) return [];
  const h = n.byIp.get(parseIp(cmd.data.ip).value);
  if (!h || h.releaseAt === undefined) return [];
  return [{ type: 'PrivateIpReleased', data: { clusterId: cmd.data.clusterId, networkId: n.networkId, vmId: h.vmId, ip: h.ip } }];
}

export function decidePrivate(
  cmd: PrivateNetworkCommand,
  state: PrivateState,
  facts: { publicNetworks: { cidr: string; block: Cidr }[]; vm: (vmId: string) => VmFacts },
): PrivateNetworkEvent[] {
  switch (cmd.type) {
    case 'CreatePrivateNetwork':
      return create(cmd, state, facts.publicNetworks);
    case 'DeletePrivateNetwork':
      return remove(cmd, state);
    case 'AttachPrivateNetwork':
      return attach(cmd, state, facts.vm(cmd.data.vmId));
    case 'DetachPrivateNetwork':
      return detach(cmd, state);
    case 'ReleasePrivateIp':
      return release(cmd, state);
  }
}

/** Mutates in place, like the rest of the IPAM evolve. */
export function evolvePrivate(state: PrivateState, event: PrivateNetworkEvent): PrivateState {
  switch (event.type) {
    case 'PrivateNetworkCreated': {
      const d = event.data;
      const block = parseCidr(d.cidr);
      state.networks.set(d.networkId, {
        networkId: d.networkId,
        ownerId: d.ownerId,
        name: d.name,
        cidr: block.canonical,
        family: block.family,
        vni: d.vni,
        block,
        allocator: allocatorFor(block),
        attached: new Map(),
        byIp: new Map(),
      });
      state.vnis.set(d.vni, d.networkId);
      if (d.vni >= state.nextVni) state.nextVni = d.vni + 1;
      return state;
    }
    case 'PrivateNetworkDeleted': {
      // Cooling addresses go with the network: nothing can be allocated from it any more.
      state.networks.delete(event.data.networkId);
      if (state.vnis.get(event.data.vni) === event.data.networkId) state.vnis.delete(event.data.vni);
      return state;
    }
    case 'PrivateNetworkAttached': {
      const d = event.data;
      const n = state.networks.get(d.networkId);
      if (!n) return state;
      const { value } = parseIp(d.ip);
      const h: PrivateHolding = { vmId: d.vmId, ip: bigIntToIp(value, n.family), value, mac: d.mac };
      n.attached.set(d.vmId, h);
      n.byIp.set(value, h);
      n.allocator.markTaken(value, (v) => n.byIp.has(v));
      return state;
    }
    case 'PrivateNetworkDetached': {
      const d = event.data;
      const n = state.networks.get(d.networkId);
      const h = n?.attached.get(d.vmId);
      if (!n || !h) return state;
      n.attached.delete(d.vmId);
      h.releaseAt = d.releaseAt;
      return state;
    }
    case 'PrivateIpReleased': {
      const n = state.networks.get(event.data.networkId);
      if (!n) return state;
      const { value } = parseIp(event.data.ip);
      const h = n.byIp.get(value);
      if (!h || h.releaseAt === undefined) return state;
      n.byIp.delete(value);
      n.allocator.markFree(value);
      return state;
    }
    default:
      return state;
  }
}

/** Detached addresses whose cool-down ended at `now`, oldest first: the release timer sends ReleasePrivateIp for each. */
export function duePrivateReleases(state: PrivateState, now: Date | string): { networkId: string; vmId: string; ip: string; releaseAt: string }[] {
  const t = new Date(now).getTime();
  const due: { networkId: string; vmId: string; ip: string; releaseAt: string }[] = [];
  for (const n of state.networks.values()) {
    for (const h of n.byIp.values()) {
      if (h.releaseAt !== undefined && Date.parse(h.releaseAt) <= t) due.push({ networkId: n.networkId, vmId: h.vmId, ip: h.ip, releaseAt: h.releaseAt });
    }
  }
  return due.sort((a, b) => Date.parse(a.releaseAt) - Date.parse(b.releaseAt));
}

export const PRIVATE_COMMAND_TYPES = new Set<string>([
  'CreatePrivateNetwork',
  'DeletePrivateNetwork',
  'AttachPrivateNetwork',
  'DetachPrivateNetwork',
  'ReleasePrivateIp',
]);
export const PRIVATE_EVENT_TYPES = new Set<string>([
  'PrivateNetworkCreated',
  'PrivateNetworkDeleted',
  'PrivateNetworkAttached',
  'PrivateNetworkDetached',
  'PrivateIpReleased',
]);
