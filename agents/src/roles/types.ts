import type { DesiredState, TargetKind } from '@fabric/contracts';
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
  /** rr and frr-router: the /32 and /128 routes held. */
  routes?(): Promise<RouteObservation[]>;
}
