/**
 * What the three deriver services share around a TailedDeriver: lifecycle, and "render or keep the
 * previous command" — bad or incomplete input (e.g. no RR yet) must never be published as a config.
 */
import type { FabricEvent, TargetKind } from '@fabric/contracts';
import { type EventStore, LeaderElection } from '@fabric/eventstore';
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

  protected constructor(store: EventStore, name: string, hooks: TailedDeriverHooks, opts: TailedDeriverOptions = {}) {
    this.eventStore = store;
    this.log = opts.log ?? (() => undefined);
    this.deriver = new TailedDeriver(store, hooks, { name, ...opts });
    this.kind = KIND_OF[name];
    this.name = name;
  }

  /**
   * Active-standby: only the leader derives and publishes (libs/eventstore/src/leader.ts). Resolves after the
   * first campaign: for the leader, once the history is folded and the first flush is done.
   */
  async start(): Promise<void> {
    this.election = new LeaderElection(this.eventStore.nats.nc, this.eventStore.subjects.ns, this.name, {
      elected: () => this.deriver.start(),
      deposed: async (reason) => {
        await this.deriver.stop();
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

  async stop(): Promise<void> {
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
