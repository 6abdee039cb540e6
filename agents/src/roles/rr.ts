/**
 * Route reflector role (docs/architecture.md, data plane): its BIRD config — the cluster-wide part from its
 * command, the node sessions from its cluster's keys in the node-parts bucket, written to `rr-nodes.conf`
 * which the config includes (docs/adr/rr-split-desired-state.md) — and the ROA feed (the placements of its
 * cluster served to BIRD over RTR, docs/adr/rr-origin-validation.md); observes the host routes learnt from nodes.
 */
import type { BfdSession } from '../drivers/bfd-parse';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { type RrDesiredState } from '@fabric/contracts';
import { BirdDriver, type BirdDriverOptions } from '../drivers/bird';
import { type FrrDriver } from '../drivers/frr';
import { applyEvpnFrr, validateEvpnText } from './evpn-common';
import { birdRouteVersions, parseBirdBgpSessions, type RouteObservation, type SessionObservation } from '../observe';
import { BirdControl, BirdReplyError } from '../drivers/bird-socket';
import { type RrProbeOptions, RrProbeSchedule } from './rr-probe';
import { RoaFeed } from '../rtr/feed';
import { applyBird, birdBgpHostRoutes } from './bird-common';
import { type RoleApplyResult, type RoleContext, type RoleReconciler } from './types';
import { RrNodeParts } from './rr-nodes';
import { asObject, checkBase, fail, str } from './validate';

export interface RrRoleOptions {
  namespace?: string;
  bird: Omit<BirdDriverOptions, 'namespace'>;
  /** TCP port of the RTR cache on the RR's loopback (default 8323, as in the rendered config). */
  rtrPort?: number;
  /** The RR's FRR (bgpd listening on EVPN_BGP_PORT) reflecting the nodes' EVPN routes. */
  evpnFrr?: FrrDriver;
  /** The route probe's schedule (rr-probe.ts). */
  probe?: RrProbeOptions;
}

const PROTOCOL = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const TAG = /^[0-9]{1,10}$/;

export class RrRole implements RoleReconciler<RrDesiredState> {
  readonly kind = 'rr' as const;
  readonly bird: BirdDriver;
  feed?: RoaFeed;
  nodeParts?: RrNodeParts;
  /** Origin tag → node protocol, from the last applied state. */
  private protocols = new Map<number, string>();
  private appliedEvpn?: string;
  /** Node protocol → its block as last applied (to re-evaluate only new or changed sessions). */
  private applied = new Map<string, string>();
  /** The file the config includes: the node sessions. */
  readonly nodesPath: string;

  constructor(private readonly opts: RrRoleOptions) {
    this.bird = new BirdDriver({ namespace: opts.namespace, ...opts.bird });
    this.nodesPath = path.join(path.dirname(this.bird.configPath), 'rr-nodes.conf');
    this.control = new BirdControl(this.bird.controlSocket, opts.bird.commandTimeoutMs ?? 30_000);
    this.reloadControl = new BirdControl(this.bird.controlSocket, opts.bird.commandTimeoutMs ?? 30_000);
    this.schedule = new RrProbeSchedule(opts.probe);
  }

  validate(payload: unknown, targetId: string): RrDesiredState {
    const o = asObject(payload);
    checkBase(o, 'rr', targetId);
    str(o, 'bird');
    if (o.rtrNodes !== undefined) {
      const m = asObject(o.rtrNodes, 'rtrNodes');
      for (const [k, v] of Object.entries(m)) if (!TAG.test(k) || typeof v !== 'string' || !PROTOCOL.test(v)) fail(`rtrNodes: bad entry ${JSON.stringify(k)}`);
    }
    if (o.evpn !== undefined) validateEvpnText(o.evpn);
    if (o.nodeParts !== undefined && o.nodeParts !== 'kv') fail('nodeParts: must be "kv"');
    return o as unknown as RrDesiredState;
  }

