import { type EventOf, type RouterDesiredState, type StoredEvent } from '@fabric/contracts';
import { EventStore, type Nats } from '@fabric/eventstore';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { RouterConfigService } from './app/router-config';
import { startRouterConfig } from './main';
import { CLUSTER, NET4, NODE1, POOL4B, baseFabric, ev, vm } from '@fabric/testing/fabric';
import { appendEvents, commandsLastSeq, lastCommand } from '@fabric/testing/fabric';

const JUNOS_CLUSTER = '11111111-1111-4111-8111-111111111112';

describe('router-config (real NATS)', () => {
  let nats: Nats;
  let store: EventStore;
  let service: RouterConfigService | undefined;

  const versions = async (clusterId = CLUSTER) => (await store.read(store.subjects.evt('router', clusterId))) as StoredEvent<EventOf<'RouterConfigRendered'>>[];
  // Every stored event folded and nothing left to publish.
  const settled = () => eventually(() => service!.idle(), 10000, 20, 'router-config idle');

  beforeAll(async () => {
    nats = await openTestNats();
    store = new EventStore(nats);
    await appendEvents(store, [
      ...baseFabric(),
      ev.clusterCreated({ name: 'ams1', coreRouter: { name: 'mx1', ip: '198.18.1.1', vendor: 'junos' } }, JUNOS_CLUSTER),
      ev.rrAdded('rr-1', '198.18.1.2', JUNOS_CLUSTER),
    ]);
  });

  afterAll(async () => {
    await service?.stop();
    await closeTestNats(nats);
  });

  it('renders version 1 per cluster; an FRR core also gets its desired state', async () => {
    service = new RouterConfigService(store);
    await service.start();
    const [v1] = await versions();
    expect(v1.id).toBe(`router-config:${CLUSTER}:1`);
    expect(v1.data).toMatchObject({ clusterId: CLUSTER, version: 1 });
    expect(v1.data.configs.frr).toContain('router bgp 65001');
    expect(v1.data.configs.junos).toContain('commit confirmed 5');
    expect(v1.data.diffs.frr).toContain('+router bgp 65001');

    const cmd = (await lastCommand<RouterDesiredState>(nats, 'router', CLUSTER))!;
    expect(cmd).toMatchObject({ kind: 'router', targetId: CLUSTER, clusterId: CLUSTER, vendor: 'frr', generation: 1, config: v1.data.configs.frr });

    const junos = await versions(JUNOS_CLUSTER);
    expect(junos.map((e) => e.data.version)).toEqual([1]);
    expect(junos[0].data.configs.junos).toContain('FABRIC-AMS1');
    expect(await lastCommand(nats, 'router', JUNOS_CLUSTER)).toBeNull(); // operators apply Junos
  });

  it('does not change when nodes and VMs come and go', async () => {
    const seq = await commandsLastSeq(nats);
    await appendEvents(store, [
      ev.nodeJoined('22222222-2222-4222-8222-222222222229', 'node-9', '198.18.0.19'),
      ev.vmCreated(vm(1), NODE1),
      ev.ipAllocated(vm(1), '203.0.113.10'),
      ev.vmDeleted(vm(1), NODE1),
    ]);
    await settled();
    expect((await versions()).length).toBe(1);
    expect(await commandsLastSeq(nats)).toBe(seq);
  });

  it('a new pool gives version 2 with a diff; a new RR version 3; the FRR command follows', async () => {
    await appendEvents(store, [ev.poolAdded(NET4, POOL4B, '203.0.113.128', '203.0.113.255')]);
    const v2 = await eventually(async () => (await versions())[1], 10000, 20, 'version 2');
    expect(v2.data.version).toBe(2);
    expect(v2.data.diffs.frr).toContain('+ip prefix-list FABRIC-POOLS seq');
    expect(v2.data.diffs.frr).toContain('203.0.113.128/25 ge 32 le 32');

    await appendEvents(store, [ev.rrAdded('rr-3', '198.18.0.4')]);
    const v3 = await eventually(async () => (await versions())[2], 10000, 20, 'version 3');
    expect(v3.data.diffs.frr).toContain('+ neighbor 198.18.0.4 remote-as 65000');
    const cmd = await eventually(
      async () => {
        const c = await lastCommand<RouterDesiredState>(nats, 'router', CLUSTER);
        return c?.generation === 3 ? c : undefined;
      },
      10000,
      20,
      'FRR command generation 3',
    );
    expect(cmd.config).toBe(v3.data.configs.frr);
    expect((await versions(JUNOS_CLUSTER)).length).toBe(1); // other cluster untouched
  });

  it('a restart (through the Nest shell) learns the last version and publishes nothing', async () => {
    await settled();
    await service!.stop();
    service = undefined;
    const seq = await commandsLastSeq(nats);
    const head = await store.headSeq();
    const started = await startRouterConfig({ ns: nats.subjects.ns });
    try {
      await eventually(() => started.routerConfig.idle(), 10000, 20, 'restarted router-config idle');
      expect(await store.headSeq()).toBe(head);
      expect(await commandsLastSeq(nats)).toBe(seq);
      // …and continues from there.
      await appendEvents(store, [ev.rrRemoved('rr-3')]);
      const v4 = await eventually(async () => (await versions())[3], 10000, 20, 'version 4');
      expect(v4.data.version).toBe(4);
      expect(v4.data.diffs.frr).toContain('- neighbor 198.18.0.4 remote-as 65000');
    } finally {
      await started.close();
    }
  });
});
