/**
 * The product's process supervisor (one per data dir, detached): owns every process `npm start` runs
 * (its own NATS/Postgres, the services, the lab agents), restarts each on exit with exponential back-off,
 * and marks a program `failed` after a crash loop (MAX_EXITS exits within EXIT_WINDOW_MS) — still
 * reported, no longer restarted. Controlled over HTTP on a unix socket (<data>/run/supervisor.sock);
 * its state is also written to <data>/run/supervisor.json for `npm run status` when it is gone.
 *
 * Every child carries FABRIC_SUPERVISOR=<data dir> in its environment: `npm run stop` and a restarted
 * supervisor find the product's processes by that marker, not by pid files alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { markedProcesses, terminate } from './procs';

export interface ProgramSpec {
  name: string;
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Stopped last and kept by a plain `npm run stop` (NATS, Postgres). */
  infra?: boolean;
  stopTimeoutMs?: number;
  /**
   * Liveness: an HTTP URL polled while the program is up; `failures` answers in a row that are 5xx or none
   * (a dead loop inside a process that is still running) get it killed and restarted like a crash.
   */
  health?: { url: string; intervalMs?: number; timeoutMs?: number; failures?: number; graceMs?: number };
}

export type ProgramState = 'starting' | 'up' | 'backoff' | 'failed' | 'stopped';

export interface ProgramStatus {
  name: string;
  infra: boolean;
  state: ProgramState;
  pid?: number;
  restarts: number;
  startedAt?: string;
  lastExit?: { code: number | null; signal: string | null; at: string; reason?: string };
  nextStartAt?: string;
}

export interface SupervisorStatus {
  pid: number;
  dataDir: string;
  startedAt: string;
  programs: ProgramStatus[];
}

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
export const MAX_EXITS = Number(process.env.SUPERVISOR_MAX_EXITS ?? 5);
export const EXIT_WINDOW_MS = Number(process.env.SUPERVISOR_EXIT_WINDOW_MS ?? 60_000);
// 1 s doubling: 5 exits take ~15 s, so a dependency (NATS, Postgres) down for a few seconds does not fail everything.
const BACKOFF_MIN_MS = Number(process.env.SUPERVISOR_BACKOFF_MS ?? 1000);
const BACKOFF_MAX_MS = 30_000;
/** A child that ran this long is healthy again: its next exit starts the back-off from the bottom. */
const STABLE_MS = 10_000;
/** A fresh process counts as `up` once it has run this long without exiting. */
const UP_AFTER_MS = 1_000;

export const runDir = (dataDir: string) => path.join(dataDir, 'run');
export const socketPath = (dataDir: string) => path.join(runDir(dataDir), 'supervisor.sock');
export const stateFile = (dataDir: string) => path.join(runDir(dataDir), 'supervisor.json');
export const pidFile = (dataDir: string) => path.join(runDir(dataDir), 'supervisor.pid');
export const MARKER = 'FABRIC_SUPERVISOR';

class Program {
  proc?: ChildProcess;
  state: ProgramState = 'stopped';
  restarts = 0;
  exits: number[] = [];
  consecutive = 0;
  startedAt?: number;
  lastExit?: { code: number | null; signal: string | null; at: number; reason?: string };
  nextStartAt?: number;
  timer?: NodeJS.Timeout;
  probe?: NodeJS.Timeout;
  /** Why we killed it ourselves (liveness), reported with its exit. */
  killReason?: string;
  /** Set while we stop it on purpose: its exit is not a crash. */
  stopping?: Promise<void>;

  constructor(
    public spec: ProgramSpec,
    private readonly sup: Supervisor,
  ) {}