  async attach(ctx: RoleContext): Promise<void> {
    this.log = ctx.log;
    // The node sessions first: the first apply must not configure BIRD without them (sessions would drop).
    this.nodeParts = new RrNodeParts({ nats: ctx.nats, clusterId: ctx.targetId.slice(0, 36), onChange: () => ctx.reconcile?.(), log: ctx.log });
    await this.nodeParts.start();
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
    await this.nodeParts?.stop();
    this.nodeParts = undefined;
  }

  close(): Promise<void> {
    this.control.close();
    this.reloadControl.close();
    return Promise.resolve();
  }

  async apply(d: RrDesiredState): Promise<RoleApplyResult> {
    if (d.nodeParts !== 'kv') {
      // The whole config in the command (a control plane before the split).
      this.protocols = new Map(Object.entries(d.rtrNodes ?? {}).map(([k, v]) => [Number(k), v]));
      const r = await applyBird(this.bird, d.bird);
      // A node's routes may have reached the RR before its session existed in the config: re-evaluate now.
      if (r.changes > 0) {
        await this.bird.birdc('reload', 'in', 'all').catch(() => undefined);
        this.peers.clear();
        this.schedule.mark('all', Date.now());
      }
      const e = await applyEvpnFrr(this.opts.evpnFrr, d.evpn, this.appliedEvpn);
      this.appliedEvpn = e.applied;
      return { changes: r.changes + e.operations.length, operations: [...r.operations, ...e.operations], warnings: [] };
    }
    if (!this.nodeParts) throw new Error('RR node parts are not attached');
    const parts = [...this.nodeParts.parts.values()];
    const nodes = this.nodeParts.text();
    const main = `${d.bird.endsWith('\n') ? d.bird : d.bird + '\n'}\n# The node sessions (one part per node, from the RR node-parts bucket):\ninclude "${this.nodesPath}";\n`;
    const r = await applyBird(this.bird, main, [{ path: this.nodesPath, text: nodes }]);
    this.protocols = new Map(parts.map((p) => [p.originTag, p.protocol]));
    // Sessions new or changed may have received routes before they existed here: re-evaluate those only
    // (all after a change of the cluster-wide part). Unchanged sessions stay as they are (no flap).
    const mainChanged = r.changes > 0 && this.lastMain !== d.bird;
    const touched = parts.filter((p) => this.applied.get(p.protocol) !== p.bird).map((p) => p.protocol);
    if (r.changes > 0) {
      if (mainChanged) await this.bird.birdc('reload', 'in', 'all').catch(() => undefined);
      else for (const p of touched) await this.bird.birdc('reload', 'in', p).catch(() => undefined);
      // A touched session may have a new neighbor, and its routes move: asked again.
      if (mainChanged) this.peers.clear();
      for (const p of touched) this.peers.delete(p);
      this.schedule.mark(mainChanged ? 'all' : touched, Date.now());
    }
    this.lastMain = d.bird;
    this.applied = new Map(parts.map((p) => [p.protocol, p.bird]));
    // The applied hash covers the command and the node parts.
    const hash = createHash('sha256').update(d.hash).update('\0').update(nodes).digest('hex');
    const e = await applyEvpnFrr(this.opts.evpnFrr, d.evpn, this.appliedEvpn);
    this.appliedEvpn = e.applied;
    return { changes: r.changes + e.operations.length, operations: [...r.operations, ...e.operations], warnings: [], hash };
  }

  private lastMain?: string;

