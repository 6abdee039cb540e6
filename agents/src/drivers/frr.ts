/**
 * FRR per network namespace (the lab core): one pathspace per namespace (`-N <ns>`), config dir
 * /etc/frr/<ns>/ (integrated frr.conf, owned by frr), sockets and pid files in /run/frr/<ns>/.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { assertNamespace, run, runInNetns } from './exec';
import { type BfdSession, parseFrrBfdPeersJson } from './bfd-parse';
import { type FrrBgpPeer, type FrrRoute, type KernelRoute, parseBgpSummaryJson, parseIpRouteJson, parseRouteJson } from './frr-parse';
import { isAlive, killAndWait, readPidFile } from './proc';

export const FRR_BIN_DIR = '/usr/lib/frr';
// bfdd: BFD for the core's sessions (`neighbor … bfd`); it idles while no session asks for BFD.
const DEFAULT_DAEMONS = ['zebra', 'bgpd', 'staticd', 'bfdd'] as const;
export type FrrDaemon = (typeof DEFAULT_DAEMONS)[number];

export interface FrrDriverOptions {
  namespace: string;
  configDir?: string;
  runDir?: string;
  daemons?: FrrDaemon[];
  /** bgpd's listen port (`-p`; 0 = do not listen): EVPN beside BIRD, which holds 179 (docs/adr/0015-evpn-frr-beside-bird.md). */
  bgpPort?: number;
  /** bgpd modules (`-M`), e.g. `bmp`: the core's BMP station (docs/adr/bmp-collector.md). */
  bgpdModules?: string[];
}

export interface FrrApplyResult {
  changed: boolean;
}

export class FrrConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrrConfigError';
  }
}

export class FrrDriver {
  readonly namespace: string;
  readonly configDir: string;
  readonly runDir: string;
  readonly configPath: string;
  private readonly daemons: FrrDaemon[];
  private readonly bgpPort?: number;
  private readonly bgpdModules: string[];

  constructor(opts: FrrDriverOptions) {
    assertNamespace(opts.namespace);
    this.namespace = opts.namespace;
    this.configDir = opts.configDir ?? path.join('/etc/frr', opts.namespace);
    this.runDir = opts.runDir ?? path.join('/run/frr', opts.namespace);
    this.configPath = path.join(this.configDir, 'frr.conf');
    this.daemons = opts.daemons ?? [...DEFAULT_DAEMONS];
    if (opts.bgpPort !== undefined && (!Number.isInteger(opts.bgpPort) || opts.bgpPort < 0 || opts.bgpPort > 65535))
      throw new Error(`invalid bgpPort ${opts.bgpPort}`);
    this.bgpPort = opts.bgpPort;
    for (const m of opts.bgpdModules ?? []) if (!/^[a-z][a-z0-9_]{0,31}$/.test(m)) throw new Error(`invalid bgpd module ${JSON.stringify(m)}`);
    this.bgpdModules = opts.bgpdModules ?? [];
  }

  async pids(): Promise<Partial<Record<FrrDaemon, number>>> {
    const out: Partial<Record<FrrDaemon, number>> = {};
    for (const d of this.daemons) {
      const pid = await readPidFile(path.join(this.runDir, `${d}.pid`));
      if (pid && (await isAlive(pid))) out[d] = pid;
    }
    return out;
  }

  async running(): Promise<boolean> {
    return Object.keys(await this.pids()).length === this.daemons.length;
  }

  /** Starts the daemons that are not running; loads frr.conf (or `initialConfig` if none exists yet). */
  async start(initialConfig?: string): Promise<{ started: FrrDaemon[] }> {
    await this.prepareConfigDir(initialConfig);
    const have = await this.pids();
    const started: FrrDaemon[] = [];
    for (const d of this.daemons) {
      if (have[d]) continue;
      // -P 0: no TCP vty, vtysh uses the unix sockets; -s: zebra's netlink buffer for route bursts.
      const args = ['-N', this.namespace, '-d', '-P', '0', ...(d === 'zebra' ? ['-s', '90000000'] : [])];
      if (d === 'bgpd' && this.bgpPort !== undefined) args.push('-p', String(this.bgpPort));
      if (d === 'bgpd') for (const m of this.bgpdModules) args.push('-M', m);
      await runInNetns(this.namespace, path.join(FRR_BIN_DIR, d), args);
      started.push(d);
    }
    if (started.length) {
      await this.waitReady();
      // Integrated config: daemons start empty, vtysh -b pushes frr.conf to each (as watchfrr does).
      await run('vtysh', ['-N', this.namespace, '-b'], { allowFailure: true });
    }
    return { started };
  }

  async stop(): Promise<void> {
    const pids = await this.pids();
    // bgpd/staticd before zebra so they do not log zebra connection losses.
    for (const d of [...this.daemons].reverse()) {
      const pid = pids[d];
      if (pid) await killAndWait(pid);
    }
  }

