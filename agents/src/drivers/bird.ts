/**
 * BIRD 2 driver: one daemon per config file / control socket, optionally inside a network namespace.
 * Apply is transactional: the new text goes to a temporary file, `bird -p` checks it, the running BIRD
 * loads that file (`configure "<tmp>"`), and only then it is renamed over the config. A failed configure
 * leaves the previous file (which BIRD keeps running), so the next reconcile sees the difference and retries.
 * An operator-owned file (default `bird.local.conf` next to the config) is included when it exists; the
 * agent never writes it.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { assertNamespace, run, runInNetns } from './exec';
import { type BfdSession, parseBirdBfdSessions } from './bfd-parse';
import { type BirdProtocol, type BirdRoute, parseBirdProtocols, parseBirdRoutes } from './bird-parse';
import { cmdline, isAlive, killAndWait, readPidFile } from './proc';

export interface BirdDriverOptions {
  namespace?: string;
  configPath: string;
  controlSocket: string;
  /** Default: next to the config, `bird.pid`. */
  pidFile?: string;
  /** Operator-owned BIRD config included after the fabric's (default: `bird.local.conf` next to the config). */
  localConfigPath?: string;
  /** birdc timeout (default 30000 ms). */
  commandTimeoutMs?: number;
}

export interface BirdApplyResult {
  changed: boolean;
  /** `birdc configure` was run (BIRD was running). */
  reconfigured: boolean;
}

/** A file the config includes (`include "<path>";` in its text), written with it, transactionally. */
export interface BirdConfigPart {
  path: string;
  text: string;
}

export class BirdConfigError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
    this.name = 'BirdConfigError';
  }
}

const SAFE_PATH = /^\/[A-Za-z0-9._\/-]+$/;

export class BirdDriver {
  readonly namespace?: string;
  readonly configPath: string;
  readonly controlSocket: string;
  readonly pidFile: string;
  readonly localConfigPath: string;
  private readonly timeoutMs: number;

  constructor(opts: BirdDriverOptions) {
    if (opts.namespace !== undefined) assertNamespace(opts.namespace);
    const pidFile = opts.pidFile ?? path.join(path.dirname(opts.configPath), 'bird.pid');
    const localConfigPath = opts.localConfigPath ?? path.join(path.dirname(opts.configPath), 'bird.local.conf');
    for (const p of [opts.configPath, opts.controlSocket, pidFile, localConfigPath]) {
      if (!SAFE_PATH.test(p) || p.includes('..')) throw new Error(`unsafe path: ${JSON.stringify(p)}`);
    }
    if (localConfigPath === opts.configPath) throw new Error('the operator file must not be the agent-managed config');
    this.namespace = opts.namespace;
    this.configPath = opts.configPath;
    this.controlSocket = opts.controlSocket;
    this.pidFile = pidFile;
    this.localConfigPath = localConfigPath;
    this.timeoutMs = opts.commandTimeoutMs ?? 30_000;
  }

  /** The pid of a live BIRD of this config (the pid file's process, if it is a `bird`). */
  async pid(): Promise<number | undefined> {
    const pid = await readPidFile(this.pidFile);
    if (!pid || !(await isAlive(pid))) return undefined;
    const argv = await cmdline(pid);
    return argv && path.basename(argv[0] ?? '') === 'bird' ? pid : undefined;
  }

  async running(): Promise<boolean> {
    if (!(await this.pid())) return false;
    const r = await run('birdc', ['-s', this.controlSocket, 'show', 'status'], { allowFailure: true, timeoutMs: 5000 });
    return r.code === 0 && /Daemon is up and running/.test(r.stdout);
  }

  /** The file the agent writes: the fabric's config, then an include of the operator's file when it exists. */
  async compose(text: string): Promise<string> {
    const exists = await fs.access(this.localConfigPath).then(
      () => true,
      () => false,
    );
    if (!exists) return text;
    return `${text.endsWith('\n') ? text : text + '\n'}\n# Operator-owned configuration (never written by the agent):\ninclude "${this.localConfigPath}";\n`;
  }