  start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.nextStartAt = undefined;
    const { spec } = this;
    const logs = path.join(this.sup.dataDir, 'logs');
    mkdirSync(logs, { recursive: true });
    const out = openSync(path.join(logs, `${spec.name}.log`), 'a');
    let proc: ChildProcess;
    try {
      // Own process group: a stop reaches the program's helpers (ip, birdc) too.
      proc = spawn(spec.cmd, spec.args, {
        cwd: spec.cwd ?? process.cwd(),
        detached: true,
        stdio: ['ignore', out, out],
        env: { ...process.env, ...spec.env, [MARKER]: this.sup.dataDir, FABRIC_PROGRAM: spec.name },
      });
    } finally {
      closeSync(out);
    }
    this.proc = proc;
    this.state = 'starting';
    this.startedAt = Date.now();
    proc.once('error', (err) => this.sup.log(`${spec.name}: ${err.message}`));
    const upTimer = setTimeout(() => {
      if (this.proc === proc && this.state === 'starting') {
        this.state = 'up';
        this.sup.changed();
      }
    }, UP_AFTER_MS);
    this.killReason = undefined;
    if (spec.health) this.watch(proc, spec.health);
    proc.once('exit', (code, signal) => {
      clearTimeout(upTimer);
      clearTimeout(this.probe);
      if (this.proc !== proc) return;
      this.proc = undefined;
      const now = Date.now();
      this.lastExit = { code, signal, at: now, ...(this.killReason ? { reason: this.killReason } : {}) };
      if (this.stopping || this.sup.closing) {
        this.state = 'stopped';
        this.sup.changed();
        return;
      }
      this.exits = [...this.exits.filter((t) => now - t < EXIT_WINDOW_MS), now];
      this.consecutive = now - (this.startedAt ?? now) >= STABLE_MS ? 1 : this.consecutive + 1;
      if (this.exits.length >= MAX_EXITS) {
        this.state = 'failed';
        this.sup.log(`${spec.name} exited ${this.exits.length} times within ${EXIT_WINDOW_MS} ms (last: ${code ?? signal}): failed, not restarted`);
      } else {
        const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.consecutive - 1));
        this.state = 'backoff';
        this.nextStartAt = now + delay;
        this.sup.log(`${spec.name} exited (${signal ?? `code ${code}`}): restarting in ${delay} ms`);
        this.timer = setTimeout(() => {
          this.restarts++;
          this.start();
        }, delay);
      }
      this.sup.changed();
    });
    this.sup.changed();
  }

  private watch(proc: ChildProcess, h: NonNullable<ProgramSpec['health']>) {
    let failures = 0;
    const tick = async () => {
      if (this.proc !== proc || this.stopping) return;
      if (this.state === 'up' && Date.now() - (this.startedAt ?? 0) >= (h.graceMs ?? 30_000)) {
        const ok = await fetch(h.url, { signal: AbortSignal.timeout(h.timeoutMs ?? 3000) }).then(
          (r) => r.status < 500,
          () => false,
        );
        failures = ok ? 0 : failures + 1;
        if (failures >= (h.failures ?? 3) && this.proc === proc && !this.stopping) {
          this.killReason = `unhealthy: ${failures} failed probes of ${h.url}`;
          this.sup.log(`${this.spec.name} ${this.killReason}: killing it for a restart`);
          signalGroup(proc.pid!, 'SIGKILL');
          return;
        }
      }
      this.probe = setTimeout(() => void tick(), h.intervalMs ?? 5000);
    };
    this.probe = setTimeout(() => void tick(), h.intervalMs ?? 5000);
  }

  /** SIGTERM to its process group, SIGKILL after the timeout; no restart. */
  stop(): Promise<void> {
    clearTimeout(this.probe);
    clearTimeout(this.timer);
    this.timer = undefined;
    this.nextStartAt = undefined;
    if (!this.proc) {
      this.state = this.state === 'failed' ? 'failed' : 'stopped';
      return Promise.resolve();
    }
    if (this.stopping) return this.stopping;
    const proc = this.proc;
    this.stopping = new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      signalGroup(proc.pid!, 'SIGTERM');
      setTimeout(() => signalGroup(proc.pid!, 'SIGKILL'), this.spec.stopTimeoutMs ?? 10_000).unref();
    }).finally(() => {
      this.stopping = undefined;
      // Helpers the program left behind in its group.
      signalGroup(proc.pid!, 'SIGKILL');
    });
    return this.stopping;
  }

  status(): ProgramStatus {
    const iso = (t?: number) => (t === undefined ? undefined : new Date(t).toISOString());
    return {
      name: this.spec.name,
      infra: !!this.spec.infra,
      state: this.state,
      pid: this.proc?.pid,
      restarts: this.restarts,
      startedAt: this.proc ? iso(this.startedAt) : undefined,
      lastExit: this.lastExit && {
        code: this.lastExit.code,
        signal: this.lastExit.signal,
        at: iso(this.lastExit.at)!,
        ...(this.lastExit.reason ? { reason: this.lastExit.reason } : {}),
      },
      nextStartAt: iso(this.nextStartAt),
    };
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

export class Supervisor {
  readonly programs = new Map<string, Program>();
  readonly startedAt = Date.now();
  closing = false;
  private writeTimer?: NodeJS.Timeout;

  constructor(readonly dataDir: string) {}

  log(msg: string) {
    process.stderr.write(`${new Date().toISOString()} [supervisor] ${msg}\n`);
  }

  changed() {
    // Coalesced: a restart storm writes the state file a few times, not per event.
    if (this.writeTimer) return;
    this.writeTimer = setTimeout(() => {
      this.writeTimer = undefined;
      this.writeState();
    }, 20);
  }

  writeState() {
    const file = stateFile(this.dataDir);
    writeFileSync(file + '.tmp', JSON.stringify(this.status(), null, 2));
    renameSync(file + '.tmp', file);
  }

  status(): SupervisorStatus {
    return {
      pid: process.pid,
      dataDir: this.dataDir,
      startedAt: new Date(this.startedAt).toISOString(),
      programs: [...this.programs.values()].map((p) => p.status()),
    };
  }

  /** Adds or replaces a program. The same spec again keeps the running process (and a failed one stays failed unless `reset`). */
  async ensure(spec: ProgramSpec, reset = false): Promise<ProgramStatus> {
    if (!NAME.test(spec.name)) throw new HttpError(400, `bad program name: ${spec.name}`);
    if (typeof spec.cmd !== 'string' || !Array.isArray(spec.args) || spec.args.some((a) => typeof a !== 'string'))
      throw new HttpError(400, 'cmd (string) and args (string[]) required');
    const existing = this.programs.get(spec.name);
    if (existing && JSON.stringify(existing.spec) === JSON.stringify(spec)) {
      if (reset && existing.state === 'failed') {
        existing.exits = [];
        existing.consecutive = 0;
        existing.start();
      }
      return existing.status();
    }
    if (existing) {
      await existing.stop();
      existing.spec = spec;
      existing.exits = [];
      existing.consecutive = 0;
      existing.start();
      return existing.status();
    }
    const p = new Program(spec, this);
    this.programs.set(spec.name, p);
    p.start();
    return p.status();
  }

  async remove(name: string): Promise<void> {
    const p = this.programs.get(name);
    if (!p) return;
    await p.stop();
    this.programs.delete(name);
    this.changed();
  }

  /** Stops (and forgets) every program not in `keep`: agents and services first, in reverse start order, infra last. */
  async stopAll(keep: string[] = []): Promise<string[]> {
    const order = [...this.programs.values()].reverse();
    const victims = [...order.filter((p) => !p.spec.infra), ...order.filter((p) => p.spec.infra)].filter((p) => !keep.includes(p.spec.name));
    const stopped: string[] = [];
    // Non-infra programs together (they do not depend on each other), then infra one by one.
    await Promise.all(victims.filter((p) => !p.spec.infra).map((p) => p.stop()));
    for (const p of victims.filter((p) => p.spec.infra)) await p.stop();
    for (const p of victims) {
      this.programs.delete(p.spec.name);
      stopped.push(p.spec.name);
    }
    this.changed();
    return stopped;
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The request's JSON object (its fields are the supervisor client's, deploy/supervisor-client.ts). */
async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 1 << 20) throw new HttpError(413, 'body too large');
  }
  let value: unknown;
  try {
    value = text ? JSON.parse(text) : {};
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'body is not a JSON object');
  return value as Record<string, unknown>;
}

