/**
 * Where a VM's time goes on its way to the core: the bench watches every hop from outside the product and
 * stamps, per VM, the first time it saw it at each stage (all in this process's clock):
 *   created    VmCreated on `<ns>.evt.vm.*`           (inventory appended it)
 *   allocated  IpAllocated on `<ns>.evt.ipam.*`        (IPAM's reactor decided)
 *   desired    first `<ns>.cmd.node.*` listing the VM  (route-announcer published the node's state)
 *   applied    ConfigApplied of that generation or later on `<ns>.evt.agent.node.*` (the node agent)
 *   node       the VM's route (proto 200) in the node's kernel (`ip monitor route` in the node namespace)
 *   placed     its key in the placements KV            (rr-config; the RR agents feed it over RTR)
 *   rr         first RoutesChanged of an RR agent adding it (includes the agent's 100 ms probe)
 *   core       installed in the core's kernel (`ip monitor route`, proto bgp)
 *   reported   first RoutesChanged of the core's agent adding it (what the read model's at-core comes from)
 * Only NATS subscriptions and `ip monitor` (no product change, no extra reads of the daemons).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Msg, Subscription } from '@nats-io/nats-core';
import type { Nats } from '@fabric/eventstore';
import { placementsBucket } from '@fabric/eventstore';

export const STAGES = ['created', 'allocated', 'desired', 'applied', 'node', 'placed', 'rr', 'core', 'reported'] as const;
export type Stage = (typeof STAGES)[number];

const dec = new TextDecoder();

interface Env {
  type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}
/** The events of one message: one envelope, or an EventBatch (one decision of several events). */
function eventsOf(m: Msg): Env[] {
  const env = m.json<Env>();
  return env.type === 'EventBatch' ? (env.data.events as Env[]) : [env];
}
const strip = (prefix: string) => prefix.replace(/\/\d+$/, '');

/** `ip monitor route` in one namespace: calls back with the destination of each added route matching `proto`. */
export function monitorRoutes(namespace: string, proto: string, onRoute: (dst: string, t: number) => void): ChildProcess {
  const p = spawn('ip', ['-n', namespace, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let buf = '';
  p.stdout!.on('data', (chunk: Buffer) => {
    const now = performance.now();
    buf += chunk.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('Deleted') || !line.includes(`proto ${proto}`)) continue;
      onRoute(strip(line.split(' ')[0]), now);
    }
  });
  return p;
}

