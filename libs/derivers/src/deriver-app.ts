/**
 * What the three deriver services share around a TailedDeriver: lifecycle, and "render or keep the
 * previous command" — bad or incomplete input (e.g. no RR yet) must never be published as a config.
 */
import type { Subscription } from '@nats-io/nats-core';
import type { BgpPreviewReply, BgpPreviewRequest, DeriverService, EventsPreviewReply, EventsPreviewRequest, FabricEvent, TargetKind } from '@fabric/contracts';
import { type EventStore, LeaderElection, SnapshotStore } from '@fabric/eventstore';
import { type LogFn, TailedDeriver, type TailedDeriverHooks, type TailedDeriverOptions } from './tailed-deriver';

/** Under a supervisor (or with FABRIC_EXIT_ON_DEPOSED=1) a deposed leader exits and is restarted as a standby. */
const exitOnDeposed = () => process.env.FABRIC_EXIT_ON_DEPOSED === '1' || (process.env.FABRIC_EXIT_ON_DEPOSED !== '0' && !!process.env.FABRIC_PROGRAM);

const KIND_OF: Record<string, TargetKind> = { 'route-announcer': 'node', 'rr-config': 'rr', 'router-config': 'router' };

export abstract class DeriverApp {
  protected readonly deriver: TailedDeriver;
  protected readonly log: LogFn;
  private readonly kind?: TargetKind;
  private readonly eventStore: EventStore;
  /** Targets whose last render failed, with the reason reported (reported once per reason). */
  private readonly failing = new Map<string, string>();
  private readonly name: string;
  private election?: LeaderElection;
  private previewSub?: Subscription;
  private eventsPreviewSub?: Subscription;

  protected constructor(store: EventStore, name: string, hooks: TailedDeriverHooks, opts: TailedDeriverOptions = {}) {
    this.eventStore = store;
    this.log = opts.log ?? (() => undefined);
    // Each deriver snapshots its model in <NS>_SNAPSHOTS under its own name (docs/adr/model-snapshots.md).
    const snapshots = hooks.snapshot ? new SnapshotStore(store.nats.nc, store.subjects, name, this.log) : undefined;
    this.deriver = new TailedDeriver(store, hooks, { name, ...(snapshots ? { snapshots } : {}), ...opts });
    this.kind = KIND_OF[name];
    this.name = name;
  }

  /**
   * Active-standby: only the leader derives and publishes (libs/eventstore/src/leader.ts). Resolves after the
   * first campaign: for the leader, once the history is folded and the first flush is done.
   */
  async start(): Promise<void> {
    this.election = new LeaderElection(this.eventStore.nats.nc, this.eventStore.subjects.ns, this.name, {
      elected: async () => {
        await this.deriver.start();
        this.servePreviews();
      },
      deposed: async (reason) => {
        this.stopPreviews();
        // Only the leader writes snapshots: a deposed one stops without (the new leader has its own model).
        await this.deriver.stop(reason === 'stopping');
        // The in-memory model cannot be folded twice: a deposed leader stands by again as a fresh process.
        if (reason !== 'stopping' && exitOnDeposed()) {
          this.log('error', 'deposed: exiting to stand by again as a fresh process', { reason });
          process.exit(75);
        }
      },
      log: (level, msg, x) => this.log(level, msg, x),
    });
    await this.election.start();
    this.log('info', this.election.leader ? 'leading: deriving and publishing' : 'standing by (another instance leads)', {
      name: this.name,
      instance: this.election.self.instance,
    });
  }

  /**
   * Dry runs of BGP settings changes (PreviewBgpSettings, core NATS request/reply): only the leader answers, from
   * its model as folded so far; the model is not changed. Subclasses say how their targets render (previewBgp).
   */
  protected previewBgp?(req: BgpPreviewRequest): { kind: TargetKind; targetId: string; config: string }[];

  /**
   * Dry runs of any write (PreviewEvents): the events the write would append are folded into a copy-on-write view
   * of the model (overlay.ts), and the targets they touch are rendered from it; the live model is not changed.
   * Subclasses render their targets (previewEvents).
   */
  protected previewEvents?(events: FabricEvent[]): NonNullable<EventsPreviewReply['targets']>;