  /** Checks a config text with `bird -p` (parse only); throws BirdConfigError with BIRD's message. */
  async check(text: string): Promise<void> {
    const tmp = this.tmpPath();
    await fs.mkdir(path.dirname(this.configPath), { recursive: true });
    await fs.writeFile(tmp, text, { mode: 0o640 });
    try {
      await this.checkFile(tmp);
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  private tmpPath(): string {
    return path.join(path.dirname(this.configPath), `.${path.basename(this.configPath)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  }

  private async checkFile(file: string): Promise<void> {
    const r = await run('bird', ['-p', '-c', file], { allowFailure: true });
    if (r.code !== 0) throw new BirdConfigError(`BIRD rejected the config: ${(r.stderr || r.stdout).trim()}`, r.stderr + r.stdout);
  }

  /**
   * Makes `text` (plus the operator include) the config: unchanged file → nothing; else checked, loaded by a
   * running BIRD from a temporary file, then renamed into place. Throws (file untouched) when BIRD rejects it
   * or does not answer; a live BIRD is never killed here. Not running: the file is replaced, the caller starts BIRD.
   */
  async applyConfig(text: string, parts: BirdConfigPart[] = []): Promise<BirdApplyResult> {
    const full = await this.compose(text);
    const read = (file: string) => fs.readFile(file, 'utf8').catch(() => undefined);
    for (const p of parts) {
      if (!SAFE_PATH.test(p.path) || p.path.includes('..') || p.path === this.configPath) throw new Error(`unsafe path: ${JSON.stringify(p.path)}`);
      if (!full.includes(`include "${p.path}";`)) throw new Error(`the config does not include ${p.path}`);
    }
    const same = [(await read(this.configPath)) === full, ...(await Promise.all(parts.map(async (p) => (await read(p.path)) === p.text)))];
    if (same.every(Boolean)) return { changed: false, reconfigured: false };
    await fs.mkdir(path.dirname(this.configPath), { recursive: true });
    // Parts are checked and loaded from temporary files too: the temporary main file includes those.
    const tmps = parts.map((p) => ({ ...p, tmp: this.tmpPath() }));
    const tmp = this.tmpPath();
    let tmpText = full;
    for (const p of tmps) tmpText = tmpText.split(`include "${p.path}";`).join(`include "${p.tmp}";`);
    try {
      for (const p of tmps) await fs.writeFile(p.tmp, p.text, { mode: 0o640 });
      await fs.writeFile(tmp, tmpText, { mode: 0o640 });
      await this.checkFile(tmp);
      const live = await this.pid();
      if (live) await this.configure(tmp);
      for (const p of tmps) await fs.rename(p.tmp, p.path);
      await fs.writeFile(tmp, full, { mode: 0o640 });
      await fs.rename(tmp, this.configPath);
      return { changed: true, reconfigured: !!live };
    } finally {
      await fs.rm(tmp, { force: true });
      for (const p of tmps) await fs.rm(p.tmp, { force: true });
    }
  }

  /**
   * `birdc configure ["file"]` (default: the config BIRD was started with; a file given here is read once,
   * BIRD keeps its -c path for later reconfigurations). birdc exits 0 even when BIRD refuses: the reply is checked.
   */
  async configure(file?: string): Promise<void> {
    if (file !== undefined && (!SAFE_PATH.test(file) || file.includes('..'))) throw new Error(`unsafe path: ${JSON.stringify(file)}`);
    const args = ['-s', this.controlSocket, 'configure', ...(file ? [`"${file}"`] : [])];
    const r = await run('birdc', args, { allowFailure: true, timeoutMs: this.timeoutMs });
    if (r.code !== 0 || !/Reconfigured|Reconfiguration in progress|Reconfiguration already in progress/.test(r.stdout)) {
      throw new BirdConfigError(`birdc configure failed: ${(r.stdout + r.stderr).trim() || `exit ${r.code}`}`, r.stdout + r.stderr);
    }
  }

  /** Starts BIRD if it is not running; waits until the control socket answers. */
  async start(): Promise<{ started: boolean }> {
    if (await this.running()) return { started: false };
    const stale = await this.pid();
    if (stale) await killAndWait(stale);
    await fs.rm(this.controlSocket, { force: true });
    await fs.mkdir(path.dirname(this.controlSocket), { recursive: true });
    await this.checkFile(this.configPath);
    await runInNetns(this.namespace, 'bird', ['-c', this.configPath, '-s', this.controlSocket, '-P', this.pidFile]);
    const deadline = Date.now() + 10_000;
    while (!(await this.running())) {
      if (Date.now() > deadline) throw new Error(`BIRD (${this.configPath}) did not come up`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { started: true };
  }

  async stop(): Promise<void> {
    const pid = await this.pid();
    if (pid) await killAndWait(pid);
    await fs.rm(this.controlSocket, { force: true });
  }

  async birdc(...args: string[]): Promise<string> {
    const { stdout } = await run('birdc', ['-s', this.controlSocket, ...args], { timeoutMs: this.timeoutMs });
    return stdout;
  }

  /** BFD sessions of `protocol bfd` (none when BFD is off: BIRD answers that no such protocol exists). */
  async bfdSessions(): Promise<BfdSession[]> {
    return parseBirdBfdSessions(await this.birdc('show', 'bfd', 'sessions').catch(() => ''));
  }

  async protocols(): Promise<BirdProtocol[]> {
    return parseBirdProtocols(await this.birdc('show', 'protocols'));
  }

  /** All routes of all tables (`show route all`), primary and alternatives. */
  async routes(table?: string): Promise<BirdRoute[]> {
    if (table !== undefined && !/^[A-Za-z0-9_]+$/.test(table)) throw new Error(`invalid table name: ${table}`);
    const args = table ? ['show', 'route', 'table', table, 'all'] : ['show', 'route', 'table', 'all', 'all'];
    return parseBirdRoutes(await this.birdc(...args));
  }
}
