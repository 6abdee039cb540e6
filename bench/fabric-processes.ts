/**
 * The product as `npm start` runs it — every service and agent its own OS process — on its own lab,
 * NATS namespace and database, for benchmarks (the in-process test harness shares one event loop
 * between all of them, which is not what we want to time).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { rrTargetId } from '@fabric/contracts';
import type { Nats } from '@fabric/eventstore';
import { closeTestNats, createTestDatabase, dropTestDatabase, openTestNats, uniqueNs } from '@fabric/testing/infra';
import { labDown, labUp, type LabState } from '../deploy/lab/topology';
import { registerLab } from '../deploy/lab/launch';
import type { CpuSources } from './cpu';

const ROOT = path.resolve(__dirname, '..');
const SERVICES = ['inventory', 'ipam', 'route-announcer', 'rr-config', 'router-config', 'gateway', 'projector'];

export interface ProcessFabric {
  nats: Nats;
  api: string;
  token: string;
  lab: LabState;
  clusterId: string;
  nodeIds: Record<string, string>;
  auth: Record<string, string>;
  /** What bench/cpu.ts samples: the processes started here, the lab members' namespaces, the run's database. */
  cpuSources(): CpuSources;
  stopAgent(member: string): Promise<void>;
  startAgent(member: string): void;
  close(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** SIGTERM, then SIGKILL after `killAfterMs`. */
export function stop(p: ChildProcess, killAfterMs = 5000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    p.once('exit', () => (clearTimeout(timer), resolve()));
    p.kill('SIGTERM');
  });
}

export async function startProcessFabric(opts: { nodes?: number; rrs?: number; pollMs?: number } = {}): Promise<ProcessFabric> {
  const ns = uniqueNs('b');
  const prefix = `b${randomBytes(3).toString('hex')}-`;
  const nats = await openTestNats(ns);
  const db = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fabric-bench-'));
  const port = await freePort();
  const token = `fab_${randomBytes(32).toString('base64url')}`;
  const env = {
    ...process.env,
    FABRIC_NS: ns,
    DATABASE_URL: db.url,
    DB_SCHEMA: 'fabric',
    GATEWAY_PORT: String(port),
    FABRIC_ADMIN_TOKEN: token,
    FABRIC_DATA_DIR: dataDir,
    IPAM_RELEASE_COOLDOWN_MS: '0',
    LOG_LEVEL: 'warn',
    METRICS_PORT: '',
  };
  const procs = new Map<string, ChildProcess>();
  const profiled = new Set<ChildProcess>();
  const launch = (name: string, script: string, args: string[] = [], extraEnv: Record<string, string> = {}) => {
    const profile = (process.env.BENCH_CPU_PROFILE ?? '').split(',').includes(name);
    const prof = profile ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE_DIR ?? os.tmpdir()}`] : [];
    const p = spawn(process.execPath, [...prof, '-r', path.join(ROOT, 'deploy/register.js'), path.join(ROOT, script), ...args], {
      cwd: ROOT,
      env: { ...env, ...extraEnv },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    procs.set(name, p);
    if (profile) profiled.add(p);
  };
  let lab: LabState | undefined;
  const close = async () => {
    // A profile is written at exit, after the service's own close: with everything stopping at once on 2 cores
    // that took longer than the 5 s before SIGKILL, and a killed process writes none.
    await Promise.all([...procs.values()].map((p) => stop(p, profiled.has(p) ? 60_000 : 5000)));
    if (lab) await labDown(prefix).catch(() => undefined);
    await closeTestNats(nats);
    await dropTestDatabase(db.name);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    // As npm start: the projector process writes the read model, the gateway follows its checkpoint.
    for (const s of SERVICES) launch(s, `services/${s}/src/main.ts`, [], s === 'gateway' ? { FABRIC_PROJECTOR: 'external' } : {});
    const api = `http://127.0.0.1:${port}/api/v1`;
    const deadline = Date.now() + 60000;
    for (;;) {
      const ok = await fetch(`${api}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error('gateway did not come up');
      await new Promise((r) => setTimeout(r, 200));
    }
    lab = await labUp({ prefix, nodes: opts.nodes ?? 3, rrs: opts.rrs ?? 2, replace: true });
    const { clusterId, nodeIds } = await registerLab(api, lab, 'lab', token);
    const l = lab;
    const memberArgs = (member: string): string[] => {
      const role = member === l.core.name ? 'frr-router' : l.routeReflectors.some((r) => r.name === member) ? 'rr' : 'node';
      const target = role === 'frr-router' ? clusterId : role === 'rr' ? rrTargetId(clusterId, member) : nodeIds[member];
      return ['--role', role, '--target', target, '--lab', prefix, '--member', member, '--poll-ms', String(opts.pollMs ?? 300)];
    };
    const startAgent = (member: string) => launch(`agent-${member}`, 'agents/src/main.ts', memberArgs(member));
    for (const m of [l.core.name, ...l.routeReflectors.map((r) => r.name), ...l.nodes.map((n) => n.name)]) startAgent(m);
    return {
      nats,
      api,
      token,
      lab: l,
      clusterId,
      nodeIds,
      auth: { Authorization: `Bearer ${token}` },
      startAgent,
      cpuSources: () => ({
        processes: new Map([...procs].filter(([, p]) => p.pid !== undefined && p.exitCode === null).map(([n, p]) => [n, p.pid!])),
        namespaces: new Map([l.core, ...l.routeReflectors, ...l.nodes].map((m) => [m.name, m.namespace])),
        database: { url: db.url, name: db.name },
      }),
      async stopAgent(member) {
        const p = procs.get(`agent-${member}`);
        if (p) await stop(p);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
