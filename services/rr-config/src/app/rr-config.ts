/**
 * rr-config: desired BIRD config of every route reflector on `cmd.rr.<clusterId>_<rrName>`, and the
 * placements (one ROA per placed address and node) in the KV bucket `<NS>_PLACEMENTS`, which the RR agents
 * serve to BIRD over RTR (docs/adr/rr-origin-validation.md).
 * Input: an EventTail from sequence 1 at every start (see TailedDeriver: the model is rebuilt in memory
 * and outputs are idempotent — commands by content hash, placement keys by comparing with the bucket,
 * which is read once at start — so a restart writes nothing that did not change).
 * A removed RR gets no further state: its last command stays in the stream for the record.
 */
import { type KV, Kvm } from '@nats-io/kv';
import { type EventStore, placementsBucket } from '@fabric/eventstore';
import { PLACEMENT_TARGET, type Placement, RrConfigModel } from '../domain';
import { DeriverApp, DesiredPublisher, type TailedDeriverOptions } from '@fabric/derivers';

export type RrConfigOptions = TailedDeriverOptions;

const enc = new TextEncoder();
const dec = new TextDecoder();

export class RrConfig extends DeriverApp {
  readonly model = new RrConfigModel();
  readonly publisher: DesiredPublisher;
  private kv?: KV;
  /** What the bucket holds (key → JSON value), as read at start and written since. */
  private readonly stored = new Map<string, string>();

  constructor(
    private readonly store: EventStore,
    opts: RrConfigOptions = {},
  ) {
    super(
      store,
      'rr-config',
      {
        apply: (e) => this.model.apply(e),
        allTargets: () => [...this.model.targetIds(), ...[...new Set([...this.model.placementKeys(), ...this.stored.keys()])].map((k) => PLACEMENT_TARGET + k)],
        flushTarget: (id, sourceSeq) =>
          id.startsWith(PLACEMENT_TARGET) ? this.flushPlacement(id.slice(PLACEMENT_TARGET.length)) : this.flushRr(id, sourceSeq),
      },
      opts,
    );
    this.publisher = new DesiredPublisher(store, 'rr-config');
  }

  override async start(): Promise<void> {
    this.kv = await new Kvm(this.store.nats.nc).open(placementsBucket(this.store.nats.subjects));
    this.stored.clear();
    const watch = await this.kv.watch();
    const oc = (watch as unknown as { _data: { info(cached: boolean): Promise<{ num_pending: number }> } })._data;
    if ((await oc.info(true)).num_pending > 0) {
      for await (const e of watch) {
        if (e.operation === 'PUT') this.stored.set(e.key, dec.decode(e.value));
        else this.stored.delete(e.key);
        if (e.delta === 0) break;
      }
    }
    watch.stop();
    return super.start();
  }

  private async flushPlacement(key: string): Promise<void> {
    const want: Placement | undefined = this.model.placement(key);
    const value = want && JSON.stringify(want);
    if (value === this.stored.get(key)) return;
    if (value === undefined) {
      await this.kv!.purge(key);
      this.stored.delete(key);
    } else {
      await this.kv!.put(key, enc.encode(value));
      this.stored.set(key, value);
    }
  }

  private async flushRr(targetId: string, sourceSeq: number): Promise<void> {
    const payload = this.renderOrKeep('RR state', targetId, () => this.model.desired(targetId));
    if (!payload) return;
    const r = await this.publisher.publish(payload, sourceSeq);
    if (r.published) this.log('info', 'RR desired state', { targetId, generation: r.generation });
  }
}
