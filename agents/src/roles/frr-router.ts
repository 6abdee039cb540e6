/**
 * FRR router role (the lab core, FRR-based border routers): the fabric's section of frr.conf. The router's
 * own configuration (uplinks, other neighbors, statics) lives in an operator-owned base file, by default
 * `frr.conf.local` in the FRR config dir, never written by the agent; frr.conf = base merged with the fabric.
 */
import type { BfdSession } from '../drivers/bfd-parse';
import { spawn } from 'child_process';
import { promises as fs } from 'fs';
import * as path from 'path';
import type { Logger } from 'pino';
import { type RouterDesiredState } from '@fabric/contracts';
import { ipArgs } from '../drivers/exec';
import { FrrDriver } from '../drivers/frr';
import { parseRouteJson } from '../drivers/frr-parse';
import { frrHostRoutes, frrSessions, type RouteObservation, type SessionObservation } from '../observe';
import { mergeFrrConfig } from './frr-merge';
import { type RoleApplyResult, type RoleReconciler } from './types';
import { asObject, checkBase, fail, str } from './validate';

export interface FrrRouterRoleOptions {
  /** FRR runs with a pathspace per namespace (`-N`); the driver needs one. */
  namespace: string;
  /** Operator-owned base config (default `<FRR config dir>/frr.conf.local`). */
  localConfigPath?: string;
}

export class FrrRouterRole implements RoleReconciler<RouterDesiredState> {
  readonly kind = 'router' as const;
  readonly frr: FrrDriver;
  readonly localConfigPath: string;
  /** The last text applied and the running config right after: both equal again → no frr-reload needed. */
  private last?: { text: string; running: string };

  constructor(opts: FrrRouterRoleOptions) {
    if (!opts.namespace) throw new Error('the frr-router role needs the namespace (FRR pathspace) of the router');
    // bgpd_bmp loaded (Debian's frr ships it): a restarted bgpd keeps the BMP station of the config.
    this.frr = new FrrDriver({ namespace: opts.namespace, bgpdModules: ['bmp'] });
    this.localConfigPath = opts.localConfigPath ?? path.join(this.frr.configDir, 'frr.conf.local');
    if (this.localConfigPath === this.frr.configPath) throw new Error('the operator file must not be the agent-managed frr.conf');
  }

  validate(payload: unknown, targetId: string): RouterDesiredState {
    const o = asObject(payload);
    checkBase(o, 'router', targetId);
    if (o.vendor !== 'frr') fail(`vendor ${JSON.stringify(o.vendor)} is not applied by an FRR agent (Junos goes through the operator procedure)`);
    str(o, 'config');
    return o as unknown as RouterDesiredState;
  }

  /** frr.conf as the agent writes it: the fabric's config alone, or merged into the operator's base. */
  async compose(fabric: string): Promise<{ text: string; warnings: string[] }> {
    let base: string;
    try {
      base = await fs.readFile(this.localConfigPath, 'utf8');
    } catch {
      return { text: fabric, warnings: [] };
    }
    const m = mergeFrrConfig(base, fabric);
    const header = `! Written by the IP-Fabric agent: ${this.localConfigPath} (operator-owned, edit that one) merged with the fabric's section.\n`;
    return { text: header + m.text, warnings: m.warnings };
  }

  async apply(d: RouterDesiredState): Promise<RoleApplyResult> {
    const operations: string[] = [];
    const { text, warnings } = await this.compose(d.config);
    // start() also rewrites the config dir (chown -R): only when a daemon is missing.
    if (!(await this.frr.running())) {
      const { started } = await this.frr.start(text);
      if (started.length) operations.push(`frr: started ${started.join(', ')}`);
      this.last = undefined;
    }
    // frr-reload (a python process, about a second of CPU) only when the text or the running config moved.
    if (this.last && this.last.text === text && (await this.frr.runningConfig()) === this.last.running) {
      return { changes: operations.length, operations, warnings };
    }
    this.last = undefined;
    // frr-reload computes and applies the diff; `changed` compares the running config before/after.
    if ((await this.frr.applyConfig(text)).changed) operations.push(`frr: reloaded ${this.frr.configPath}`);
    this.last = { text, running: await this.frr.runningConfig() };
    return { changes: operations.length, operations, warnings };
  }

  /** BFD sessions (`show bfd sessions` / `show bfd peers json`); none when BFD is off or bfdd is not running. */
  bfdSessions(): Promise<BfdSession[]> {
    return this.frr.bfdPeers().catch(() => []);
  }

  async sessions(): Promise<SessionObservation[]> {
    return frrSessions(await this.frr.bgpSummary());
  }

  /**
   * `ip monitor route` in the router's namespace: zebra installs every BGP route in the kernel, so a line
   * with `proto bgp` means the table moved — read it now instead of at the next poll. Run under
   * `timeout 60` and restarted (with a read, for the gap): an agent killed with -9 leaves no monitor behind
   * for longer than that. The agent's periodic read stays as the safety net.
   */
  watchRoutes(onChange: () => void, log: Logger): () => void {
    let stopped = false;
    let child: ReturnType<typeof spawn> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let started = false;
    const start = () => {
      if (stopped) return;
      if (started) onChange();
      started = true;
      const t0 = Date.now();
      child = spawn('timeout', ['60', 'ip', ...ipArgs(this.frr.namespace, '-o', 'monitor', 'route')], { stdio: ['ignore', 'pipe', 'ignore'] });
      let rest = '';
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        if (lines.some((l) => /\bproto (bgp|186)\b/.test(l))) onChange();
      });
      child.on('error', (e) => log.debug({ err: e }, 'ip monitor route failed'));
      child.on('close', () => {
        child = undefined;
        if (stopped) return;
        // A monitor that could not run (namespace not there yet) is retried slowly.
        timer = setTimeout(start, Date.now() - t0 < 1000 ? 1000 : 100);
        timer.unref?.();
      });
    };
    start();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      child?.kill();
    };
  }

  async routes(): Promise<RouteObservation[]> {
    // `bgp` restricts the RIB dump to BGP routes: much less output on a full table.
    const v4 = parseRouteJson(await this.frr.vtysh('show ip route bgp json'));
    const v6 = parseRouteJson(await this.frr.vtysh('show ipv6 route bgp json'));
    return frrHostRoutes([...v4, ...v6]);
  }
}
