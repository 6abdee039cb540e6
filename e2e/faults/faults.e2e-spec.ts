/**
 * Fault injection on the lab: during each burst of 200 VMs (plus deletes of earlier ones) one fault hits
 * the product — (a) kill -9 of every service in turn, (b) kill -9 of a node agent and an RR agent,
 * (e) one route reflector stopped, (f) the node↔RR link dropped for 10 s, (c) the product's NATS killed,
 * (d) its Postgres killed. Processes come back by themselves (the supervisor). Each case ends when the
 * whole history checks out: every acknowledged VM exactly once addressed, no address twice, every route at
 * the core via its node and on its node only, nothing lost or applied twice between the client, the stream,
 * the read model and the kernel tables (support/checker.ts). Recovery times are printed.
 * The suite runs its own nats-server and Postgres: killing them touches nothing shared.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Client } from 'pg';
import { vmInterfaceName } from '@fabric/contracts';
import { EventStore } from '@fabric/eventstore';
import { http } from '../support/control-plane';
import { runIn } from '../support/net';
import { checkHistory, type ClientHistory, type Kernel, type ReadModel, type StreamEvent, type Verdict } from './support/checker';
import { coreBgpRoutes, nodeFabricRoutes } from './support/lab-checks';
import { SERVICES, startSupervisedFabric, type SupervisedFabric } from './support/supervised-fabric';

jest.setTimeout(900_000);

const BURST = Number(process.env.FAULTS_BURST_VMS ?? 200);
const DELETES = 20;
const CONVERGE_MS = 240_000;
const VM_EVENT = /^(Vm|Ip)/;

describe('fault injection during VM bursts', () => {
  let f: SupervisedFabric;
  const client: ClientHistory = { created: new Map(), deleted: new Set() };
  const report: string[] = [];
  let seq = 0;

  beforeAll(async () => {
    f = await startSupervisedFabric({ nodes: 3, rrs: 2 });
  });
  afterAll(async () => {
    if (report.length) console.log(['fault injection: recovery times', ...report].join('\n  '));
    await f?.close();
  });

  const node = (name: string) => f.lab.nodes.find((n) => n.name === name)!;
  const nodeNameOf = (nodeId: string) => Object.entries(f.nodeIds).find(([, id]) => id === nodeId)![0];

  /** Tap devices exist before the VM is created, as libvirt would have made them. */
  async function addTaps(nodeName: string, vmIds: string[]) {
    if (!vmIds.length) return;
    const lines = vmIds.map((id) => `tuntap add dev ${vmInterfaceName(id)} mode tap`).join('\n') + '\n';
    await new Promise<void>((resolve, reject) => {
      const p = spawn('ip', ['-n', node(nodeName).namespace, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d) => (err += d));
      p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(err))));
      p.stdin!.end(lines);
    });
  }

  /** A client that retries until the API acknowledges (services may be restarting); records what it was told. */
  async function createVm(vmId: string, nodeName: string, family: 4 | 6) {
    const body = { vmId, clusterId: f.clusterId, nodeId: f.nodeIds[nodeName], name: `f${(seq++).toString(36)}`, ownerId: 'faults', driver: 'tap', family };
    for (let attempt = 0; ; attempt++) {
      const r = await http('POST', `${f.api}/vms`, body, { ...f.auth, 'Idempotency-Key': `create-${vmId}` }).catch(() => undefined);
      if (r?.status === 202 || (r?.status === 409 && r.body?.code === 'vm-exists')) {
        client.created.set(vmId, { nodeId: f.nodeIds[nodeName] });
        return;
      }
      if (r && r.status < 500 && r.status !== 409 && r.status !== 429) throw new Error(`create ${vmId}: ${r.status} ${JSON.stringify(r.body)}`);
      await new Promise((res) => setTimeout(res, Math.min(1000, 50 * 2 ** Math.min(attempt, 5))));
    }
  }

  async function deleteVm(vmId: string) {
    for (let attempt = 0; ; attempt++) {
      const r = await http('DELETE', `${f.api}/vms/${vmId}`, undefined, { ...f.auth, 'Idempotency-Key': `delete-${vmId}` }).catch(() => undefined);
      if (r?.status === 202 || (r?.status === 409 && r.body?.code === 'vm-deleted')) {
        client.deleted.add(vmId);
        return;
      }
      if (r && r.status < 500 && r.status !== 409 && r.status !== 429) throw new Error(`delete ${vmId}: ${r.status} ${JSON.stringify(r.body)}`);
      await new Promise((res) => setTimeout(res, Math.min(1000, 50 * 2 ** Math.min(attempt, 5))));
    }
  }

  /** BURST creates over the 3 nodes (one in four IPv4) and DELETES of live VMs, 8 clients at a time. */
  async function burst(onProgress: (accepted: number) => void): Promise<void> {
    const vms = Array.from({ length: BURST }, (_, i) => ({
      vmId: randomUUID(),
      node: f.lab.nodes[i % f.lab.nodes.length].name,
      family: (i % 4 === 0 ? 4 : 6) as 4 | 6,
    }));
    for (const n of f.lab.nodes)
      await addTaps(
        n.name,
        vms.filter((v) => v.node === n.name).map((v) => v.vmId),
      );
    const victims = [...client.created.keys()].filter((id) => !client.deleted.has(id)).slice(0, DELETES);
    const ops: (() => Promise<void>)[] = vms.map((v) => () => createVm(v.vmId, v.node, v.family));
    // Deletes spread through the burst.
    victims.forEach((id, i) => ops.splice(Math.floor(((i + 1) * ops.length) / (victims.length + 1)), 0, () => deleteVm(id)));
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

  // The stream read so far (incremental: each poll reads only what is new). Events that are not about VMs keep
  // only their id and sequence, enough to find one stored twice.
  const stream: StreamEvent[] = [];
  async function readStream(): Promise<StreamEvent[]> {
    const after = stream.at(-1)?.seq ?? 0;
    await new EventStore(f.nats).forEach('fabric.evt.>', after, (e) => {
      stream.push({ seq: e.seq, id: e.id, type: e.type, data: VM_EVENT.test(e.type) ? (e.data as Record<string, any>) : {} });
    });
    return stream;
  }

  async function readModel(): Promise<ReadModel> {
    const db = new Client({ connectionString: f.databaseUrl });
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

  async function kernel(): Promise<Kernel> {
    const nodes = new Map<string, Map<string, string>>();
    const underlay = new Map<string, string[]>();
    for (const n of f.lab.nodes) {
      nodes.set(f.nodeIds[n.name], await nodeFabricRoutes(n.namespace));
      underlay.set(f.nodeIds[n.name], [n.ipv4, n.ipv6]);
    }
    return { core: await coreBgpRoutes(f.lab.core.namespace), nodes, underlay };
  }

  /** The full check, repeated until it holds (the system converges) or the time is up; returns when it held. */
  async function converge(label: string, since: number): Promise<Verdict> {
    const deadline = Date.now() + CONVERGE_MS;
    let last: Verdict | undefined;
    for (;;) {
      // Cheap first: the kernel and the stream; the read model only when those agree.
      const events = await readStream().catch(() => undefined);
      if (events) {
        last = checkHistory(events, client, undefined, await kernel());
        if (!last.violations.length) {
          last = checkHistory(events, client, await readModel().catch(() => undefined), await kernel());
          if (!last.violations.length) {
            report.push(
              `${label}: converged ${((Date.now() - since) / 1000).toFixed(1)} s after the fault (${last.live.size} VMs routed, ${last.released.size} released)`,
            );
            return last;
          }
        }
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const shown = last?.violations.slice(0, 25) ?? ['the stream could not be read'];
    throw new Error(`${label}: not converged within ${CONVERGE_MS} ms; ${last?.violations.length ?? '?'} violations, e.g.\n  ${shown.join('\n  ')}`);
  }

  /** kill -9, then wait until the supervisor reports a new process up; returns how long that took. */
  async function killAndAwait(name: string, group = false): Promise<number> {
    const before = await f.sup.waitFor(name, (p) => p.state === 'up' && !!p.pid);
    const t0 = Date.now();
    process.kill(group ? -before.pid! : before.pid!, 'SIGKILL');
    await f.sup.waitFor(name, (p) => p.state === 'up' && p.pid !== before.pid, 120_000);
    return Date.now() - t0;
  }

  /** Runs a burst; `fault` starts once a quarter of it is accepted. */
  async function caseWith(label: string, fault: () => Promise<void>) {
    let started: Promise<void> | undefined;
    let faultAt = 0;
    const quarter = Math.floor(BURST / 4);
    await burst((n) => {
      if (n >= quarter && !started) {
        faultAt = Date.now();
        started = fault();
      }
    });
    await started;
    const verdict = await converge(label, faultAt);
    expect(verdict.violations).toEqual([]);
  }

  it('(a) kill -9 of each service in turn', async () => {
    await caseWith('(a) kill -9 every service', async () => {
      for (const s of SERVICES) report.push(`(a) ${s} back up (supervisor) ${await killAndAwait(s)} ms after kill -9`);
    });
  });

  it('(b) kill -9 of a node agent and an RR agent', async () => {
    await caseWith('(b) kill -9 agents', async () => {
      const [a, b] = await Promise.all([killAndAwait('agent-node1'), killAndAwait('agent-rr1')]);
      report.push(`(b) agent-node1 back up ${a} ms, agent-rr1 ${b} ms after kill -9`);
    });
  });

  it('(e) one route reflector stopped', async () => {
    const rr = f.lab.routeReflectors[1];
    await caseWith(`(e) ${rr.name} stopped`, async () => {
      await f.sup.remove(`agent-${rr.name}`);
      await runIn(undefined, 'birdc', ['-s', rr.bird.controlSocket, 'down']);
    });
    // Back: its agent starts BIRD again with the desired config; sessions come up from the core's side.
    await f.sup.ensure(f.agentSpec(rr.name));
    const t0 = Date.now();
    await eventuallyTrue(
      async () => {
        const out = await runIn(undefined, 'birdc', ['-s', rr.bird.controlSocket, 'show', 'protocols'], 10_000, true).catch(() => '');
        const bgp = out.split('\n').filter((l) => /\sBGP\s/.test(l));
        return bgp.length > 0 && bgp.every((l) => l.includes('Established'));
      },
      120_000,
      `${rr.name} sessions established again`,
    );
    report.push(`(e) ${rr.name} restarted by its agent, all sessions Established ${Date.now() - t0} ms later`);
  });

  it('(f) node↔RR link dropped for 10 s', async () => {
    const n1 = node('node1');
    const routes = [
      ...f.lab.routeReflectors.map((rr) => ({ ns: n1.namespace, dst: `${rr.ipv4}/32` })),
      ...f.lab.routeReflectors.map((rr) => ({ ns: rr.namespace, dst: `${n1.ipv4}/32` })),
    ];
    try {
      await caseWith('(f) node1↔RRs link dropped 10 s', async () => {
        for (const r of routes) await runIn(undefined, 'ip', ['-n', r.ns, 'route', 'add', 'blackhole', r.dst]);
        // The fault's duration, not a wait for a condition.
        await new Promise((res) => setTimeout(res, 10_000));
        for (const r of routes) await runIn(undefined, 'ip', ['-n', r.ns, 'route', 'del', 'blackhole', r.dst]);
      });
    } finally {
      for (const r of routes) await runIn(undefined, 'ip', ['-n', r.ns, 'route', 'del', 'blackhole', r.dst], 10_000, true).catch(() => undefined);
    }
  });

  it("(c) the product's NATS killed and restarted", async () => {
    await caseWith('(c) NATS kill -9', async () => {
      report.push(`(c) nats-server back up (supervisor) ${await killAndAwait('nats')} ms after kill -9`);
    });
  });

  it("(d) the product's Postgres killed and restarted", async () => {
    await caseWith('(d) Postgres kill -9', async () => {
      // The whole process group: postmaster and backends die at once, as in a crash; restart = WAL recovery.
      report.push(`(d) Postgres back up (supervisor) ${await killAndAwait('postgres', true)} ms after kill -9`);
    });
  });

  it('nothing failed for good: every program up, restarts counted', async () => {
    const st = (await f.sup.status())!;
    expect(st.programs.filter((p) => p.state !== 'up').map((p) => `${p.name}:${p.state}`)).toEqual([]);
    for (const s of SERVICES) expect(st.programs.find((p) => p.name === s)!.restarts).toBeGreaterThanOrEqual(1);
    // The node names in the report map back to ids (readable output).
    expect(nodeNameOf(f.nodeIds.node1)).toBe('node1');
  });
});

async function eventuallyTrue(fn: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
