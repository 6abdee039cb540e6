/**
 * VM status derived from route deltas (RoutesChanged) against real JetStream and Postgres: seen on an RR →
 * announced, installed at the core → at-core, its last core route withdrawn → announced again; a resync
 * replaces a target's routes without a status flap; the legacy full set (RoutesObserved) still works.
 * Route deltas are observations: they travel on the observations stream (retention), projected by a runner
 * of their own; a runner whose position retention trimmed asks the agents for a resync and carries on. A BMP
 * collector's reports (obs.bmp.router.<cluster>) are a second source of the core's routes.
 */
import { type DataSource } from 'typeorm';
import { randomUUID } from 'node:crypto';
import { OBSERVATION_TYPES, resyncAddressedTo } from '@fabric/contracts';
import { EventStore, type Nats } from '@fabric/eventstore';
import { closeTestNats, createTestDatabase, dropTestDatabase, eventually, openTestNats } from '@fabric/testing/infra';
import { appendEvents, CLUSTER, ev, NODE1, vm } from '@fabric/testing/fabric';
import { openDatabase, ProjectionRunner, type VmAtCore } from '@fabric/projections';

const rr = `${CLUSTER}_rr-1`;
const r = (ip: string, nh = '198.18.0.101') => ({ prefix: `${ip}/32`, nextHop: nh });

