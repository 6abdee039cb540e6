/**
 * `npm start` / `npm run stop` / `npm run status`: runs the whole product in the background.
 * 1. NATS + Postgres (ours if none answers), 2. the services, 3. as root: the lab fabric in network
 * namespaces, registered through the HTTP API, with one agent per node, RR and the core.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { POSTGRES_DURABILITY_ENV } from './durability';
import { SERVICE_MEMORY_ENV } from './service-memory';
import { DATA, INFRA, LOGS, ROOT, daemon, databaseUrl, ensureNats, ensurePostgres, log, natsUrl, RUN, supervisor } from './infra';
import { markedProcesses, terminate } from './procs';
import { bmpNatsEnv, ensureProductNats, serviceNatsEnv, usedNatsUrl } from './nats-auth';
import { type BmpClusterView, bmpCollectorPlan, staleCollectors } from './bmp-collectors';

/** The projector after the gateway: it waits for the gateway's migrations, then projects what the gateway reads. */
export const SERVICES = ['inventory', 'ipam', 'route-announcer', 'rr-config', 'router-config', 'gateway', 'projector'] as const;
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

/** Metrics port of each service (the gateway serves /metrics on its HTTP port), second instances 100 above; agents: see deploy/lab/launch.ts. */
export const metricsPort = (name: string, instance = 1) => {
  const base = Number(process.env.METRICS_BASE_PORT ?? 9100);
  const i = SERVICES.indexOf(name as never);
  return base === 0 || name === 'gateway' || i < 0 ? undefined : base + 1 + i + (instance - 1) * 100;
};

/**
 * Instances of every service (FABRIC_SERVICE_INSTANCES, 1 or 2): the second of each runs as `<name>-2` —
 * inventory and the derivers as standbys behind their leader lease, IPAM and the gateway (on GATEWAY_PORT + 1)
 * active-active. On real hosts each instance runs on its own host (docs/adr/0011-active-standby-leader-lease.md).
 */
export function serviceInstances(): number {
  const n = Number(process.env.FABRIC_SERVICE_INSTANCES ?? 1);
  if (n !== 1 && n !== 2) throw new Error(`FABRIC_SERVICE_INSTANCES must be 1 or 2, got ${process.env.FABRIC_SERVICE_INSTANCES}`);
  return n;
}
const programName = (name: string, instance: number) => (instance === 1 ? name : `${name}-${instance}`);

