import type { DesiredState, TargetKind } from '@fabric/contracts';
import type { Logger } from 'pino';
import type { Nats } from '@fabric/eventstore';
import type { RouteObservation, SessionObservation } from '../observe';

export interface RoleApplyResult {
  changes: number;
  operations: string[];
  /** Not errors, e.g. a tap interface libvirt has not created yet (retried at the next reconcile). */
  warnings: string[];
}

/** One target kind's reconciler: validates its payload, converges the box, reads what it observes. */
export interface RoleReconciler<D extends DesiredState = DesiredState> {
  readonly kind: TargetKind;
  /** Throws a readable error on anything malformed (the payload comes from the network). */
  validate(payload: unknown, targetId: string): D;
  apply(desired: D): Promise<RoleApplyResult>;
  /** Ends what the role keeps running between applies (the node's `ip -batch` processes). */
  close?(): Promise<void>;
  sessions(): Promise<SessionObservation[]>;
  /** rr and frr-router: the /32 and /128 routes held (a complete read). */
  routes?(): Promise<RouteObservation[]>;
  /** A cheap probe that changes whenever the routes may have (BIRD: channel counters); the table is read only then. */
  routesVersion?(): Promise<string>;
  /** Pushes "routes moved" (FRR core: kernel route events); returns the stop function. */
  watchRoutes?(onChange: () => void, log: Logger): () => void;
  /** Bus-fed work beside the commands (rr: the ROA feed), started once connected, before the first apply. */
  attach?(ctx: RoleContext): Promise<void>;
  detach?(): Promise<void>;
}

export interface RoleContext {
  nats: Nats;
  targetId: string;
  log: (level: 'info' | 'warn' | 'debug', msg: string, extra?: Record<string, unknown>) => void;
}
