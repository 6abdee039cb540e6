/**
 * Inventory's command handlers: look up the cross-aggregate facts, run the decider, append.
 * Name claims (cluster, node, VM names) are serialised per cluster in this process; inventory runs as
 * the single writer of these aggregates (IPAM is the horizontally scaled one).
 */
import { randomBytes } from 'node:crypto';
import { UUID_PATTERN, uuidFromSeed, type INVENTORY_COMMANDS } from '@fabric/contracts';
import {
  type AddRouteReflector,
  type AddVmAddress,
  type RemoveVmAddress,
  type BlackholeVm,
  type ChangeBgpPassword,
  type ChangeBgpSettings,
  type CommandRequest,
  type CompleteMigration,
  type CreateCluster,
  type CreateVm,
  type DeleteVm,
  type DrainNode,
  type EvacuateNode,
  type JoinNode,
  type LiftBlackhole,
  type UndrainNode,
  type MigrateVm,
  type RemoveNode,
  type RemoveRouteReflector,
  type RollbackRouterConfig,
  type StoredEvent,
  invalid,
  notFound,
  type FabricEvent,
} from '@fabric/contracts';
import { AggregateRepository, type CommandHandlers, type EventStore, type HandleResult, SecretStore } from '@fabric/eventstore';
import { KeyedMutex, ReplyCache } from '@fabric/service-kit';
import { clusterDecider, type ClusterCommand, type ClusterEvent, type ClusterState } from '../domain/cluster.decider';
import { nodeDecider, type NodeCommand, type NodeEvent, type NodeState } from '../domain/node.decider';
import { vmAddressPlan, vmDecider, type VmCommand, type VmEvent, type VmState } from '../domain/vm.decider';
import { InventoryIndex } from './inventory-index';
import { evacuationPlan, type EvacuationPlanMove } from '../domain/evacuation';

type Reply = { result: Record<string, unknown>; position: number };

/** The secret reference a dry run's events carry for a secret it would store (no stored secret has sequence 0). */
const DRY_RUN_SECRET = '{{secret:0}}';

/**
 * Commands that answer a dry run (`CommandRequest.dryRun`): decided on the current state, nothing appended. Those
 * that store a secret store none in a dry run: a placeholder reference (DRY_RUN_SECRET) stands for the new one.
 * ChangeBgpSettings has its own.
 */
export const DRY_RUN_COMMANDS: ReadonlySet<string> = new Set([
  'CreateCluster',
  'ChangeBgpPassword',
  'AddRouteReflector',
  'RemoveRouteReflector',
  'JoinNode',
  'DrainNode',
  'EvacuateNode',
  'UndrainNode',
  'RemoveNode',
  'CreateVm',
  'DeleteVm',
  'BlackholeVm',
  'LiftBlackhole',
  'MigrateVm',
  'AddVmAddress',
  'RemoveVmAddress',
]);

export class InventoryCommands {
  readonly index = new InventoryIndex();
  private readonly clusters: AggregateRepository<ClusterCommand, ClusterState, ClusterEvent>;
  private readonly nodes: AggregateRepository<NodeCommand, NodeState, NodeEvent>;
  private readonly vms: AggregateRepository<VmCommand, VmState, VmEvent>;
  private readonly mutex = new KeyedMutex();
  private readonly replies = new ReplyCache<Reply>();
  private readonly inflight = new Map<string, Promise<Reply>>();
  private readonly secrets: SecretStore;

  constructor(private readonly store: EventStore) {
    const s = store.subjects;
    this.secrets = new SecretStore(store.nats);
    this.clusters = new AggregateRepository(store, clusterDecider, (id) => s.evt('cluster', id), { cache: true });
    this.nodes = new AggregateRepository(store, nodeDecider, (id) => s.evt('node', id), { cache: true });
    this.vms = new AggregateRepository(store, vmDecider, (id) => s.evt('vm', id), { cache: true });
  }

  /** Decisions of dry runs: never recorded, their events are the reply. */
  private readonly previews = new WeakMap<CommandRequest, HandleResult>();

