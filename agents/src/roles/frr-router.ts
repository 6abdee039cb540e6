/** FRR router role (the lab core, FRR-based border routers): the whole frr.conf of its namespace. */
import { RouterDesiredState } from '@fabric/contracts';
import { FrrDriver } from '../drivers/frr';
import { parseRouteJson } from '../drivers/frr-parse';
import { frrHostRoutes, frrSessions, RouteObservation, SessionObservation } from '../observe';
import { RoleApplyResult, RoleReconciler } from './types';
import { asObject, checkBase, fail, str } from './validate';

export interface FrrRouterRoleOptions {
  /** FRR runs with a pathspace per namespace (`-N`); the driver needs one. */
  namespace: string;
}

export class FrrRouterRole implements RoleReconciler<RouterDesiredState> {
  readonly kind = 'router' as const;
  readonly frr: FrrDriver;

  constructor(opts: FrrRouterRoleOptions) {
    if (!opts.namespace) throw new Error('the frr-router role needs the namespace (FRR pathspace) of the router');
    this.frr = new FrrDriver({ namespace: opts.namespace });
  }

  validate(payload: unknown, targetId: string): RouterDesiredState {
    const o = asObject(payload);
    checkBase(o, 'router', targetId);
    if (o.vendor !== 'frr') fail(`vendor ${JSON.stringify(o.vendor)} is not applied by an FRR agent (Junos goes through the operator procedure)`);
    str(o, 'config');
    return o as unknown as RouterDesiredState;
  }

  async apply(d: RouterDesiredState): Promise<RoleApplyResult> {
    const operations: string[] = [];
    // start() also rewrites the config dir (chown -R): only when a daemon is missing.
    if (!(await this.frr.running())) {
      const { started } = await this.frr.start(d.config);
      if (started.length) operations.push(`frr: started ${started.join(', ')}`);
    }
    // frr-reload computes and applies the diff; `changed` compares the running config before/after.
    if ((await this.frr.applyConfig(d.config)).changed) operations.push(`frr: reloaded ${this.frr.configPath}`);
    return { changes: operations.length, operations, warnings: [] };
  }

  async sessions(): Promise<SessionObservation[]> {
    return frrSessions(await this.frr.bgpSummary());
  }

  async routes(): Promise<RouteObservation[]> {
    // `bgp` restricts the RIB dump to BGP routes: much less output on a full table.
    const v4 = parseRouteJson(await this.frr.vtysh('show ip route bgp json'));
    const v6 = parseRouteJson(await this.frr.vtysh('show ipv6 route bgp json'));
    return frrHostRoutes([...v4, ...v6]);
  }
}
