/**
 * CPU-seconds spent by every process of the fabric between two samples, from /proc/<pid>/stat (utime + stime,
 * plus cutime + cstime: the short-lived `birdc` / `vtysh` / `ip` runs an agent waited for). Unlike VMs/s this
 * does not move with other load on the machine: a process's CPU per VM is the same whether it waited for a core
 * or not. Processes: the services and agents the bench started, every process in the lab's namespaces (BIRD, FRR
 * daemons, the agents' long-lived `ip -batch`), the Postgres backends of the run's database, and the NATS server
 * and Postgres's server-wide processes (shared with whatever else uses them: marked, and totalled apart).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Client } from 'pg';

const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

interface Stat {
  comm: string;
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm is in parentheses and may hold spaces: the fields after it are split from the last ')'.
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' ');
    // f[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    return { comm, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

function pidsByComm(comm: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    if (readStat(Number(d))?.comm === comm) out.push(Number(d));
  }
  return out;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function netnsPids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns]).toString().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface CpuSources {
  /** name → pid of the processes the bench started (services, agents). */
  processes: Map<string, number>;
  /** member name → its namespace (nodes, RRs, the core). */
  namespaces: Map<string, string>;
  /** The run's own database: its backends are the fabric's. */
  database: { url: string; name: string };
}

interface Row {
  name: string;
  shared: boolean;
}

type Snapshot = Map<number, Row & { ticks: number }>;

async function snapshot(src: CpuSources): Promise<Snapshot> {
  const snap: Snapshot = new Map();
  const named = new Map<number, string>();
  for (const [name, pid] of src.processes) named.set(pid, name);
  const add = (pid: number, name: string, shared = false) => {
    const st = readStat(pid);
    if (st && !snap.has(pid)) snap.set(pid, { name, shared, ticks: st.ticks });
  };
  for (const [pid, name] of named) add(pid, name);
  for (const [member, ns] of src.namespaces)
    for (const pid of netnsPids(ns)) {
      const st = readStat(pid);
      // The bench's own `ip monitor` runs in the namespaces too: not the fabric's.
      if (!st || st.ppid === process.pid) continue;
      const parent = named.get(st.ppid);
      add(pid, parent ? `${parent} › ${st.comm}` : `${st.comm} ${member}`);
    }
  const pg = new Client({ connectionString: src.database.url });
  await pg.connect();
  try {
    const r = await pg.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [src.database.name]);
    for (const { pid } of r.rows) add(pid, 'postgres backends');
  } finally {
    await pg.end();
  }
  for (const pid of pidsByComm('nats-server')) add(pid, 'nats-server (shared)', true);
  // The postmaster and its background workers (WAL writer, checkpointer, …), not other clients' backends.
  for (const pid of pidsByComm('postgres'))
    if (/^postgres: [^:]+: (checkpointer|background writer|walwriter|autovacuum launcher|logical replication launcher)|^\/\S+\/postgres /.test(cmdline(pid)))
      add(pid, 'postgres server-wide (shared)', true);
  return snap;
}

export class CpuMeter {
  private idle0?: Snapshot;
  private idleMs = 0;
  private before?: Snapshot;
  private bench0?: NodeJS.CpuUsage;
  constructor(private readonly src: CpuSources) {}

  /**
   * Samples the fabric at rest for `ms` first: the agents' periodic reads, NATS heartbeats and other users of
   * the shared servers cost CPU per second, not per VM, so the burst's marginal CPU per VM is its CPU minus
   * that rate × its duration. A fixed window, not a wait for a condition: it measures a rate.
   */
  async start(idleMs = 5000) {
    this.idle0 = await snapshot(this.src);
    const t = performance.now();
    await new Promise((r) => setTimeout(r, idleMs));
    this.before = await snapshot(this.src);
    this.idleMs = performance.now() - t;
    this.bench0 = process.cpuUsage();
  }

  /**
   * The table, per process (grouped by name): CPU at rest (% of a core), CPU during the burst per VM, and the
   * marginal CPU per VM (burst minus the rest rate × its duration); the totals, and the ceiling on `cores`:
   * (cores − the rest load) ÷ the marginal CPU per VM.
   */
  async stop(vms: number, wallMs: number, cores = 2): Promise<{ lines: string[]; perVmMs: number; ceiling: number }> {
    const benchUs = process.cpuUsage(this.bench0);
    const after = await snapshot(this.src);
    // A process gone by the end is lost (its CPU went to its parent's cutime when reaped); one new counts from 0.
    const delta = (from: Snapshot, to: Snapshot) => {
      const sums = new Map<string, { ms: number; shared: boolean; n: number }>();
      for (const [pid, a] of to) {
        const ms = ((a.ticks - (from.get(pid)?.ticks ?? 0)) * 1000) / TICK;
        const s = sums.get(a.name) ?? { ms: 0, shared: a.shared, n: 0 };
        s.ms += ms;
        s.n++;
        sums.set(a.name, s);
      }
      return sums;
    };
    const idle = delta(this.idle0!, this.before!);
    const burst = delta(this.before!, after);
    const rows = [...burst]
      .map(([name, b]) => {
        const restRate = (idle.get(name)?.ms ?? 0) / this.idleMs; // CPU-ms per ms
        return { name, ...b, restRate, marginal: Math.max(0, b.ms - restRate * wallMs) };
      })
      .sort((x, y) => y.marginal - x.marginal);
    const sum = (shared: boolean | undefined, f: (r: (typeof rows)[number]) => number) =>
      rows.filter((r) => shared === undefined || r.shared === shared).reduce((t, r) => t + f(r), 0);
    const fmt = (label: string, rest: number, ms: number, marginal: number) =>
      `    ${label.padEnd(40)} ${(100 * rest).toFixed(1).padStart(5)} %  ${(ms / vms).toFixed(2).padStart(7)} ms/VM  ${(marginal / vms).toFixed(2).padStart(7)} ms/VM`;
    const lines = [
      `  CPU of the burst (/proc/<pid>/stat; ${vms} VMs in ${(wallMs / 1000).toFixed(2)} s; rest rate over ${(this.idleMs / 1000).toFixed(1)} s before it):`,
      `    ${'process'.padEnd(40)} at rest   burst CPU/VM    marginal/VM`,
    ];
    for (const r of rows) if (r.ms > 0) lines.push(fmt(r.n > 1 ? `${r.name} (${r.n})` : r.name, r.restRate, r.ms, r.marginal));
    const own = { rest: sum(false, (r) => r.restRate), ms: sum(false, (r) => r.ms), marginal: sum(false, (r) => r.marginal) };
    const all = { rest: sum(undefined, (r) => r.restRate), ms: sum(undefined, (r) => r.ms), marginal: sum(undefined, (r) => r.marginal) };
    lines.push(fmt('total, fabric only', own.rest, own.ms, own.marginal));
    lines.push(fmt('total with the shared NATS / Postgres', all.rest, all.ms, all.marginal));
    const perVm = all.marginal / vms;
    const ceiling = ((cores - all.rest) * 1000) / perVm;
    lines.push(
      `    ceiling on ${cores} cores: (${cores} − ${all.rest.toFixed(2)} at rest) × 1000 ms ÷ ${perVm.toFixed(2)} ms/VM = ${ceiling.toFixed(0)} VMs/s` +
        ` (fabric only: ${(((cores - own.rest) * 1000) / (own.marginal / vms)).toFixed(0)} VMs/s); the bench itself (not counted) ${((benchUs.user + benchUs.system) / 1000 / vms).toFixed(2)} ms/VM`,
    );
    return { lines, perVmMs: perVm, ceiling };
  }
}
