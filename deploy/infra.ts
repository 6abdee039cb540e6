/**
 * NATS and Postgres for the product and its tests: use the ones configured (NATS_URL, DATABASE_URL) or
 * answering on localhost; otherwise start our own — nats-server with JetStream from the Debian package and
 * an embedded Postgres (PGlite behind the Postgres wire protocol) — keeping their data under .data/.
 */
import { spawnSync } from 'node:child_process';
import { createConnection } from 'node:net';
import { mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { natsDurabilityArgs } from './durability';
import { SupervisorClient } from './supervisor-client';
import type { ProgramSpec } from './supervisor';

export const ROOT = path.resolve(__dirname, '..');
export const DATA = process.env.FABRIC_DATA_DIR ?? path.join(ROOT, '.data');
export const RUN = path.join(DATA, 'run');
export const LOGS = path.join(DATA, 'logs');

export function natsUrl(): string {
  return process.env.NATS_URL ?? '127.0.0.1:4222';
}
export function databaseUrl(): string {
  return process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export function hostPort(url: string, defPort: number): { host: string; port: number } {
  const u = new URL(url.includes('://') ? url : `nats://${url}`);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || defPort) };
}

export function probe(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms (see ${LOGS})`);
}

export function log(msg: string) {
  process.stderr.write(`[ip-fabric] ${msg}\n`);
}

export function aptInstall(pkgs: string[]): void {
  if (process.getuid?.() !== 0) throw new Error(`missing ${pkgs.join(', ')}: install them (apt-get install ${pkgs.join(' ')}) or run as root`);
  log(`installing ${pkgs.join(', ')} from Debian`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`apt-get install ${pkgs.join(' ')} failed`);
}

export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * Kept by a plain stop (`--all` stops them): NATS (open or the product's authenticated one, or each member of
 * its cluster: FABRIC_NATS_CLUSTER) and Postgres.
 */
export const INFRA = ['nats', 'nats-auth', 'nats-auth-1', 'nats-auth-2', 'nats-auth-3', 'nats-auth-4', 'nats-auth-5', 'postgres'];
export const supervisor = () => new SupervisorClient(DATA);

/**
 * Runs a program under the product's supervisor (started when needed): restarted on exit with back-off,
 * its output in .data/logs/<name>.log. NATS and Postgres are `infra` (stopped last, kept by a plain stop).
 */
export async function daemon(
  name: string,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  health?: ProgramSpec['health'],
): Promise<number | undefined> {
  mkdirSync(LOGS, { recursive: true });
  const sup = supervisor();
  await sup.start();
  const st = await sup.ensure(
    { name, cmd, args, env: { ...productEnv(), ...env }, cwd: ROOT, infra: INFRA.includes(name), ...(health ? { health } : {}) },
    true,
  );
  return st.pid;
}

/** The product's configuration from this environment, handed to every supervised program (a change restarts it). */
export function productEnv(): Record<string, string> {
  const env: Record<string, string> = { FABRIC_DATA_DIR: DATA };
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && /^(FABRIC_|NATS_|DATABASE_URL$|DB_|GATEWAY_|IPAM_|LAB_|OTEL_|LOG_LEVEL$|METRICS_|PG)/.test(k)) env[k] = v;
  }
  return env;
}

/** The pid of a supervised program that is running (from the supervisor's state file), else undefined. */
export function pidOf(name: string): number | undefined {
  const pid = supervisor()
    .lastState()
    ?.programs.find((p) => p.name === name)?.pid;
  if (!pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

export async function ensureNats(): Promise<string> {
  const url = natsUrl();
  const { host, port } = hostPort(url, 4222);
  if (await probe(host, port)) return url;
  if (process.env.NATS_URL) throw new Error(`NATS_URL=${url} does not answer`);
  let bin = which('nats-server');
  if (!bin) {
    aptInstall(['nats-server']);
    bin = which('nats-server');
  }
  const dir = path.join(DATA, 'nats');
  mkdirSync(dir, { recursive: true });
  log(`starting our own NATS with JetStream on ${host}:${port} (data in ${dir})`);
  await daemon('nats', bin!, ['-a', host, '-p', String(port), '-js', '-sd', dir, ...natsDurabilityArgs(bin!, dir)]);
  await waitFor('nats-server', () => probe(host, port));
  return url;
}

export async function ensurePostgres(): Promise<string> {
  const url = databaseUrl();
  const { host, port } = hostPort(url, 5432);
  if (await probe(host, port)) return url;
  if (process.env.DATABASE_URL) throw new Error(`DATABASE_URL=${url} does not answer`);
  const dir = path.join(DATA, 'pglite');
  mkdirSync(dir, { recursive: true });
  log(`starting an embedded Postgres (PGlite) on ${host}:${port} (data in ${dir})`);
  const server = require.resolve('@electric-sql/pglite-socket/dist/scripts/server.js', { paths: [ROOT] });
  await daemon('postgres', process.execPath, [server, `--db=${dir}`, `--port=${port}`, `--host=${host}`, '--max-connections=32']);
  await waitFor('embedded Postgres', () => probe(host, port), 60000);
  return url;
}

if (require.main === module) {
  void (async () => {
    const nats = await ensureNats();
    const pg = await ensurePostgres();
    console.log(JSON.stringify({ nats, postgres: pg }));
  })().catch((err) => {
    console.error(String(err?.message ?? err));
    process.exit(1);
  });
}
