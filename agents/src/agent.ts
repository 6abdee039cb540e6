/**
 * The agent (one program, three roles): follows its own command subject (latest desired state only),
 * reconciles actual → desired at start, on every command, periodically (drift) and on demand, and
 * reports ConfigApplied / ConfigApplyFailed / BgpSessionStateChanged (up/down transitions) / BfdSessionStateChanged
 * (BFD state or timer changes) / RoutesChanged
 * (route deltas in bounded batches) on `<ns>.evt.agent.<kind>.<targetId>`.
 *
 * One agent per target and per box: host locks (the target's state dir, and `<kind>@<netns|host>` in the
 * lock dir) plus a lease on the bus (see lease.ts). Fail static: while NATS is away or the lease is not
 * confirmed, nothing is applied (the data plane stays exactly as it is); it reconnects and resumes.
 * The last applied generation survives restarts (state file), so an older one is never applied.
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import { context, trace } from '@opentelemetry/api';
import type { MsgHdrs, Subscription } from '@nats-io/nats-core';
import { AckPolicy, type ConsumerMessages, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import { type DesiredState, type FabricEvent, OBSERVATION_TYPES, REDACTED, ROUTES_CHANGED_MAX, type TargetKind, type TargetRef } from '@fabric/contracts';
import { redactSecrets } from '@fabric/renderers';
import { EventStore, Nats, agentConsumerName, readerPullExpiresMs } from '@fabric/eventstore';
import { DESIRED_SCHEMA_HEADER, resyncAddressedTo, unsupportedDesiredSchema } from '@fabric/contracts';
import { withConsumerSpan } from '@fabric/telemetry';
import { agentApplyChanges, agentApplyDuration, bfdSessionsGauge, bgpSessionsUp } from '@fabric/service-kit';
import { type BfdObservation, BfdTracker, RouteDeltaTracker, type SessionObservation, SessionTracker } from './observe';
import { FrrRouterRole } from './roles/frr-router';
import { FrrDriver } from './drivers/frr';
import { NodeRole } from './roles/node';
import { RrRole } from './roles/rr';
import { type RoleReconciler } from './roles/types';
import { kindOfRole, peekBase } from './roles/validate';
import { acquireHostLock, type HostLock } from './host-lock';
import { FencedError, leaseBucket, TargetLease } from './lease';
import { type AgentStateRecord, readAgentState, writeAgentState } from './state-file';

export type AgentRole = 'node' | 'rr' | 'frr-router';

export interface AgentOptions {
  role: AgentRole;
  targetId: string;
  /** NATS subject namespace (default env FABRIC_NS or 'fabric'). */
  ns?: string;
  /** Comma-separated servers (default env NATS_URL or 127.0.0.1:4222). */
  natsUrl?: string;
  /** This agent's nkey seed file (its identity on the bus); default $NATS_CREDS. */
  natsCreds?: string;
  /** Linux network namespace of the target (lab); undefined = the agent's own namespace. */
  namespace?: string;
  bird?: { configPath: string; controlSocket: string; pidFile?: string; localConfigPath?: string; commandTimeoutMs?: number };
  /** frr-router: the operator-owned base config (default `frr.conf.local` in the FRR config dir). */
  frrLocalConfigPath?: string;
  /** Lab netns VM driver: VM namespaces are `<prefix><first 8 hex of vmId>`. */
  vmNamespacePrefix?: string;
  /** node, rr: FRR pathspace of the EVPN FRR beside BIRD (private networks); undefined = no FRR on this target. */
  evpnFrrPathspace?: string;
  /** Periodic reconcile (drift repair), default 30000. */
  resyncMs?: number;
  /**
   * node: follow the kernel's link/address/route events (`ip monitor`) and reconcile the moment one takes the node
   * off its desired state (libvirt/LXD created a VM's tap/veth, a route was deleted); default true. Without it only
   * commands, the periodic resync and reconcileNow converge the node.
   */
  kernelEvents?: boolean;
  /**
   * node: drop what a VM sends from an address that is not its own (nftables reverse-path check on the VM
   * interfaces, drivers/antispoof.ts); default true. Off only where the operator's own firewall does it.
   */
  antispoof?: boolean;
  /** BGP session polling; route reads of roles that cannot probe or push changes; default 1000. */
  pollMs?: number;
  /** BIRD roles: how often the cheap "routes changed?" probe runs (the table is read only when it moved); default 100. */
  routePollMs?: number;
  /** A session's next up/down report waits this long after its previous one (flap damping); default 5000. */
  sessionHoldMs?: number;
  logger?: Logger;
  /** Per-target state (last applied generation, target lock); default $FABRIC_AGENT_STATE_DIR or /var/lib/ip-fabric-agent. */
  stateDir?: string;
  /** Box locks (`<kind>@<netns|host>.lock`); default $FABRIC_AGENT_LOCK_DIR or /run/lock/ip-fabric-agent. */
  lockDir?: string;
  /** How long a start waits for a lock or lease another agent holds (default 0: fail at once). */
  lockWaitMs?: number;
  /** This host's name in the lease (default os.hostname()): agents on one host can take over a dead one's lease at once. */
  hostId?: string;
  /** Lease TTL on the bus (default 15000; renewed every third of it). */
  leaseTtlMs?: number;
  /** Called once when the agent had to stop on its own (fenced: another agent took the target). */
  onFatal?: (err: Error) => void;
}