export class StageWatcher {
  /** vmId → stage → first time seen. */
  readonly at = new Map<string, Partial<Record<Stage, number>>>();
  private readonly vmOfIp = new Map<string, string>();
  /** Times by address seen before the address was known to belong to a VM (IpAllocated not seen yet). */
  private readonly early = new Map<string, Partial<Record<Stage, number>>>();
  /** node target → [generation, vmIds first listed in it][] not yet applied. */
  private readonly pendingGen = new Map<string, { gen: number; vms: string[] }[]>();
  private readonly known = new Map<string, Set<string>>();
  private readonly subs: Subscription[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly allocWaiters = new Map<string, (ip: string) => void>();
  /** Node commands seen (each a new generation of one node: its whole state) and their bytes. */
  readonly nodeCommands = { count: 0, bytes: 0 };

  constructor(nats: Nats, nodeNamespaces: string[]) {
    const s = nats.subjects;
    const sub = (subject: string, on: (m: Msg, t: number) => void) =>
      this.subs.push(
        nats.nc.subscribe(subject, {
          callback: (_e, m) => {
            const t = performance.now();
            try {
              on(m, t);
            } catch {
              /* a message of another shape: not a stage */
            }
          },
        }),
      );
    sub(s.evtAll('vm'), (m, t) => {
      for (const e of eventsOf(m)) if (e.type === 'VmCreated') this.stamp(e.data.vmId, 'created', t);
    });
    sub(s.evtAll('ipam'), (m, t) => {
      for (const e of eventsOf(m)) if (e.type === 'IpAllocated') this.onAllocated(e.data, t);
    });
    sub(s.cmdAll('node'), (m, t) => {
      this.nodeCommands.count++;
      this.nodeCommands.bytes += m.data.length;
      const d = m.json<{ targetId: string; generation: number; vms: { vmId: string }[] }>();
      const known = this.known.get(d.targetId) ?? new Set<string>();
      this.known.set(d.targetId, known);
      const fresh: string[] = [];
      for (const vm of d.vms) {
        if (known.has(vm.vmId)) continue;
        known.add(vm.vmId);
        fresh.push(vm.vmId);
        this.stamp(vm.vmId, 'desired', t);
      }
      if (fresh.length) {
        const q = this.pendingGen.get(d.targetId) ?? [];
        q.push({ gen: d.generation, vms: fresh });
        this.pendingGen.set(d.targetId, q);
      }
    });
    sub(`${s.ns}.evt.agent.node.*`, (m, t) => {
      for (const e of eventsOf(m)) {
        if (e.type !== 'ConfigApplied') continue;
        const q = this.pendingGen.get(e.data.target.id) ?? [];
        while (q.length && q[0].gen <= e.data.generation) for (const vmId of q.shift()!.vms) this.stamp(vmId, 'applied', t);
      }
    });
    sub(`$KV.${placementsBucket(s)}.>`, (m, t) => {
      const op = m.headers?.get('KV-Operation');
      if (op === 'DEL' || op === 'PURGE' || !m.data.length) return;
      this.stampIp(strip(JSON.parse(dec.decode(m.data)).prefix), 'placed', t);
    });
    sub(`${s.ns}.obs.agent.rr.*`, (m, t) => {
      for (const e of eventsOf(m)) if (e.type === 'RoutesChanged') for (const r of e.data.added as { prefix: string }[]) this.stampIp(strip(r.prefix), 'rr', t);
    });
    sub(`${s.ns}.obs.agent.router.*`, (m, t) => {
      for (const e of eventsOf(m))
        if (e.type === 'RoutesChanged') for (const r of e.data.added as { prefix: string }[]) this.stampIp(strip(r.prefix), 'reported', t);
    });
    for (const ns of nodeNamespaces) this.procs.push(monitorRoutes(ns, '200', (dst, t) => this.stampIp(dst, 'node', t)));
  }

  private onAllocated(d: { vmId: string; ip: string }, t: number) {
    this.vmOfIp.set(d.ip, d.vmId);
    this.stamp(d.vmId, 'allocated', t);
    const early = this.early.get(d.ip);
    if (early) for (const [k, v] of Object.entries(early)) this.stamp(d.vmId, k as Stage, v);
    this.early.delete(d.ip);
    this.allocWaiters.get(d.vmId)?.(d.ip);
    this.allocWaiters.delete(d.vmId);
  }

  /** The core's installs come from the bench's own core watcher. */
  core(ip: string, t: number) {
    this.stampIp(ip, 'core', t);
  }

  /** Resolves with the VM's address once IpAllocated was seen on the bus. */
  allocated(vmId: string, timeoutMs = 60000): Promise<string> {
    const ip = [...this.vmOfIp].find(([, v]) => v === vmId)?.[0];
    if (ip) return Promise.resolve(ip);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no IpAllocated for ${vmId} within ${timeoutMs} ms`)), timeoutMs);
      this.allocWaiters.set(vmId, (x) => (clearTimeout(timer), resolve(x)));
    });
  }

  private stamp(vmId: string, stage: Stage, t: number) {
    const rec = this.at.get(vmId) ?? {};
    if (rec[stage] === undefined) rec[stage] = t;
    this.at.set(vmId, rec);
  }

  private stampIp(ip: string, stage: Stage, t: number) {
    const vmId = this.vmOfIp.get(ip);
    if (vmId) return this.stamp(vmId, stage, t);
    const rec = this.early.get(ip) ?? {};
    if (rec[stage] === undefined) rec[stage] = t;
    this.early.set(ip, rec);
  }

  stop() {
    for (const s of this.subs) s.unsubscribe();
    for (const p of this.procs) p.kill();
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/**
 * Sequential case: p50/p99 of each hop (stage minus the previous stage of the same VM; `placed` and `rr` hang off
 * `allocated`, the RR branch: rr-config places while the node applies).
 */
export function stageTable(w: StageWatcher, vmIds: string[], t0: Map<string, number>): string[] {
  const prev: Record<Stage, Stage | 'post'> = {
    created: 'post',
    allocated: 'created',
    desired: 'allocated',
    applied: 'desired',
    node: 'desired',
    placed: 'allocated',
    rr: 'node',
    core: 'rr',
    reported: 'core',
  };
  const lines: string[] = [];
  for (const stage of STAGES) {
    const from = prev[stage];
    const hop: number[] = [];
    const total: number[] = [];
    for (const id of vmIds) {
      const rec = w.at.get(id);
      const t = rec?.[stage];
      const p = from === 'post' ? t0.get(id) : rec?.[from];
      if (t === undefined || p === undefined) continue;
      hop.push(t - p);
      total.push(t - t0.get(id)!);
    }
    if (!hop.length) {
      lines.push(`    ${stage.padEnd(10)} not seen`);
      continue;
    }
    lines.push(
      `    ${from.padStart(9)} → ${stage.padEnd(10)} p50 ${pct(hop, 50).toFixed(1).padStart(6)} ms  p99 ${pct(hop, 99).toFixed(1).padStart(6)} ms` +
        `   (since POST p50 ${pct(total, 50).toFixed(1).padStart(6)} ms, ${hop.length} VMs)`,
    );
  }
  return lines;
}

/**
 * Burst: when 50 % and 100 % of the VMs had passed each stage (since the first POST), and the stage whose
 * completion time grew most over the stage before it in the chain: the one that limits the burst.
 */
export function burstTable(w: StageWatcher, vmIds: string[], tb: number): { lines: string[]; limiting: string } {
  const chain: Stage[] = ['created', 'allocated', 'desired', 'applied', 'node', 'rr', 'core'];
  const lines: string[] = [];
  const done = new Map<Stage, number>();
  for (const stage of [...chain, 'reported', 'placed'] as Stage[]) {
    const ts = vmIds
      .map((id) => w.at.get(id)?.[stage])
      .filter((t): t is number => t !== undefined)
      .map((t) => t - tb);
    if (!ts.length) {
      lines.push(`    ${stage.padEnd(10)} not seen`);
      continue;
    }
    const last = Math.max(...ts);
    done.set(stage, last);
    lines.push(
      `    ${stage.padEnd(10)} 50 % at ${(pct(ts, 50) / 1000).toFixed(2).padStart(6)} s, all at ${(last / 1000).toFixed(2).padStart(6)} s` +
        `  (${ts.length}/${vmIds.length}; ${((ts.length * 1000) / last).toFixed(0)} VMs/s through this stage)`,
    );
  }
  let limiting = 'unknown';
  let worst = -Infinity;
  let before = 0;
  for (const stage of chain) {
    const d = done.get(stage);
    if (d === undefined) continue;
    if (d - before > worst) {
      worst = d - before;
      limiting = `${stage} (+${(worst / 1000).toFixed(2)} s after the stage before it)`;
    }
    before = d;
  }
  return { lines, limiting };
}