  /** Decide and append, or for a dry run decide only (the repository's cache and the stream stay as they were). */
  private async decide<C, S, E extends FabricEvent>(
    repo: AggregateRepository<C, S, E>,
    id: string,
    command: C | ((state: S) => C),
    req: CommandRequest,
  ): Promise<HandleResult> {
    if (!req.dryRun) return repo.handle(id, command, { commandId: req.commandId, meta: this.meta(req) });
    const res = await repo.preview(id, command);
    this.previews.set(req, res);
    return res;
  }

  /** Applies our own writes to the index right away (the tail will bring them again, harmlessly). */
  private record(res: HandleResult): void {
    if (res.seqs.length === 0) return; // nothing appended (a no-op, a duplicate or a dry run)
    res.events.forEach((e, i) => this.index.apply({ ...e, seq: res.seqs[i] ?? 0 }));
  }

  private meta(req: CommandRequest) {
    return { commandId: req.commandId, actor: req.actor, ...(req.command ? { command: req.command } : {}) };
  }

  /** Same command id again → the first reply (the store dedupes the events themselves by Msg-Id). */
  private async once(req: CommandRequest, fn: () => Promise<Reply>): Promise<Reply> {
    // A dry run is not the command: it is neither answered from nor remembered as the command's reply.
    if (req.dryRun) return fn();
    const prev = this.replies.get(req.commandId);
    if (prev) return prev;
    // A retry arriving while the first attempt is still running shares its outcome.
    const running = this.inflight.get(req.commandId);
    if (running) return running;
    const attempt = fn().then((reply) => {
      this.replies.set(req.commandId, reply);
      return reply;
    });
    this.inflight.set(req.commandId, attempt);
    try {
      return await attempt;
    } finally {
      this.inflight.delete(req.commandId);
    }
  }

  /** Dry run of ChangeBgpSettings: the decision on the current state, nothing written, no secret stored. */
  /** The core router config version in force: router-config's last RouterConfigRendered on `evt.router.<id>`. */
  private async currentRouterVersion(clusterId: string): Promise<number> {
    const subject = this.store.subjects.evt('router', clusterId);
    const seq = await this.store.lastSeq(subject);
    if (seq === 0) return 0;
    const [e] = await this.store.read(subject, seq - 1);
    return e?.type === 'RouterConfigRendered' ? e.data.version : 0;
  }

  private async previewBgpSettings(p: ChangeBgpSettings): Promise<Reply> {
    const { settings } = splitBgpSettings(p);
    const loaded = await this.clusters.load(p.clusterId);
    const before = loaded.state;
    // A rotation always changes the password; a placeholder reference stands for the new secret.
    const rotate = p.md5Password !== undefined || p.rotateMd5 === true;
    const events = clusterDecider.decide(
      { type: 'ChangeBgpSettings', data: { clusterId: p.clusterId, settings, ...(rotate ? { md5Password: DRY_RUN_SECRET } : {}) } },
      structuredClone(before),
    );
    const after = events.reduce((s, e) => clusterDecider.evolve(s, e), structuredClone(before));
    const view = (s: ClusterState) => (s.status === 'active' ? { community: s.community, ...s.bgp, md5Password: undefined } : {});
    return {
      result: { clusterId: p.clusterId, dryRun: true, changed: changedOf(events), md5Rotated: rotate, before: view(before), after: view(after) },
      position: loaded.version,
    };
  }

  handlers(): CommandHandlers<typeof INVENTORY_COMMANDS> {
    const handlers = this.writeHandlers();
    // A dry run answers the events the command would append (and the command's usual result), nothing else.
    for (const name of Object.keys(handlers) as (keyof typeof handlers)[]) {
      const h = handlers[name] as (p: object, req: CommandRequest) => Promise<Reply>;
      (handlers as Record<string, (p: object, req: CommandRequest) => Promise<Reply>>)[name] = async (p, req) => {
        if (!req.dryRun) return h(p, req);
        if (!DRY_RUN_COMMANDS.has(name)) throw invalid('dry-run-unsupported', `${name} has no dry run`, { dryRun: [`not supported by ${name}`] });
        const reply = await h(p, req);
        const events = this.previews.get(req)?.events ?? [];
        return { result: { ...reply.result, dryRun: true, events }, position: reply.position };
      };
    }
    return handlers;
  }