async function startService(name: string, instance = 1) {
  const port = metricsPort(name, instance);
  const gatewayPort = Number(process.env.GATEWAY_PORT ?? 8080) + instance - 1;
  const env: Record<string, string> = {
    ...SERVICE_MEMORY_ENV,
    ...(serviceNatsEnv(name as never) as Record<string, string>),
    ...(port ? { METRICS_PORT: String(port) } : {}),
    // The gateway follows the projector's checkpoint instead of projecting (its CPU serves the API).
    ...(name === 'gateway' ? { ...POSTGRES_DURABILITY_ENV, GATEWAY_PORT: String(gatewayPort), FABRIC_PROJECTOR: 'external' } : {}),
    ...(name === 'projector' ? POSTGRES_DURABILITY_ENV : {}),
  };
  // Liveness: a gateway whose /health answers 5xx (a dead loop inside a running process) is restarted.
  const health = name === 'gateway' ? { url: `${apiBase().replace(/:\d+\/api\/v1$/, `:${gatewayPort}/api/v1`)}/health` } : undefined;
  const program = programName(name, instance);
  const pid = await daemon(program, process.execPath, ['-r', REGISTER, path.join(ROOT, 'services', name, 'src', 'main.ts')], env, health);
  log(`${program} supervised (pid ${pid}, log ${path.join(LOGS, program + '.log')})`);
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

/**
 * One supervised collector per cluster with a BMP station, with that cluster's `bmp` identity (never the admin's);
 * collectors of clusters whose station was unset are stopped. A station's change restarts its collector (new args).
 */
export async function syncBmpCollectors(token: string): Promise<void> {
  const r = await fetch(`${apiBase()}/clusters`, { headers: { authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`cannot list clusters for the BMP collectors: ${r.status} ${await r.text()}`);
  const { collectors, skipped } = bmpCollectorPlan((await r.json()) as BmpClusterView[], ROOT);
  for (const s of skipped) log(`BMP collector skipped: ${s}`);
  for (const c of collectors) {
    const pid = await daemon(c.name, process.execPath, ['-r', REGISTER, ...c.args], bmpNatsEnv(c.clusterId) as Record<string, string>);
    log(`${c.name} supervised (pid ${pid}, log ${path.join(LOGS, c.name + '.log')})`);
  }
  const sup = supervisor();
  const running = ((await sup.status())?.programs ?? []).map((p) => p.name);
  for (const name of staleCollectors(running, collectors)) {
    await sup.remove(name);
    log(`${name} stopped (its cluster has no BMP station any more)`);
  }
}

/** `launcher.ts bmp-sync`: the collectors follow the clusters' BMP settings now, without a restart of the rest. */
async function bmpSync(): Promise<void> {
  const token = await launcherToken(process.env.FABRIC_ADMIN_TOKEN ?? readToken(INITIAL_TOKEN));
  if (!token) throw new Error('no API token: set FABRIC_ADMIN_TOKEN to an admin token');
  await supervisor().start();
  await ensureProductNats();
  await syncBmpCollectors(token);
}

export async function start() {
  // The supervisor first: a new one stops whatever an earlier, killed supervisor left running — its NATS and
  // Postgres included. Probing for those before it starts would find the orphans, keep using them, and lose
  // them a moment later when the new supervisor took over (the services then crash-looped without a bus).
  mkdirSync(LOGS, { recursive: true });
  await supervisor().start();
  const nats = await ensureProductNats();
  log(`NATS: ${nats.url}${nats.own ? " (the product's own, authenticated)" : ''}`);
  await ensurePostgres();
  const instances = serviceInstances();
  for (const s of SERVICES) await startService(s);
  await waitHealthy();
  // Second instances after the first gateway ran the migrations (one migrator at a time).
  if (instances === 2) for (const s of SERVICES) await startService(s, 2);
  log(`API ready: ${apiBase()} (docs ${apiBase().replace('/api/v1', '/api/docs')}, metrics ${apiBase().replace('/api/v1', '/metrics')})`);
  const initial = readToken(INITIAL_TOKEN);
  const isRoot = process.getuid?.() === 0;
  // Collectors before the lab: a lab core pointed at one finds it listening.
  const apiToken = await launcherToken(process.env.FABRIC_ADMIN_TOKEN ?? initial).catch(() => undefined);
  if (apiToken) await syncBmpCollectors(apiToken);
  else log('no API token: BMP collectors not synced (set FABRIC_ADMIN_TOKEN)');
  if (isRoot && process.env.FABRIC_LAB !== '0') {
    const token = apiToken;
    if (!token)
      throw new Error(`no API token to register the lab: set FABRIC_ADMIN_TOKEN to an admin token (the initial one was shown by the first npm start)`);
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

/** Lab prefixes this data dir may have built: the configured one and the one the last start recorded. */
function labPrefixes(): string[] {
  const prefixes = new Set<string>([process.env.LAB_PREFIX ?? 'fab-']);
  try {
    const { prefix } = JSON.parse(readFileSync(path.join(DATA, 'lab.json'), 'utf8')) as { prefix?: string };
    if (prefix) prefixes.add(prefix);
  } catch {
    /* no lab recorded */
  }
  return [...prefixes];
}

/**
 * Stops everything of this data dir and checks it: nothing may be left behind. Every step runs even when an
 * earlier one failed (an aborted stop is how processes used to be left over), and the result is verified by
 * looking for the product's processes by their environment marker, not by pid files.
 */
export async function stop() {
  const all = process.argv.includes('--all');
  const errors: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      errors.push(`${what}: ${(err as Error)?.message ?? err}`);
    }
  };
  const sup = supervisor();
  let supervisorAnswered = false;
  await step('supervisor stop', async () => {
    if (!(await sup.status())) return;
    const r = await sup.stop(all ? [] : INFRA);
    supervisorAnswered = true;
    if (r.stopped.length) log(`stopped ${r.stopped.join(', ')}`);
  });
  // Whatever still carries our marker: a supervisor that did not answer, children it lost, agents' helpers.
  const keep = async () => {
    if (all || !supervisorAnswered) return [] as number[];
    const state = await sup.status();
    return state ? [state.pid, ...state.programs.filter((p) => INFRA.includes(p.name) && p.pid).map((p) => p.pid!)] : [];
  };
  const sweep = async () => {
    const kept = await keep();
    const strays = (await markedProcesses(DATA)).filter((p) => !kept.includes(p.pid) && !INFRA.includes(p.program ?? ''));
    if (strays.length) {
      log(`terminating ${strays.length} leftover process(es): ${strays.map((p) => `${p.pid} ${p.program ?? p.cmdline.slice(0, 3).join(' ')}`).join('; ')}`);
      await terminate(strays.map((p) => p.pid));
    }
    if (all) await terminate((await markedProcesses(DATA)).map((p) => p.pid));
    return strays.length;
  };
  // Orphans of a dead supervisor go before the lab: a live agent answers the lab's teardown by restarting its
  // BIRD, and that daemon (carrying the agent's marker) outlives the agent.
  if (!supervisorAnswered) await step('sweep orphans', sweep);
  const labDownAll = async () => {
    if (process.getuid?.() !== 0) return;
    const { labDown } = await import('./lab/topology');
    for (const prefix of labPrefixes())
      await step(`lab ${prefix} down`, () => labDown(prefix).then((r) => r.namespaces.length && log(`lab ${prefix} removed`)));
  };
  await labDownAll();
  // Repeat until nothing new turns up: a process may spawn a child while it is being terminated.
  await step('sweep', async () => {
    let rounds = 0;
    while ((await sweep()) > 0 && ++rounds < 5) await labDownAll();
  });
  // Pid files of the launcher before the supervisor (an upgrade must not strand those processes).
  await step('legacy pid files', async () => {
    for (const f of existsSync(RUN) ? readdirSync(RUN).filter((f) => f.endsWith('.pid') && f !== 'supervisor.pid') : []) {
      const name = f.slice(0, -4);
      const pid = Number(readFileSync(path.join(RUN, f), 'utf8'));
      const cmd = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
      if (pid > 1 && (all || !INFRA.includes(name)) && (cmd.includes(ROOT) || cmd.includes('nats-server'))) await terminate([pid]);
      if (all || !INFRA.includes(name)) rmSync(path.join(RUN, f), { force: true });
    }
  });
  const left = (await markedProcesses(DATA)).filter((p) => all || (p.program !== undefined && !INFRA.includes(p.program)));
  if (left.length) errors.push(`still running: ${left.map((p) => `${p.pid} (${p.cmdline.join(' ')})`).join(', ')}`);
  if (errors.length) throw new Error(`npm run stop did not finish cleanly:\n  ${errors.join('\n  ')}`);
  log(all ? 'stopped everything' : 'stopped (NATS/Postgres of npm start kept: add --all to stop them too)');
}

const age = (iso?: string) => {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
};

export async function status() {
  const sup = supervisor();
  const live = await sup.status();
  const state = live ?? sup.lastState();
  console.log(`NATS      ${usedNatsUrl()}`);
  console.log(`Postgres  ${databaseUrl().replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')}`);
  console.log(
    live ? `supervisor pid ${live.pid}, up since ${live.startedAt}` : `supervisor not running${state ? ` (last state from ${stateAge(state)})` : ''}`,
  );
  const rows = (state?.programs ?? []).map((p) => [
    p.name,
    live ? p.state : 'gone',
    live && p.pid ? String(p.pid) : '-',
    String(p.restarts),
    p.lastExit ? `${p.lastExit.signal ?? `exit ${p.lastExit.code}`}${p.lastExit.reason ? ' (unhealthy)' : ''}` : '-',
    p.lastExit ? `${p.lastExit.at} (${age(p.lastExit.at)})` : '-',
  ]);
  const head = ['PROGRAM', 'STATE', 'PID', 'RESTARTS', 'LAST EXIT', 'AT'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows])
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
  const known = new Set((live?.programs ?? []).map((p) => p.pid).concat(live?.pid));
  const strays = (await markedProcesses(DATA)).filter(
    (p) => !known.has(p.pid) && !(p.program && live?.programs.some((q) => q.pid && isDescendant(p.pid, q.pid))),
  );
  if (strays.length)
    console.log(
      `not supervised but ours (npm run stop removes them): ${strays.map((p) => `${p.pid} ${p.program ?? p.cmdline.slice(0, 3).join(' ')}`).join('; ')}`,
    );
  if (state?.programs.some((p) => p.state === 'failed')) process.exitCode = 3;
}

const stateAge = (s: { programs: { lastExit?: { at: string } }[] }) => {
  const times = s.programs.map((p) => p.lastExit?.at).filter(Boolean) as string[];
  return times.length ? age(times.sort().at(-1)) : 'an earlier run';
};

function isDescendant(pid: number, ancestor: number): boolean {
  for (let p = pid, i = 0; p > 1 && i < 64; i++) {
    if (p === ancestor) return true;
    try {
      p = Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    } catch {
      return false;
    }
  }
  return false;
}

if (require.main === module) {
  const cmd = process.argv[2] ?? 'start';
  const run = cmd === 'start' ? start : cmd === 'stop' ? stop : cmd === 'status' ? status : cmd === 'bmp-sync' ? bmpSync : undefined;
  if (!run) {
    console.error('usage: launcher.ts start|stop [--all]|status|bmp-sync');
    process.exit(2);
  }
  void run().then(
    () => process.exit(0),
    (err) => {
      console.error(String(err?.message ?? err));
      process.exit(1);
    },
  );
}
