/** Route reflector role (docs/architecture.md, data plane): its BIRD config only; observes the host routes learnt from nodes. */
import { RrDesiredState } from '@fabric/contracts';
import { BirdDriver, BirdDriverOptions } from '../drivers/bird';
import { birdRouteVersion, parseBirdBgpSessions, RouteObservation, SessionObservation } from '../observe';
import { applyBird, birdBgpHostRoutes, birdSessions } from './bird-common';
import { RoleApplyResult, RoleReconciler } from './types';
import { asObject, checkBase, str } from './validate';

export interface RrRoleOptions {
  namespace?: string;
  bird: Omit<BirdDriverOptions, 'namespace'>;
}

export class RrRole implements RoleReconciler<RrDesiredState> {
  readonly kind = 'rr' as const;
  readonly bird: BirdDriver;

  constructor(opts: RrRoleOptions) {
    this.bird = new BirdDriver({ namespace: opts.namespace, ...opts.bird });
  }

  validate(payload: unknown, targetId: string): RrDesiredState {
    const o = asObject(payload);
    checkBase(o, 'rr', targetId);
    str(o, 'bird');
    return o as unknown as RrDesiredState;
  }

  async apply(d: RrDesiredState): Promise<RoleApplyResult> {
    const r = await applyBird(this.bird, d.bird);
    // A VM's route often reaches the RR before the filter that admits it; `configure` re-evaluates the
    // kept (filtered) routes only lazily (~0.5 s here), `reload in` does it now.
    if (r.changes > 0) await this.bird.birdc('reload', 'in', 'all').catch(() => undefined);
    return { ...r, warnings: [] };
  }

  /** The last `show protocols all` of the route probe: the session poll reuses it while fresh (one birdc less). */
  private probe?: { at: number; text: string };

  sessions(): Promise<SessionObservation[]> {
    if (this.probe && Date.now() - this.probe.at < 250) return Promise.resolve(parseBirdBgpSessions(this.probe.text));
    return birdSessions(this.bird);
  }

  routes(): Promise<RouteObservation[]> {
    return birdBgpHostRoutes(this.bird);
  }

  /** BIRD cannot push: its BGP channels' route counters tell whether the table needs reading again. */
  async routesVersion(): Promise<string> {
    const text = await this.bird.birdc('show', 'protocols', 'all');
    this.probe = { at: Date.now(), text };
    return birdRouteVersion(text);
  }
}
