/**
 * A burst of VM creations (and deletes of earlier VMs) against a supervised fabric by clients that retry until
 * acknowledged, and the convergence check over the whole history (support/checker.ts): the stream, the read
 * model and the kernel tables, repeated until it holds. With two gateways the clients spread over both and a
 * request that failed is retried on the other (the same Idempotency-Key: the gateways share it).
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Client } from 'pg';
import { vmInterfaceName } from '@fabric/contracts';
import { EventStore } from '@fabric/eventstore';
import { http } from '../../support/control-plane';
import { checkHistory, type ClientHistory, type Kernel, type ReadModel, type StreamEvent, type Verdict } from './checker';
import { coreBgpRoutes, nodeFabricRoutes } from './lab-checks';
import { RecoveryTimeline } from './phases';
import { type SupervisedFabric } from './supervised-fabric';

const VM_EVENT = /^(Vm|Ip)/;

export class VmBurst {
  readonly client: ClientHistory = { created: new Map(), deleted: new Set() };
  private seq = 0;
  private readonly stream: StreamEvent[] = [];

  constructor(
    private readonly f: SupervisedFabric,
    private readonly opts: { vms: number; deletes: number; convergeMs: number; report: string[] },
  ) {}

  /** Acknowledgements per gateway API (the gateways are active-active; a failed request retries on the next). */
  readonly ackedBy = new Map<string, number>();

  private api(i: number): string {
    return this.f.apis[i % this.f.apis.length];
  }

  /** When each acknowledgement and each failed attempt happened (the recovery timeline's API phase). */
  private readonly ackTimes: number[] = [];
  private readonly failTimes: number[] = [];

  private acked(api: string) {
    this.ackedBy.set(api, (this.ackedBy.get(api) ?? 0) + 1);
    this.ackTimes.push(Date.now());
  }

  private node(name: string) {
    return this.f.lab.nodes.find((n) => n.name === name)!;
  }

  /** Tap devices exist before the VM is created, as libvirt would have made them. */
  private async addTaps(nodeName: string, vmIds: string[]) {
    if (!vmIds.length) return;
    const lines = vmIds.map((id) => `tuntap add dev ${vmInterfaceName(id)} mode tap`).join('\n') + '\n';
    await new Promise<void>((resolve, reject) => {
      const p = spawn('ip', ['-n', this.node(nodeName).namespace, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d) => (err += d));
      p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(err))));
      p.stdin!.end(lines);
    });
  }

  /** Retries until the API acknowledges (services or NATS may be restarting); records what it was told. */
  private async createVm(vmId: string, nodeName: string, family: 4 | 6) {
    const f = this.f;
    const n = this.seq++;
    const body = { vmId, clusterId: f.clusterId, nodeId: f.nodeIds[nodeName], name: `b${n.toString(36)}`, ownerId: 'faults', driver: 'tap', family };
    for (let attempt = 0; ; attempt++) {
      const api = this.api(n + attempt);
      const r = await http('POST', `${api}/vms`, body, { ...f.auth, 'Idempotency-Key': `create-${vmId}` }).catch(() => undefined);
      if (r?.status === 202 || (r?.status === 409 && r.body?.code === 'vm-exists')) {
        this.client.created.set(vmId, { nodeId: f.nodeIds[nodeName] });
        this.acked(api);
        return;
      }
      if (r && r.status < 500 && r.status !== 409 && r.status !== 429) throw new Error(`create ${vmId}: ${r.status} ${JSON.stringify(r.body)}`);
      this.failTimes.push(Date.now());
      await new Promise((res) => setTimeout(res, Math.min(1000, 50 * 2 ** Math.min(attempt, 5))));
    }
  }

  private async deleteVm(vmId: string) {
    const f = this.f;
    const n = this.seq++;
    for (let attempt = 0; ; attempt++) {
      const api = this.api(n + attempt);
      const r = await http('DELETE', `${api}/vms/${vmId}`, undefined, { ...f.auth, 'Idempotency-Key': `delete-${vmId}` }).catch(() => undefined);
      if (r?.status === 202 || (r?.status === 409 && r.body?.code === 'vm-deleted')) {
        this.client.deleted.add(vmId);
        this.acked(api);
        return;
      }
      if (r && r.status < 500 && r.status !== 409 && r.status !== 429) throw new Error(`delete ${vmId}: ${r.status} ${JSON.stringify(r.body)}`);
      this.failTimes.push(Date.now());
      await new Promise((res) => setTimeout(res, Math.min(1000, 50 * 2 ** Math.min(attempt, 5))));
    }
  }

  /** `vms` creates over the nodes (one in four IPv4) and `deletes` of live VMs, 8 clients at a time. */
  async burst(onProgress: (accepted: number) => void): Promise<void> {
    const nodes = this.f.lab.nodes;
    const vms = Array.from({ length: this.opts.vms }, (_, i) => ({
      vmId: randomUUID(),
      node: nodes[i % nodes.length].name,
      family: (i % 4 === 0 ? 4 : 6) as 4 | 6,
    }));
    for (const n of nodes)
      await this.addTaps(
        n.name,
        vms.filter((v) => v.node === n.name).map((v) => v.vmId),
      );
    const victims = [...this.client.created.keys()].filter((id) => !this.client.deleted.has(id)).slice(0, this.opts.deletes);
    const ops: (() => Promise<void>)[] = vms.map((v) => () => this.createVm(v.vmId, v.node, v.family));
    victims.forEach((id, i) => ops.splice(Math.floor(((i + 1) * ops.length) / (victims.length + 1)), 0, () => this.deleteVm(id)));
    let next = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < ops.length) {
          await ops[next++]();
          onProgress(++done);
        }
      }),
    );
  }

  /** The stream read so far (incremental); events not about VMs keep only their id and sequence. */
  async readStream(): Promise<StreamEvent[]> {
    const after = this.stream.at(-1)?.seq ?? 0;
    await new EventStore(this.f.nats).forEach('fabric.evt.>', after, (e) => {
      this.stream.push({ seq: e.seq, id: e.id, type: e.type, data: VM_EVENT.test(e.type) ? (e.data as Record<string, any>) : {} });
    });
    return this.stream;
  }

  async readModel(): Promise<ReadModel> {
    const db = new Client({ connectionString: this.f.databaseUrl });
    await db.connect();
    try {
      const cp = await db.query(`SELECT max(position)::bigint AS p FROM fabric.projection_checkpoints`);
      const vms = await db.query(`SELECT id, ip, node_id, status FROM fabric.vms`);
      const usage = await db.query(`SELECT vm_id, ip, allocated_seq::bigint, released_seq::bigint FROM fabric.ip_usage`);
      const history = await db.query(`SELECT vm_id, seq::bigint, event FROM fabric.vm_history WHERE event = 'VmCreated'`);
      return {
        checkpoint: Number(cp.rows[0]?.p ?? 0),
        vms: vms.rows,
        usage: usage.rows.map((u) => ({ ...u, allocated_seq: Number(u.allocated_seq), released_seq: u.released_seq === null ? null : Number(u.released_seq) })),
        history: history.rows.map((h) => ({ ...h, seq: Number(h.seq) })),
      };
    } finally {
      await db.end();
    }
  }

  async kernel(): Promise<Kernel> {
    const nodes = new Map<string, Map<string, string>>();
    const underlay = new Map<string, string[]>();
    for (const n of this.f.lab.nodes) {
      nodes.set(this.f.nodeIds[n.name], await nodeFabricRoutes(n.namespace));
      underlay.set(this.f.nodeIds[n.name], [n.ipv4, n.ipv6]);
    }
    return { core: await coreBgpRoutes(this.f.lab.core.namespace), nodes, underlay };
  }

  /**
   * The full check, repeated until it holds or the time is up; returns when it held. `timeline` gets the
   * moment each part held for good: the stream (every acknowledged VM addressed), the nodes' and the
   * core's kernel routes, the read model.
   */
  async converge(label: string, since: number, timeline?: RecoveryTimeline): Promise<Verdict> {
    const deadline = Date.now() + this.opts.convergeMs;
    let last: Verdict | undefined;
    const held: Record<'stream' | 'nodes' | 'core', number | undefined> = { stream: undefined, nodes: undefined, core: undefined };
    const track = (part: keyof typeof held, ok: boolean, at: number) => (held[part] = ok ? (held[part] ?? at) : undefined);
    for (;;) {
      // Cheap first: the kernel and the stream; the read model only when those agree.
      const events = await this.readStream().catch(() => undefined);
      if (events) {
        const at = Date.now();
        track('stream', !checkHistory(events, this.client).violations.length, at);
        last = checkHistory(events, this.client, undefined, await this.kernel());
        track('nodes', !last.violations.some((v) => v.startsWith('node ') || v.includes('routed on two nodes')), at);
        track('core', !last.violations.some((v) => v.startsWith('core:')), at);
        if (!last.violations.length) {
          last = checkHistory(events, this.client, await this.readModel().catch(() => undefined), await this.kernel());
          if (!last.violations.length) {
            this.opts.report.push(
              `${label}: converged ${((Date.now() - since) / 1000).toFixed(1)} s after the fault (${last.live.size} VMs routed, ${last.released.size} released)`,
            );
            if (timeline) {
              timeline.mark('stream complete: every acknowledged VM addressed, nothing twice', held.stream);
              timeline.mark("nodes' kernel routes complete", held.nodes);
              timeline.mark("core's BGP routes complete", held.core);
              timeline.mark('read model complete: converged');
            }
            return last;
          }
        }
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const shown = last?.violations.slice(0, 25) ?? ['the stream could not be read'];
    throw new Error(`${label}: not converged within ${this.opts.convergeMs} ms; ${last?.violations.length ?? '?'} violations, e.g.\n  ${shown.join('\n  ')}`);
  }

  /**
   * Runs a burst; `fault` starts once a quarter of it is accepted; then the whole history must check out.
   * The recovery timeline (support/phases.ts) of the case goes into the report, phase by phase.
   */
  async caseWith(label: string, fault: () => Promise<void>): Promise<Verdict> {
    let started: Promise<void> | undefined;
    let faultAt = 0;
    let timeline: RecoveryTimeline | undefined;
    const quarter = Math.floor(this.opts.vms / 4);
    const [acks, fails] = [this.ackTimes.length, this.failTimes.length];
    // Started before the burst: the loops' and leases' state before the fault is the baseline.
    const sampling = new RecoveryTimeline(this.f, Date.now());
    await sampling.start();
    try {
      await this.burst((n) => {
        if (n >= quarter && !started) {
          faultAt = Date.now();
          timeline = sampling.rebase(faultAt);
          timeline.mark('fault injected');
          started = fault().then(() => timeline!.mark('fault step done (the killed programs up again, or the fault lifted)'));
        }
      });
      timeline?.mark('burst done: every request acknowledged');
      await started;
      const verdict = await this.converge(label, faultAt, timeline);
      this.apiPhase(timeline!, faultAt, acks, fails);
      return verdict;
    } finally {
      await sampling.stop();
      if (timeline) this.opts.report.push(`${label}: recovery timeline (seconds after the fault)`, ...timeline.lines().map((l) => `  ${l}`));
    }
  }

  /** Failed requests after the fault, and the longest pause between two acknowledgements. */
  private apiPhase(timeline: RecoveryTimeline, faultAt: number, acks: number, fails: number) {
    const failed = this.failTimes.slice(fails).filter((t) => t >= faultAt);
    if (failed.length) {
      timeline.mark(`API: first of ${failed.length} failed request attempts (clients retry)`, failed[0]);
      timeline.mark('API: last failed request attempt', failed.at(-1));
    }
    const times = [faultAt, ...this.ackTimes.slice(acks).filter((t) => t >= faultAt)];
    let gap = { ms: 0, at: faultAt };
    for (let i = 1; i < times.length; i++) if (times[i] - times[i - 1] > gap.ms) gap = { ms: times[i] - times[i - 1], at: times[i] };
    if (gap.ms) timeline.mark(`API: longest pause between acknowledgements ${(gap.ms / 1000).toFixed(1)} s ends`, gap.at);
  }
}