export interface AgentStatus {
  /** Connected to NATS now. */
  connected: boolean;
  /** Applies are allowed: connected, lease confirmed, not fenced. */
  applying: boolean;
  fenced: boolean;
  desiredGeneration: number | null;
  /** Last generation applied (this process or, before the first apply, the state file). */
  appliedGeneration: number | null;
  /** Reconciles skipped because applies were paused (fail static). */
  pausedReconciles: number;
  /** Session polls done. */
  polls: number;
  /** Complete route-table reads done (rr, router). */
  routeReads: number;
  reconnects: number;
  instance: string;
  /** node with kernelEvents: the `ip monitor` child (pid, children started so far); null otherwise. */
  kernelMonitor: { pid?: number; starts: number } | null;
}

export type ReconcileReason = 'start' | 'command' | 'resync' | 'retry' | 'manual' | 'resume' | 'kernel';

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
  /** Nothing was done: applies are paused (NATS away, lease unconfirmed, or fenced). */
  paused?: boolean;
}

export interface AgentHandle {
  stop(): Promise<void>;
  reconcileNow(): Promise<ApplyReport>;
  status(): AgentStatus;
}

export const DEFAULT_STATE_DIR = '/var/lib/ip-fabric-agent';
export const DEFAULT_LOCK_DIR = '/run/lock/ip-fabric-agent';

const TARGET_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_ERROR = 2000;
const dec = new TextDecoder();

function evpnFrrOf(opts: AgentOptions): { evpnFrr?: FrrDriver } {
  return opts.evpnFrrPathspace ? { evpnFrr: new FrrDriver({ namespace: opts.evpnFrrPathspace, daemons: ['zebra', 'bgpd'] }) } : {};
}

