/**
 * Every long-running reading loop of a process registers here; each also heartbeats its status on
 * `<ns>.health.loop.<name>` so the gateway's /health can report the loops of every process.
 */
import { hostname } from 'node:os';

export type LoopState = 'starting' | 'running' | 'restarting' | 'stopped';

export interface LoopStatus {
  name: string;
  ns: string;
  state: LoopState;
  /** Last stream sequence handled. */
  position: number;
  /** Events stored that this loop has not handled yet (null: unknown). */
  lag: number | null;
  /** How long the lag has been there without any progress (0 when none). */
  stalledMs: number;
  restarts: number;
  handled: number;
  failed: number;
  deadLettered: number;
  lastError?: string;
  pid: number;
  host: string;
  at: string;
}

export interface MonitoredLoop {
  readonly name: string;
  readonly ns: string;
  status(): Promise<LoopStatus>;
}

export class LoopRegistry {
  private readonly loops = new Set<MonitoredLoop>();
  add(l: MonitoredLoop): void {
    this.loops.add(l);
  }
  remove(l: MonitoredLoop): void {
    this.loops.delete(l);
  }
  list(ns?: string): MonitoredLoop[] {
    return [...this.loops].filter((l) => ns === undefined || l.ns === ns);
  }
  report(ns?: string): Promise<LoopStatus[]> {
    return Promise.all(this.list(ns).map((l) => l.status()));
  }
}

/** The loops of this process. */
export const processLoops = new LoopRegistry();

export const HOST = hostname();

/** Seconds of "lag without progress" after which a loop counts as stalled (FABRIC_LOOP_STALL_MS). */
export const loopStallMs = () => Number(process.env.FABRIC_LOOP_STALL_MS ?? 30_000);
/** Heartbeat period of every loop (FABRIC_LOOP_HEARTBEAT_MS). */
export const loopHeartbeatMs = () => Number(process.env.FABRIC_LOOP_HEARTBEAT_MS ?? 5_000);

/** Why a loop makes the process degraded, or undefined when it is fine. */
export function loopProblem(s: LoopStatus, stallMs = loopStallMs(), now = Date.now(), heartbeatMs = loopHeartbeatMs()): string | undefined {
  if (s.state === 'restarting') return `loop is dead and being restarted (${s.restarts} restarts): ${s.lastError ?? 'ended'}`;
  if (s.state === 'starting' && s.restarts > 0) return `loop is restarting: ${s.lastError ?? ''}`;
  if (s.stalledMs >= stallMs) return `lag ${s.lag} without progress for ${Math.round(s.stalledMs / 1000)} s`;
  if (now - Date.parse(s.at) > 3 * heartbeatMs) return `no heartbeat for ${Math.round((now - Date.parse(s.at)) / 1000)} s (process gone?)`;
  return undefined;
}

/** Subject token of a loop name. */
export const loopToken = (name: string) => name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 120) || '_';