  private writeHandlers(): CommandHandlers<typeof INVENTORY_COMMANDS> {
    return {
      CreateCluster: (p: CreateCluster, req) =>
        this.once(req, () =>
          this.mutex.run('clusters', async () => {
            const clusterId = p.clusterId ?? idFromCommand(req.commandId);
            // MD5 by default: a password is generated unless given or opted out of (with a reason). It goes
            // to the secrets stream; the event only carries its reference.
            const password = p.bgp?.md5Password ?? (p.bgp?.md5OptOut === undefined ? generateMd5Password() : undefined);
            const ref =
              password === undefined
                ? undefined
                : req.dryRun
                  ? DRY_RUN_SECRET
                  : await this.secrets.put(clusterId, 'bgp-md5', password, `secret:${req.commandId}`);
            const bgp = ref !== undefined ? { ...p.bgp, md5Password: ref } : p.bgp;
            const res = await this.decide(
              this.clusters,
              clusterId,
              {
                type: 'CreateCluster',
                data: { ...p, ...(bgp ? { bgp } : {}), clusterId },
                context: { nameTaken: this.index.clusterNameTaken(p.name, clusterId) },
              },
              req,
            );
            this.record(res);
            return { result: { clusterId }, position: res.position };
          }),
        ),
      AddRouteReflector: (p: AddRouteReflector, req) =>
        this.once(req, () =>
          this.mutex.run(p.clusterId, async () => {
            const ipTakenByNode = this.index.underlayTaken(p.clusterId, p.ip);
            const ipInPool = this.index.poolContaining(p.clusterId, p.ip);
            const res = await this.decide(this.clusters, p.clusterId, { type: 'AddRouteReflector', data: p, context: { ipTakenByNode, ipInPool } }, req);
            this.record(res);
            return { result: { clusterId: p.clusterId, name: p.name }, position: res.position };
          }),
        ),
      ChangeBgpPassword: (p: ChangeBgpPassword, req) =>
        this.once(req, () =>
          this.mutex.run(p.clusterId, async () => {
            // No secret is stored for a cluster that does not exist.
            if ((await this.store.lastSeq(this.store.subjects.evt('cluster', p.clusterId))) === 0) throw notFound('cluster', p.clusterId);
            const ref = req.dryRun ? DRY_RUN_SECRET : await this.secrets.put(p.clusterId, 'bgp-md5', p.md5Password, `secret:${req.commandId}`);
            const res = await this.decide(this.clusters, p.clusterId, { type: 'ChangeBgpPassword', data: { clusterId: p.clusterId, md5Password: ref } }, req);
            this.record(res);
            return { result: { clusterId: p.clusterId }, position: res.position };
          }),
        ),
      ChangeBgpSettings: (p: ChangeBgpSettings, req) =>
        p.dryRun
          ? this.previewBgpSettings(p)
          : this.once(req, () =>
              this.mutex.run(p.clusterId, async () => {
                if (p.md5Password !== undefined && p.rotateMd5) {
                  throw invalid('md5-conflict', 'give either md5Password or rotateMd5, not both', { rotateMd5: ['not allowed with md5Password'] });
                }
                const { settings } = splitBgpSettings(p);
                // Validate before a secret is stored: a refused change leaves nothing behind.
                const loaded = await this.clusters.load(p.clusterId);
                clusterDecider.decide({ type: 'ChangeBgpSettings', data: { clusterId: p.clusterId, settings } }, structuredClone(loaded.state));
                const password = p.md5Password ?? (p.rotateMd5 ? generateMd5Password() : undefined);
                const ref = password !== undefined ? await this.secrets.put(p.clusterId, 'bgp-md5', password, `secret:${req.commandId}`) : undefined;
                const res = await this.clusters.handle(
                  p.clusterId,
                  { type: 'ChangeBgpSettings', data: { clusterId: p.clusterId, settings, ...(ref !== undefined ? { md5Password: ref } : {}) } },
                  { commandId: req.commandId, meta: this.meta(req) },
                );
                this.record(res);
                return { result: { clusterId: p.clusterId, changed: changedOf(res.events) }, position: res.position };
              }),
            ),
      RollbackRouterConfig: (p: RollbackRouterConfig, req) =>
        this.once(req, () =>
          this.mutex.run(p.clusterId, async () => {
            const res = await this.clusters.handle(
              p.clusterId,
              { type: 'RollbackRouterConfig', data: p, context: { currentVersion: await this.currentRouterVersion(p.clusterId) } },
              { commandId: req.commandId, meta: this.meta(req) },
            );
            this.record(res);
            return { result: { clusterId: p.clusterId, toVersion: p.toVersion }, position: res.position };
          }),
        ),
      RemoveRouteReflector: (p: RemoveRouteReflector, req) =>
        this.once(req, () =>
          this.mutex.run(p.clusterId, async () => {
            const res = await this.decide(this.clusters, p.clusterId, { type: 'RemoveRouteReflector', data: p }, req);
            this.record(res);
            return { result: { clusterId: p.clusterId, name: p.name }, position: res.position };
          }),
        ),
      JoinNode: (p: JoinNode, req) =>
        this.once(req, () =>
          this.mutex.run(p.clusterId, async () => {
            const nodeId = p.nodeId ?? idFromCommand(req.commandId);
            const cluster = this.index.clusters.get(p.clusterId);
            const res = await this.decide(
              this.nodes,
              nodeId,
              {
                type: 'JoinNode',
                data: { ...p, nodeId },
                context: {
                  clusterExists: !!cluster,
                  nameTaken: this.index.nodeNameTaken(p.clusterId, p.name, nodeId),
                  underlayTaken:
                    this.index.underlayTaken(p.clusterId, p.underlayIp, nodeId) ||
                    (!!p.underlayIp6 && this.index.underlayTaken(p.clusterId, p.underlayIp6, nodeId)),
                  routeReflectorIps: cluster?.rrIps ?? [],
                  gatewayIp: cluster?.gatewayIp,
                  coreRouterIp: cluster?.coreRouterIp,
                  underlayInPool: this.index.poolContaining(p.clusterId, p.underlayIp) ?? this.index.poolContaining(p.clusterId, p.underlayIp6),
                },
              },
              req,
            );
            this.record(res);
            return { result: { nodeId }, position: res.position };
          }),
        ),
      DrainNode: (p: DrainNode, req) =>
        this.once(req, () =>
          p.evacuate ? this.evacuate(p.nodeId, req) : this.nodeCommand(p.nodeId, req, () => ({ type: 'DrainNode', data: { nodeId: p.nodeId } })),
        ),
      EvacuateNode: (p: EvacuateNode, req) => this.once(req, () => this.evacuate(p.nodeId, req)),
      UndrainNode: (p: UndrainNode, req) => this.once(req, () => this.nodeCommand(p.nodeId, req, () => ({ type: 'UndrainNode', data: p }))),
      RemoveNode: (p: RemoveNode, req) =>
        this.once(req, () =>
          this.nodeCommand(p.nodeId, req, () => ({ type: 'RemoveNode', data: p, context: { vmCount: this.index.vmCountOnNode(p.nodeId) } })),
        ),
      // No per-cluster lock here: the name is reserved synchronously, so VM creations pipeline.
      CreateVm: (p: CreateVm, req) =>
        this.once(req, async () => {
          const vmId = p.vmId ?? idFromCommand(req.commandId);
          if (!this.index.clusters.has(p.clusterId)) throw notFound('cluster', p.clusterId);
          const node = this.index.nodes.get(p.nodeId);
          const nameTaken = !this.index.reserveVmName(p.clusterId, p.name, vmId);
          try {
            const poolFamilies = this.index.poolFamilies(p.clusterId);
            // Derived from the VM id: a retried creation asks for the same second address.
            const secondRequestId = uuidFromSeed(`vm-second-address:${vmId}`);
            const res = await this.decide(
              this.vms,
              vmId,
              {
                type: 'CreateVm',
                data: { ...p, vmId, secondRequestId },
                context: { node: node ? { clusterId: node.clusterId, status: node.status } : null, nameTaken, poolFamilies },
              },
              req,
            );
            this.record(res);
            return { result: { vmId, addresses: createdAddresses(p.ip, vmAddressPlan(p, poolFamilies), secondRequestId) }, position: res.position };
          } finally {
            if (!nameTaken) this.index.releaseVmName(p.clusterId, p.name, vmId);
          }
        }),
      DeleteVm: (p: DeleteVm, req) => this.once(req, () => this.vmCommand(p.vmId, req, () => ({ type: 'DeleteVm', data: p }))),
      CompleteMigration: (p: CompleteMigration, req) =>
        this.once(req, () => this.vmCommand(p.vmId, req, () => ({ type: 'CompleteMigration', data: { vmId: p.vmId, nodeId: p.nodeId } }))),
      BlackholeVm: (p: BlackholeVm, req) => this.once(req, () => this.vmCommand(p.vmId, req, () => ({ type: 'BlackholeVm', data: p }))),
      LiftBlackhole: (p: LiftBlackhole, req) => this.once(req, () => this.vmCommand(p.vmId, req, () => ({ type: 'LiftBlackhole', data: p }))),
      AddVmAddress: (p: AddVmAddress, req) =>
        this.once(req, async () => {
          const requestId = idFromCommand(req.commandId);
          const reply = await this.vmCommand(p.vmId, req, () => ({
            type: 'AddVmAddress',
            data: { vmId: p.vmId, requestId, ...(p.family !== undefined ? { family: p.family } : {}), ...(p.ip !== undefined ? { ip: p.ip } : {}) },
            context: { addresses: this.index.addressesOf(p.vmId) },
          }));
          return { ...reply, result: { ...reply.result, requestId } };
        }),
      RemoveVmAddress: (p: RemoveVmAddress, req) =>
        this.once(req, () =>
          this.vmCommand(p.vmId, req, () => ({
            type: 'RemoveVmAddress',
            data: { vmId: p.vmId, ip: p.ip },
            context: { addresses: this.index.addressesOf(p.vmId) },
          })),
        ),
      MigrateVm: (p: MigrateVm, req) =>
        this.once(req, () =>
          this.vmCommand(p.vmId, req, () => {
            const target = this.index.nodes.get(p.nodeId);
            return { type: 'MigrateVm', data: p, context: { targetNode: target ? { clusterId: target.clusterId, status: target.status } : null } };
          }),
        ),
    };
  }

