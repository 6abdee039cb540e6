import { type Placement, type RrDesiredState, type RrNodePartValue, placementKey, rrTargetId } from '@fabric/contracts';
import { type KV, Kvm } from '@nats-io/kv';
import { EventStore, type Nats, placementsBucket, rrNodesBucket } from '@fabric/eventstore';
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
  let nodesKv: KV;
  const nodePart = async (nodeId: string) => {
    const e = await nodesKv.get(`${CLUSTER}.${nodeId}`);
    return e?.operation === 'PUT' ? e.json<RrNodePartValue>() : undefined;
  };
  const nodesLastSeq = async () => (await nats.jsm.streams.info(`KV_${rrNodesBucket(nats.subjects)}`)).state.last_seq;
  /** A node's origin tag as rr-config gives it (its node part names it). */
  const tags = new Map<string, number>();
  const tagOf = (nodeId: string) => tags.get(nodeId)!;

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    kv = await new Kvm(nats.nc).open(placementsBucket(nats.subjects));
    nodesKv = await new Kvm(nats.nc).open(rrNodesBucket(nats.subjects));
    await appendEvents(store, baseFabric());
  });

  afterAll(async () => {
    await rrConfig?.stop();
    await closeTestNats(nats);
  });

  it('publishes the cluster-wide part of every RR at start, and one node part per node to the KV bucket', async () => {
    rrConfig = new RrConfig(store);
    await rrConfig.start();
    for (const id of [RR1, RR2]) {
      const s = (await rr(id))!;
      expect(s).toMatchObject({ kind: 'rr', targetId: id, clusterId: CLUSTER, generation: 1, nodeParts: 'kv' });
      expect(s.bird).toContain('template bgp fabric_node_v4 {');
      expect(s.bird).not.toMatch(/^protocol bgp node_/m);
    }
    expect((await rr(RR1))!.bird).toContain('203.0.113.100/32'); // pool range end, exact CIDR cover
    for (const [id, ip] of [
      [NODE1, '198.18.0.10'],
      [NODE2, '198.18.0.11'],
      [NODE3, '198.18.0.12'],
    ]) {
      const p = (await nodePart(id))!;
      expect(p.bird).toContain(`neighbor ${ip} as 65000;`);
      expect(p.bird).toContain(`import where fabric_node4(${p.originTag});`);
      tags.set(id, p.originTag);
      expect(tagOf(id)).toBeGreaterThanOrEqual(4200000000);
    }
    expect(new Set([NODE1, NODE2, NODE3].map(tagOf)).size).toBe(3);
    expect((await nodePart(NODE1))!.protocol).toBe('node_node_1');
  });

  it('a joining node writes one KV key and no command; a leaving one deletes its key', async () => {
    const node9 = '22222222-2222-4222-8222-222222222229';
    const cmdSeq = await commandsLastSeq(nats);
    const before = await nodesLastSeq();
    await appendEvents(store, [ev.nodeJoined(node9, 'node-9', '198.18.0.19')]);
    const p = await eventually(() => nodePart(node9), 15000, 20, 'node-9 part');
    expect(p.bird).toContain('protocol bgp node_node_9 from fabric_node_v4 {');
    expect(p.bird).toContain('neighbor 198.18.0.19 as 65000;');
    await eventually(() => rrConfig!.idle(), 15000, 20, 'rr-config idle');
    expect(await nodesLastSeq()).toBe(before + 1);
    expect(await commandsLastSeq(nats)).toBe(cmdSeq);
    await appendEvents(store, [ev.nodeDrained(node9), ev.nodeLeft(node9)]);
    await eventually(async () => (await nodePart(node9)) === undefined, 15000, 20, 'node-9 part gone');
    await eventually(() => rrConfig!.idle(), 15000, 20, 'rr-config idle');
    expect(await nodesLastSeq()).toBe(before + 2);
    expect(await commandsLastSeq(nats)).toBe(cmdSeq);
    for (const id of [RR1, RR2]) expect((await rr(id))!.generation).toBe(1);
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
    // A delete marker, never a purge (a rollup): nats-server 2.9 moves a wildcard watcher's cursor past other
    // keys' undelivered placements on a rollup (agents/src/rtr/feed.int-spec.ts shows the pipelined case).
    expect((await kv.get(placementKey(CLUSTER, ip, tagOf(NODE3))))?.operation).toBe('DEL');
    expect((await kv.get(placementKey(CLUSTER, ip, tagOf(NODE2))))?.operation).toBe('DEL');
    expect(await keys()).toHaveLength(199);
    expect((await rr(RR1))!.generation).toBe(gen);
  });

  it('republishing the same content does not bump the generation', async () => {
    const s = (await rr(RR2))!;
    const { generation: _g, hash: _h, sourceSeq: _s, ...payload } = s;
    expect(await rrConfig!.publisher.publish(payload, 1)).toEqual({ published: false, generation: s.generation, hash: s.hash });
  });

  it('a restart (through the Nest shell) publishes nothing new and rewrites no placement and no node part', async () => {
    await eventually(() => rrConfig!.idle(), 10000, 20, 'rr-config idle');
    await rrConfig!.stop();
    rrConfig = undefined;
    const seq = await commandsLastSeq(nats);
    const head = await store.headSeq();
    const kvSeq = (await kv.status()).values;
    const kvLast = (await nats.jsm.streams.info(`KV_${placementsBucket(nats.subjects)}`)).state.last_seq;
    const nodesLast = await nodesLastSeq();
    const started = await startRrConfig({ ns: nats.subjects.ns });
    try {
      expect(started.rrConfig.position).toBeGreaterThanOrEqual(head);
      await eventually(() => started.rrConfig.idle(), 10000, 20, 'restarted rr-config idle');
      expect(await commandsLastSeq(nats)).toBe(seq);
      expect(await store.headSeq()).toBe(head);
      expect((await kv.status()).values).toBe(kvSeq);
      expect((await nats.jsm.streams.info(`KV_${placementsBucket(nats.subjects)}`)).state.last_seq).toBe(kvLast);
      expect(await nodesLastSeq()).toBe(nodesLast);
    } finally {
      await started.close();
    }
  });
});
