/**
 * Route reflector role (docs/architecture.md, data plane): its BIRD config, and the ROA feed (the placements
 * of its cluster served to BIRD over RTR, docs/adr/rr-origin-validation.md); observes the host routes learnt
 * from nodes.
 */
import * as path from 'node:path';
import { type RrDesiredState } from '@fabric/contracts';
import { BirdDriver, type BirdDriverOptions } from '../drivers/bird';
import { birdRouteVersion, parseBirdBgpSessions, type RouteObservation, type SessionObservation } from '../observe';
import { RoaFeed } from '../rtr/feed';
import { applyBird, birdBgpHostRoutes, birdSessions } from './bird-common';
import { type RoleApplyResult, type RoleContext, type RoleReconciler } from './types';
import { asObject, checkBase, fail, str } from './validate';

export interface RrRoleOptions {
  namespace?: string;
  bird: Omit<BirdDriverOptions, 'namespace'>;
  /** TCP port of the RTR cache on the RR's loopback (default 8323, as in the rendered config). */
  rtrPort?: number;
}

const PROTOCOL = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const TAG = /^[0-9]{1,10}$/;

export class RrRole implements RoleReconciler<RrDesiredState> {
  readonly kind = 'rr' as const;
  readonly bird: BirdDriver;
  feed?: RoaFeed;
  /** Origin tag → node protocol, from the last applied state. */
  private protocols = new Map<number, string>();

  constructor(private readonly opts: RrRoleOptions) {
    this.bird = new BirdDriver({ namespace: opts.namespace, ...opts.bird });
  }

  validate(payload: unknown, targetId: string): RrDesiredState {
    const o = asObject(payload);
    checkBase(o, 'rr', targetId);
    str(o, 'bird');
    if (o.rtrNodes !== undefined) {
      const m = asObject(o.rtrNodes, 'rtrNodes');
      for (const [k, v] of Object.entries(m)) if (!TAG.test(k) || typeof v !== 'string' || !PROTOCOL.test(v)) fail(`rtrNodes: bad entry ${JSON.stringify(k)}`);
    }
    return o as unknown as RrDesiredState;
  }

  async attach(ctx: RoleContext): Promise<void> {
    this.feed = new RoaFeed({
      nats: ctx.nats,
      clusterId: ctx.targetId.slice(0, 36),
      namespace: this.opts.namespace,
      socketDir: path.dirname(this.bird.configPath),
      port: this.opts.rtrPort,
      protocolOf: (tag) => this.protocols.get(tag),
      reload: (protocols, serial) => this.reload(protocols, serial),
      log: ctx.log,
    });
    await this.feed.start();
  }

  async detach(): Promise<void> {
    await this.feed?.stop();
    this.feed = undefined;
  }

  async apply(d: RrDesiredState): Promise<RoleApplyResult> {
    this.protocols = new Map(Object.entries(d.rtrNodes ?? {}).map(([k, v]) => [Number(k), v]));
    const r = await applyBird(this.bird, d.bird);
    // A node's routes may have reached the RR before its session existed in the config: re-evaluate now.
    if (r.changes > 0) await this.bird.birdc('reload', 'in', 'all').catch(() => undefined);
    return { ...r, warnings: [] };
  }

  /** The last `show protocols all` of the route probe: the session poll reuses it while fresh (one birdc less). */
  private probe?: { at: number; text: string };
  /**
   * Re-evaluates imports once BIRD holds the RTR data up to `serial`: BIRD reads the RTR socket and the
   * control socket in one loop, so a reload sent at once could run before the update it is for.
   */
  private async reload(protocols: string[] | 'all', serial: number): Promise<void> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const out = await this.bird.birdc('show', 'protocols', 'all', 'fabric_rtr').catch(() => '');
      const m = /Serial number:\s*(\d+)/.exec(out);
      if (m && (Number(m[1]) - serial) >>> 0 < 0x80000000) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    // One failing protocol (e.g. just removed by a configure) must not keep the others from their reload.
    for (const p of protocols === 'all' ? ['all'] : protocols) await this.bird.birdc('reload', 'in', p).catch(() => undefined);
  }

  sessions(): Promise<SessionObservation[]> {
    if (this.probe && Date.now() - this.probe.at < 250) return Promise.resolve(parseBirdBgpSessions(this.probe.text));
    return birdSessions(this.bird);
  }

  routes(): Promise<RouteObservation[]> {
    return birdBgpHostRoutes(this.bird, ['master4', 'master6']);
  }

  /** BIRD cannot push: its BGP channels' route counters tell whether the table needs reading again. */
  async routesVersion(): Promise<string> {
    const text = await this.bird.birdc('show', 'protocols', 'all');
    this.probe = { at: Date.now(), text };
    return birdRouteVersion(text);
  }
}