export async function runSupervisor(dataDir: string): Promise<void> {
  dataDir = path.resolve(dataDir);
  mkdirSync(runDir(dataDir), { recursive: true });
  const sup = new Supervisor(dataDir);
  // Leftovers of a supervisor that died (kill -9, reboot of the shell…) would fight the new children.
  const orphans = (await markedProcesses(dataDir)).filter((p) => p.pid !== process.pid);
  if (orphans.length) {
    sup.log(`stopping ${orphans.length} process(es) left by an earlier supervisor: ${orphans.map((o) => o.pid).join(' ')}`);
    await terminate(orphans.map((o) => o.pid));
  }
  const sock = socketPath(dataDir);
  rmSync(sock, { force: true });
  let exitAfterReply = false;
  const server = createServer((req, res: ServerResponse) => {
    const reply = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const url = new URL(req.url ?? '/', 'http://supervisor');
    const m = /^\/programs\/([^/]+)$/.exec(url.pathname);
    void (async () => {
      if (req.method === 'GET' && url.pathname === '/status') return reply(200, sup.status());
      if (req.method === 'PUT' && m)
        return reply(
          200,
          await sup.ensure({ ...((await body(req)) as Omit<ProgramSpec, 'name'>), name: decodeURIComponent(m[1]) }, url.searchParams.get('reset') === '1'),
        );
      if (req.method === 'DELETE' && m) {
        await sup.remove(decodeURIComponent(m[1]));
        return reply(200, { removed: m[1] });
      }
      if (req.method === 'POST' && url.pathname === '/stop') {
        const { keep = [] } = (await body(req)) as { keep?: string[] };
        const stopped = await sup.stopAll(keep);
        exitAfterReply = sup.programs.size === 0;
        res.once('finish', () => {
          if (exitAfterReply) shutdown('nothing left to supervise');
        });
        return reply(200, { stopped, remaining: [...sup.programs.keys()], exiting: exitAfterReply });
      }
      throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
    })().catch((err) => reply(err instanceof HttpError ? err.status : 500, { error: String(err?.message ?? err) }));
  });
  const shutdown = (why: string) => {
    if (sup.closing) return;
    sup.log(`shutting down (${why})`);
    void sup.stopAll().finally(() => {
      sup.closing = true;
      server.close();
      rmSync(sock, { force: true });
      rmSync(pidFile(dataDir), { force: true });
      sup.writeState();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(sock, () => resolve()));
  writeFileSync(pidFile(dataDir), String(process.pid));
  sup.writeState();
  sup.log(`supervising (pid ${process.pid}, socket ${sock})`);
}

if (require.main === module) {
  const i = process.argv.indexOf('--data');
  const dataDir = i > 0 ? process.argv[i + 1] : undefined;
  if (!dataDir) {
    process.stderr.write('usage: supervisor.ts --data <dir>\n');
    process.exit(2);
  }
  runSupervisor(dataDir).catch((err) => {
    process.stderr.write(`supervisor failed to start: ${String(err?.stack ?? err)}\n`);
    process.exit(1);
  });
}
