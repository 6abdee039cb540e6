/**
 * The agent (one program, three roles): follows its own command subject (latest desired state only),
 * reconciles actual → desired at start, on every command, periodically (drift) and on demand, and
 * reports ConfigApplied / ConfigApplyFailed / BgpSessionStateChanged / RoutesObserved on
 * `<ns>.evt.agent.<kind>.<targetId>`.
 */
import { randomUUID } from 'node:crypto';
import pino, { Logger } from 'pino';
import { context, trace } from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/nats-core';
import { ConsumerMessages, DeliverPolicy, JsMsg } from '@nats-io/jetstream';
import { DesiredState, FabricEvent, TargetKind, TargetRef } from '@fabric/contracts';
import { DESIRED_SCHEMA_HEADER, unsupportedDesiredSchema } from '@fabric/contracts';
import { EventStore, Nats } from '@fabric/eventstore';
import { withConsumerSpan } from '@fabric/telemetry';
import { agentApplyChanges, agentApplyDuration, bgpSessionsUp } from '@fabric/service-kit';
import { RouteSetTracker, SessionObservation, SessionTracker } from './observe';
import { FrrRouterRole } from './roles/frr-router';
import { NodeRole } from './roles/node';
import { RrRole } from './roles/rr';
import { RoleReconciler } from './roles/types';
import { kindOfRole, peekBase } from './roles/validate';

export type AgentRole = 'node' | 'rr' | 'frr-router';

export interface AgentOptions {
  role: AgentRole;
  targetId: string;
  /** NATS subject namespace (default env FABRIC_NS or 'fabric'). */
  ns?: string;
  /** Comma-separated servers (default env NATS_URL or 127.0.0.1:4222). */
  natsUrl?: string;
  /** Linux network namespace of the target (lab); undefined = the agent's own namespace. */
  namespace?: string;
  bird?: { configPath: string; controlSocket: string; pidFile?: string };
  /** Lab netns VM driver: VM namespaces are `<prefix><first 8 hex of vmId>`. */
  vmNamespacePrefix?: string;
  /** Periodic reconcile (drift repair), default 30000. */
  resyncMs?: number;
  /** BGP session / route polling, default 1000. */
  pollMs?: number;
  logger?: Logger;
}

export type ReconcileReason = 'start' | 'command' | 'resync' | 'retry' | 'manual';

export interface ApplyReport {
  target: { kind: TargetKind; id: string };
  reason: ReconcileReason;
  /** null: no desired state received yet, nothing was done. */
  generation: number | null;
  hash: string | null;
  changes: number;
  operations: string[];
  warnings: string[];
  durationMs: number;
  /** A ConfigApplied event was published for this reconcile. */
  reported: boolean;
}

export interface AgentHandle {
  stop(): Promise<void>;
  reconcileNow(): Promise<ApplyReport>;
}

const TARGET_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_ERROR = 2000;
const dec = new TextDecoder();

export function createRole(opts: AgentOptions): RoleReconciler {
  switch (opts.role) {
    case 'node':
      if (!opts.bird) throw new Error('the node role needs bird.configPath and bird.controlSocket');
      return new NodeRole({ namespace: opts.namespace, bird: opts.bird, vmNamespacePrefix: opts.vmNamespacePrefix });
    case 'rr':
      if (!opts.bird) throw new Error('the rr role needs bird.configPath and bird.controlSocket');
      return new RrRole({ namespace: opts.namespace, bird: opts.bird });
    case 'frr-router':
      return new FrrRouterRole({ namespace: opts.namespace as string });
    default:
      throw new Error(`unknown role ${JSON.stringify((opts as { role: unknown }).role)}`);
  }
}

function defaultLogger(opts: AgentOptions): Logger {
  return pino({
    name: 'agent',
    level: process.env.LOG_LEVEL ?? 'info',
    base: { role: opts.role, targetId: opts.targetId, pid: process.pid },
    mixin() {
      const span = trace.getSpan(context.active());
      return span ? { traceId: span.spanContext().traceId } : {};
    },
  });
}

