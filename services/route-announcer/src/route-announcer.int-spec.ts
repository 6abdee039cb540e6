import type { Msg } from '@nats-io/nats-core';
import { type NodeDesiredState } from '@fabric/contracts';
import { EventStore, type Nats } from '@fabric/eventstore';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { RouteAnnouncer } from './app/route-announcer';
import { CLUSTER, NODE1, NODE2, baseFabric, ev, vm } from '@fabric/testing/fabric';
import { appendBurst, appendEvents, commandsLastSeq, lastCommand } from '@fabric/testing/fabric';
import { startRouteAnnouncer } from './main';

describe('route-announcer (real NATS)', () => {
  let nats: Nats;
  let store: EventStore;
  let announcer: RouteAnnouncer | undefined;
  const completions: unknown[] = [];
  /** While set, the inventory stand-in refuses CompleteMigration (503) and records when it was asked. */
  let refusing = false;
  const refusedAt: number[] = [];

  const node = (id: string) => lastCommand<NodeDesiredState>(nats, 'node', id);

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    // Stand-in for inventory: records CompleteMigration requests.
    nats.nc.subscribe(nats.subjects.rpc('inventory', 'CompleteMigration'), {
      callback: (_err, msg: Msg) => {
        if (refusing) {
          refusedAt.push(Date.now());
          msg.respond(JSON.stringify({ ok: false, error: { status: 503, code: 'service-unavailable', message: 'test: refused' } }));
          return;
        }
        completions.push(msg.json());
        msg.respond(JSON.stringify({ ok: true, result: {}, position: 0 }));
      },
    });
    await appendEvents(store, baseFabric());
  });

  afterAll(async () => {
    await announcer?.stop();
    await closeTestNats(nats);
  });

  it('publishes every node at start, then a new generation when a VM gets its address', async () => {
    announcer = new RouteAnnouncer(store, { protocolNumber: 200 });
    await announcer.start();
    const g1 = (await node(NODE1))!;
    expect(g1).toMatchObject({ kind: 'node', targetId: NODE1, clusterId: CLUSTER, generation: 1, vms: [], protocolNumber: 200 });
    expect(g1.bird).toContain('neighbor 198.18.0.2 as 65000;');

    await appendEvents(store, [ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10')]);
    const g2 = await eventually(async () => ((await node(NODE1))?.vms.length === 1 ? node(NODE1) : undefined), 10000, 20, 'VM on node-1');
    expect(g2!.generation).toBe(2);
    expect(g2!.vms[0]).toMatchObject({ vmId: vm(1), ip: '203.0.113.10', family: 4 });
    expect(g2!.sourceSeq).toBeGreaterThan(g1.sourceSeq);

    // The read model's drift signal (appended after the command: wait until the announcer is idle).
    await eventually(() => announcer!.idle(), 10000, 20, 'announcer idle');
    const changed = await store.read(store.subjects.evt('desired', 'node', NODE1));
    expect(changed.map((e) => e.data)).toEqual([
      { target: { kind: 'node', id: NODE1 }, generation: 1, hash: g1.hash, clusterId: CLUSTER },
      { target: { kind: 'node', id: NODE1 }, generation: 2, hash: g2!.hash, clusterId: CLUSTER },
    ]);
  });

  it('the same content is not published again', async () => {
    const before = await node(NODE1);
    const { generation: _g, hash: _h, sourceSeq: _s, ...payload } = before!;
    const r = await announcer!.publisher.publish(payload, 999);
    expect(r).toEqual({ published: false, generation: before!.generation, hash: before!.hash });
    // An event that changes nothing for the node (drain) gives no generation either.
    const seq = await commandsLastSeq(nats);
    const [drained] = await appendEvents(store, [ev.nodeDrained(NODE2)]);
    // Idle: the drain is folded and nothing is dirty or scheduled, so nothing more will be published.
    await eventually(async () => announcer!.position >= drained && (await announcer!.idle()), 10000, 20, 'announcer idle after the drain');
    expect(await commandsLastSeq(nats)).toBe(seq);
  });

  it('a burst of 1,000 VM creations gives a few generations, not one per VM', async () => {
    const before = (await node(NODE2))!.generation;
    const groups = Array.from({ length: 1000 }, (_, i) => [
      ev.vmCreated(vm(100 + i), NODE2),
      ev.ipAllocated(vm(100 + i), `198.51.${100 + (i >> 8)}.${i & 255}`),
    ]);
    await appendBurst(store, groups);
    const last = await eventually(
      async () => {
        const c = await node(NODE2);
        return c?.vms.length === 1000 ? c : undefined;
      },
      30000,
      50,
      '1000 VMs on node-2',
    );
    const generations = last.generation - before;
    expect(generations).toBeGreaterThanOrEqual(1);
    expect(generations).toBeLessThan(100);
    // Monotonic generations in the drift events too.
    const gens = (await store.read(store.subjects.evt('desired', 'node', NODE2))).map((e) => (e.data as { generation: number }).generation);
    expect(gens).toEqual(gens.map((_, i) => i + 1));
  });

  it('migration: on both nodes (old one leaving), CompleteMigration when the new node is seen on an RR, then only the new node', async () => {
    await appendEvents(store, [ev.migrationRequested(vm(1), NODE1, NODE2)]);
    await eventually(async () => (await node(NODE1))?.vms.some((v) => v.vmId === vm(1) && v.leaving), 10000, 20, 'leaving on node-1');
    await eventually(async () => (await node(NODE2))?.vms.some((v) => v.vmId === vm(1) && !v.leaving), 10000, 20, 'on node-2');
    expect(completions).toEqual([]);

    await appendEvents(store, [ev.routesObserved('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.11' }])]);
    await eventually(() => completions.length === 1, 10000, 20, 'CompleteMigration');
    expect(completions[0]).toMatchObject({ actor: 'route-announcer', payload: { vmId: vm(1), nodeId: NODE2 } });
    expect((completions[0] as { commandId: string }).commandId).toMatch(new RegExp(`^complete-migration:${vm(1)}:${NODE2}:\\d+$`));

    await appendEvents(store, [ev.migrationCompleted(vm(1), NODE1, NODE2)]);
    await eventually(async () => (await node(NODE1))?.vms.length === 0, 10000, 20, 'gone from node-1');
    expect((await node(NODE2))!.vms.find((v) => v.vmId === vm(1))!.leaving).toBeUndefined();
  });

  it('VM deleted → withdrawn at once', async () => {
    await appendEvents(store, [ev.vmDeleted(vm(1), NODE2)]);
    await eventually(async () => (await node(NODE2))?.vms.every((v) => v.vmId !== vm(1)), 10000, 20, 'withdrawn');
  });

  it('a restart (through the Nest shell) rebuilds the same state and publishes nothing', async () => {
    // The last flush's DesiredStateChanged is appended after its command: wait until it is folded too.
    await eventually(() => announcer!.idle(), 10000, 20, 'announcer idle');
    const pos = announcer!.position;
    await announcer!.stop();
    announcer = undefined;
    const seq = await commandsLastSeq(nats);
    const head = await store.headSeq();
    expect(pos).toBe(head); // nothing was left unprocessed

    const started = await startRouteAnnouncer({ ns: nats.subjects.ns });
    try {
      expect(started.announcer.position).toBeGreaterThanOrEqual(head);
      await eventually(() => started.announcer.idle(), 10000, 20, 'restarted announcer idle');
      expect(await commandsLastSeq(nats)).toBe(seq);
      expect(await store.headSeq()).toBe(head); // no DesiredStateChanged either
    } finally {
      await started.close();
    }
  });

  it('given observations trimmed by retention, when it restarts, then it asks the agents for a resync and still completes a migration', async () => {
    await appendEvents(store, [ev.vmCreated(vm(2), NODE1), ev.ipAllocated(vm(2), '203.0.113.20')]);
    // The previous instance's graceful stop left a snapshot covering the observations it folded: two more arrive
    // after it and retention trims the first of them, which the restarted model has not seen.
    await appendEvents(store, [ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.98/32', nextHop: '198.18.0.11' }], [], undefined, 2)]);
    await appendEvents(store, [ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.99/32', nextHop: '198.18.0.11' }], [], undefined, 3)]);
    await nats.jsm.streams.purge(nats.subjects.observationsStream, { keep: 1 });
    expect((await store.observations().bounds()).first).toBeGreaterThan(1);
    const asked: string[] = [];
    const sub = nats.nc.subscribe(nats.subjects.resyncRequests, { callback: (_e, m) => void asked.push(m.subject) });
    announcer = new RouteAnnouncer(store, { protocolNumber: 200 });
    try {
      await announcer.start();
      await eventually(() => asked.length > 0 || undefined, 10_000, 20, 'resync request at start');
      // The RR answers with a resync: the migration's new node is seen, the migration completes.
      const before = completions.length;
      await appendEvents(store, [ev.migrationRequested(vm(2), NODE1, NODE2)]);
      await appendEvents(store, [ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.20/32', nextHop: '198.18.0.11' }], [], 'full', 1)]);
      await eventually(() => completions.length > before || undefined, 10_000, 20, 'CompleteMigration after the resync');
      expect(completions[completions.length - 1]).toMatchObject({ payload: { vmId: vm(2), nodeId: NODE2 } });
    } finally {
      sub.unsubscribe();
    }
  });
  it('given inventory refusing a completion, when observations keep coming, then it is asked again once per retry interval, not per observation, and completes once accepted', async () => {
    // The announcer of the previous case still runs (default retry interval 1 s).
    await appendEvents(store, [ev.vmCreated(vm(3), NODE1), ev.ipAllocated(vm(3), '203.0.113.30')]);
    refusing = true;
    try {
      await appendEvents(store, [ev.migrationRequested(vm(3), NODE1, NODE2)]);
      await appendEvents(store, [ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: '203.0.113.30/32', nextHop: '198.18.0.11' }], [], undefined, 10)]);
      await eventually(() => refusedAt.length > 0 || undefined, 10_000, 20, 'first CompleteMigration (refused)');
      // Every observation flushes; each of these would have asked again at once.
      for (let i = 0; i < 40; i++)
        await appendEvents(store, [
          ev.routesChanged('rr', `${CLUSTER}_rr-1`, [{ prefix: `203.0.113.${100 + i}/32`, nextHop: '198.18.0.12' }], [], undefined, 11 + i),
        ]);
      await eventually(() => refusedAt.length >= 3 || undefined, 15_000, 20, 'asked again after the retry interval');
      const gaps = refusedAt.slice(1).map((t, i) => t - refusedAt[i]);
      for (const g of gaps) expect(g).toBeGreaterThanOrEqual(900);
    } finally {
      refusing = false;
    }
    await eventually(
      () => completions.some((c) => (c as { payload: { vmId: string } }).payload.vmId === vm(3)) || undefined,
      10_000,
      20,
      'CompleteMigration accepted',
    );
  });
});
