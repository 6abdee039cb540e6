/**
 * `npm start` / `npm run stop` / `npm run status`: runs the whole product in the background.
 * 1. NATS + Postgres (ours if none answers), 2. the services, 3. as root: the lab fabric in network
 * namespaces, registered through the HTTP API, with one agent per node, RR and the core.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DATA, LOGS, ROOT, daemon, ensurePostgres, log, pidOf } from './infra';
import { ensureProductNats, serviceNatsEnv, stopProductNatsName, usedNatsUrl } from './nats-auth';

export const SERVICES = ['inventory', 'ipam', 'route-announcer', 'rr-config', 'router-config', 'gateway'] as const;
const REGISTER = path.join(ROOT, 'deploy', 'register.js');

export const apiBase = () => `http://${process.env.GATEWAY_HOST ?? '127.0.0.1'}:${process.env.GATEWAY_PORT ?? 8080}/api/v1`;

async function waitHealthy(timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${apiBase()}/health`);
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`gateway not healthy at ${apiBase()}/health after ${timeoutMs} ms (logs: ${LOGS})`);
}

/** Metrics port of each service (the gateway serves /metrics on its HTTP port); agents: see deploy/lab/launch.ts. */
export const metricsPort = (name: string) => {
  const base = Number(process.env.METRICS_BASE_PORT ?? 9100);
  const i = SERVICES.indexOf(name as never);
  return base === 0 || name === 'gateway' || i < 0 ? undefined : base + 1 + i;
};

function startService(name: string) {
  if (pidOf(name)) return log(`${name} already running (pid ${pidOf(name)})`);
  const port = metricsPort(name);
  const pid = daemon(name, process.execPath, ['-r', REGISTER, path.join(ROOT, 'services', name, 'src', 'main.ts')], { ...serviceNatsEnv(name as never), ...(port ? { METRICS_PORT: String(port) } : {}) });
  log(`${name} started (pid ${pid}, log ${path.join(LOGS, name + '.log')})`);
}

function stopPid(name: string) {
  const pid = pidOf(name);
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && pidOf(name)) spawnSync('sleep', ['0.1']);
  if (pidOf(name)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(path.join(DATA, 'run', `${name}.pid`), { force: true });
  log(`${name} stopped`);
}

const INITIAL_TOKEN = path.join(DATA, 'initial-admin-token');
const LAUNCHER_TOKEN = path.join(DATA, 'launcher-token');
const readToken = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined);

/**
 * The launcher's own operator token (registers the lab), created once with the admin token and kept in
 * .data/launcher-token (0600): the initial admin token is shown only once, later starts still need one.
 */
async function launcherToken(admin: string | undefined): Promise<string | undefined> {
  const kept = readToken(LAUNCHER_TOKEN);
  if (kept) {
    const r = await fetch(`${apiBase()}/clusters`, { headers: { authorization: `Bearer ${kept}` } }).catch(() => undefined);
    if (r?.status !== 401) return kept;
  }
  if (!admin) return undefined;
  const r = await fetch(`${apiBase()}/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({ name: 'launcher', role: 'operator' }),
  });
  if (!r.ok) throw new Error(`cannot create the launcher's API token: ${r.status} ${await r.text()}`);
  const { token } = (await r.json()) as { token: string };
  writeFileSync(LAUNCHER_TOKEN, token + '\n', { mode: 0o600 });
  return token;
}

export async function start() {
  const nats = await ensureProductNats();
  log(`NATS: ${nats.url}${nats.own ? ' (the product\'s own, authenticated)' : ''}`);
  await ensurePostgres();
  for (const s of SERVICES) startService(s);
  await waitHealthy();
  log(`API ready: ${apiBase()} (docs ${apiBase().replace('/api/v1', '/api/docs')}, metrics ${apiBase().replace('/api/v1', '/metrics')})`);
  const initial = readToken(INITIAL_TOKEN);
  const isRoot = process.getuid?.() === 0;
  if (isRoot && process.env.FABRIC_LAB !== '0') {
    const token = await launcherToken(process.env.FABRIC_ADMIN_TOKEN ?? initial);
    if (!token) throw new Error(`no API token to register the lab: set FABRIC_ADMIN_TOKEN to an admin token (the initial one was shown by the first npm start)`);
    const { startLab } = await import('./lab/launch');
    await startLab(apiBase(), token);
  } else if (!isRoot) {
    log('not root: the lab fabric (network namespaces, BIRD, FRR) is skipped');
  }
  if (initial) {
    // Shown once: the gateway wrote it when it created the first admin token; nobody keeps it in clear.
    console.log(['', 'Initial admin API token (shown once, store it now):', `  ${initial}`, `  export FABRIC_TOKEN=${initial}`, ''].join('\n'));
    rmSync(INITIAL_TOKEN, { force: true });
  }
}

export async function stop() {
  if (process.getuid?.() === 0 && process.env.FABRIC_LAB !== '0') {
    const { stopLab } = await import('./lab/launch');
    await stopLab();
  }
  for (const s of [...SERVICES].reverse()) stopPid(s);
  if (process.argv.includes('--all')) {
    stopPid('postgres');
    stopPid(stopProductNatsName);
    stopPid('nats');
  }
}

export function status() {
  console.log(`${'nats url'.padEnd(16)} ${usedNatsUrl()}`);
  for (const s of [stopProductNatsName, 'nats', 'postgres', ...SERVICES]) console.log(`${s.padEnd(16)} ${pidOf(s) ? `running (pid ${pidOf(s)})` : '-'}`);
}

if (require.main === module) {
  const cmd = process.argv[2] ?? 'start';
  const run = cmd === 'start' ? start : cmd === 'stop' ? stop : cmd === 'status' ? async () => status() : undefined;
  if (!run) {
    console.error('usage: launcher.ts start|stop [--all]|status');
    process.exit(2);
  }
  void run().then(
    () => process.exit(0),
    (err) => {
      console.error(String(err?.stack ?? err));
      process.exit(1);
    },
  );
}