  private async prepareConfigDir(initialConfig?: string): Promise<void> {
    await fs.mkdir(this.configDir, { recursive: true });
    const files: Record<string, string> = {
      'vtysh.conf': 'service integrated-vtysh-config\n',
      daemons: this.daemons.map((d) => `${d}=yes`).join('\n') + '\nvtysh_enable=yes\n',
    };
    for (const [name, text] of Object.entries(files)) await writeIfChanged(path.join(this.configDir, name), text);
    try {
      await fs.access(this.configPath);
    } catch {
      await fs.writeFile(this.configPath, initialConfig ?? 'frr defaults traditional\n!\n', { mode: 0o640 });
    }
    await run('chown', ['-R', 'frr:frr', this.configDir]);
  }

  private async waitReady(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await run('vtysh', ['-N', this.namespace, '-c', 'show version'], { allowFailure: true, timeoutMs: 5000 });
      if (r.code === 0 && (await this.running())) return;
      if (Date.now() > deadline) throw new Error(`FRR in ${this.namespace} did not come up: ${r.stderr.trim()}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  async vtysh(...commands: string[]): Promise<string> {
    const args = ['-N', this.namespace];
    for (const c of commands) args.push('-c', c);
    const { stdout } = await run('vtysh', args);
    return stdout;
  }

  async runningConfig(): Promise<string> {
    return this.vtysh('show running-config');
  }

  /**
   * Replaces the running configuration with `text` via frr-reload.py (computes the diff and applies only
   * that). Transactional: frr-reload refuses a text vtysh cannot parse before touching anything; when
   * applying fails half-way, the previous frr.conf is reloaded (FRR keeps running what it ran before) and
   * the error is thrown, so the next reconcile retries. Only an applied text becomes frr.conf.
   */
  async applyConfig(text: string): Promise<FrrApplyResult> {
    const previous = await fs.readFile(this.configPath, 'utf8').catch(() => undefined);
    const tmp = await this.writeTmp(text);
    try {
      const before = await this.runningConfig();
      try {
        await this.reload(tmp);
      } catch (e) {
        const rollback = previous === undefined ? 'no previous frr.conf to roll back to' : await this.rollback(previous);
        throw new FrrConfigError(`FRR did not apply the config (${rollback}): ${(e as Error).message}`);
      }
      const after = await this.runningConfig();
      await fs.rename(tmp, this.configPath);
      return { changed: before !== after };
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  private async writeTmp(text: string): Promise<string> {
    const tmp = path.join(this.configDir, `.frr.conf.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}.tmp`);
    await fs.writeFile(tmp, text, { mode: 0o640 });
    await run('chown', ['frr:frr', tmp]);
    return tmp;
  }

  private reload(file: string): Promise<unknown> {
    return run('python3', [path.join(FRR_BIN_DIR, 'frr-reload.py'), '--reload', '--pathspace', this.namespace, file], { timeoutMs: 120_000 });
  }

  /** frr-reload ends with `write` (even after a failure): frr.conf is restored to the previous text too. */
  private async rollback(previous: string): Promise<string> {
    const tmp = await this.writeTmp(previous);
    try {
      await this.reload(tmp);
      await fs.rename(tmp, this.configPath);
      return 'rolled back to the previous frr.conf';
    } catch (e) {
      await fs.writeFile(this.configPath, previous, { mode: 0o640 }).catch(() => undefined);
      return `rollback failed too: ${(e as Error).message.slice(0, 500)}`;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  async bfdPeers(): Promise<BfdSession[]> {
    return parseFrrBfdPeersJson(await this.vtysh('show bfd peers json'));
  }

  async bgpSummary(): Promise<FrrBgpPeer[]> {
    return parseBgpSummaryJson(await this.vtysh('show bgp summary json'));
  }

  async routes(family?: 4 | 6): Promise<FrrRoute[]> {
    const out: FrrRoute[] = [];
    if (family !== 6) out.push(...parseRouteJson(await this.vtysh('show ip route json')));
    if (family !== 4) out.push(...parseRouteJson(await this.vtysh('show ipv6 route json')));
    return out;
  }

  async kernelRoutes(family?: 4 | 6): Promise<KernelRoute[]> {
    const out: KernelRoute[] = [];
    for (const f of [4, 6] as const) {
      if (family && family !== f) continue;
      const { stdout } = await run('ip', ['-j', '-n', this.namespace, `-${f}`, 'route', 'show']);
      out.push(...parseIpRouteJson(stdout, f));
    }
    return out;
  }
}

async function writeIfChanged(file: string, text: string): Promise<void> {
  try {
    if ((await fs.readFile(file, 'utf8')) === text) return;
  } catch {
    /* absent */
  }
  await fs.writeFile(file, text, { mode: 0o640 });
}
