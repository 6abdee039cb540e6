/**
 * Retries are safe: the same POST with the same Idempotency-Key gives the same resource and one event,
 * and IPAM seeing a VmCreated again (handler called twice, or its durable replayed from sequence 1)
 * never allocates a second address nor writes anything new.
 */
import { type EventOf, type StoredEvent } from '@fabric/contracts';
import { eventually } from '@fabric/testing/infra';
import { IpamService } from '../../services/ipam/src/app/ipam-service';
import { startInventory } from '../../services/inventory/src/main';
import { type ControlPlane, clusterBody, http, startControlPlane } from '../support/control-plane';
import { countByVm, createFixture, eventsOfType, type Fixture, readModelCaughtUp, settledVm, streamLastSeq } from '../support/api-fixtures';

describe('idempotency', () => {
  let cp: ControlPlane;
  let fx: Fixture;

  beforeAll(async () => {
    cp = await startControlPlane({ ipamCooldownMs: 0 });
    fx = await createFixture(cp, { nodes: 1 });
  });
  afterAll(() => cp?.close());

  const vmCreatedNamed = async (name: string) =>
    (await eventsOfType(cp.store, cp.store.subjects.evtAll('vm'), 'VmCreated')).filter((e) => (e.data as { name: string }).name === name);
  const ipAllocated = () => eventsOfType(cp.store, cp.store.subjects.evt('ipam', fx.clusterId), 'IpAllocated');

  describe('Idempotency-Key on POST', () => {
    it('the same POST /vms twice with one key → the same id and exactly one VmCreated', async () => {
      const body = { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'idem-seq', ownerId: 'cust-1' };
      const headers = { 'Idempotency-Key': 'key-seq-1' };
      const first = await http('POST', `${cp.api}/vms`, body, headers);
      const second = await http('POST', `${cp.api}/vms`, body, headers);
      expect(first.status).toBe(202);
      expect(second.status).toBe(202);
      expect(second.body.id).toBe(first.body.id);
      expect(await settledVm(cp, first.body.id)).toMatchObject({ status: 'ip-allocated' });
      const created = await vmCreatedNamed('idem-seq');
      expect(created.map((e) => (e.data as { vmId: string }).vmId)).toEqual([first.body.id]);
      expect(countByVm(await ipAllocated()).get(first.body.id)).toBe(1);
    });

    it('the same POST /vms sent twice at once (a client retrying before the first answer) → one VM, one id', async () => {
      const body = { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'idem-par', ownerId: 'cust-1' };
      const headers = { 'Idempotency-Key': 'key-par-1' };
      const replies = await Promise.all([1, 2, 3].map(() => http('POST', `${cp.api}/vms`, body, headers)));
      expect(replies.map((r) => r.status)).toEqual([202, 202, 202]);
      expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
      await settledVm(cp, replies[0].body.id);
      expect((await vmCreatedNamed('idem-par')).length).toBe(1);
      expect(countByVm(await ipAllocated()).get(replies[0].body.id)).toBe(1);
    });

    it('a different key is a different request (the duplicate name is then refused, not merged)', async () => {
      const body = { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'idem-seq', ownerId: 'cust-1' };
      const r = await http('POST', `${cp.api}/vms`, body, { 'Idempotency-Key': 'key-seq-2' });
      expect(r.status).toBe(409);
      expect((await vmCreatedNamed('idem-seq')).length).toBe(1);
    });

    it('a retry with the same key after an inventory restart → the same id, still one VmCreated', async () => {
      const body = { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'idem-restart', ownerId: 'cust-1' };
      const headers = { 'Idempotency-Key': 'key-restart-1' };
      const first = await http('POST', `${cp.api}/vms`, body, headers);
      expect(first.status).toBe(202);
      await cp.inventory.close();
      const restarted = await startInventory({ ns: cp.ns });
      try {
        const again = await http('POST', `${cp.api}/vms`, body, headers);
        expect(again.status).toBe(202);
        expect(again.body.id).toBe(first.body.id);
        expect((await vmCreatedNamed('idem-restart')).length).toBe(1);
      } finally {
        cp.inventory = restarted;
      }
    });

    it('the same POST /clusters twice with one key → the same cluster, one ClusterCreated', async () => {
      const headers = { 'Idempotency-Key': 'key-cluster-1' };
      const a = await http('POST', `${cp.api}/clusters`, clusterBody('idem-cluster'), headers);
      const b = await http('POST', `${cp.api}/clusters`, clusterBody('idem-cluster'), headers);
      expect(a.status).toBe(201);
      expect(b.status).toBe(201);
      expect(b.body.id).toBe(a.body.id);
      const created = (await eventsOfType(cp.store, cp.store.subjects.evtAll('cluster'), 'ClusterCreated')).filter(
        (e) => (e.data as { name: string }).name === 'idem-cluster',
      );
      expect(created.length).toBe(1);
    });
  });

  describe('IPAM sees a VmCreated again', () => {
    let vmIds: string[];
    let deletedId: string;

    beforeAll(async () => {
      vmIds = [];
      for (let i = 0; i < 5; i++) {
        const r = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: `re-${i}`, ownerId: 'cust-2' });
        expect(r.status).toBe(202);
        vmIds.push(r.body.id);
      }
      for (const id of vmIds) expect(await settledVm(cp, id)).toMatchObject({ status: 'ip-allocated' });
      // One VM deleted and (cool-down 0) released, so a replay also meets VmDeleted and a freed address.
      deletedId = vmIds[4];
      expect((await http('DELETE', `${cp.api}/vms/${deletedId}`)).status).toBe(202);
      await eventually(
        async () =>
          (await eventsOfType(cp.store, cp.store.subjects.evt('ipam', fx.clusterId), 'IpReleased')).some(
            (e) => (e.data as { vmId: string }).vmId === deletedId,
          ),
        15000,
        50,
        'address released',
      );
      await readModelCaughtUp(cp);
    });

    async function storedVmCreated(vmId: string): Promise<StoredEvent<EventOf<'VmCreated'>>> {
      const [e] = (await cp.store.read(cp.store.subjects.evt('vm', vmId))).filter((x) => x.type === 'VmCreated');
      return e as StoredEvent<EventOf<'VmCreated'>>;
    }

    it('calling the running IPAM onVmCreated twice for the same stored event writes nothing', async () => {
      const ipam = cp.ipams[0].app.get(IpamService);
      const before = await streamLastSeq(cp.nats);
      for (const id of vmIds) {
        const e = await storedVmCreated(id);
        await ipam.onVmCreated(e);
        await ipam.onVmCreated(e);
      }
      expect(await streamLastSeq(cp.nats)).toBe(before);
    });

    it('a second IPAM instance with a cold cache handling the same events writes nothing', async () => {
      const cold = new IpamService(cp.store, { releaseCooldownMs: 0 });
      const before = await streamLastSeq(cp.nats);
      await Promise.all(vmIds.map(async (id) => cold.onVmCreated(await storedVmCreated(id))));
      expect(await streamLastSeq(cp.nats)).toBe(before);
    });

    it('IPAM restarted with its durable reset to sequence 1 replays everything and writes nothing', async () => {
      const allocatedBefore = countByVm(await ipAllocated());
      for (const id of vmIds) expect(allocatedBefore.get(id)).toBe(1);
      for (const ipam of [...cp.ipams]) await cp.stopIpam(ipam);
      const durable = cp.nats.subjects.durable('ipam');
      const stream = cp.nats.subjects.eventsStream;
      const old = await cp.nats.jsm.consumers.info(stream, durable);
      expect(old.delivered.stream_seq).toBeGreaterThan(0);
      await cp.nats.jsm.consumers.delete(stream, durable);
      const head = await streamLastSeq(cp.nats);

      await cp.startIpam(0);
      const lastVmSeq = Math.max(...(await cp.store.read(cp.store.subjects.evtAll('vm'))).map((e) => e.seq));
      const replayed = await eventually(
        async () => {
          const info = await cp.nats.jsm.consumers.info(stream, durable);
          return info.delivered.stream_seq >= lastVmSeq && info.num_pending === 0 && info.num_ack_pending === 0 ? info : undefined;
        },
        30000,
        100,
        'the new durable to replay every VM event',
      );
      // Everything from sequence 1 was delivered again (a new durable, not a resumed one)…
      expect(replayed.delivered.consumer_seq).toBeGreaterThanOrEqual((await cp.store.read(cp.store.subjects.evtAll('vm'))).length);
      // …and produced nothing: no second IpAllocated, no second release, no failure.
      expect(await streamLastSeq(cp.nats)).toBe(head);
      const allocated = countByVm(await ipAllocated());
      for (const [vmId, n] of allocated) expect({ vmId, n }).toEqual({ vmId, n: 1 });
      const ips = (await ipAllocated()).map((e) => (e.data as { ip: string }).ip);
      const held = (await ipAllocated()).filter((e) => (e.data as { vmId: string }).vmId !== deletedId).map((e) => (e.data as { ip: string }).ip);
      expect(new Set(held).size).toBe(held.length);
      expect(ips.length).toBe(allocated.size);
      const dead = await cp.store.read(cp.store.subjects.evtAll('deadletter'));
      expect(dead).toEqual([]);

      // The restarted IPAM still works for new VMs.
      const r = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'after-restart', ownerId: 'cust-2' });
      expect(r.status).toBe(202);
      const vm = await settledVm(cp, r.body.id);
      expect(vm.status).toBe('ip-allocated');
      expect(held).not.toContain(vm.ip);
    });
  });
});
