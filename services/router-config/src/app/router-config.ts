/**
 * router-config: versioned core router config per cluster (RouterConfigRendered on `evt.router.<clusterId>`,
 * id `router-config:<clusterId>:<version>`), and for an FRR core the RouterDesiredState on
 * `cmd.router.<clusterId>` that the lab's FRR agent applies. Junos is applied by an operator.
 * Input: an EventTail from the model's snapshot at every start (see TailedDeriver: the model is rebuilt in memory
 * and outputs are idempotent by content hash, so no durable consumer is needed).
 */
import { type BgpPreviewRequest, type EventOf, type FabricEvent, type RouterDesiredState, type StoredEvent } from '@fabric/contracts';
import type { BgpOptions } from '@fabric/renderers';
import { ConcurrencyError, type EventStore } from '@fabric/eventstore';
import { type LastRouterConfig, RouterConfigModel, nextRouterConfig } from '../domain';
import { DeriverApp, type DesiredPayload, DesiredPublisher, previewFold, type TailedDeriverOptions } from '@fabric/derivers';

export type RouterConfigOptions = TailedDeriverOptions;

interface Known extends LastRouterConfig {
  /** Stream sequence of the last RouterConfigRendered (expected sequence of the next append). */
  seq: number;
}

export class RouterConfigService extends DeriverApp {
  readonly model = new RouterConfigModel();
  readonly publisher: DesiredPublisher;
  private readonly known = new Map<string, Known | null>();

  /** Dry run of a BGP settings change (DeriverApp answers PreviewBgpSettings with it). */
  protected override previewBgp(req: BgpPreviewRequest) {
    return this.model.previewBgp(req.clusterId, req.community, req.bgp as unknown as BgpOptions, req.md5Rotated === true);
  }

  /** Dry run of any write: the core of each cluster the events touch, rendered from a copy-on-write view of the model. */
  protected override previewEvents(events: FabricEvent[]) {
    const { view, touched } = previewFold(this.model, events);
    return touched.flatMap((clusterId) => {
      const name = view.coreName(clusterId) ?? clusterId;
      try {
        const r = view.render(clusterId);
        return r ? [{ kind: 'router' as const, targetId: clusterId, name, config: r.configs[r.vendor] }] : [];
      } catch (e) {
        return [{ kind: 'router' as const, targetId: clusterId, name, config: '', error: String((e as Error).message).slice(0, 300) }];
      }
    });
  }

  constructor(
    private readonly store: EventStore,
    opts: RouterConfigOptions = {},
  ) {
    super(
      store,
      'router-config',
      {
        apply: (e) => this.model.apply(e),
        allTargets: () => this.model.clusterIds(),
        flushTarget: (id, sourceSeq) => this.flushCluster(id, sourceSeq),
        snapshot: {
          model: 'router-config',
          schema: RouterConfigModel.SNAPSHOT_SCHEMA,
          save: () => this.model.snapshot(),
          load: (data) => this.model.restore(data),
        },
      },
      opts,
    );
    this.publisher = new DesiredPublisher(store, 'router-config');
  }

  private async flushCluster(clusterId: string, sourceSeq: number): Promise<void> {
    const rendered = this.renderOrKeep('router config', clusterId, () => this.model.render(clusterId));
    if (!rendered) return;
    const last = await this.lastOf(clusterId);
    const next = nextRouterConfig(last, rendered);
    if (next) {
      const subject = this.store.subjects.evt('router', clusterId);
      try {
        // Expected sequence: a second instance cannot write the same version with other content.
        const res = await this.store.append(
          subject,
          [{ id: `router-config:${clusterId}:${next.version}`, event: { type: 'RouterConfigRendered', data: next }, meta: { actor: 'router-config' } }],
          last?.seq ?? 0,
        );
        this.known.set(clusterId, { version: next.version, hash: next.hash, configs: next.configs, seq: res.seqs[0] });
        this.log('info', 'router config rendered', { clusterId, version: next.version });
      } catch (err) {
        if (err instanceof ConcurrencyError) this.known.delete(clusterId); // reload, then decide again
        throw err;
      }
    }
    if (rendered.frrDesired !== undefined) {
      const payload: DesiredPayload<RouterDesiredState> = { kind: 'router', targetId: clusterId, clusterId, vendor: 'frr', config: rendered.frrDesired };
      await this.publisher.publish(payload, sourceSeq);
    }
  }

  /** Last version of a cluster: read once from its subject, then kept in memory. */
  private async lastOf(clusterId: string): Promise<Known | null> {
    if (this.known.has(clusterId)) return this.known.get(clusterId) ?? null;
    const subject = this.store.subjects.evt('router', clusterId);
    const seq = await this.store.lastSeq(subject);
    let known: Known | null = null;
    if (seq > 0) {
      const [e] = (await this.store.read(subject, seq - 1)) as StoredEvent<EventOf<'RouterConfigRendered'>>[];
      if (e) known = { version: e.data.version, hash: e.data.hash, configs: e.data.configs, seq: e.seq };
    }
    this.known.set(clusterId, known);
    return known;
  }
}
