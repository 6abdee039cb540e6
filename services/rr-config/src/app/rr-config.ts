/**
 * rr-config: desired BIRD config of every route reflector, split in two (docs/adr/rr-split-desired-state.md):
 * the cluster-wide part on `cmd.rr.<clusterId>_<rrName>` and one key per node (`<clusterId>.<nodeId>`, that
 * node's session) in the KV bucket `<NS>_RR_NODES`; and the placements (one ROA per placed address and node)
 * in the KV bucket `<NS>_PLACEMENTS`, which the RR agents serve to BIRD over RTR (docs/adr/rr-origin-validation.md).
 * Input: an EventTail from the model's snapshot at every start (see TailedDeriver: the model is rebuilt in memory
 * and outputs are idempotent — commands by content hash, KV keys by comparing with the buckets, which are
 * read once at start — so a restart writes nothing that did not change).
 * A removed RR gets no further state: its last command stays in the stream for the record.
 */
import { type KV, Kvm } from '@nats-io/kv';
import { type EventStore, placementsBucket, rrNodesBucket } from '@fabric/eventstore';
import { NODE_PART_TARGET, PLACEMENT_TARGET, RrConfigModel } from '../domain';
import { DeriverApp, DesiredPublisher, previewFold, type TailedDeriverOptions } from '@fabric/derivers';
import type { BgpPreviewRequest, EventsPreviewReply, FabricEvent } from '@fabric/contracts';
import { type BgpOptions, rrPartsText } from '@fabric/renderers';

export type RrConfigOptions = TailedDeriverOptions;

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One KV bucket rr-config owns: what it holds (key → JSON value), as read at start and written since. */
class OwnedBucket {
  kv?: KV;
  readonly stored = new Map<string, string>();
  /** Bytes written (values) and writes (puts + purges) since start: the scale bench reads them. */
  bytes = 0;
  writes = 0;

  constructor(private readonly name: string) {}

  async load(store: EventStore): Promise<void> {
    this.kv = await new Kvm(store.nats.nc).open(this.name);
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
  }

  /** Makes the key hold `value` (undefined = absent); writes only when it differs from what is stored. */
  async set(key: string, value: string | undefined): Promise<void> {
    if (value === this.stored.get(key)) return;
    this.writes++;
    if (value === undefined) {
      // A delete marker, never a purge: a KV purge is a rollup, and nats-server 2.9 then moves the cursor of a
      // wildcard consumer (the RR agents' watches) past messages of other keys it had not delivered yet — the
      // placement written just before was lost for good (seen in the fault suite; fixed upstream in 2.9.12+).
      await this.kv!.delete(key);
      this.stored.delete(key);
    } else {
      const data = enc.encode(value);
      await this.kv!.put(key, data);
      this.bytes += data.length;
      this.stored.set(key, value);
    }
  }
}

export class RrConfig extends DeriverApp {
  readonly model = new RrConfigModel();
  readonly publisher: DesiredPublisher;
  readonly placements: OwnedBucket;
  readonly nodeParts: OwnedBucket;

  constructor(
    private readonly store: EventStore,
    opts: RrConfigOptions = {},
  ) {
    super(
      store,
      'rr-config',
      {
        apply: (e) => this.model.apply(e),
        // Node parts first: a start-up flush writes them before the commands that include them.
        allTargets: () => [
          ...[...new Set([...this.model.nodePartKeys(), ...this.nodeParts.stored.keys()])].map((k) => NODE_PART_TARGET + k),
          ...[...new Set([...this.model.placementKeys(), ...this.placements.stored.keys()])].map((k) => PLACEMENT_TARGET + k),
          ...this.model.targetIds(),
        ],
        flushTarget: (id, sourceSeq) =>
          id.startsWith(PLACEMENT_TARGET)
            ? this.flushPlacement(id.slice(PLACEMENT_TARGET.length))
            : id.startsWith(NODE_PART_TARGET)
              ? this.flushNodePart(id.slice(NODE_PART_TARGET.length))
              : this.flushRr(id, sourceSeq),
        snapshot: { model: 'rr-config', schema: RrConfigModel.SNAPSHOT_SCHEMA, save: () => this.model.snapshot(), load: (data) => this.model.restore(data) },
      },
      opts,
    );
    this.publisher = new DesiredPublisher(store, 'rr-config');
    this.placements = new OwnedBucket(placementsBucket(store.nats.subjects));
    this.nodeParts = new OwnedBucket(rrNodesBucket(store.nats.subjects));
  }

