/**
 * IPAM's use cases around the pure decider: network/pool commands (request/reply), allocation on
 * VmCreated, release scheduling on VmDeleted and the release timer. Safe to run in several processes:
 * one aggregate per cluster, optimistic concurrency, deterministic command ids per VM.
 */
import { randomUUID } from 'node:crypto';
import { uuidFromSeed, type IPAM_COMMANDS } from '@fabric/contracts';
import {
  type AddNetwork,
  type AddPool,
  type AllocateFloatingAddress,
  type AttachFloatingAddress,
  type CompleteFloatingMove,
  type DetachFloatingAddress,
  type ReleaseFloatingAddress,
  type AttachPrivateNetwork,
  type CommandRequest,
  type CreatePrivateNetwork,
  type DeletePrivateNetwork,
  type DetachPrivateNetwork,
  type PreviewAllocation,
  type EventOf,
  type StoredEvent,
  type StoredEventOf,
  invalid,
  notFound,
} from '@fabric/contracts';
import { AggregateRepository, type CommandHandlers, type EventStore } from '@fabric/eventstore';
import { type NetworkPolicy, isValidIp, parseIp } from '@fabric/ipam-math';
import { duePrivateReleases } from '../domain/private-networks';
import { dueFloatingReleases, floatingsOfVm } from '../domain/floating-addresses';
import {
  dueReleases,
  dueExtraReleases,
  type GatewayContext,
  type InfrastructureAddress,
  ipamDecider,
  reviveIpamState,
  type IpamCommand,
  type IpamState,
  type SharedCoreNetwork,
} from '../domain/ipam.decider';

const sameAddress = (a: string, b: string) => {
  if (!isValidIp(a) || !isValidIp(b)) return false;
  const x = parseIp(a);
  const y = parseIp(b);
  return x.family === y.family && x.value === y.value;
};

export interface IpamSettings {
  /** How long a deleted VM's address stays held before it can be reused. */
  releaseCooldownMs: number;
  /** Which blocks may be VM networks (minimum prefix length per family); default DEFAULT_NETWORK_POLICY. */
  networkPolicy?: NetworkPolicy;
}

export class IpamService {
  readonly repo: AggregateRepository<IpamCommand, IpamState>;
  private readonly knownClusters = new Set<string>();
  /** Stream position up to which every IPAM event's cluster is in knownClusters. */
  private discoveredTo = 0;
  /** IPAM events folded by the last discovery (at start: after the snapshot, or all). */
  lastDiscovered = 0;

  /** Version of the snapshot shape (aggregate states, known clusters): bump on any change to IpamState or its fold. */
  static readonly SNAPSHOT_SCHEMA = 1;

  constructor(
    private readonly store: EventStore,
    private readonly settings: IpamSettings,
  ) {
    // Heavy contention is expected with several IPAM processes on one cluster: retry generously.
    this.repo = new AggregateRepository(store, ipamDecider, (id) => store.subjects.evt('ipam', id), { cache: true });
  }

  /**
   * What a pool may not contain: the gateway, the core router, every route reflector and node underlay
   * address of the cluster. Read from the cluster's and the nodes' events: pools are added rarely, by an
   * operator, so the read is not on any hot path.
   */
  private async poolContext(clusterId: string): Promise<GatewayContext & { coreIp: string }> {
    const events = await this.store.read(this.store.subjects.evt('cluster', clusterId));
    const created = events.find((e): e is StoredEventOf<'ClusterCreated'> => e.type === 'ClusterCreated');
    if (!created) throw notFound('cluster', clusterId);
    const infrastructure: InfrastructureAddress[] = [{ ip: created.data.coreRouter.ip, what: `core router ${created.data.coreRouter.name}` }];
    const rrs = new Map<string, string>();
    for (const e of events) {
      if (e.type === 'RouteReflectorAdded') rrs.set(e.data.name, e.data.ip);
      if (e.type === 'RouteReflectorRemoved') rrs.delete(e.data.name);
    }
    for (const [name, ip] of rrs) infrastructure.push({ ip, what: `route reflector ${name}` });
    const left = new Set<string>();
    const nodes: EventOf<'NodeJoined'>['data'][] = [];
    await this.store.forEach(this.store.subjects.evtAll('node'), 0, (e) => {
      if (e.type === 'NodeJoined' && e.data.clusterId === clusterId) nodes.push(e.data);
      if (e.type === 'NodeLeft') left.add(e.data.nodeId);
    });
    for (const n of nodes.filter((x) => !left.has(x.nodeId))) {
      infrastructure.push({ ip: n.underlayIp, what: `node ${n.name} (underlay)` });
      if (n.underlayIp6) infrastructure.push({ ip: n.underlayIp6, what: `node ${n.name} (underlay IPv6)` });
    }
    return { gatewayIp: created.data.gateway.ip, infrastructure, coreIp: created.data.coreRouter.ip };
  }

