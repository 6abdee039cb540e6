/**
 * route-announcer: desired state of every hypervisor node (VM routes + BIRD config) on `cmd.node.<nodeId>`,
 * and CompleteMigration once the new node of a migration is seen announcing on a route reflector.
 * Input: an EventTail from the model's snapshot at every start (see TailedDeriver: the model is rebuilt in memory
 * and outputs are idempotent by content hash, so no durable consumer is needed), and one over the retained
 * observations (the RRs' route deltas).
 */
import { type BgpPreviewRequest, type CompleteFloatingMove, type CompleteMigration, FABRIC_ROUTE_PROTOCOL, type FabricEvent } from '@fabric/contracts';
import { type BgpOptions, nodeConfigText } from '@fabric/renderers';
import { type EventStore, RpcClient } from '@fabric/eventstore';
import { NodeRoutesModel } from '../domain';
import { DeriverApp, DesiredPublisher, previewFold, type TailedDeriverOptions } from '@fabric/derivers';

export type { LogFn } from '@fabric/derivers';

export interface RouteAnnouncerOptions extends TailedDeriverOptions {
  protocolNumber?: number;
}

export function protocolNumberFromEnv(env = process.env): number {
  const v = env.FABRIC_ROUTE_PROTOCOL;
  if (v === undefined || v === '') return FABRIC_ROUTE_PROTOCOL;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 255) throw new Error(`FABRIC_ROUTE_PROTOCOL must be 1..255, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * During a burst, the least time between two flushes (each a new generation of every touched node: its whole
 * state published, parsed and applied by its agent, its state file written, two events projected). A change after
 * a quiet period is not delayed. Default: the deriver's 25 ms.
 */
export function nodeFlushIntervalFromEnv(env = process.env): number | undefined {
  const v = env.FABRIC_NODE_FLUSH_INTERVAL_MS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 5000) throw new Error(`FABRIC_NODE_FLUSH_INTERVAL_MS must be 1..5000, got ${JSON.stringify(v)}`);
  return n;
}

export class RouteAnnouncer extends DeriverApp {
  readonly model: NodeRoutesModel;
  readonly publisher: DesiredPublisher;
  private readonly rpc: RpcClient;
  /** Completions inventory accepted, by `vmId:toNodeId:requestSeq` (until the VM's next migration event). */
  private readonly sent = new Set<string>();
  /**
   * When a completion was last refused, by the same key: asked again after `retryMs`, not at every flush (every
   * observation flushes, so a refusing or absent service would otherwise be asked hundreds of times a second).
   */
  private readonly refusedAt = new Map<string, number>();
  private readonly retryMs: number;

  /** Dry run of a BGP settings change (DeriverApp answers PreviewBgpSettings with it). */
  protected override previewBgp(req: BgpPreviewRequest) {
    return this.model.previewBgp(req.clusterId, req.community, req.bgp as unknown as BgpOptions, req.md5Rotated === true);
  }

  /** Dry run of any write: the nodes the events touch, rendered from a copy-on-write view of the model. */
  protected override previewEvents(events: FabricEvent[]) {
    const { view, touched } = previewFold(this.model, events);
    return touched.flatMap((targetId) => {
      try {
        const d = view.desired(targetId);
        return d ? [{ kind: 'node' as const, targetId, name: d.nodeName, config: nodeConfigText(d) }] : [];
      } catch (e) {
        return [{ kind: 'node' as const, targetId, name: targetId, config: '', error: String((e as Error).message).slice(0, 300) }];
      }
    });
  }

  constructor(store: EventStore, opts: RouteAnnouncerOptions = {}) {
    super(
      store,
      'route-announcer',
      {
        apply: (e, seq) => {
          if (e.type === 'VmMigrationCompleted' || e.type === 'VmDeleted') this.forgetSent(e.data.vmId);
          if (e.type === 'FloatingAddressMoveCompleted' || e.type === 'FloatingAddressDetached') this.forgetSent(`floating:${e.data.floatingId}`);
          return this.model.apply(e, seq);
        },
        allTargets: () => this.model.nodeIds(),
        flushTarget: (id, sourceSeq) => this.flushNode(id, sourceSeq),
        afterFlush: async () => {
          const retryMigrations = await this.completeMigrations();
          return (await this.completeFloatingMoves()) || retryMigrations;
        },
        wantsFlush: (e) =>
          (e.type === 'RoutesChanged' || e.type === 'RoutesObserved') &&
          (this.model.readyMigrations().length > 0 || this.model.readyFloatingMoves().length > 0),
        snapshot: {
          model: 'node-routes',
          schema: NodeRoutesModel.SNAPSHOT_SCHEMA,
          save: () => this.model.snapshot(),
          load: (data) => this.model.restore(data),
        },
      },
      // The RRs' routes (RoutesChanged) are observations: their own stream, with retention.
      { ...opts, observations: true },
    );
    this.model = new NodeRoutesModel({ protocolNumber: opts.protocolNumber ?? FABRIC_ROUTE_PROTOCOL });
    this.retryMs = opts.retryMs ?? 1000;
    this.publisher = new DesiredPublisher(store, 'route-announcer');
    this.rpc = new RpcClient(store.nats);
  }

  private async flushNode(nodeId: string, sourceSeq: number): Promise<void> {
    const payload = this.renderOrKeep('node state', nodeId, () => this.model.desired(nodeId));
    if (!payload) return;
    const r = await this.publisher.publish(payload, sourceSeq);
    if (r.published) this.log('info', 'node desired state', { nodeId, generation: r.generation, vms: payload.vms.length });
  }

  /** Asks inventory to complete the migrations whose new node announces; true when one must be retried. */
  private async completeMigrations(): Promise<boolean> {
    let retry = false;
    for (const r of this.model.readyMigrations()) {
      const key = `${r.vmId}:${r.toNodeId}:${r.requestSeq}`;
      if (this.sent.has(key)) continue;
      if (this.waitingToRetry(key)) {
        retry = true;
        continue;
      }
      const payload: CompleteMigration = { vmId: r.vmId, nodeId: r.toNodeId };
      const reply = await this.rpc.request('inventory', 'CompleteMigration', {
        // The request seq makes a later migration back to the same node a new command, not a duplicate.
        commandId: `complete-migration:${r.vmId}:${r.toNodeId}:${r.requestSeq}`,
        actor: 'route-announcer',
        payload,
      });
      if (reply.ok || reply.error.status === 404) {
        this.sent.add(key);
        this.refusedAt.delete(key);
        this.log('info', 'migration completion sent', { vmId: r.vmId, toNodeId: r.toNodeId, ok: reply.ok });
      } else {
        retry = true;
        this.refusedAt.set(key, Date.now());
        this.log('warn', 'CompleteMigration not accepted, will retry', { vmId: r.vmId, error: reply.error, retryMs: this.retryMs });
      }
    }
    return retry;
  }

  /** Asks IPAM to complete the floating address moves whose new VM's node announces; true when one must be retried. */
  private async completeFloatingMoves(): Promise<boolean> {
    let retry = false;
    for (const r of this.model.readyFloatingMoves()) {
      const key = `floating:${r.floatingId}:${r.vmId}:${r.attachSeq}`;
      if (this.sent.has(key)) continue;
      if (this.waitingToRetry(key)) {
        retry = true;
        continue;
      }
      const payload: CompleteFloatingMove = { clusterId: r.clusterId, floatingId: r.floatingId, vmId: r.vmId };
      const reply = await this.rpc.request('ipam', 'CompleteFloatingMove', { commandId: `complete-floating-move:${key}`, actor: 'route-announcer', payload });
      if (reply.ok || reply.error.status === 404) {
        this.sent.add(key);
        this.refusedAt.delete(key);
        this.log('info', 'floating address move completion sent', { floatingId: r.floatingId, vmId: r.vmId, ok: reply.ok });
      } else {
        retry = true;
        this.refusedAt.set(key, Date.now());
        this.log('warn', 'CompleteFloatingMove not accepted, will retry', { floatingId: r.floatingId, error: reply.error, retryMs: this.retryMs });
      }
    }
    return retry;
  }

  private waitingToRetry(key: string): boolean {
    const at = this.refusedAt.get(key);
    return at !== undefined && Date.now() - at < this.retryMs;
  }

  private forgetSent(vmId: string): void {
    for (const k of this.sent) if (k.startsWith(`${vmId}:`)) this.sent.delete(k);
    for (const k of this.refusedAt.keys()) if (k.startsWith(`${vmId}:`)) this.refusedAt.delete(k);
  }
}