  /** Dry run of a BGP settings change (DeriverApp answers PreviewBgpSettings with it). */
  protected override previewBgp(req: BgpPreviewRequest) {
    return this.model.previewBgp(req.clusterId, req.community, req.bgp as unknown as BgpOptions, req.md5Rotated === true);
  }

  /**
   * Dry run of any write: every RR of a cluster the events touch, rendered from a copy-on-write view of the model.
   * Its text is the command's BIRD config followed by the node parts and placements (ROAs) the events change,
   * `currentParts` those keys as the buckets hold them now (absent keys show as absent).
   */
  protected override previewEvents(events: FabricEvent[]): NonNullable<EventsPreviewReply['targets']> {
    const { view, touched } = previewFold(this.model, events);
    const rrs = new Set<string>();
    const parts = new Map<string, { after: Map<string, string | undefined>; now: Map<string, string | undefined> }>();
    const partsOf = (clusterId: string) => {
      let p = parts.get(clusterId);
      if (!p) parts.set(clusterId, (p = { after: new Map(), now: new Map() }));
      return p;
    };
    const stored = (b: OwnedBucket, key: string, field?: 'bird') => {
      const v = b.stored.get(key);
      if (v === undefined) return undefined;
      return field ? (JSON.parse(v) as { bird: string }).bird : v;
    };
    for (const id of touched) {
      if (id.startsWith(NODE_PART_TARGET)) {
        const key = id.slice(NODE_PART_TARGET.length);
        const p = partsOf(key.slice(0, 36));
        let after: string | undefined;
        try {
          after = view.nodePart(key)?.bird;
        } catch (e) {
          after = `# not renderable: ${String((e as Error).message).slice(0, 300)}`;
        }
        p.after.set(`node part ${key}`, after);
        p.now.set(`node part ${key}`, stored(this.nodeParts, key, 'bird'));
      } else if (id.startsWith(PLACEMENT_TARGET)) {
        const key = id.slice(PLACEMENT_TARGET.length);
        const p = partsOf(key.slice(0, 36));
        const want = view.placement(key);
        p.after.set(`placement ${key}`, want && JSON.stringify(want));
        p.now.set(`placement ${key}`, stored(this.placements, key));
      } else rrs.add(id);
    }
    for (const clusterId of parts.keys()) for (const rr of view.rrTargetsOf(clusterId)) rrs.add(rr);
    return [...rrs].flatMap((targetId) => {
      const p = parts.get(targetId.slice(0, 36));
      const extra = p ? { after: rrPartsText(p.after), now: rrPartsText(p.now) } : { after: '', now: '' };
      const name = targetId.slice(37);
      try {
        const d = view.desired(targetId);
        if (!d) return [];
        return [{ kind: 'rr' as const, targetId, name: d.rrName, config: d.bird + extra.after, ...(p ? { currentParts: extra.now } : {}) }];
      } catch (e) {
        return [{ kind: 'rr' as const, targetId, name, config: '', error: String((e as Error).message).slice(0, 300) }];
      }
    });
  }

  override async start(): Promise<void> {
    await this.placements.load(this.store);
    await this.nodeParts.load(this.store);
    return super.start();
  }

  private async flushPlacement(key: string): Promise<void> {
    const want = this.model.placement(key);
    await this.placements.set(key, want && JSON.stringify(want));
  }

  private async flushNodePart(key: string): Promise<void> {
    let value: string | undefined;
    try {
      const part = this.model.nodePart(key);
      value = part && JSON.stringify(part);
    } catch (err) {
      // Kept as it is (absent for a new node): one node that cannot be rendered never blocks the others.
      this.log('warn', 'RR node part not renderable', { key, err: String((err as Error).message).slice(0, 500) });
      return;
    }
    await this.nodeParts.set(key, value);
  }

  private async flushRr(targetId: string, sourceSeq: number): Promise<void> {
    const payload = this.renderOrKeep('RR state', targetId, () => this.model.desired(targetId));
    if (!payload) return;
    const r = await this.publisher.publish(payload, sourceSeq);
    if (r.published) this.log('info', 'RR desired state', { targetId, generation: r.generation });
  }
}
