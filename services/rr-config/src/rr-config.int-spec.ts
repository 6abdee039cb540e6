import { RrDesiredState, rrTargetId } from '@fabric/contracts';
import { EventStore, Nats } from '@fabric/eventstore';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { RrConfig } from './app/rr-config';
import { startRrConfig } from './main';
import { CLUSTER, NODE1, NODE2, baseFabric, ev, vm } from '@fabric/testing/fabric';
import { appendBurst, appendEvents, commandsLastSeq, lastCommand } from '@fabric/testing/fabric';

const RR1 = rrTargetId(CLUSTER, 'rr-1');
const RR2 = rrTargetId(CLUSTER, 'rr-2');

describe('rr-config (real NATS)', () => {
  let nats: Nats;
  let store: EventStore;
  let rrConfig: RrConfig | undefined;
  const rr = (id: string) => lastCommand<RrDesiredState>(nats, 'rr', id);
  const until = (id: string, pred: (s: RrDesiredState) => boolean, what: string) =>
    eventually(async () => {
      const s = await rr(id);
      return s && pred(s) ? s : undefined;
    }, 15000, 20, what);

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
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

  it('a burst of VMs gives a few generations; the prefixes land in their node\'s filter', async () => {
    const before = (await rr(RR1))!.generation;
    const groups = Array.from({ length: 300 }, (_, i) => [ev.vmCreated(vm(i + 1), i % 2 ? NODE1 : NODE2), ev.ipAllocated(vm(i + 1), `198.51.${100 + (i >> 8)}.${i & 255}`)]);
    await appendBurst(store, groups);
    const s = await until(RR1, (x) => x.bird.includes('198.51.101.43/32'), 'last VM prefix');
    expect(s.generation - before).toBeLessThan(60);
    const gens = (await store.read(store.subjects.evt('desired', 'rr', RR1))).map((e) => (e.data as { generation: number }).generation);
    expect(gens).toEqual(gens.map((_, i) => i + 1));
  });

  it('republishing the same content does not bump the generation', async () => {
    const s = (await rr(RR2))!;
    const { generation: _g, hash: _h, sourceSeq: _s, ...payload } = s;
    expect(await rrConfig!.publisher.publish(payload, 1)).toEqual({ published: false, generation: s.generation, hash: s.hash });
  });

  it('a restart (through the Nest shell) publishes nothing new', async () => {
    await eventually(() => rrConfig!.idle(), 10000, 20, 'rr-config idle');
    await rrConfig!.stop();
    rrConfig = undefined;
    const seq = await commandsLastSeq(nats);
    const head = await store.headSeq();
    const started = await startRrConfig({ ns: nats.subjects.ns });
    try {
      expect(started.rrConfig.position).toBeGreaterThanOrEqual(head);
      await eventually(() => started.rrConfig.idle(), 10000, 20, 'restarted rr-config idle');
      expect(await commandsLastSeq(nats)).toBe(seq);
      expect(await store.headSeq()).toBe(head);
    } finally {
      await started.close();
    }
  });
});
