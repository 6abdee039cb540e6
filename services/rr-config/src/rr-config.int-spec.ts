import { type Placement, type RrDesiredState, placementKey, rrTargetId } from '@fabric/contracts';
import { type KV, Kvm } from '@nats-io/kv';
import { EventStore, type Nats, placementsBucket } from '@fabric/eventstore';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { RrConfig } from './app/rr-config';
import { startRrConfig } from './main';
import { CLUSTER, NODE1, NODE2, NODE3, baseFabric, ev, vm } from '@fabric/testing/fabric';
import { appendBurst, appendEvents, commandsLastSeq, lastCommand } from '@fabric/testing/fabric';

const RR1 = rrTargetId(CLUSTER, 'rr-1');
const RR2 = rrTargetId(CLUSTER, 'rr-2');

describe('rr-config (real NATS)', () => {
  let nats: Nats;
  let store: EventStore;
  let rrConfig: RrConfig | undefined;
  const rr = (id: string) => lastCommand<RrDesiredState>(nats, 'rr', id);
  const until = (id: string, pred: (s: RrDesiredState) => boolean, what: string) =>
    eventually(
      async () => {
        const s = await rr(id);
        return s && pred(s) ? s : undefined;
      },
      15000,
      20,
      what,
    );

  let kv: KV;
  const keys = async () => {
    const out: string[] = [];
    for await (const k of await kv.keys()) out.push(k);
    return out;
  };
  /** A node's origin tag as rr-config gives it (the RR config names it). */
  const tagOf = (nodeId: string) => Number(/fabric_node4\((\d+)\)/.exec(rrConfigBlock(nodeId))![1]);
  let lastRr1 = '';
  const rrConfigBlock = (nodeId: string) => {
    const i = lastRr1.indexOf(`(${nodeId})`);
    return lastRr1.slice(i, lastRr1.indexOf('\n}', i));
  };

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    kv = await new Kvm(nats.nc).open(placementsBucket(nats.subjects));
    await appendEvents(store, baseFabric());
  });

  afterAll(async () => {
    await rrConfig?.stop();
    await closeTestNats(nats);
  });

  it('publishes every RR of the cluster at start, with every node as an rr client', async () => {
    rrConfig = new RrConfig(store);
    await rrConfig.start();
    for (const id of [RR1, RR2]) {
      const s = (await rr(id))!;
      expect(s).toMatchObject({ kind: 'rr', targetId: id, clusterId: CLUSTER, generation: 1 });
      for (const ip of ['198.18.0.10', '198.18.0.11', '198.18.0.12']) expect(s.bird).toContain(`neighbor ${ip} as 65000;`);
    }
    expect((await rr(RR1))!.bird).toContain('203.0.113.100/32'); // pool range end, exact CIDR cover
    lastRr1 = (await rr(RR1))!.bird;
    for (const id of [NODE1, NODE2, NODE3]) expect(tagOf(id)).toBeGreaterThanOrEqual(4200000000);
    expect(new Set([NODE1, NODE2, NODE3].map(tagOf)).size).toBe(3);
  });

  it('a joining node is added to every RR without a manual step; a leaving one removed', async () => {
    const node9 = '22222222-2222-4222-8222-222222222229';
    await appendEvents(store, [ev.nodeJoined(node9, 'node-9', '198.18.0.19')]);
    for (const id of [RR1, RR2]) {
      const s = await until(id, (x) => x.bird.includes('neighbor 198.18.0.19 as 65000;'), `node-9 on ${id}`);
      expect(s.generation).toBe(2);
    }
    await appendEvents(store, [ev.nodeDrained(node9), ev.nodeLeft(node9)]);
    for (const id of [RR1, RR2]) {
      const s = await until(id, (x) => !x.bird.includes('198.18.0.19'), `node-9 gone from ${id}`);
      expect(s.generation).toBe(3);
    }
  });

  it('a burst of VMs writes one placement key each to the KV bucket and leaves every RR config untouched', async () => {
    const before = [(await rr(RR1))!, (await rr(RR2))!];
    // 100 per node: under the first receive-limit edge (128 placed, see the model spec), so no RR config changes.
    const groups = Array.from({ length: 200 }, (_, i) => [
      ev.vmCreated(vm(i + 1), i % 2 ? NODE1 : NODE2),
      ev.ipAllocated(vm(i + 1), `198.51.${100 + (i >> 8)}.${i & 255}`),
    ]);
    await appendBurst(store, groups);
    const last = placementKey(CLUSTER, '198.51.100.199', tagOf(NODE1));
    const value = await eventually(async () => (await kv.get(last))?.json<Placement>(), 15000, 20, 'last VM placement');
    expect(value).toEqual({ prefix: '198.51.100.199/32', maxLen: 32, originTag: tagOf(NODE1) });
    await eventually(() => rrConfig!.idle(), 15000, 20, 'rr-config idle');
    expect(await keys()).toHaveLength(200);
    expect((await kv.get(placementKey(CLUSTER, '198.51.100.0', tagOf(NODE2))))?.json<Placement>()).toMatchObject({ originTag: tagOf(NODE2) });
    // The placements are not in the RR config: no new generation, no VM address in it.
    expect([(await rr(RR1))!.generation, (await rr(RR2))!.generation]).toEqual(before.map((x) => x.generation));
    expect((await rr(RR1))!.bird).not.toContain('198.51.100.');
  });

  it('the RR state names every node protocol by origin tag, and imports check the ROA with that tag', async () => {
    const s = (await rr(RR1))!;
    for (const id of [NODE1, NODE2]) {
      expect(s.bird).toContain(`fabric_node4(${tagOf(id)})`);
      expect(Object.keys(s.rtrNodes!)).toContain(String(tagOf(id)));
    }
    expect(s.rtrNodes![String(tagOf(NODE1))]).toBe('node_node_1');
  });

  it('a migration keeps both entries until it completes; a deleted VM loses its entry', async () => {
    const ip = '198.51.100.0'; // vm(1), on NODE2
    const gen = (await rr(RR1))!.generation;
    await appendEvents(store, [ev.migrationRequested(vm(1), NODE2, NODE3)]);
    await eventually(async () => (await kv.get(placementKey(CLUSTER, ip, tagOf(NODE3))))?.operation === 'PUT', 15000, 20, 'entry on the target node');
    expect((await kv.get(placementKey(CLUSTER, ip, tagOf(NODE2))))?.operation).toBe('PUT');
    await appendEvents(store, [ev.migrationCompleted(vm(1), NODE2, NODE3)]);
    await eventually(async () => (await kv.get(placementKey(CLUSTER, ip, tagOf(NODE2))))?.operation !== 'PUT', 15000, 20, 'old entry removed');
    expect((await kv.get(placementKey(CLUSTER, ip, tagOf(NODE3))))?.operation).toBe('PUT');
    await appendEvents(store, [ev.vmDeleted(vm(1), NODE3)]);
    await eventually(async () => (await kv.get(placementKey(CLUSTER, ip, tagOf(NODE3))))?.operation !== 'PUT', 15000, 20, 'deleted VM entry removed');
    expect(await keys()).toHaveLength(199);
    expect((await rr(RR1))!.generation).toBe(gen);
  });

  it('republishing the same content does not bump the generation', async () => {
    const s = (await rr(RR2))!;
    const { generation: _g, hash: _h, sourceSeq: _s, ...payload } = s;
    expect(await rrConfig!.publisher.publish(payload, 1)).toEqual({ published: false, generation: s.generation, hash: s.hash });
  });

  it('a restart (through the Nest shell) publishes nothing new and rewrites no placement', async () => {
    await eventually(() => rrConfig!.idle(), 10000, 20, 'rr-config idle');
    await rrConfig!.stop();
    rrConfig = undefined;
    const seq = await commandsLastSeq(nats);
    const head = await store.headSeq();
    const kvSeq = (await kv.status()).values;
    const kvLast = (await nats.jsm.streams.info(`KV_${placementsBucket(nats.subjects)}`)).state.last_seq;
    const started = await startRrConfig({ ns: nats.subjects.ns });
    try {
      expect(started.rrConfig.position).toBeGreaterThanOrEqual(head);
      await eventually(() => started.rrConfig.idle(), 10000, 20, 'restarted rr-config idle');
      expect(await commandsLastSeq(nats)).toBe(seq);
      expect(await store.headSeq()).toBe(head);
      expect((await kv.status()).values).toBe(kvSeq);
      expect((await nats.jsm.streams.info(`KV_${placementsBucket(nats.subjects)}`)).state.last_seq).toBe(kvLast);
    } finally {
      await started.close();
    }
  });
});