/** Publishes reports in order; retries a failed publish with the same Msg-Id (server dedupe). */
class Reporter {
  private chain: Promise<void> = Promise.resolve();
  private n = 0;
  private readonly run = randomUUID();
  stopping = false;

  constructor(private readonly store: EventStore, private readonly subject: string, private readonly log: Logger) {}

  report(event: FabricEvent): Promise<void> {
    // `<run uuid>:<counter>`: unique per report across restarts, stable across publish retries.
    const id = `${this.run}:${++this.n}`;
    const p = this.chain.then(() => this.publish(id, event));
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async publish(id: string, event: FabricEvent): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.append(this.subject, [{ id, event }]);
        this.log.debug({ eventId: id, type: event.type }, 'reported');
        return;
      } catch (e) {
        if (this.stopping && attempt >= 3) {
          this.log.error({ err: e, eventId: id, type: event.type }, 'report lost');
          throw e;
        }
        this.log.warn({ err: e, eventId: id, type: event.type, attempt }, 'report failed, retrying');
        await sleep(Math.min(200 * 2 ** attempt, 5000));
      }
    }
  }

  async flush(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.chain, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class Agent {
  private readonly log: Logger;
  private readonly role: RoleReconciler;
  private readonly kind: TargetKind;
  private readonly target: TargetRef;
  private readonly resyncMs: number;
  private readonly pollMs: number;
  private nats?: Nats;
  private reporter?: Reporter;
  private subject = '';

  private desired?: DesiredState;
  private desiredHeaders?: MsgHdrs;
  private startSeq = 0;
  /** A command (or the start) is not confirmed by ConfigApplied yet: report the next success whatever its changes. */
  private unreported = false;
  private lastFailure?: string;
  private failures = 0;

  private queue: Promise<unknown> = Promise.resolve();
  private commandQueued = false;
  private resyncQueued = false;
  private retryTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private messages?: ConsumerMessages;
  private consumeLoop?: Promise<void>;
  private stopped = false;

  private readonly sessions = new SessionTracker();
  private readonly routeSet = new RouteSetTracker();
  private sessionPollFailures = 0;
  /** protocol → state, for the fabric_bgp_sessions_up gauge. */
  private readonly sessionStates = new Map<string, string>();

  constructor(private readonly opts: AgentOptions) {
    if (!TARGET_ID.test(opts.targetId)) throw new Error(`invalid targetId ${JSON.stringify(opts.targetId)} (letters, digits, _ and -, ≤ 64)`);
    this.kind = kindOfRole(opts.role);
    this.target = { kind: this.kind, id: opts.targetId };
    this.role = createRole(opts);
    this.log = opts.logger ? opts.logger.child({ role: opts.role, targetId: opts.targetId }) : defaultLogger(opts);
    this.resyncMs = opts.resyncMs ?? 30_000;
    this.pollMs = opts.pollMs ?? 1000;
    if (!(this.resyncMs > 0) || !(this.pollMs > 0)) throw new Error('resyncMs and pollMs must be > 0');
  }

  async start(): Promise<void> {
    this.nats = await Nats.connect({ servers: this.opts.natsUrl, ns: this.opts.ns, name: `agent-${this.kind}-${this.opts.targetId}` });
    try {
      await this.nats.ensureStreams();
      const subjects = this.nats.subjects;
      this.subject = subjects.cmd(this.kind, this.opts.targetId);
      this.reporter = new Reporter(new EventStore(this.nats), subjects.evt('agent', this.kind, this.opts.targetId), this.log);

      // Start-up reconcile with the latest command (one direct read), before following the subject.
      const last = await this.nats.jsm.streams.getMessage(subjects.commandsStream, { last_by_subj: this.subject });
      if (last) {
        this.startSeq = last.seq;
        this.accept(last.data, last.header, last.seq);
      } else {
        this.log.info({ subject: this.subject }, 'no desired state yet; waiting for a command');
      }
      if (this.desired) {
        this.unreported = true;
        await this.enqueue(() => this.reconcile('start')).catch(() => undefined);
      }

      const consumer = await this.nats.js.consumers.get(subjects.commandsStream, {
        // nats-server 2.9: a single filter subject (a string becomes `filter_subject`).
        filter_subjects: this.subject,
        deliver_policy: DeliverPolicy.LastPerSubject,
      });
      this.messages = await consumer.consume({ max_messages: 16 });
      const messages = this.messages;
      this.consumeLoop = (async () => {
        for await (const m of messages as AsyncIterable<JsMsg>) this.onCommand(m);
      })().catch((e) => this.log.error({ err: e }, 'command consumer ended'));

      this.resyncTimer = setInterval(() => this.kickResync(), this.resyncMs);
      this.resyncTimer.unref?.();
      this.schedulePoll(0);
      this.log.info({ subject: this.subject, generation: this.desired?.generation ?? null }, 'agent started');
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Parses and accepts a command if it is not older than what we have; returns whether it was accepted. */
  private accept(data: Uint8Array, headers: MsgHdrs | undefined, seq: number): boolean {
    let payload: unknown;
    let d: DesiredState;
    try {
      payload = JSON.parse(dec.decode(data));
      const refused = unsupportedDesiredSchema(headers?.get(DESIRED_SCHEMA_HEADER));
      if (refused) throw new Error(refused);
      d = this.role.validate(payload, this.opts.targetId);
    } catch (e) {
      const { generation, hash } = peekBase(payload);
      const error = `invalid desired state (stream seq ${seq}): ${(e as Error).message}`;
      this.log.error({ seq, generation }, error);
      void this.report({ type: 'ConfigApplyFailed', data: { target: this.target, generation, hash, error: error.slice(0, MAX_ERROR) } });
      return false;
    }
    if (this.desired && d.generation < this.desired.generation) {
      this.log.warn({ seq, generation: d.generation, current: this.desired.generation }, 'older generation ignored');
      return false;
    }
    this.desired = d;
    this.desiredHeaders = headers;
    return true;
  }

  private onCommand(m: JsMsg): void {
    if (this.stopped || m.seq <= this.startSeq) return; // the start-up reconcile already used it
    if (!this.accept(m.data, m.headers, m.seq)) return;
    this.log.info({ seq: m.seq, generation: this.desired!.generation, hash: this.desired!.hash }, 'command received');
    this.unreported = true;
    this.clearRetry();
    // Commands arriving during a reconcile coalesce: the next run applies the newest.
    if (this.commandQueued) return;
    this.commandQueued = true;
    this.enqueue(() => {
      this.commandQueued = false;
      return this.reconcile('command');
    }).catch(() => undefined);
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private kickResync(): void {
    if (this.stopped || this.resyncQueued || this.retryTimer || !this.desired) return;
    this.resyncQueued = true;
    this.enqueue(() => {
      this.resyncQueued = false;
      return this.reconcile('resync');
    }).catch(() => undefined);
  }

  reconcileNow(): Promise<ApplyReport> {
    if (this.stopped) return Promise.reject(new Error('agent stopped'));
    return this.enqueue(() => this.reconcile('manual'));
  }

  private async reconcile(reason: ReconcileReason): Promise<ApplyReport> {
    const d = this.desired;
    const t0 = Date.now();
    const base = { target: { ...this.target }, reason };
    if (!d) return { ...base, generation: null, hash: null, changes: 0, operations: [], warnings: [], durationMs: 0, reported: false };
    const run = () => this.role.apply(d);
    try {
      // A command's trace continues into the apply and its report.
      const r = reason === 'command' || reason === 'start'
        ? await withConsumerSpan(`agent.apply ${this.kind}`, this.desiredHeaders, { 'fabric.target': this.opts.targetId, 'fabric.generation': d.generation }, run)
        : await run();
      const durationMs = Date.now() - t0;
      agentApplyDuration.observe({ role: this.opts.role, result: 'ok' }, durationMs / 1000);
      agentApplyChanges.inc({ role: this.opts.role }, r.changes);
      const report = this.unreported || r.changes > 0;
      if (r.warnings.length) this.log.warn({ generation: d.generation, warnings: r.warnings }, 'applied with warnings');
      this.log[r.changes > 0 || reason !== 'resync' ? 'info' : 'debug'](
        { reason, generation: d.generation, changes: r.changes, operations: r.operations, durationMs },
        r.changes > 0 && (reason === 'resync' || reason === 'manual') ? 'drift repaired' : 'reconciled',
      );
      this.failures = 0;
      this.lastFailure = undefined;
      this.clearRetry();
      if (report && d === this.desired) this.unreported = false;
      if (report) {
        void this.report({
          type: 'ConfigApplied',
          data: { target: this.target, generation: d.generation, hash: d.hash, changes: r.changes, durationMs },
        });
      }
      return { ...base, generation: d.generation, hash: d.hash, changes: r.changes, operations: r.operations, warnings: r.warnings, durationMs, reported: report };
    } catch (e) {
      const error = ((e as Error).message ?? String(e)).slice(0, MAX_ERROR);
      agentApplyDuration.observe({ role: this.opts.role, result: 'error' }, (Date.now() - t0) / 1000);
      this.failures++;
      const key = `${d.generation}|${error}`;
      this.log.error({ reason, generation: d.generation, err: e, failures: this.failures }, 'reconcile failed');
      // Retries of the same failure are logged, not reported again.
      if (key !== this.lastFailure || reason === 'command' || reason === 'start') {
        void this.report({ type: 'ConfigApplyFailed', data: { target: this.target, generation: d.generation, hash: d.hash, error } });
      }
      this.lastFailure = key;
      this.scheduleRetry();
      throw e;
    }
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const delay = Math.min(1000 * 2 ** Math.min(this.failures - 1, 10), Math.max(this.resyncMs, 1000), 60_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.stopped) return;
      this.enqueue(() => this.reconcile('retry')).catch(() => undefined);
    }, delay);
    this.retryTimer.unref?.();
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private schedulePoll(delay: number): void {
    if (this.stopped) return;
    this.pollTimer = setTimeout(() => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        this.schedulePoll(this.pollMs);
      });
    }, delay);
    this.pollTimer.unref?.();
  }

  private async poll(): Promise<void> {
    let changed: SessionObservation[];
    try {
      changed = this.sessions.update(await this.role.sessions());
      this.sessionPollFailures = 0;
    } catch (e) {
      // Daemon not up yet or gone: after a few misses, known sessions are no longer known to be up.
      this.sessionPollFailures++;
      this.log.debug({ err: e }, 'session poll failed');
      changed = this.sessionPollFailures === 5 ? this.sessions.markAll('Unknown', `cannot read sessions: ${(e as Error).message}`) : [];
    }
    for (const s of changed) {
      if (s.state === 'Removed') this.sessionStates.delete(s.protocol);
      else this.sessionStates.set(s.protocol, s.state);
      this.log.info({ protocol: s.protocol, peerIp: s.peerIp, state: s.state }, 'BGP session state');
      void this.report({ type: 'BgpSessionStateChanged', data: { target: this.target, ...s } });
    }
    if (changed.length) bgpSessionsUp.set({ kind: this.kind, target: this.opts.targetId }, [...this.sessionStates.values()].filter((st) => st === 'Established').length);
    if (!this.role.routes) return;
    try {
      const set = this.routeSet.observe(await this.role.routes());
      if (set) {
        this.log.info({ routes: set.length }, 'routes observed');
        void this.report({ type: 'RoutesObserved', data: { target: this.target, routes: set } }).then((ok) => ok || this.routeSet.forget());
      }
    } catch (e) {
      this.log.debug({ err: e }, 'route poll failed');
    }
  }

  /** Resolves false when the report was lost (only while stopping). */
  private report(event: FabricEvent): Promise<boolean> {
    if (!this.reporter) return Promise.resolve(false);
    return this.reporter.report(event).then(() => true, () => false);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.clearRetry();
    await this.messages?.close().catch(() => undefined);
    await this.consumeLoop;
    await this.queue;
    await this.polling;
    if (this.reporter) {
      this.reporter.stopping = true;
      await this.reporter.flush(5000);
    }
    await this.nats?.close();
    this.log.info('agent stopped');
  }
}

export async function startAgent(opts: AgentOptions): Promise<AgentHandle> {
  const agent = new Agent(opts);
  await agent.start();
  return { stop: () => agent.stop(), reconcileNow: () => agent.reconcileNow() };
}