  /** Networks of the other clusters whose core router has the same address (one routing table). */
  private async sharedCoreNetworks(clusterId: string, coreIp: string): Promise<SharedCoreNetwork[]> {
    const others: string[] = [];
    await this.store.forEach(this.store.subjects.evtAll('cluster'), 0, (e) => {
      if (e.type !== 'ClusterCreated') return;
      const d = e.data;
      if (d.clusterId !== clusterId && sameAddress(d.coreRouter.ip, coreIp)) others.push(d.clusterId);
    });
    const out: SharedCoreNetwork[] = [];
    for (const other of others) {
      const { state } = await this.repo.load(other);
      for (const n of state.networks.values()) out.push({ clusterId: other, cidr: n.cidr });
    }
    return out;
  }

  /**
   * Dry run (AddNetwork, AddPool, PreviewAllocation): the events the command would append, decided on the cluster's
   * current state without copying it (these decisions only read it; the allocator only skips taken addresses it
   * would skip anyway); nothing is appended, no address allocated.
   */
  private async preview(clusterId: string, command: IpamCommand, result: Record<string, unknown>) {
    const res = await this.repo.preview(clusterId, command, { copy: false });
    return { result: { ...result, dryRun: true, events: res.events }, position: res.position };
  }

  /** IPAM's RPC commands; each answers a dry run (`req.dryRun`) by deciding without appending. */
  handlers(): CommandHandlers<typeof IPAM_COMMANDS> {
    return {
      AddNetwork: async (p: AddNetwork, req: CommandRequest) => {
        const networkId = p.networkId ?? randomUUID();
        const { coreIp, ...ctx } = await this.poolContext(p.clusterId);
        const sharedCoreNetworks = await this.sharedCoreNetworks(p.clusterId, coreIp);
        const pools = (p.pools ?? []).map((x, i) => ({ poolId: poolIdFor(req.commandId, i), start: x.start, end: x.end }));
        const command: IpamCommand = {
          type: 'AddNetwork',
          data: { clusterId: p.clusterId, networkId, cidr: p.cidr, pools },
          context: { ...ctx, sharedCoreNetworks, policy: this.settings.networkPolicy },
        };
        const result = { networkId, poolIds: pools.map((x) => x.poolId) };
        if (req.dryRun) return this.preview(p.clusterId, command, result);
        const res = await this.repo.handle(p.clusterId, command, {
          commandId: req.commandId,
          meta: { commandId: req.commandId, actor: req.actor, ...(req.command ? { command: req.command } : {}) },
        });
        this.knownClusters.add(p.clusterId);
        return { result, position: res.position };
      },
      AddPool: async (p: AddPool, req: CommandRequest) => {
        const { coreIp: _core, ...ctx } = await this.poolContext(p.clusterId);
        const poolId = poolIdFor(req.commandId, 0);
        const command: IpamCommand = {
          type: 'AddPool',
          data: { clusterId: p.clusterId, networkId: p.networkId, poolId, start: p.start, end: p.end },
          context: ctx,
        };
        if (req.dryRun) return this.preview(p.clusterId, command, { poolId });
        const res = await this.repo.handle(p.clusterId, command, {
          commandId: req.commandId,
          meta: { commandId: req.commandId, actor: req.actor, ...(req.command ? { command: req.command } : {}) },
        });
        return { result: { poolId }, position: res.position };
      },
      PreviewAllocation: async (p: PreviewAllocation, req: CommandRequest) => {
        if (!req.dryRun) throw invalid('dry-run-only', 'PreviewAllocation is a dry run', { dryRun: ['must be true'] });
        const data = { clusterId: p.clusterId, vmId: p.vmId, ownerId: p.ownerId, family: p.family, ...(p.ip ? { requestedIp: p.ip } : {}) };
        return this.preview(p.clusterId, { type: 'Allocate', data }, {});
      },
      CreatePrivateNetwork: async (p: CreatePrivateNetwork, req: CommandRequest) => {
        const networkId = p.networkId ?? randomUUID();
        const { gatewayIp } = await this.poolContext(p.clusterId);
        const command: IpamCommand = {
          type: 'CreatePrivateNetwork',
          data: { clusterId: p.clusterId, networkId, ownerId: p.ownerId, name: p.name, cidr: p.cidr },
          context: { gatewayIp },
        };
        if (req.dryRun) return this.preview(p.clusterId, command, { networkId });
        const res = await this.repo.handle(p.clusterId, command, { commandId: req.commandId, meta: meta(req) });
        this.knownClusters.add(p.clusterId);
        return { result: { networkId }, position: res.position };
      },
      DeletePrivateNetwork: async (p: DeletePrivateNetwork, req: CommandRequest) => {
        const command: IpamCommand = { type: 'DeletePrivateNetwork', data: { clusterId: p.clusterId, networkId: p.networkId } };
        if (req.dryRun) return this.preview(p.clusterId, command, { networkId: p.networkId });
        const res = await this.repo.handle(p.clusterId, command, { commandId: req.commandId, meta: meta(req) });
        return { result: { networkId: p.networkId }, position: res.position };
      },
      AttachPrivateNetwork: async (p: AttachPrivateNetwork, req: CommandRequest) => {
        const command: IpamCommand = { type: 'AttachPrivateNetwork', data: { clusterId: p.clusterId, networkId: p.networkId, vmId: p.vmId } };
        if (req.dryRun) return this.preview(p.clusterId, command, { networkId: p.networkId, vmId: p.vmId });
        const res = await this.repo.handle(p.clusterId, command, { commandId: req.commandId, meta: meta(req) });
        return { result: { networkId: p.networkId, vmId: p.vmId }, position: res.position };
      },
      // Floating addresses: the id derives from the command id, so a retried create allocates nothing twice.
      AllocateFloatingAddress: async (p: AllocateFloatingAddress, req: CommandRequest) => {
        const floatingId = uuidFromSeed(`floating:${req.commandId}`);
        const command: IpamCommand = {
          type: 'AllocateFloating',
          data: { clusterId: p.clusterId, floatingId, ownerId: p.owner, ...(p.family ? { family: p.family } : {}), ...(p.ip ? { requestedIp: p.ip } : {}) },
        };
        if (req.dryRun) return this.preview(p.clusterId, command, { floatingId });
        const res = await this.repo.handle(p.clusterId, command, { commandId: req.commandId, meta: meta(req) });
        this.knownClusters.add(p.clusterId);
        return { result: { floatingId }, position: res.position };
      },
      AttachFloatingAddress: (p: AttachFloatingAddress, req: CommandRequest) =>
        this.floatingCommand(p.clusterId, req, {
          type: 'AttachFloating',
          data: { clusterId: p.clusterId, floatingId: p.floatingId, vmId: p.vmId, ...(p.allowOtherOwner ? { allowOtherOwner: true } : {}) },
        }),
      DetachFloatingAddress: (p: DetachFloatingAddress, req: CommandRequest) =>
        this.floatingCommand(p.clusterId, req, { type: 'DetachFloating', data: { clusterId: p.clusterId, floatingId: p.floatingId } }),
      ReleaseFloatingAddress: async (p: ReleaseFloatingAddress, req: CommandRequest) => {
        const releaseAt = new Date(Date.now() + this.settings.releaseCooldownMs).toISOString();
        const r = await this.floatingCommand(p.clusterId, req, {
          type: 'ScheduleFloatingRelease',
          data: { clusterId: p.clusterId, floatingId: p.floatingId, releaseAt },
        });
        this.knownClusters.add(p.clusterId);
        if (!req.dryRun && this.settings.releaseCooldownMs <= 0) await this.releaseDue(p.clusterId);
        return r;
      },
      CompleteFloatingMove: (p: CompleteFloatingMove, req: CommandRequest) =>
        this.floatingCommand(p.clusterId, req, { type: 'CompleteFloatingMove', data: { clusterId: p.clusterId, floatingId: p.floatingId, vmId: p.vmId } }),
      DetachPrivateNetwork: async (p: DetachPrivateNetwork, req: CommandRequest) => {
        const releaseAt = new Date(Date.now() + this.settings.releaseCooldownMs).toISOString();
        const command: IpamCommand = { type: 'DetachPrivateNetwork', data: { clusterId: p.clusterId, networkId: p.networkId, vmId: p.vmId, releaseAt } };
        if (req.dryRun) return this.preview(p.clusterId, command, { networkId: p.networkId, vmId: p.vmId });
        const res = await this.repo.handle(p.clusterId, command, { commandId: req.commandId, meta: meta(req) });
        this.knownClusters.add(p.clusterId);
        if (this.settings.releaseCooldownMs <= 0) await this.releaseDue(p.clusterId);
        return { result: { networkId: p.networkId, vmId: p.vmId }, position: res.position };
      },
    };
  }

