/**
 * VM status derived from route deltas (RoutesChanged) against real JetStream and Postgres: seen on an RR →
 * announced, installed at the core → at-core, its last core route withdrawn → announced again; a resync
 * replaces a target's routes without a status flap; the legacy full set (RoutesObserved) still works.
 */
import { type DataSource } from 'typeorm';
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
  const atCore: VmAtCore[] = [];

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    db = await createTestDatabase();
    ds = await openDatabase({ url: db.url, schema: 'fabric' });
    runner = new ProjectionRunner(store, ds, { onVmAtCore: (v) => atCore.push(...v) });
    await runner.start();
  });
  afterAll(async () => {
    await runner?.stop();
    if (ds?.isInitialized) await ds.destroy();
    await closeTestNats(nats);
    await dropTestDatabase(db.name);
  });

  const settle = async (seq: number) => eventually(async () => runner.currentPosition >= seq || undefined, 15_000, 20, `projection at ${seq}`);
  const append = async (...events: Parameters<typeof appendEvents>[1]) => settle((await appendEvents(store, events)).slice(-1)[0]);
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
    const history = await ds.query(`SELECT status FROM fabric.vm_history WHERE vm_id = $1 ORDER BY seq`, [vm(2)]);
    expect(history.map((h: { status: string }) => h.status)).toEqual(['requested', 'ip-allocated', 'announced', 'at-core']);
  });

  it("the legacy full set (RoutesObserved) replaces the target's routes", async () => {
    await append(ev.routesObserved('router', CLUSTER, [r('203.0.113.3')]));
    expect([await status(2), await status(3)]).toEqual(['announced', 'at-core']);
    expect(await count('router', CLUSTER)).toBe(1);
  });
});
