/**
 * Where a fault case's recovery time goes: a timeline sampled while the case runs, printed per phase
 * relative to the moment the fault hit. Sources, all outside the product's processes:
 *  - the supervisor's status (every program's exits, back-off delays and the moment it counted as up again,
 *    including collateral restarts of programs the fault did not hit);
 *  - the harness's own NATS connection (disconnect / reconnect);
 *  - every loop's heartbeat on `<ns>.health.loop.>` (a loop that restarts, e.g. a consumer re-created after
 *    NATS came back, and the first heartbeat that shows it running again, in the same or a new process);
 *  - the single-writer services' leader leases (a new holder, or a key that expired);
 *  - each gateway's /health (503 → 200);
 *  - marks the case sets itself (fault step done, burst done, stream / kernel / read model converged).
 */
import { Kvm, type KV } from '@nats-io/kv';
import { serviceLeaseBucket, type LoopStatus } from '@fabric/eventstore';
import { type SupervisedFabric } from './supervised-fabric';

interface ProgramSpan {
  program: string;
  downAt: number;
  exit?: string;
  backoffMs?: number;
  upAt?: number;
}

const SAMPLE_MS = 200;
/** A sample that takes longer is abandoned (see every()). */
const SAMPLE_TIMEOUT_MS = 5000;
/** Loops heartbeat every 5 s (FABRIC_LOOP_HEARTBEAT_MS): processes seen later than this are new ones. */
const BASELINE_MS = 6_000;

export class RecoveryTimeline {
  private readonly marks: { what: string; at: number }[] = [];
  private readonly spans: ProgramSpan[] = [];
  private readonly open = new Map<string, ProgramSpan>();
  private readonly nats: { what: string; at: number }[] = [];
  private readonly loops = new Map<string, { state: string; pid: number; troubleAt?: number; lastError?: string; newProcess?: boolean }>();
  private startedAt = Date.now();

  private recovered(loop: string, key: string, at: number) {
    const l = this.loops.get(key)!;
    this.loopRecoveries.push({ loop, from: l.troubleAt ?? at, runningAt: at, pidChanged: !!l.newProcess, lastError: l.lastError });
    l.troubleAt = undefined;
    l.lastError = undefined;
    l.newProcess = undefined;
  }
  private readonly loopRecoveries: { loop: string; from: number; runningAt: number; pidChanged: boolean; lastError?: string }[] = [];
  private readonly leases = new Map<string, { pid?: number }>();
  private readonly leaseChanges: { key: string; at: number; what: string }[] = [];
  private readonly health = new Map<string, { ok: boolean; failingSince?: number }>();
  private readonly healthGaps: { api: string; from: number; to: number }[] = [];
  private stopped = false;
  private tasks: Promise<void>[] = [];
  private sub?: { unsubscribe(): void };
  private kv?: KV;

  private statusIter?: { stop(): void };

  constructor(
    private readonly f: SupervisedFabric,
    private t0: number,
  ) {}

  /** Times are printed relative to `t0` (the fault); sampling started earlier for a baseline. */
  rebase(t0: number): this {
    this.t0 = t0;
    return this;
  }

  /** An event of the case; `at` undefined: now. */
  mark(what: string, at?: number): void {
    this.marks.push({ what, at: at ?? Date.now() });
  }

  async start(): Promise<void> {
    this.startedAt = Date.now();
    const dec = new TextDecoder();
    // Loop heartbeats: first sighting sets the baseline; a non-running state opens a recovery, running closes it.
    this.sub = this.f.nats.nc.subscribe('fabric.health.loop.>', {
      callback: (err, msg) => {
        if (err) return;
        let s: LoopStatus;
        try {
          s = JSON.parse(dec.decode(msg.data)) as LoopStatus;
        } catch {
          return;
        }
        if (typeof s?.name !== 'string') return;
        const at = Date.now();
        // By loop and process: two instances of a service run loops of the same name.
        const key = `${s.name}@${s.pid}`;
        const prev = this.loops.get(key);
        if (!prev) {
          // A process that appears once the baseline is known (a heartbeat period) is a restarted one.
          const fresh = at - this.startedAt > BASELINE_MS;
          this.loops.set(key, { state: s.state, pid: s.pid, ...(fresh ? { troubleAt: at, newProcess: true } : {}) });
          if (fresh && s.state === 'running') this.recovered(s.name, key, at);
          return;
        }
        if (s.state !== 'running') {
          prev.troubleAt ??= at;
          prev.lastError = s.lastError ?? prev.lastError;
        } else if (prev.troubleAt !== undefined) this.recovered(s.name, key, at);
        prev.state = s.state;
      },
    });
    this.tasks.push(this.watchNats(), this.sampleSupervisor(), this.sampleHealth(), this.sampleLeases());
  }

  private async watchNats(): Promise<void> {
    const it = this.f.nats.nc.status();
    this.statusIter = it as unknown as { stop(): void };
    for await (const st of it) {
      if (this.stopped) break;
      if (st.type === 'disconnect' || st.type === 'reconnect') this.nats.push({ what: st.type, at: Date.now() });
    }
  }

