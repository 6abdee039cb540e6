/**
 * Fault injection on the lab: during each burst of 200 VMs (plus deletes of earlier ones) one fault hits
 * the product — (a) kill -9 of every service in turn, (b) kill -9 of a node agent and an RR agent,
 * (e) one route reflector stopped, (f) the node↔RR link dropped for 10 s, (c) the product's NATS killed,
 * (d) its Postgres killed. Processes come back by themselves (the supervisor). Each case ends when the
 * whole history checks out: every acknowledged VM exactly once addressed, no address twice, every route at
 * the core via its node and on its node only, nothing lost or applied twice between the client, the stream,
 * the read model and the kernel tables (support/checker.ts). Recovery times are printed.
 * The suite runs its own nats-server and Postgres: killing them touches nothing shared. Its NATS is
 * authenticated as npm start's (each service and agent its own identity and permissions).
 */
import { runIn } from '../support/net';
import { SERVICES, startSupervisedFabric, type SupervisedFabric } from './support/supervised-fabric';
import { VmBurst } from './support/vm-burst';

jest.setTimeout(900_000);

const BURST = Number(process.env.FAULTS_BURST_VMS ?? 200);
const DELETES = 20;
const CONVERGE_MS = 240_000;

describe('fault injection during VM bursts', () => {
  let f: SupervisedFabric;
  // One burst history over all cases: later bursts delete VMs of earlier ones.
  let vms: VmBurst;
  const report: string[] = [];

  beforeAll(async () => {
    f = await startSupervisedFabric({ nodes: 3, rrs: 2 });
    vms = new VmBurst(f, { vms: BURST, deletes: DELETES, convergeMs: CONVERGE_MS, report });
  });
  afterAll(async () => {
    if (report.length) console.log(['fault injection: recovery times', ...report].join('\n  '));
    await f?.close();
  });

  const node = (name: string) => f.lab.nodes.find((n) => n.name === name)!;
  const nodeNameOf = (nodeId: string) => Object.entries(f.nodeIds).find(([, id]) => id === nodeId)![0];

  /** kill -9, then wait until the supervisor reports a new process up; returns how long that took. */
  async function killAndAwait(name: string, group = false): Promise<number> {
    const before = await f.sup.waitFor(name, (p) => p.state === 'up' && !!p.pid);
    const t0 = Date.now();
    process.kill(group ? -before.pid! : before.pid!, 'SIGKILL');
    await f.sup.waitFor(name, (p) => p.state === 'up' && p.pid !== before.pid, 120_000);
    return Date.now() - t0;
  }

  /** A burst with `fault` started once a quarter of it is accepted; then the whole history must check out. */
  async function caseWith(label: string, fault: () => Promise<void>) {
    const verdict = await vms.caseWith(label, fault);
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
