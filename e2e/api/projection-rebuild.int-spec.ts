/**
 * docs/architecture.md (invariants): the read model is derived from the stream only. Replaying the stream from sequence 1 into
 * fresh tables gives exactly the live tables, and a replayed batch (redelivery) changes nothing because
 * the checkpoint advances in the same transaction as the rows.
 */
import { type DataSource } from 'typeorm';
import { createDataSource, dumpSchema, PROJECTED_TABLES, ProjectionRunner, rebuildInto } from '@fabric/projections';
import { eventually } from '@fabric/testing/infra';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture, readModelCaughtUp, settledVm, streamLastSeq } from '../support/api-fixtures';

describe('projection rebuild', () => {
  let cp: ControlPlane;
  const sources: DataSource[] = [];
  let live: DataSource;
  let fx: Fixture;
  let head: number;

  beforeAll(async () => {
    cp = await startControlPlane({ ipamCooldownMs: 0 });
    live = createDataSource({ url: cp.db.url, schema: 'fabric', poolSize: 2 });
    await live.initialize();
    sources.push(live);

    // ---- a workload touching every projected aggregate
    fx = await createFixture(cp, { name: 'lab', nodes: 3, pools: [{ start: '203.0.113.10', end: '203.0.113.20' }] });
    const other = await createFixture(cp, {
      name: 'other',
      cidr: '198.51.100.0/24',
      pools: [{ start: '198.51.100.10', end: '198.51.100.10' }],
      underlayBase: 200,
    });
    expect(
      (await http('POST', `${cp.api}/clusters/${fx.clusterId}/networks/${fx.networkId}/pools`, { start: '203.0.113.100', end: '203.0.113.110' })).status,
    ).toBe(201);
    expect(
      (
        await http('POST', `${cp.api}/clusters/${fx.clusterId}/networks`, {
          cidr: '2001:db8:1::/64',
          pools: [{ start: '2001:db8:1::10', end: '2001:db8:1::ff' }],
        })
      ).status,
    ).toBe(201);
    expect((await http('POST', `${cp.api}/clusters/${fx.clusterId}/route-reflectors`, { name: 'rr3', ip: '198.18.0.13' })).status).toBe(201);
    expect((await http('DELETE', `${cp.api}/clusters/${fx.clusterId}/route-reflectors/rr1`)).status).toBe(200);

    const vmIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await http('POST', `${cp.api}/vms`, {
        clusterId: fx.clusterId,
        nodeId: fx.nodeIds[i % 2],
        name: `web${i}`,
        ownerId: `cust-${i % 3}`,
        family: 4,
      });
      expect(r.status).toBe(202);
      vmIds.push(r.body.id);
    }
    const v6 = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'v6', ownerId: 'cust-6', family: 6 });
    expect(v6.status).toBe(202);
    const requested = await http('POST', `${cp.api}/vms`, {
      clusterId: fx.clusterId,
      nodeId: fx.nodeIds[1],
      name: 'fixed',
      ownerId: 'cust-1',
      ip: '203.0.113.105',
    });
    expect(requested.status).toBe(202);
    // failed allocations: outside the pools, and an exhausted pool in the other cluster
    const outside = await http('POST', `${cp.api}/vms`, {
      clusterId: fx.clusterId,
      nodeId: fx.nodeIds[1],
      name: 'outside',
      ownerId: 'cust-1',
      ip: '203.0.113.250',
    });
    const only = await http('POST', `${cp.api}/vms`, { clusterId: other.clusterId, nodeId: other.nodeIds[0], name: 'only', ownerId: 'cust-9' });
    const tooMany = await http('POST', `${cp.api}/vms`, { clusterId: other.clusterId, nodeId: other.nodeIds[0], name: 'too-many', ownerId: 'cust-9' });
    for (const id of [...vmIds, v6.body.id, requested.body.id, outside.body.id, only.body.id, tooMany.body.id]) await settledVm(cp, id);
    expect((await settledVm(cp, outside.body.id)).status).toBe('failed');
    expect((await settledVm(cp, tooMany.body.id)).status).toBe('failed');

    // deletions (cool-down 0: released), a migration, a drained node, an address reused after release
    for (const id of vmIds.slice(0, 3)) expect((await http('DELETE', `${cp.api}/vms/${id}`)).status).toBe(202);
    expect((await http('POST', `${cp.api}/vms/${vmIds[4]}/migrate`, { nodeId: fx.nodeIds[2] })).status).toBe(202);
    expect((await http('POST', `${cp.api}/nodes/${fx.nodeIds[2]}/drain`)).status).toBe(200);
    await eventually(
      async () => {
        const pools = (await http('GET', `${cp.api}/clusters/${fx.clusterId}/networks`)).body.flatMap((n: { pools: { used: number }[] }) => n.pools);
        return pools.reduce((a: number, p: { used: number }) => a + p.used, 0) === 12 - 3 + 2 ? true : undefined;
      },
      15000,
      50,
      'three addresses released',
    );
    const reuse = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'reuse', ownerId: 'cust-1', family: 4 });
    expect((await settledVm(cp, reuse.body.id)).status).toBe('ip-allocated');

    head = await readModelCaughtUp(cp);
  });

  afterAll(async () => {
    for (const ds of sources) await ds.destroy().catch(() => undefined);
    await cp?.close();
  });

  it('a rebuild from sequence 1 into a fresh schema equals the live read model, table by table', async () => {
    expect(await streamLastSeq(cp.nats)).toBe(head); // nothing moved since the live model caught up
    const rebuilt = await rebuildInto(cp.store, cp.db.url, 'fabric_rebuild');
    sources.push(rebuilt.ds);
    expect(rebuilt.position).toBe(head);

    const a = await dumpSchema(live, 'fabric');
    const b = await dumpSchema(rebuilt.ds, 'fabric_rebuild');
    for (const table of PROJECTED_TABLES) expect({ table, rows: b[table] }).toEqual({ table, rows: a[table] });
    // The comparison is meaningful: the workload filled the tables it touched.
    for (const table of ['clusters', 'networks', 'pools', 'nodes', 'vms', 'vm_history']) expect({ table, n: a[table].length > 0 }).toEqual({ table, n: true });
    const statuses = new Set(a.vms.map((j) => JSON.parse(j).status));
    expect([...statuses].sort()).toEqual(['deleted', 'failed', 'ip-allocated', 'migrating']);

    // One checkpoint per stream (read-model, read-model:observations): equal, name by name.
    const cp1 = await live.query(`SELECT name, position FROM "fabric"."projection_checkpoints" ORDER BY name`);
    const cp2 = await rebuilt.ds.query(`SELECT name, position FROM "fabric_rebuild"."projection_checkpoints" ORDER BY name`);
    expect(cp1.map((r: { name: string }) => r.name)).toEqual(['read-model', 'read-model:observations']);
    expect(cp2.map((r: { name: string; position: string }) => [r.name, Number(r.position)])).toEqual(
      cp1.map((r: { name: string; position: string }) => [r.name, Number(r.position)]),
    );
  });

  it('a replayed batch is a no-op: 0 new rows, nothing changed, checkpoint unchanged', async () => {
    const events = await cp.store.read(cp.store.subjects.evtAll());
    expect(events[events.length - 1].seq).toBe(head);
    const before = await dumpSchema(live, 'fabric');
    const runner = new ProjectionRunner(cp.store, live);
    expect(await runner.readCheckpoint()).toBe(head);
    expect(await runner.commit(events)).toBe(0);
    expect(await runner.commit(events.slice(5, 20))).toBe(0);
    expect(await runner.commit(events.slice(-1))).toBe(0);
    expect(await dumpSchema(live, 'fabric')).toEqual(before);
    expect(await runner.readCheckpoint()).toBe(head);
  });

  it('a batch straddling the checkpoint applies only the events after it (no gap, no double count)', async () => {
    const events = await cp.store.read(cp.store.subjects.evtAll());
    const mid = events[Math.floor(events.length / 2)].seq;
    const partial = await rebuildInto(cp.store, cp.db.url, 'fabric_partial', mid);
    sources.push(partial.ds);
    const runner = new ProjectionRunner(cp.store, partial.ds);
    expect(await runner.readCheckpoint()).toBe(mid);
    // Redelivery of everything from sequence 1: only the events after `mid` are new.
    expect(await runner.commit(events)).toBe(events.filter((e) => e.seq > mid).length);
    expect(await runner.commit(events)).toBe(0);
    const a = await dumpSchema(live, 'fabric');
    const b = await dumpSchema(partial.ds, 'fabric_partial');
    for (const table of PROJECTED_TABLES) expect({ table, rows: b[table] }).toEqual({ table, rows: a[table] });
  });
});
