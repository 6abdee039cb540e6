/**
 * What the three deriver services share around a TailedDeriver: lifecycle, and "render or keep the
 * previous command" — bad or incomplete input (e.g. no RR yet) must never be published as a config.
 */
import { EventStore } from '@fabric/eventstore';
import { LogFn, TailedDeriver, TailedDeriverHooks, TailedDeriverOptions } from './tailed-deriver';

export abstract class DeriverApp {
  protected readonly deriver: TailedDeriver;
  protected readonly log: LogFn;

  protected constructor(store: EventStore, name: string, hooks: TailedDeriverHooks, opts: TailedDeriverOptions = {}) {
    this.log = opts.log ?? (() => undefined);
    this.deriver = new TailedDeriver(store, hooks, { name, ...opts });
  }

  start(): Promise<void> {
    return this.deriver.start();
  }

  stop(): Promise<void> {
    return this.deriver.stop();
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
      return render();
    } catch (err) {
      this.log('warn', `${what} not renderable`, { id, err: (err as Error).message });
      return undefined;
    }
  }
}
