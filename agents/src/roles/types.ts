import type { DesiredState, TargetKind } from '@fabric/contracts';
import type { Logger } from 'pino';
import type { Nats } from '@fabric/eventstore';
import type { RouteObservation, SessionObservation } from '../observe';
import type { BfdSession } from '../drivers/bfd-parse';

export interface RoleApplyResult {
  changes: number;
  operations: string[];
  /** Not errors, e.g. a tap interface libvirt has not created yet (retried at the next reconcile). */
  warnings: string[];
  /** The hash of what was applied when it is more than the command (rr: the command and its node parts). */
  hash?: string;
}

/** One target kind's reconciler: validates its payload, converges the box, reads what it observes. */
export interface RoleReconciler<D extends DesiredState = DesiredState> {
  readonly kind: TargetKind;
  /** Throws a readable error on anything malformed (the payload comes from the network). */
  validate(payload: unknown, targetId: string): D;
  /** `kernel`: started by a kernel event (watchKernel) — only what the events touched needs looking at. */
  apply(desired: D, ctx?: { kernel?: boolean }): Promise<RoleApplyResult>;
  /** Ends what the role keeps running between applies (the node's `ip -batch` processes). */
  close?(): Promise<void>;
  sessions(): Promise<SessionObservation[]>;
  /** BFD sessions as the daemon reports them (none when BFD is off). */
  bfdSessions?(): Promise<BfdSession[]>;
  /** rr and frr-router: the /32 and /128 routes held (a complete read). */
  routes?(): Promise<RouteObservation[]>;
  /** A cheap probe that changes whenever the routes may have (RR: channel counters, rr-probe.ts); the table is read only then. */
  routesVersion?(): Promise<string>;
  /** Pushes "routes moved" (FRR core: kernel route events); returns the stop function. */
  watchRoutes?(onChange: () => void, log: Logger): () => void;
  /**
   * node: reports that the kernel left the desired state (a VM's tap/veth appeared, a route of ours was deleted)
   * the moment its event arrives; the agent then reconciles. Returns the stop function.
   */
  watchKernel?(onDrift: () => void, log: Logger): () => void;
  /** The kernel monitor's child (pid) and how many were started (status, tests). */
  kernelMonitor?(): { pid?: number; starts: number } | null;
  /** Bus-fed work beside the commands (rr: the ROA feed), started once connected, before the first apply. */
  attach?(ctx: RoleContext): Promise<void>;
  detach?(): Promise<void>;
}

export interface RoleContext {
  nats: Nats;
  targetId: string;
  log: (level: 'info' | 'warn' | 'debug', msg: string, extra?: Record<string, unknown>) => void;
  /** Asks for a reconcile of the current desired state (bus-fed parts of it changed); coalesced, queued. */
  reconcile?: () => void;
}