  /** Persistent control-socket client: the probe and the session poll (no birdc process each). */
  private readonly control: BirdControl;
  /** A second connection for the RTR serial wait and `reload in`: never queued behind a probe's full read. */
  private readonly reloadControl: BirdControl;
  private readonly schedule: RrProbeSchedule;
  /** BGP protocol → neighbor address (from `show protocols all`; the session poll reads the short list). */
  private readonly peers = new Map<string, string | undefined>();
  /** BGP protocol → state and info at the last session poll (a change marks the session for the route probe). */
  private lastSessions = new Map<string, string>();
  /**
   * Re-evaluates imports once BIRD holds the RTR data up to `serial`: BIRD reads the RTR socket and the
   * control socket in one loop, so a reload sent at once could run before the update it is for.
   */
  private async reload(protocols: string[] | 'all', serial: number): Promise<void> {
    const t0 = Date.now();
    const deadline = t0 + 5000;
    let seen: number | undefined;
    let reached = false;
    for (;;) {
      const out = await this.reloadControl.cmd('show', 'protocols', 'all', 'fabric_rtr').catch(() => '');
      const m = /Serial number:\s*(\d+)/.exec(out);
      seen = m ? Number(m[1]) : undefined;
      if (m && (Number(m[1]) - serial) >>> 0 < 0x80000000) {
        reached = true;
        break;
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    // One failing protocol (e.g. just removed by a configure) must not keep the others from their reload.
    const failed: string[] = [];
    for (const p of protocols === 'all' ? ['all'] : protocols)
      await this.reloadControl.cmd('reload', 'in', p).catch((e: unknown) => void failed.push(`${p}: ${String((e as Error)?.message ?? e).slice(0, 200)}`));
    // Their filtered routes may be accepted now, or their node's route arrive soon: the probe asks them.
    this.schedule.mark(protocols, Date.now());
    this.log?.(reached && !failed.length ? 'debug' : 'warn', 'RTR reload', { serial, birdSerial: seen ?? null, waitedMs: Date.now() - t0, protocols, failed });
  }

  private log?: RoleContext['log'];

  /** BFD sessions (`show bfd sessions` / `show bfd peers json`); none when BFD is off or bfdd is not running. */
  bfdSessions(): Promise<BfdSession[]> {
    return this.bird.bfdSessions();
  }

  /**
   * The short protocol list (one line per session), the neighbor addresses from the probe's full reads (a
   * session not seen there yet is asked alone). A session whose state changed is marked for the route probe.
   */
  async sessions(): Promise<SessionObservation[]> {
    const list = parseBirdBgpSessions(await this.control.cmd('show', 'protocols'));
    const now = Date.now();
    const seen = new Map<string, string>();
    const changed: string[] = [];
    const missing = list.filter((s) => !this.peers.has(s.protocol)).map((s) => s.protocol);
    if (missing.length > 8) for (const s of parseBirdBgpSessions(await this.control.cmd('show', 'protocols', 'all'))) this.peers.set(s.protocol, s.peerIp);
    else
      for (const p of missing) {
        const one = parseBirdBgpSessions(await this.control.cmd('show', 'protocols', 'all', p).catch(() => ''));
        this.peers.set(p, one[0]?.peerIp);
      }
    for (const s of list) {
      const peerIp = this.peers.get(s.protocol);
      if (peerIp) s.peerIp = peerIp;
      const st = `${s.state} ${s.info ?? ''}`;
      seen.set(s.protocol, st);
      if (this.lastSessions.get(s.protocol) !== st) changed.push(s.protocol);
    }
    for (const p of this.peers.keys()) if (!seen.has(p)) this.peers.delete(p);
    this.lastSessions = seen;
    if (changed.length) this.schedule.mark(changed, now);
    return list;
  }

  routes(): Promise<RouteObservation[]> {
    return birdBgpHostRoutes(this.bird, ['master4', 'master6']);
  }

  /**
   * BIRD cannot push: its BGP channels' route counters tell whether the table needs reading again. Only the
   * sessions expected to move are asked, one by one; all of them only now and then (RrProbeSchedule).
   */
  async routesVersion(): Promise<string> {
    const plan = this.schedule.plan(Date.now());
    if (plan.full) {
      const text = await this.control.cmd('show', 'protocols', 'all');
      this.schedule.fullResult(birdRouteVersions(text), Date.now());
      for (const s of parseBirdBgpSessions(text)) this.peers.set(s.protocol, s.peerIp);
    } else {
      for (const p of plan.protocols) {
        // An error reply: BIRD has no such protocol (any more).
        const text = await this.control.cmd('show', 'protocols', 'all', p).catch((e: unknown) => {
          if (e instanceof BirdReplyError) return '';
          throw e;
        });
        this.schedule.partResult(p, birdRouteVersions(text).get(p), Date.now());
      }
    }
    return this.schedule.version;
  }
}