  async onVmCreated(e: StoredEvent<EventOf<'VmCreated'>>): Promise<void> {
    const d = e.data;
    this.knownClusters.add(d.clusterId);
    await this.repo.handle(
      d.clusterId,
      {
        type: 'Allocate',
        data: { clusterId: d.clusterId, vmId: d.vmId, ownerId: d.ownerId, family: d.family, ...(d.requestedIp ? { requestedIp: d.requestedIp } : {}) },
      },
      { commandId: `ipam-alloc:${d.vmId}`, meta: { causationSeq: e.seq, actor: 'ipam' }, maxRetries: 50 },
    );
  }

  async onVmDeleted(e: StoredEvent<EventOf<'VmDeleted'>>): Promise<void> {
    const d = e.data;
    this.knownClusters.add(d.clusterId);
    const releaseAt = new Date(Date.parse(e.occurredAt) + this.settings.releaseCooldownMs).toISOString();
    await this.repo.handle(
      d.clusterId,
      { type: 'ScheduleRelease', data: { clusterId: d.clusterId, vmId: d.vmId, releaseAt } },
      {
        commandId: `ipam-release-schedule:${d.vmId}`,
        meta: { causationSeq: e.seq, actor: 'ipam' },
        maxRetries: 50,
      },
    );
    // Its floating addresses: detached (or a move away from it completed), one command each.
    const { state } = await this.repo.load(d.clusterId);
    for (const floatingId of floatingsOfVm(state, d.vmId)) {
      await this.repo.handle(
        d.clusterId,
        { type: 'FloatingVmGone', data: { clusterId: d.clusterId, floatingId, vmId: d.vmId } },
        { commandId: `ipam-floating-vm-gone:${floatingId}:${d.vmId}`, meta: { causationSeq: e.seq, actor: 'ipam' }, maxRetries: 50 },
      );
    }
    if (this.settings.releaseCooldownMs <= 0) await this.releaseDue(d.clusterId);
  }