  /**
   * Samples until stopped. Each sample is bounded: a KV listing caught by a NATS kill can wait forever on its
   * consumer (a CI run hung in stop() for the rest of the case), so a sample that overruns is abandoned and
   * its KV handle reopened on the next one.
   */
  private async every(fn: () => Promise<void>): Promise<void> {
    while (!this.stopped) {
      let timer: NodeJS.Timeout | undefined;
      const overrun = new Promise<'overrun'>((r) => (timer = setTimeout(() => r('overrun'), SAMPLE_TIMEOUT_MS)));
      const r = await Promise.race([fn().catch(() => undefined), overrun]);
      clearTimeout(timer);
      if (r === 'overrun') this.kv = undefined;
      await new Promise((res) => setTimeout(res, SAMPLE_MS));
    }
  }

  private sampleSupervisor(): Promise<void> {
    return this.every(async () => {
      const st = await this.f.sup.status();
      const at = Date.now();
      for (const p of st?.programs ?? []) {
        const span = this.open.get(p.name);
        if (p.state !== 'up') {
          if (!span) {
            const s: ProgramSpan = { program: p.name, downAt: at };
            this.open.set(p.name, s);
            this.spans.push(s);
          }
          const s = this.open.get(p.name)!;
          if (p.lastExit && Date.parse(p.lastExit.at) >= this.t0) {
            s.downAt = Math.min(s.downAt, Date.parse(p.lastExit.at));
            s.exit = p.lastExit.signal ?? `exit ${p.lastExit.code}`;
          }
          if (p.state === 'backoff' && p.nextStartAt && p.lastExit) s.backoffMs = Date.parse(p.nextStartAt) - Date.parse(p.lastExit.at);
        } else if (span) {
          span.upAt = at;
          this.open.delete(p.name);
        }
      }
    });
  }

  private sampleHealth(): Promise<void> {
    return this.every(async () => {
      for (const api of this.f.apis) {
        const ok = await fetch(`${api}/health`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.ok,
          () => false,
        );
        const at = Date.now();
        const h = this.health.get(api) ?? { ok: true };
        if (!ok) h.failingSince ??= at;
        else if (h.failingSince !== undefined) {
          this.healthGaps.push({ api, from: h.failingSince, to: at });
          h.failingSince = undefined;
        }
        h.ok = ok;
        this.health.set(api, h);
      }
    });
  }

  private sampleLeases(): Promise<void> {
    const dec = new TextDecoder();
    return this.every(async () => {
      this.kv ??= await new Kvm(this.f.nats.nc).open(serviceLeaseBucket('fabric'));
      const keys: string[] = [];
      for await (const k of await this.kv.keys()) keys.push(k);
      for (const key of new Set([...keys, ...this.leases.keys()])) {
        const e = await this.kv.get(key);
        const at = Date.now();
        const pid = e && e.operation === 'PUT' ? (JSON.parse(dec.decode(e.value)) as { pid?: number }).pid : undefined;
        const prev = this.leases.get(key);
        if (prev && prev.pid !== pid) this.leaseChanges.push({ key, at, what: pid === undefined ? 'expired (no leader)' : `taken by pid ${pid}` });
        this.leases.set(key, { pid });
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sub?.unsubscribe();
    this.statusIter?.stop();
    await Promise.all(this.tasks);
  }

  /** The breakdown, one line per event, in time order, as seconds after the fault. */
  lines(): string[] {
    const s = (t: number) => `+${((t - this.t0) / 1000).toFixed(1)} s`;
    const rows: { at: number; text: string }[] = [];
    for (const m of this.marks) rows.push({ at: m.at, text: m.what });
    for (const p of this.spans)
      rows.push({
        at: p.upAt ?? p.downAt,
        text: `${p.program}: down ${s(p.downAt)}${p.exit ? ` (${p.exit})` : ''}${p.backoffMs !== undefined ? `, back-off ${p.backoffMs} ms` : ''}, ${p.upAt ? `up again ${s(p.upAt)} (${((p.upAt - p.downAt) / 1000).toFixed(1)} s)` : 'not up again'}`,
      });
    for (const n of this.nats) rows.push({ at: n.at, text: `harness NATS ${n.what}` });
    for (const l of this.loopRecoveries)
      rows.push({
        at: l.runningAt,
        text: `loop ${l.loop} running again${l.pidChanged ? ' (new process)' : ''}${l.from < l.runningAt ? `, was down since ${s(l.from)}` : ''}${l.lastError ? ` [${l.lastError.slice(0, 80)}]` : ''}`,
      });
    for (const l of this.leaseChanges) rows.push({ at: l.at, text: `leader lease ${l.key}: ${l.what}` });
    for (const g of this.healthGaps)
      rows.push({ at: g.to, text: `${g.api.replace(/^http:\/\/|\/api\/v1$/g, '')} /health failing from ${s(g.from)}, ok again` });
    for (const [api, h] of this.health) if (h.failingSince !== undefined) rows.push({ at: h.failingSince, text: `${api} /health failing (still)` });
    return rows.sort((a, b) => a.at - b.at).map((r) => `${s(r.at).padStart(9)}  ${r.text}`);
  }
}