  private async evacuate(nodeId: string, req: CommandRequest): Promise<Reply> {
    const reply = await this.nodeCommand(nodeId, req, () => {
      const node = this.index.nodes.get(nodeId)!;
      const targets = this.index.activeNodes(node.clusterId).filter((n) => n.nodeId !== nodeId).length;
      return { type: 'EvacuateNode', data: { nodeId }, context: { vmCount: this.index.vmCountOnNode(nodeId), targets } };
    });
    // A dry run also answers where each VM would go (the evacuator's rule, as of now).
    return req.dryRun ? { ...reply, result: { ...reply.result, plan: this.evacuationPlanOf(nodeId) } } : reply;
  }

  /** The moves an evacuation of the node would make now: VMs on it and not migrating, by the placement rule. */
  private evacuationPlanOf(nodeId: string): EvacuationPlanMove[] {
    const node = this.index.nodes.get(nodeId);
    if (!node) return [];
    const vms = this.index.vmsOnNode(nodeId).filter((v) => v.nodeId === nodeId && !v.previousNodeId);
    const candidates = this.index.activeNodes(node.clusterId).filter((c) => c.nodeId !== nodeId);
    const names = new Map(candidates.map((c) => [c.nodeId, c.name]));
    const byId = new Map(vms.map((v) => [v.id, v]));
    return evacuationPlan([...byId.keys()], candidates).map((m) => ({
      vmId: m.vmId,
      vmName: byId.get(m.vmId)!.name,
      clusterId: node.clusterId,
      fromNodeId: nodeId,
      toNodeId: m.toNodeId,
      toNodeName: names.get(m.toNodeId)!,
    }));
  }