  /** An extra address for a VM (idempotent per request id: a redelivery allocates nothing twice). */
  async onVmAddressRequested(e: StoredEvent<EventOf<'VmAddressRequested'>>): Promise<void> {
    const d = e.data;
    this.knownClusters.add(d.clusterId);
    await this.repo.handle(
      d.clusterId,
      {
        type: 'AllocateExtra',
        data: {
          clusterId: d.clusterId,
          vmId: d.vmId,
          ownerId: d.ownerId,
          requestId: d.requestId,
          family: d.family,
          ...(d.requestedIp ? { requestedIp: d.requestedIp } : {}),
          ...(d.dualStack ? { dualStack: true } : {}),
        },
      },
      { commandId: `ipam-alloc-extra:${d.requestId}`, meta: { causationSeq: e.seq, actor: 'ipam' }, maxRetries: 50 },
    );
  }

  /** A removed extra address: held for the cool-down, like the address of a deleted VM. */
  async onVmAddressRemoved(e: StoredEvent<EventOf<'VmAddressRemoved'>>): Promise<void> {
    const d = e.data;
    this.knownClusters.add(d.clusterId);
    const releaseAt = new Date(Date.parse(e.occurredAt) + this.settings.releaseCooldownMs).toISOString();
    await this.repo.handle(
      d.clusterId,
      { type: 'ScheduleExtraRelease', data: { clusterId: d.clusterId, vmId: d.vmId, ip: d.ip, releaseAt } },
      // The event's sequence makes the id unique per removal: the same address may be added and removed again.
      { commandId: `ipam-release-schedule-extra:${d.vmId}:${d.ip}:${e.seq}`, meta: { causationSeq: e.seq, actor: 'ipam' }, maxRetries: 50 },
    );
    if (this.settings.releaseCooldownMs <= 0) await this.releaseDue(d.clusterId);
  }