  private stopPreviews(): void {
    this.previewSub?.unsubscribe();
    this.previewSub = undefined;
    this.eventsPreviewSub?.unsubscribe();
    this.eventsPreviewSub = undefined;
  }

  private servePreviews(): void {
    if (!(this.name in KIND_OF)) return;
    const subjects = this.eventStore.subjects;
    const service = this.name as DeriverService;
    if (this.previewEvents && !this.eventsPreviewSub)
      this.eventsPreviewSub = this.serveRequest(subjects.eventsPreview(service), (req: EventsPreviewRequest) => {
        if (!req || !Array.isArray(req.events) || req.events.some((e) => !e || typeof e.type !== 'string' || !e.data || typeof e.data !== 'object'))
          throw new Error('malformed preview request');
        return { targets: this.previewEvents!(req.events) } satisfies EventsPreviewReply;
      });
    if (this.previewBgp && !this.previewSub)
      this.previewSub = this.serveRequest(subjects.bgpPreview(service), (req: BgpPreviewRequest) => {
        if (!req || typeof req.clusterId !== 'string' || typeof req.community !== 'string' || !req.bgp || typeof req.bgp !== 'object')
          throw new Error('malformed preview request');
        return { targets: this.previewBgp!(req) } satisfies BgpPreviewReply;
      });
  }

  /** A request/reply subscription: the handler's answer, or `{error}` when the request is malformed or the handler throws. */
  private serveRequest<Req>(subject: string, handle: (req: Req) => object) {
    return this.eventStore.nats.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err || !msg.reply) return;
        let reply: object;
        try {
          reply = handle(msg.json<Req>());
        } catch (e) {
          reply = { error: String((e as Error).message).slice(0, 500) };
        }
        msg.respond(JSON.stringify(reply));
      },
    });
  }

  async stop(): Promise<void> {
    this.stopPreviews();
    if (this.election) await this.election.stop();
    else await this.deriver.stop();
  }

  /** Whether this instance derives now (the leader). */
  get leader(): boolean {
    return !!this.election?.leader;
  }

  get position(): number {
    return this.deriver.position;
  }

  /** Events and observations folded at the last start before the first flush (after the snapshot, or all). */
  get replayed(): { events: number; observations: number } {
    return this.deriver.replayed;
  }

  /** Writes the model's snapshot now (tools, tests); the leader also writes it periodically and at a graceful stop. */
  writeSnapshot(): Promise<void> {
    return this.deriver.writeSnapshot();
  }

  /** Everything stored is folded and published (see TailedDeriver.idle). */
  idle(): Promise<boolean> {
    return this.deriver.idle();
  }

  /** The rendered state, or undefined (logged) when it cannot be rendered: the last command stays. */
  protected renderOrKeep<T>(what: string, id: string, render: () => T | undefined): T | undefined {
    try {
      const out = render();
      if (this.failing.delete(id)) this.report(id, { type: 'TargetRenderRecovered' });
      return out;
    } catch (err) {
      const reason = String((err as Error).message).slice(0, 500);
      this.log('warn', `${what} not renderable`, { id, err: reason });
      // Never a silent freeze: the failure is an event, shown as drift of the target.
      if (this.failing.get(id) !== reason) {
        this.failing.set(id, reason);
        this.report(id, { type: 'TargetRenderFailed', reason });
      }
      return undefined;
    }
  }

  private report(id: string, e: { type: 'TargetRenderFailed'; reason: string } | { type: 'TargetRenderRecovered' }): void {
    if (!this.kind) return;
    const kind = this.kind;
    const sourceSeq = this.position;
    const target = { kind, id };
    const event: FabricEvent =
      e.type === 'TargetRenderFailed' ? { type: e.type, data: { target, sourceSeq, reason: e.reason } } : { type: e.type, data: { target, sourceSeq } };
    void this.eventStore
      .append(this.eventStore.subjects.evt('desired', kind, id), [{ id: `${e.type}:${kind}:${id}:${sourceSeq}`, event, meta: { actor: 'deriver' } }])
      .catch((err) => this.log('warn', 'render status not recorded', { id, err: String(err) }));
  }
}
