/**
 * BIRD 2 driver: one daemon per config file / control socket, optionally inside a network namespace.
 * A config is written atomically and only after `bird -p` accepted it, so a bad config never replaces a good one.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { assertNamespace, run, runInNetns } from './exec';
import { BirdProtocol, BirdRoute, parseBirdProtocols, parseBirdRoutes } from './bird-parse';
import { isAlive, killAndWait, readPidFile } from './proc';

export interface BirdDriverOptions {
  namespace?: string;
  configPath: string;
  controlSocket: string;
  /** Default: next to the config, `bird.pid`. */
  pidFile?: string;
}

export interface BirdApplyResult {
  changed: boolean;
  /** `birdc configure` was run (BIRD was running). */
  reconfigured: boolean;
}

export class BirdConfigError extends Error {
  constructor(message: string, readonly output: string) {
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

  constructor(opts: BirdDriverOptions) {
    if (opts.namespace !== undefined) assertNamespace(opts.namespace);
    const pidFile = opts.pidFile ?? path.join(path.dirname(opts.configPath), 'bird.pid');
    for (const p of [opts.configPath, opts.controlSocket, pidFile]) {
      if (!SAFE_PATH.test(p) || p.includes('..')) throw new Error(`unsafe path: ${JSON.stringify(p)}`);
    }
    this.namespace = opts.namespace;
    this.configPath = opts.configPath;
    this.controlSocket = opts.controlSocket;
    this.pidFile = pidFile;
  }

  async pid(): Promise<number | undefined> {
    const pid = await readPidFile(this.pidFile);
    return pid && (await isAlive(pid)) ? pid : undefined;
  }

  async running(): Promise<boolean> {
    if (!(await this.pid())) return false;
    const r = await run('birdc', ['-s', this.controlSocket, 'show', 'status'], { allowFailure: true, timeoutMs: 5000 });
    return r.code === 0 && /Daemon is up and running/.test(r.stdout);
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

  /** Writes the config if different (checked first, atomic rename) and reconfigures a running BIRD. */
  async applyConfig(text: string): Promise<BirdApplyResult> {
    let current: string | undefined;
    try {
      current = await fs.readFile(this.configPath, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === text) return { changed: false, reconfigured: false };
    await fs.mkdir(path.dirname(this.configPath), { recursive: true });
    const tmp = this.tmpPath();
    await fs.writeFile(tmp, text, { mode: 0o640 });
    try {
      await this.checkFile(tmp);
      await fs.rename(tmp, this.configPath);
    } finally {
      await fs.rm(tmp, { force: true });
    }
    if (!(await this.running())) return { changed: true, reconfigured: false };
    await this.configure();
    return { changed: true, reconfigured: true };
  }

  /** `birdc configure`; birdc exits 0 even when BIRD refuses, so the reply text is checked. */
  async configure(): Promise<void> {
    const { stdout } = await run('birdc', ['-s', this.controlSocket, 'configure']);
    if (!/Reconfigured|Reconfiguration in progress|Reconfiguration already in progress/.test(stdout)) {
      throw new BirdConfigError(`birdc configure failed: ${stdout.trim()}`, stdout);
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
    const { stdout } = await run('birdc', ['-s', this.controlSocket, ...args]);
    return stdout;
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