  /** What the evacuation process does, as the internal actor `evacuation`. */
  evacuationActions() {
    const req = (commandId: string, command: string): CommandRequest => ({ commandId, actor: 'evacuation', command, payload: undefined });
    return {
      migrate: (vmId: string, toNodeId: string, commandId: string) =>
        this.once(req(commandId, 'MigrateVm'), () =>
          this.vmCommand(vmId, req(commandId, 'MigrateVm'), () => {
            const target = this.index.nodes.get(toNodeId);
            return {
              type: 'MigrateVm',
              data: { vmId, nodeId: toNodeId, evacuation: true },
              context: { targetNode: target ? { clusterId: target.clusterId, status: target.status } : null },
            };
          }),
        ),
      complete: (nodeId: string, commandId: string) =>
        this.once(req(commandId, 'CompleteEvacuation'), () =>
          this.nodeCommand(nodeId, req(commandId, 'CompleteEvacuation'), () => ({ type: 'CompleteEvacuation', data: { nodeId } })),
        ),
    };
  }

  private async nodeCommand(nodeId: string, req: CommandRequest, build: () => NodeCommand): Promise<Reply> {
    const node = this.index.nodes.get(nodeId);
    if (!node) throw notFound('node', nodeId);
    return this.mutex.run(node.clusterId, async () => {
      const res = await this.decide(this.nodes, nodeId, build(), req);
      this.record(res);
      return { result: { nodeId }, position: res.position };
    });
  }