describe('VM status from route deltas', () => {
  let nats: Nats;
  let store: EventStore;
  let db: { name: string; url: string };
  let ds: DataSource;
  let runner: ProjectionRunner;
  let observations: ProjectionRunner;
  const atCore: VmAtCore[] = [];

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    db = await createTestDatabase();
    ds = await openDatabase({ url: db.url, schema: 'fabric' });
    runner = new ProjectionRunner(store, ds, { onVmAtCore: (v) => atCore.push(...v) });
    await runner.start();
    observations = new ProjectionRunner(store, ds, { stream: 'observations', onVmAtCore: (v) => atCore.push(...v) });
    await observations.start();
  });
  afterAll(async () => {
    await runner?.stop();
    await observations?.stop();
    if (ds?.isInitialized) await ds.destroy();
    await closeTestNats(nats);
    await dropTestDatabase(db.name);
  });

  const settle = async (seq: number, on = runner) => eventually(async () => on.currentPosition >= seq || undefined, 15_000, 20, `${on.name} at ${seq}`);
  /** Appends in order, each event waited for on the runner of its stream. */
  const append = async (...events: Parameters<typeof appendEvents>[1]) => {
    for (const e of events) {
      const [seq] = await appendEvents(store, [e]);
      await settle(seq, OBSERVATION_TYPES.has(e.type) ? observations : runner);
    }
  };
  const status = async (n: number) => (await ds.query(`SELECT status FROM fabric.vms WHERE id = $1`, [vm(n)]))[0]?.status;
  const count = async (kind: string, id: string) =>
    (await ds.query(`SELECT route_count FROM fabric.agent_targets WHERE kind = $1 AND target_id = $2`, [kind, id]))[0]?.route_count;

  it('given allocated VMs, when an RR and then the core report them as added, then they are announced, then at-core', async () => {
    const vms = [1, 2, 3].flatMap((n) => [ev.vmCreated(vm(n), NODE1), ev.ipAllocated(vm(n), `203.0.113.${n}`)]);
    await append(...vms);
    await append(ev.routesChanged('rr', rr, [r('203.0.113.1'), r('203.0.113.2')], [], 'full', 2));
    expect([await status(1), await status(2), await status(3)]).toEqual(['announced', 'announced', 'ip-allocated']);
    await append(ev.routesChanged('router', CLUSTER, [r('203.0.113.1')], [], 'full', 1));
    await append(ev.routesChanged('router', CLUSTER, [r('203.0.113.2'), r('203.0.113.3')], [], undefined, 3));
    expect([await status(1), await status(2), await status(3)]).toEqual(['at-core', 'at-core', 'at-core']);
    expect(await count('router', CLUSTER)).toBe(3);
    expect(atCore.map((a) => a.vmId).sort()).toEqual([vm(1), vm(2), vm(3)]);
  });

  it('given an address the RR and the core still hold (reused at once on the same node), when its new VM is applied, then it is at-core without a delta of its own', async () => {
    await append(ev.routesChanged('rr', rr, [r('203.0.113.9')], [], undefined, 4), ev.routesChanged('router', CLUSTER, [r('203.0.113.9')], [], undefined, 4));
    const [, allocatedSeq] = await appendEvents(store, [ev.vmCreated(vm(9), NODE1), ev.ipAllocated(vm(9), '203.0.113.9')]);
    const node = { kind: 'node' as const, id: NODE1 };
    await store.append(store.subjects.evt('desired', 'node', NODE1), [
      { id: `d-${NODE1}-7`, event: { type: 'DesiredStateChanged', data: { target: node, generation: 7, hash: 'h7', sourceSeq: allocatedSeq } } },
    ]);
    const { seqs } = await store.append(store.subjects.evt('agent', 'node', NODE1), [
      { id: `a-${NODE1}-7`, event: { type: 'ConfigApplied', data: { target: node, generation: 7, hash: 'h7', changes: 1, durationMs: 5 } } },
    ]);
    await settle(seqs[0]);
    expect(await status(9)).toBe('at-core');
    // Leave the route tables as the next cases expect them.
    await append(ev.routesChanged('rr', rr, [], [r('203.0.113.9')], undefined, 3), ev.routesChanged('router', CLUSTER, [], [r('203.0.113.9')], undefined, 3));
  });

  it("given the node's ConfigApplied projected before its DesiredStateChanged (the deriver sends the command first), when the event comes, then the node's VMs are applied", async () => {
    const [, allocatedSeq] = await appendEvents(store, [ev.vmCreated(vm(10), NODE1), ev.ipAllocated(vm(10), '203.0.113.10')]);
    const node = { kind: 'node' as const, id: NODE1 };
    await store.append(store.subjects.evt('agent', 'node', NODE1), [
      { id: `a-${NODE1}-8`, event: { type: 'ConfigApplied', data: { target: node, generation: 8, hash: 'h8', changes: 1, durationMs: 5 } } },
    ]);
    const { seqs } = await store.append(store.subjects.evt('desired', 'node', NODE1), [
      { id: `d-${NODE1}-8`, event: { type: 'DesiredStateChanged', data: { target: node, generation: 8, hash: 'h8', sourceSeq: allocatedSeq } } },
    ]);
    await settle(seqs[0]);
    expect(await status(10)).toBe('applied');
  });

  it('given a VM at the core over two next hops, when one is withdrawn it stays at-core, when the last is, it is announced', async () => {
    await append(ev.routesChanged('router', CLUSTER, [r('203.0.113.1', '198.18.0.102')], [], undefined, 4));
    await append(ev.routesChanged('router', CLUSTER, [], [r('203.0.113.1')], undefined, 3));
    expect(await status(1)).toBe('at-core');
    await append(ev.routesChanged('router', CLUSTER, [], [r('203.0.113.1', '198.18.0.102')], undefined, 2));
    expect(await status(1)).toBe('announced');
    // Withdrawing a route the core does not hold is a no-op.
    await append(ev.routesChanged('router', CLUSTER, [], [r('203.0.113.99')], undefined, 2));
    expect(await count('router', CLUSTER)).toBe(2);
  });

  it('given a resync, then routes it confirms never leave, the ones it does not confirm are withdrawn at its end', async () => {
    await append(ev.routesChanged('router', CLUSTER, [r('203.0.113.2')], [], 'start', 1));
    // Mid-resync: 203.0.113.3 is not confirmed yet but still counts.
    expect([await status(2), await status(3)]).toEqual(['at-core', 'at-core']);
    await append(ev.routesChanged('router', CLUSTER, [], [], 'end', 1));
    expect([await status(2), await status(3)]).toEqual(['at-core', 'announced']);
    expect(await count('router', CLUSTER)).toBe(1);
    // Observations have sequences of their own stream: the history is in time order.
    const history = await ds.query(`SELECT status FROM fabric.vm_history WHERE vm_id = $1 ORDER BY at, seq`, [vm(2)]);
    expect(history.map((h: { status: string }) => h.status)).toEqual(['requested', 'ip-allocated', 'announced', 'at-core']);
  });

  it("the legacy full set (RoutesObserved) replaces the target's routes", async () => {
    await append(ev.routesObserved('router', CLUSTER, [r('203.0.113.3')]));
    expect([await status(2), await status(3)]).toEqual(['announced', 'at-core']);
    expect(await count('router', CLUSTER)).toBe(1);
  });

  it('route deltas and session states land in the observations stream, never in the events stream', async () => {
    const session = { type: 'BgpSessionStateChanged' as const, data: { target: { kind: 'rr' as const, id: rr }, protocol: 'node_1', state: 'Established' } };
    await append(session);
    expect((await ds.query(`SELECT state FROM fabric.bgp_sessions WHERE target_id = $1 AND protocol = 'node_1'`, [rr]))[0]?.state).toBe('Established');
    const inEvents = (await store.read(store.subjects.evtAll())).filter((e) => OBSERVATION_TYPES.has(e.type));
    expect(inEvents).toEqual([]);
    const obs = await store.observations().read(store.subjects.obsAll());
    expect(new Set(obs.map((e) => e.type))).toEqual(new Set(['RoutesChanged', 'RoutesObserved', 'BgpSessionStateChanged']));
    expect(obs.every((e) => e.subject.startsWith(`${store.subjects.ns}.obs.agent.`))).toBe(true);
  });

  it('given observations trimmed by retention while the projection was down, when it restarts, then it asks the agents for a resync and a resync repairs the routes', async () => {
    await observations.stop();
    // While it is down the core withdraws 203.0.113.3 and adds .2 again; then retention trims both deltas.
    await appendEvents(store, [ev.routesChanged('router', CLUSTER, [r('203.0.113.2')], [r('203.0.113.3')], undefined, 1)]);
    const [last] = await appendEvents(store, [ev.routesChanged('router', CLUSTER, [], [], undefined, 1)]);
    await nats.jsm.streams.purge(nats.subjects.observationsStream, { keep: 1 });
    const { first } = await store.observations().bounds();
    expect(first).toBe(last);
    const asked: string[] = [];
    const sub = nats.nc.subscribe(nats.subjects.resyncRequests, { callback: (_e, m) => void asked.push(m.subject) });
    try {
      observations = new ProjectionRunner(store, ds, { stream: 'observations' });
      await observations.start();
      await eventually(() => asked.length > 0 || undefined, 10_000, 20, 'resync request');
      await settle(last, observations);
      // The trimmed delta was never projected: the read model still believes .3 at the core...
      expect([await status(2), await status(3)]).toEqual(['announced', 'at-core']);
      // ...until the agent answers the request with a resync of its table.
      await append(ev.routesChanged('router', CLUSTER, [r('203.0.113.2')], [], 'full', 1));
      expect([await status(2), await status(3)]).toEqual(['at-core', 'announced']);
    } finally {
      sub.unsubscribe();
    }
  });
  it("given a core report lost before the projection (the next report's digest says one route more than the read model holds), then only that agent is asked to resync, and its resync brings the VM at-core", async () => {
    const cluster = randomUUID();
    await append(ev.vmCreated(vm(30), NODE1, 4, cluster), ev.ipAllocated(vm(30), '203.0.113.30', cluster));
    await append(ev.vmCreated(vm(31), NODE1, 4, cluster), ev.ipAllocated(vm(31), '203.0.113.31', cluster));
    const bodies: string[] = [];
    const sub = nats.nc.subscribe(nats.subjects.resyncRequests, { callback: (_e, m) => void bodies.push(m.string()) });
    try {
      await nats.nc.flush();
      // The report adding .30 (total 1) never reached the read model; the next one adds .31 and says 2.
      await append(ev.routesChanged('router', cluster, [r('203.0.113.31')], [], undefined, 2));
      expect([await status(30), await status(31)]).toEqual(['ip-allocated', 'at-core']);
      const body = await eventually(() => bodies.find((b) => resyncAddressedTo(b, 'router', cluster)), 10_000, 20, 'a resync request for the core');
      expect(resyncAddressedTo(body, 'rr', rr)).toBe(false);
      expect(resyncAddressedTo(body, 'router', CLUSTER)).toBe(false);
      // The agent states its table again: the lost route is projected, the VM at the core.
      await append(ev.routesChanged('router', cluster, [r('203.0.113.30'), r('203.0.113.31')], [], 'full', 2));
      expect([await status(30), await status(31)]).toEqual(['at-core', 'at-core']);
      expect(await count('router', cluster)).toBe(2);
    } finally {
      sub.unsubscribe();
    }
  });

  it("given a BMP collector's report (obs.bmp.router.<cluster>), when it holds a VM's route, then at-core; the FRR agent's resync does not drop it; its withdrawal does", async () => {
    await append(ev.vmCreated(vm(41), NODE1), ev.ipAllocated(vm(41), '203.0.113.41'));
    await append(ev.routesChanged('rr', rr, [r('203.0.113.41')], [], undefined, 1));
    expect(await status(41)).toBe('announced');
    const bmp = async (added: ReturnType<typeof r>[], withdrawn: ReturnType<typeof r>[], resync?: 'full') => {
      const data = { target: { kind: 'router' as const, id: CLUSTER }, added, withdrawn, ...(resync ? { resync } : {}), total: added.length };
      const { seqs } = await store.append(store.subjects.obsBmp(CLUSTER), [
        { id: `bmp-${Date.now()}-${Math.random()}`, event: { type: 'RoutesChanged', data } },
      ]);
      await settle(seqs[0], observations);
    };
    await bmp([r('203.0.113.41')], [], 'full');
    expect(await status(41)).toBe('at-core');
    const history = await ds.query(`SELECT detail FROM fabric.vm_history WHERE vm_id = $1 AND status = 'at-core'`, [vm(41)]);
    expect(history.map((h: { detail: string }) => h.detail)).toEqual(['at the core (BMP)']);
    // The agent's own view of the core is another source: its resync neither confirms nor drops the BMP rows.
    await append(ev.routesChanged('router', CLUSTER, [], [], 'full', 0));
    expect(await status(41)).toBe('at-core');
    expect(await count('router-bmp', CLUSTER)).toBeUndefined();
    await bmp([], [r('203.0.113.41')]);
    expect(await status(41)).toBe('announced');
  });
});