  /**
   * Learns every cluster that has IPAM state (pending releases survive restarts), from the IPAM events after
   * the last discovery (after the snapshot's at start; from sequence 1 without one).
   */
  async discoverClusters(): Promise<void> {
    let n = 0;
    this.discoveredTo = await this.store.forEach(this.store.subjects.evtAll('ipam'), this.discoveredTo, (e) => {
      n++;
      // Every IPAM event names its cluster.
      if ('clusterId' in e.data && e.data.clusterId) this.knownClusters.add(e.data.clusterId);
    });
    this.lastDiscovered = n;
  }

  /** Position a snapshot covers: the clusters discovered up to it (the aggregates carry their own versions). */
  get snapshotSeq(): number {
    return this.discoveredTo;
  }

  /** IPAM's state for a snapshot: the cached aggregate states (each at its version) and the known clusters. */
  snapshot(): Record<string, unknown> {
    return { knownClusters: this.knownClusters, aggregates: new Map(this.repo.cachedStates()), discoveredTo: this.discoveredTo };
  }

  /** Restores a snapshot into a fresh service; throws, changing nothing, on data it does not recognise. */
  restore(data: unknown): void {
    const d = data as { knownClusters?: unknown; aggregates?: unknown; discoveredTo?: unknown } | undefined;
    const tag = (x: unknown) => Object.prototype.toString.call(x);
    if (!d || tag(d.knownClusters) !== '[object Set]' || tag(d.aggregates) !== '[object Map]' || typeof d.discoveredTo !== 'number')
      throw new Error('not an IPAM snapshot');
    const aggregates = d.aggregates as Map<string, { state: IpamState; version: number; recent?: string[] }>;
    for (const [, l] of aggregates) {
      if (!l || typeof l.version !== 'number') throw new Error('malformed aggregate state');
      l.state = reviveIpamState(l.state);
    }
    for (const c of d.knownClusters as Set<string>) this.knownClusters.add(c);
    this.repo.seed(aggregates);
    this.discoveredTo = d.discoveredTo;
  }

  async releaseDue(clusterId: string, now = new Date()): Promise<number> {
    const { state } = await this.repo.load(clusterId);
    let n = 0;
    for (const r of dueReleases(state, now)) {
      await this.repo.handle(
        clusterId,
        { type: 'Release', data: { clusterId, vmId: r.vmId } },
        { commandId: `ipam-release:${r.vmId}`, meta: { actor: 'ipam' }, maxRetries: 50 },
      );
      n++;
    }
    for (const r of dueExtraReleases(state, now)) {
      await this.repo.handle(
        clusterId,
        { type: 'ReleaseExtra', data: { clusterId, vmId: r.vmId, ip: r.ip } },
        { commandId: `ipam-release-extra:${r.vmId}:${r.ip}:${r.releaseAt}`, meta: { actor: 'ipam' }, maxRetries: 50 },
      );
      n++;
    }
    for (const r of dueFloatingReleases(state, now)) {
      await this.repo.handle(
        clusterId,
        { type: 'ReleaseFloating', data: { clusterId, floatingId: r.floatingId } },
        { commandId: `ipam-release-floating:${r.floatingId}`, meta: { actor: 'ipam' }, maxRetries: 50 },
      );
      n++;
    }
    for (const r of duePrivateReleases(state.private, now)) {
      await this.repo.handle(
        clusterId,
        { type: 'ReleasePrivateIp', data: { clusterId, networkId: r.networkId, ip: r.ip } },
        // releaseAt makes the id unique per detach: the same address may cool down again later.
        { commandId: `ipam-private-release:${r.networkId}:${r.ip}:${r.releaseAt}`, meta: { actor: 'ipam' }, maxRetries: 50 },
      );
      n++;
    }
    return n;
  }

  private async floatingCommand(clusterId: string, req: CommandRequest, command: IpamCommand & { data: { floatingId: string } }) {
    const result = { floatingId: command.data.floatingId };
    if (req.dryRun) return this.preview(clusterId, command, result);
    const res = await this.repo.handle(clusterId, command, { commandId: req.commandId, meta: meta(req) });
    return { result, position: res.position };
  }

  async releaseTick(): Promise<void> {
    for (const c of this.knownClusters) await this.releaseDue(c);
  }
}

const meta = (req: CommandRequest) => ({ commandId: req.commandId, actor: req.actor, ...(req.command ? { command: req.command } : {}) });

/** Pool ids derive from the command id so a retried AddNetwork produces the same events. */
function poolIdFor(commandId: string, i: number): string {
  return uuidFromSeed(`${commandId}/pool/${i}`);
}
