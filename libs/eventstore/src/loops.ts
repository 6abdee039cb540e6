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

export interface LoopReport extends LoopStatus {
  /** Why this loop makes the system degraded (absent: fine). */
  problem?: string;
  /** Reported by this process (live) or by a heartbeat of another one. */
  source: 'local' | 'heartbeat';
}

type Sub = { unsubscribe(): void };
type Conn = { subscribe(subject: string, opts: { callback: (err: unknown, msg: { data: Uint8Array; string?(): string }) => void }): Sub };

/**
 * Collects the loop heartbeats of every process of a namespace (the gateway's /health). A loop is known
 * by name and process: a process that dies stops its heartbeats and shows as gone until a process with
 * the same loop takes over (or it comes back).
 */
export class LoopMonitor {
  private readonly seen = new Map<string, LoopStatus>();
  private sub?: Sub;

  constructor(
    private readonly nc: Conn,
    readonly ns: string,
    private readonly local: LoopRegistry = processLoops,
  ) {}

  start(): void {
    if (this.sub) return;
    const dec = new TextDecoder();
    this.sub = this.nc.subscribe(`${this.ns}.health.loop.>`, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const s = JSON.parse(dec.decode(msg.data)) as LoopStatus;
          if (typeof s?.name !== 'string' || typeof s.pid !== 'number') return;
          const key = `${s.name}@${s.host}:${s.pid}`;
          if (s.state === 'stopped') this.seen.delete(key);
          else this.seen.set(key, s);
        } catch {
          // not a heartbeat
        }
      },
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  /** Every loop of the namespace with its problem, if any. */
  async report(now = Date.now()): Promise<LoopReport[]> {
    const stallMs = loopStallMs();
    const heartbeatMs = loopHeartbeatMs();
    const local = await this.local.report(this.ns);
    const out: LoopReport[] = local.map((s) => ({ ...s, source: 'local' as const, ...withProblem(s, stallMs, now, heartbeatMs) }));
    const localKeys = new Set(local.map((s) => `${s.name}@${s.host}:${s.pid}`));
    const remote = [...this.seen.entries()].filter(([k]) => !localKeys.has(k)).map(([, s]) => s);
    for (const s of remote) {
      const problem = loopProblem(s, stallMs, now, heartbeatMs);
      // Gone, but the same loop runs elsewhere (a restarted process, another replica): forget it.
      if (problem && now - Date.parse(s.at) > 3 * heartbeatMs) {
        const replaced = [...local, ...remote].some(
          (o) => o !== s && o.name === s.name && Date.parse(o.at) > Date.parse(s.at) && !loopProblem(o, stallMs, now, heartbeatMs),
        );
        if (replaced) {
          this.seen.delete(`${s.name}@${s.host}:${s.pid}`);
          continue;
        }
      }
      out.push({ ...s, source: 'heartbeat', ...(problem ? { problem } : {}) });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.pid - b.pid);
  }
}

function withProblem(s: LoopStatus, stallMs: number, now: number, heartbeatMs: number): { problem?: string } {
  const problem = loopProblem(s, stallMs, now, heartbeatMs);
  return problem ? { problem } : {};
}