  private async deletedVmCluster(vmId: string): Promise<string | undefined> {
    // Only an id that can be one: the id becomes a subject token.
    if (typeof vmId !== 'string' || !UUID_PATTERN.test(vmId)) return undefined;
    const { state } = await this.vms.load(vmId);
    return state.status === 'absent' ? undefined : state.clusterId;
  }

  private async vmCommand(vmId: string, req: CommandRequest, build: () => VmCommand): Promise<Reply> {
    // A deleted VM leaves the index once the tail has its VmDeleted: its aggregate still answers (e.g. a retried DeleteVm).
    const clusterId = this.index.vms.get(vmId)?.clusterId ?? (await this.deletedVmCluster(vmId));
    if (!clusterId) throw notFound('vm', vmId);
    return this.mutex.run(clusterId, async () => {
      const res = await this.decide(this.vms, vmId, build(), req);
      this.record(res);
      return { result: { vmId }, position: res.position };
    });
  }
}

/**
 * New aggregate ids derive from the command id: a client retrying with the same Idempotency-Key (even
 * after an inventory restart) addresses the same aggregate, and the store dedupes the events by Msg-Id.
 */
/** The addresses a VM creation asked for (the reply, the same for a dry run and a retry): the primary, then the second family's. */
function createdAddresses(ip: string | undefined, plan: { family: 4 | 6; second?: 4 | 6 }, secondRequestId: string) {
  return [
    { family: plan.family, primary: true, status: 'requested', ...(ip !== undefined ? { ip } : {}) },
    ...(plan.second !== undefined ? [{ family: plan.second, primary: false, status: 'requested', requestId: secondRequestId }] : []),
  ];
}

export function idFromCommand(commandId: string): string {
  return uuidFromSeed(commandId);
}

/** 32 characters of base64url (192 random bits): inside PASSWORD_PATTERN and Linux's 80-byte TCP MD5 key. */
export function generateMd5Password(): string {
  return randomBytes(24).toString('base64url');
}

function splitBgpSettings(p: ChangeBgpSettings) {
  const { clusterId: _c, dryRun: _d, md5Password: _m, rotateMd5: _r, ...settings } = p;
  return { settings };
}

function changedOf(events: readonly FabricEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (e.type === 'ClusterBgpSettingsChanged') out.push(...e.data.changed);
    if (e.type === 'BgpPasswordChanged') out.push('md5Password');
  }
  return out;
}