export function createRole(opts: AgentOptions): RoleReconciler {
  switch (opts.role) {
    case 'node':
      if (!opts.bird) throw new Error('the node role needs bird.configPath and bird.controlSocket');
      return new NodeRole({
        namespace: opts.namespace,
        bird: opts.bird,
        vmNamespacePrefix: opts.vmNamespacePrefix,
        antispoof: opts.antispoof,
        ...evpnFrrOf(opts),
      });
    case 'rr':
      if (!opts.bird) throw new Error('the rr role needs bird.configPath and bird.controlSocket');
      return new RrRole({ namespace: opts.namespace, bird: opts.bird, ...evpnFrrOf(opts) });
    case 'frr-router':
      return new FrrRouterRole({ namespace: opts.namespace as string, localConfigPath: opts.frrLocalConfigPath });
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
  stopping = false;

  constructor(
    private readonly store: EventStore,
    /** Facts (ConfigApplied…) go to the events stream, observations to the observations stream. */
    private readonly subjectOf: (type: string) => string,
    private readonly log: Logger,
    private readonly run: string,
  ) {}

  report(event: FabricEvent): Promise<void> {
    // `<run uuid>:<counter>`: unique per report across restarts, stable across publish retries.
    const id = `${this.run}:${++this.n}`;
    const p = this.chain.then(() => this.publish(id, event));
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Stopping and the flush timed out: pending reports fail at once instead of retrying on a closed connection. */
  abandoned = false;

  private async publish(id: string, event: FabricEvent): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.abandoned) throw new Error('report abandoned: agent stopped');
      try {
        await this.store.append(this.subjectOf(event.type), [{ id, event }]);
        this.log.debug({ eventId: id, type: event.type }, 'reported');
        return;
      } catch (e) {
        if (permanent(e)) {
          // Retrying cannot help (e.g. over the max payload): drop it, never block the reports behind it.
          this.log.error({ err: e, eventId: id, type: event.type }, 'report dropped');
          throw e;
        }
        if (this.abandoned || (this.stopping && attempt >= 3)) {
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

/** A publish error no retry can fix. */
function permanent(e: unknown): boolean {
  return /max(imum)?[_ ]payload|payload.*(too large|exceeded)|exceeds maximum/i.test(String((e as Error)?.message ?? e));
}

// Unref'd: a report retry never keeps a stopping process alive.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

class Agent {
  private readonly log: Logger;
  private readonly role: RoleReconciler;
  private attached = false;
  private readonly kind: TargetKind;
  private readonly target: TargetRef;
  private readonly resyncMs: number;
  private readonly pollMs: number;
  private readonly leaseTtlMs: number;
  private readonly instance = randomUUID();
  private readonly targetDir: string;
  private readonly stateFile: string;
  private nats?: Nats;
  private store?: EventStore;
  private reporter?: Reporter;
  private subject = '';

  private desired?: DesiredState;
  private desiredHeaders?: MsgHdrs;
  /** Stream sequence of the last command seen (a recreated consumer redelivers it). */
  private lastSeq = 0;
  /** The commands stream incarnation (`created`): a recreated stream restarts sequences and generations. */
  private streamCreated?: string;
  /** The last applied generation, from the state file or this process. */
  private persisted?: AgentStateRecord;
  /** A command (or the start) is not confirmed by ConfigApplied yet: report the next success whatever its changes. */
  private unreported = false;
  private lastFailure?: string;
  private failures = 0;

  private locks: HostLock[] = [];
  private lease?: TargetLease;
  private leaseConfirmedAt = 0;
  private connected = false;
  private fenced = false;
  private pausedReconciles = 0;
  private polls = 0;
  private reconnects = 0;

  private queue: Promise<unknown> = Promise.resolve();
  private commandQueued = false;
  private resyncQueued = false;
  private kernelQueued = false;
  private unwatchKernel?: () => void;
  private retryTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private resyncSub?: Subscription;
  private lastResyncRequest = 0;
  private renewTimer?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private messages?: ConsumerMessages;
  private consumeLoop?: Promise<void>;
  private statusLoop?: Promise<void>;
  private wake?: () => void;
  private stopped = false;

  private readonly sessions: SessionTracker;
  private readonly bfd = new BfdTracker();
  private readonly routeTracker = new RouteDeltaTracker();
  private readonly routePollMs: number;
  /** Last route probe (BIRD) the tracker has read the table for. */
  private routeVersion?: string;
  private lastRouteRead = 0;
  private routeReads = 0;
  private routeForce = false;
  private routeTimer?: NodeJS.Timeout;
  private routeReading?: Promise<void>;
  private routeAgain = false;
  private routePublishing?: Promise<void>;
  private routePublishAgain = false;
  private routeReports = 0;
  private routeFailures = 0;
  /** After a failed route report, the next attempt waits until then (the route tick tries again). */
  private routeRetryAt = 0;
  private unwatchRoutes?: () => void;
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
    this.routePollMs = opts.routePollMs ?? 100;
    this.sessions = new SessionTracker(opts.sessionHoldMs ?? 5000);
    this.leaseTtlMs = opts.leaseTtlMs ?? 15_000;
    if (!(this.resyncMs > 0) || !(this.pollMs > 0) || !(this.routePollMs > 0)) throw new Error('resyncMs, pollMs and routePollMs must be > 0');
    if (!(this.leaseTtlMs >= 1000)) throw new Error('leaseTtlMs must be ≥ 1000');
    const stateDir = opts.stateDir ?? process.env.FABRIC_AGENT_STATE_DIR ?? DEFAULT_STATE_DIR;
    this.targetDir = path.join(stateDir, `${this.kind}-${opts.targetId}`);
    this.stateFile = path.join(this.targetDir, 'state.json');
  }

  /** What this agent manages on the host: its role's kind in its network namespace. */
  private get box(): string {
    return `${this.kind}@${this.opts.namespace ?? 'host'}`;
  }

  async start(): Promise<void> {
    try {
      await this.lockHost();
      this.persisted = await readAgentState(this.stateFile, this.kind, this.opts.targetId);
      this.nats = await this.connect();
      if (this.stopped) return;
      // No stream management here: on the product's bus an agent may not create or update streams.
      const subjects = this.nats.subjects;
      this.subject = subjects.cmd(this.kind, this.opts.targetId);
      this.streamCreated = (await this.nats.jsm.streams.info(subjects.commandsStream)).created;
      if (this.persisted?.commandsStream && this.persisted.commandsStream !== this.streamCreated) {
        this.log.warn(
          { stateFile: this.stateFile, generation: this.persisted.generation },
          'the commands stream was recreated since the last apply: its generations start again',
        );
        this.persisted = undefined;
      }
      this.lease = new TargetLease(
        this.nats.nc,
        leaseBucket(subjects.ns),
        `${this.kind}.${this.opts.targetId}`,
        { instance: this.instance, box: this.box, host: this.opts.hostId },
        this.leaseTtlMs,
      );
      await this.lease.acquire(this.opts.lockWaitMs ?? 0, true);
      this.leaseConfirmedAt = Date.now();
      this.connected = !this.nats.nc.isClosed();
      this.statusLoop = this.watchConnection();
      this.renewTimer = setInterval(() => void this.renewLease(), Math.floor(this.leaseTtlMs / 3));
      this.renewTimer.unref?.();
      this.store = new EventStore(this.nats);
      const facts = subjects.evt('agent', this.kind, this.opts.targetId);
      const observations = subjects.obs(this.kind, this.opts.targetId);
      this.reporter = new Reporter(this.store, (type) => (OBSERVATION_TYPES.has(type) ? observations : facts), this.log, this.instance);
      // A consumer whose observations were trimmed by retention asks for the whole state again.
      this.resyncSub = this.nats.nc.subscribe(subjects.resyncRequests, {
        // A request may name the targets it is for (a consumer that found one target out of step).
        callback: (_err, m) => {
          if (resyncAddressedTo(m.string(), this.target.kind, this.target.id)) this.onResyncRequest();
        },
      });
      // Bus-fed role work (rr: the ROA feed over RTR) runs only while this agent holds the target.
      if (this.role.attach) {
        const log = this.log;
        this.attached = true;
        await this.role.attach({
          nats: this.nats,
          targetId: this.opts.targetId,
          log: (level, msg, extra) => log[level](extra ?? {}, msg),
          reconcile: () => this.kickResync(),
        });
      }

      // Start-up reconcile with the latest command (one direct read of our own subject, the only one we may read).
      const last = await this.nats.jsm.direct.getMessage(subjects.commandsStream, { last_by_subj: this.subject });
      if (last) {
        this.lastSeq = last.seq;
        this.accept(last.data, last.header, last.seq);
      } else {
        this.log.info({ subject: this.subject }, 'no desired state yet; waiting for a command');
      }
      if (this.desired) {
        this.unreported = true;
        await this.enqueue(() => this.reconcile('start')).catch(() => undefined);
      }

      if (this.role.watchKernel && this.opts.kernelEvents !== false) {
        this.unwatchKernel = this.role.watchKernel(() => this.kickKernel(), this.log);
      }
      this.consumeLoop = this.consumeForever();
      this.resyncTimer = setInterval(() => this.kickResync(), this.resyncMs);
      this.resyncTimer.unref?.();
      this.schedulePoll(0);
      if (this.role.routes) {
        // Push where the daemon can (FRR core: the kernel tells us a BGP route moved), probe where it cannot.
        this.unwatchRoutes = this.role.watchRoutes?.(() => {
          this.routeForce = true;
          this.kickRouteRead(0);
        }, this.log);
        this.kickRouteRead(0);
      }
      this.log.info({ subject: this.subject, generation: this.desired?.generation ?? null, instance: this.instance, box: this.box }, 'agent started');
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private async lockHost(): Promise<void> {
    const owner = { instance: this.instance, role: this.opts.role, targetId: this.opts.targetId, box: this.box };
    const wait = this.opts.lockWaitMs ?? 0;
    // The target (whatever box) and the box (whatever target): a leftover agent of another run holds the latter.
    this.locks.push(await acquireHostLock(path.join(this.targetDir, 'agent.lock'), owner, wait));
    const lockDir = this.opts.lockDir ?? process.env.FABRIC_AGENT_LOCK_DIR ?? DEFAULT_LOCK_DIR;
    this.locks.push(await acquireHostLock(path.join(lockDir, `${this.box}.lock`), owner, wait));
  }

  /** Connects, retrying while NATS is unreachable: nothing is touched meanwhile. */
  private async connect(): Promise<Nats> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await Nats.connect({
          servers: this.opts.natsUrl,
          ns: this.opts.ns,
          name: `agent-${this.kind}-${this.opts.targetId}`,
          creds: this.opts.natsCreds,
        });
      } catch (e) {
        if (this.stopped) throw e;
        this.log[attempt === 1 ? 'warn' : 'debug']({ err: e, attempt }, 'NATS unreachable: the data plane stays as it is; retrying');
        await this.sleep(Math.min(250 * 2 ** attempt, 5000));
        if (this.stopped) throw new Error('agent stopped while connecting');
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const wake = () => done();
      this.wake = wake;
      function done() {
        clearTimeout(t);
        resolve();
      }
    });
  }

  private canApply(): boolean {
    return !this.fenced && !this.stopped && this.connected && Date.now() - this.leaseConfirmedAt < this.leaseTtlMs;
  }

  private async watchConnection(): Promise<void> {
    const nc = this.nats!.nc;
    for await (const st of nc.status()) {
      if (this.stopped) break;
      if (st.type === 'disconnect') {
        this.connected = false;
        this.log.warn('NATS connection lost: applies paused, the data plane stays as it is');
      } else if (st.type === 'reconnect') {
        this.connected = true;
        this.reconnects++;
        this.log.info('NATS connection back');
        // A command consumer waiting out its re-creation back-off retries now, not after up to 5 s.
        this.wake?.();
        void this.renewLease();
      }
    }
  }

  /** Renews the lease; after a pause, catches up with the bus and reconciles. */
  private async renewLease(): Promise<void> {
    if (!this.lease || this.stopped || this.fenced) return;
    const wasPaused = !this.canApply();
    try {
      await this.lease.renew();
    } catch (e) {
      if (e instanceof FencedError) return this.onFenced(e);
      this.log.debug({ err: e }, 'lease renewal failed');
      return;
    }
    this.leaseConfirmedAt = Date.now();
    if (wasPaused && this.canApply()) {
      this.log.info('applies resumed');
      await this.catchUp().catch((e) => this.log.warn({ err: e }, 'catch-up read failed'));
      if (this.desired) this.enqueue(() => this.reconcile('resume')).catch(() => undefined);
    }
  }

  /** After an outage: the latest command may have been missed; a recreated stream resets what we knew. */
  private async catchUp(): Promise<void> {
    const nats = this.nats!;
    const created = (await nats.jsm.streams.info(nats.subjects.commandsStream)).created;
    if (created !== this.streamCreated) {
      this.log.warn('the commands stream was recreated: forgetting the desired state until a command arrives');
      this.streamCreated = created;
      this.desired = undefined;
      this.persisted = undefined;
      this.lastSeq = 0;
    }
    const last = await nats.jsm.direct.getMessage(nats.subjects.commandsStream, { last_by_subj: this.subject });
    if (last && last.seq > this.lastSeq) {
      this.lastSeq = last.seq;
      if (this.accept(last.data, last.header, last.seq)) this.unreported = true;
    }
  }

  private onFenced(e: FencedError): void {
    if (this.fenced) return;
    this.fenced = true;
    this.log.error({ err: e }, 'fenced: another agent manages this target now; stopping without touching anything');
    void this.stop().finally(() => this.opts.onFatal?.(e));
  }

  /**
   * Follows our command subject through our own named consumer (the only consumer our NATS permissions
   * allow: its name and filter are bound to this target), recreated after the last command seen when it ends.
   */
  private async consumeForever(): Promise<void> {
    let delay = 500;
    const nats = this.nats!;
    const stream = nats.subjects.commandsStream;
    const name = agentConsumerName(nats.subjects, this.kind, this.opts.targetId);
    while (!this.stopped) {
      try {
        await nats.jsm.consumers.delete(stream, name).catch(() => undefined);
        await nats.jsm.consumers.add(stream, {
          name,
          filter_subject: this.subject,
          ack_policy: AckPolicy.None,
          ...(this.lastSeq > 0
            ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.lastSeq + 1 }
            : { deliver_policy: DeliverPolicy.LastPerSubject }),
          inactive_threshold: 10 * 60 * 1e9,
        });
        const consumer = await nats.js.consumers.get(stream, name);
        // A consumer that disappears (deleted, expired while we were cut off) ends the loop: we recreate it.
        // Short pulls: after a NATS restart the client re-checks the consumer within seconds (readerPullExpiresMs).
        const messages = await consumer.consume({ max_messages: 16, abort_on_missing_resource: true, expires: readerPullExpiresMs() });
        this.messages = messages;
        if (this.stopped) await messages.close();
        void (async () => {
          for await (const st of messages.status()) if (st.type === 'consumer_deleted') messages.stop();
        })().catch(() => undefined);
        delay = 500;
        for await (const m of messages as AsyncIterable<JsMsg>) this.onCommand(m);
      } catch (e) {
        if (!this.stopped) this.log.warn({ err: e }, 'command consumer failed; recreating it');
      }
      if (this.stopped) break;
      await this.sleep(delay);
      delay = Math.min(delay * 2, 5000);
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
    if (this.persisted && d.generation < this.persisted.generation) {
      this.log.warn(
        { seq, generation: d.generation, applied: this.persisted.generation, stateFile: this.stateFile },
        'older than the last applied generation: ignored',
      );
      return false;
    }
    this.desired = d;
    this.desiredHeaders = headers;
    return true;
  }

  private onCommand(m: JsMsg): void {
    if (this.stopped || m.seq <= this.lastSeq) return; // the start-up reconcile (or the catch-up) already used it
    this.lastSeq = m.seq;
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

  /** A kernel event left the node off its desired state: reconcile now (coalesced; a failing target keeps its back-off). */
  private kickKernel(): void {
    if (this.stopped || this.kernelQueued || this.retryTimer || !this.desired) return;
    this.kernelQueued = true;
    this.enqueue(() => {
      this.kernelQueued = false;
      return this.reconcile('kernel');
    }).catch(() => undefined);
  }

  reconcileNow(): Promise<ApplyReport> {
    if (this.stopped) return Promise.reject(new Error('agent stopped'));
    return this.enqueue(() => this.reconcile('manual'));
  }

  status(): AgentStatus {
    return {
      connected: this.connected,
      applying: this.canApply(),
      fenced: this.fenced,
      desiredGeneration: this.desired?.generation ?? null,
      appliedGeneration: this.persisted?.generation ?? null,
      pausedReconciles: this.pausedReconciles,
      polls: this.polls,
      routeReads: this.routeReads,
      reconnects: this.reconnects,
      instance: this.instance,
      kernelMonitor: this.unwatchKernel ? (this.role.kernelMonitor?.() ?? null) : null,
    };
  }

  private async persist(d: DesiredState): Promise<void> {
    if (this.persisted && this.persisted.generation === d.generation && this.persisted.hash === d.hash) return;
    const record: AgentStateRecord = {
      version: 1,
      kind: this.kind,
      targetId: this.opts.targetId,
      generation: d.generation,
      hash: d.hash,
      appliedAt: new Date().toISOString(),
      ...(this.streamCreated ? { commandsStream: this.streamCreated } : {}),
    };
    try {
      await writeAgentState(this.stateFile, record);
      this.persisted = record;
    } catch (e) {
      this.log.error({ err: e, stateFile: this.stateFile }, 'cannot write the state file');
    }
  }

  private async reconcile(reason: ReconcileReason): Promise<ApplyReport> {
    const d = this.desired;
    const t0 = Date.now();
    const base = { target: { ...this.target }, reason };
    if (!d) return { ...base, generation: null, hash: null, changes: 0, operations: [], warnings: [], durationMs: 0, reported: false };
    if (!this.canApply()) {
      // Fail static: without the bus (or the lease) we cannot know we are still the one to act.
      this.pausedReconciles++;
      this.log.debug({ reason, generation: d.generation }, 'applies paused: nothing touched');
      return { ...base, generation: d.generation, hash: d.hash, changes: 0, operations: [], warnings: [], durationMs: 0, reported: false, paused: true };
    }
    const run = () => this.role.apply(d, { kernel: reason === 'kernel' });
    try {
      // A command's trace continues into the apply and its report.
      const r =
        reason === 'command' || reason === 'start'
          ? await withConsumerSpan(
              `agent.apply ${this.kind}`,
              this.desiredHeaders,
              { 'fabric.target': this.opts.targetId, 'fabric.generation': d.generation },
              run,
            )
          : await run();
      const durationMs = Date.now() - t0;
      agentApplyDuration.observe({ role: this.opts.role, result: 'ok' }, durationMs / 1000);
      agentApplyChanges.inc({ role: this.opts.role }, r.changes);
      await this.persist(d);
      const report = this.unreported || r.changes > 0;
      const quiet = reason === 'resync' || reason === 'kernel';
      if (r.warnings.length && (r.changes > 0 || !quiet)) this.log.warn({ generation: d.generation, warnings: r.warnings }, 'applied with warnings');
      this.log[r.changes > 0 || !quiet ? 'info' : 'debug'](
        { reason, generation: d.generation, changes: r.changes, operations: r.operations, durationMs },
        r.changes > 0 && (reason === 'resync' || reason === 'manual' || reason === 'kernel') ? 'drift repaired' : 'reconciled',
      );
      this.failures = 0;
      this.lastFailure = undefined;
      this.clearRetry();
      if (report && d === this.desired) this.unreported = false;
      if (report) {
        void this.report({
          type: 'ConfigApplied',
          // A role whose config has parts beside the command (rr: its node parts) reports a hash covering them.
          data: { target: this.target, generation: d.generation, hash: r.hash ?? d.hash, changes: r.changes, durationMs },
        });
      }
      return {
        ...base,
        generation: d.generation,
        hash: d.hash,
        changes: r.changes,
        operations: r.operations,
        warnings: r.warnings,
        durationMs,
        reported: report,
      };
    } catch (e) {
      // Daemon output may echo a config line: the MD5 password never goes into a report or a log.
      const hide = (text: string) => {
        const pw = (d as { bgp?: { md5Password?: string } }).bgp?.md5Password;
        return redactSecrets(pw ? text.split(pw).join(REDACTED) : text);
      };
      const error = hide((e as Error).message ?? String(e)).slice(0, MAX_ERROR);
      agentApplyDuration.observe({ role: this.opts.role, result: 'error' }, (Date.now() - t0) / 1000);
      this.failures++;
      const key = `${d.generation}|${error}`;
      this.log.error({ reason, generation: d.generation, err: hide(String((e as Error).stack ?? e)), failures: this.failures }, 'reconcile failed');
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
        this.polls++;
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
      this.log.info({ protocol: s.protocol, peerIp: s.peerIp, state: s.state, info: s.info }, 'BGP session state');
      void this.report({ type: 'BgpSessionStateChanged', data: { target: this.target, ...s } });
    }
    if (changed.length)
      bgpSessionsUp.set({ kind: this.kind, target: this.opts.targetId }, [...this.sessionStates.values()].filter((st) => st === 'Established').length);
    await this.pollBfd();
  }

  /**
   * BFD sessions, read in the same poll as BGP's: only changes are reported. While the daemon cannot be read
   * (the BGP read failed), BFD is not read either; at the fifth miss every known session becomes 'unknown'.
   */
  private async pollBfd(): Promise<void> {
    if (!this.role.bfdSessions) return;
    let changed: BfdObservation[];
    if (this.sessionPollFailures > 0) changed = this.sessionPollFailures === 5 ? this.bfd.markAll('cannot read the daemon') : [];
    else {
      try {
        changed = this.bfd.update(await this.role.bfdSessions());
      } catch (e) {
        this.log.debug({ err: e }, 'BFD poll failed');
        return;
      }
    }
    for (const b of changed) {
      this.log.info({ peerIp: b.peerIp, interface: b.interface, state: b.state, intervalMs: b.intervalMs, timeoutMs: b.timeoutMs }, 'BFD session state');
      void this.report({ type: 'BfdSessionStateChanged', data: { target: this.target, ...b } });
    }
    if (changed.length) {
      const counts = new Map<string, number>();
      for (const b of this.bfd.current()) counts.set(b.state, (counts.get(b.state) ?? 0) + 1);
      for (const st of ['up', 'down', 'init', 'admindown', 'unknown'])
        bfdSessionsGauge.set({ kind: this.kind, target: this.opts.targetId, state: st }, counts.get(st) ?? 0);
    }
  }

  /** Route reads: on a push (watchRoutes), when the probe moved, and every pollMs for roles without a probe. */
  private get routeIntervalMs(): number {
    return this.role.routesVersion ? this.routePollMs : this.pollMs;
  }

  private kickRouteRead(delay: number): void {
    if (this.stopped || !this.role.routes) return;
    if (this.routeReading) {
      if (delay === 0) this.routeAgain = true;
      return;
    }
    if (this.routeTimer) {
      if (delay > 0) return;
      clearTimeout(this.routeTimer);
    }
    this.routeTimer = setTimeout(() => {
      this.routeTimer = undefined;
      this.routeReading = this.readRoutes().finally(() => {
        this.routeReading = undefined;
        const again = this.routeAgain;
        this.routeAgain = false;
        this.kickRouteRead(again ? 0 : this.routeIntervalMs);
      });
    }, delay);
    this.routeTimer.unref?.();
  }

  private async readRoutes(): Promise<void> {
    const role = this.role;
    try {
      // A pending withdrawal needs its confirming read. The table is also read every pollMs × 10 whatever the probe
      // says, × 60 behind the RR's probe (its own full read every 5 s sees every session's counters; a read of
      // 100,000 routes costs about a second of CPU).
      const every = this.pollMs * (role.routesVersion ? 60 : 10);
      const force = this.routeForce || this.routeTracker.awaitingConfirmation || Date.now() - this.lastRouteRead >= every;
      this.routeForce = false;
      // A report that failed is tried again from here (with the table as it is then), never in a loop.
      if (this.routeTracker.pending && Date.now() >= this.routeRetryAt) this.kickRoutePublish();
      // The probe is taken before the table: a change in between is in the table and moves the next probe.
      const version = role.routesVersion ? await role.routesVersion() : undefined;
      if (!force && version !== undefined && version === this.routeVersion) return;
      const routes = await role.routes!();
      this.routeVersion = version;
      this.lastRouteRead = Date.now();
      this.routeReads++;
      this.routeTracker.observe(routes);
      if (this.routeTracker.pending && Date.now() >= this.routeRetryAt) this.kickRoutePublish();
    } catch (e) {
      this.routeVersion = undefined;
      this.log.debug({ err: e }, 'route read failed');
    }
  }

  private kickRoutePublish(): void {
    if (this.routePublishing) {
      this.routePublishAgain = true;
      return;
    }
    this.routePublishing = this.publishRoutes().finally(() => {
      this.routePublishing = undefined;
      if (this.routePublishAgain && !this.stopped && Date.now() >= this.routeRetryAt) {
        this.routePublishAgain = false;
        this.kickRoutePublish();
      }
    });
  }

  /**
   * Publishes what the route tracker has not reported yet, one bounded RoutesChanged at a time, on its own
   * path (a failing route report never delays ConfigApplied or session reports). A failed publish is not
   * retried as such: the loop stops, and a later route tick (after a backoff) builds the next batch from the
   * table as it is then (coalesced).
   */
  private async publishRoutes(): Promise<void> {
    const store = this.store;
    if (!store) return;
    const subject = store.subjects.obs(this.kind, this.opts.targetId);
    for (;;) {
      const b = this.routeTracker.nextBatch(ROUTES_CHANGED_MAX);
      if (!b) return;
      const id = `${this.instance}:r${++this.routeReports}`;
      const data = { target: this.target, added: b.added, withdrawn: b.withdrawn, ...(b.resync ? { resync: b.resync } : {}), total: b.total };
      try {
        await store.append(subject, [{ id, event: { type: 'RoutesChanged', data } }]);
        this.routeTracker.ack(b);
        this.routeFailures = 0;
        this.log.info({ added: b.added.length, withdrawn: b.withdrawn.length, resync: b.resync, total: b.total }, 'routes changed');
      } catch (e) {
        this.routeTracker.fail(b);
        this.routeFailures++;
        this.routeRetryAt = Date.now() + Math.min(200 * 2 ** this.routeFailures, 5000);
        this.log[this.routeFailures === 1 ? 'warn' : 'debug'](
          { err: e, eventId: id, failures: this.routeFailures },
          'route report failed; a later one states the table as it is then',
        );
        return;
      }
    }
  }

  /**
   * A consumer lost observations to retention: state the route table (a resync: stale routes are dropped)
   * and every known session again. Requests closer than 1 s are one (several consumers may ask at once).
   */
  private onResyncRequest(): void {
    if (this.stopped || Date.now() - this.lastResyncRequest < 1000) return;
    this.lastResyncRequest = Date.now();
    this.log.info('observation resync requested');
    for (const s of this.sessions.current()) void this.report({ type: 'BgpSessionStateChanged', data: { target: this.target, ...s } });
    for (const b of this.bfd.current()) void this.report({ type: 'BfdSessionStateChanged', data: { target: this.target, ...b } });
    if (!this.role.routes) return;
    this.routeTracker.requestResync();
    this.kickRoutePublish();
  }

  /** Resolves false when the report was lost (only while stopping). */
  private report(event: FabricEvent): Promise<boolean> {
    if (!this.reporter) return Promise.resolve(false);
    return this.reporter.report(event).then(
      () => true,
      () => false,
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.resyncSub?.unsubscribe();
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.routeTimer) clearTimeout(this.routeTimer);
    this.unwatchRoutes?.();
    this.unwatchKernel?.();
    this.clearRetry();
    this.wake?.();
    await this.messages?.close().catch(() => undefined);
    await this.consumeLoop;
    await this.queue;
    await this.polling;
    await this.routeReading;
    if (this.routePublishing) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.routePublishing, new Promise<void>((r) => (timer = setTimeout(r, this.fenced ? 0 : 5000)))]);
      clearTimeout(timer);
    }
    if (this.attached) await this.role.detach?.().catch(() => undefined);
    this.attached = false;
    await this.role.close?.().catch(() => undefined);
    if (this.reporter) {
      this.reporter.stopping = true;
      await this.reporter.flush(this.fenced ? 0 : 5000);
      this.reporter.abandoned = true;
    }
    // A clean stop hands the target over at once (a fenced agent's lease is someone else's: untouched).
    if (!this.fenced && this.nats && !this.nats.nc.isClosed()) {
      await Promise.race([this.lease?.release(), new Promise((r) => setTimeout(r, 2000).unref?.())]).catch(() => undefined);
    }
    await this.nats?.close();
    await this.statusLoop?.catch(() => undefined);
    for (const l of this.locks.reverse()) await l.release().catch(() => undefined);
    this.locks = [];
    this.log.info('agent stopped');
  }
}

/** Resolves once connected, holding the locks and the lease, after the start-up reconcile. */
export async function startAgent(opts: AgentOptions): Promise<AgentHandle> {
  const agent = new Agent(opts);
  await agent.start();
  return { stop: () => agent.stop(), reconcileNow: () => agent.reconcileNow(), status: () => agent.status() };
}
