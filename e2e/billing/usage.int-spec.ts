/**
 * GET /api/v1/billing/usage: address-seconds per owner and address, computed from the IpAllocated /
 * IpReleased event times through the `ip_usage` projection. Checked against the events themselves, through
 * a rebuild from sequence 1, and through the migration's backfill of an existing read model.
 */
import { type DataSource } from 'typeorm';
import { createDataSource, dumpSchema, openDatabase, rebuildInto } from '@fabric/projections';
import { eventually } from '@fabric/testing/infra';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture, readModelCaughtUp } from '../support/api-fixtures';
import { queryUsage } from '../../services/gateway/src/billing/usage';
import { createVm, deleteVm, type RawEvent, rawEvents, waitForEvents } from './support';

describe('billing usage endpoint', () => {
  let cp: ControlPlane;
  let fx: Fixture;
  let live: DataSource;
  const sources: DataSource[] = [];
  let events: RawEvent[];
  let t0: string;
  let tEnd: string;
  const vms: Record<string, any> = {};
  const usage = (params: Record<string, string>) => http('GET', `${cp.api}/billing/usage?${new URLSearchParams(params)}`);

  beforeAll(async () => {
    cp = await startControlPlane({ ipamCooldownMs: 0 });
    live = createDataSource({ url: cp.db.url, schema: 'fabric', poolSize: 2 });
    await live.initialize();
    sources.push(live);
    fx = await createFixture(cp, { nodes: 2 });
    expect(
      (
        await http('POST', `${cp.api}/clusters/${fx.clusterId}/networks`, {
          cidr: '2001:db8:1::/64',
          pools: [{ start: '2001:db8:1::10', end: '2001:db8:1::ff' }],
        })
      ).status,
    ).toBe(201);
    t0 = new Date(Date.now() - 1000).toISOString();
    vms.a1 = await createVm(cp, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'a1', ownerId: 'acme', family: 4 });
    vms.a2 = await createVm(cp, { clusterId: fx.clusterId, nodeId: fx.nodeIds[1], name: 'a2', ownerId: 'acme', family: 6 });
    vms.b1 = await createVm(cp, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'b1', ownerId: 'globex', family: 4 });
    await deleteVm(cp, vms.a1.id); // cool-down 0: released right away
    await waitForEvents(cp, 'IpReleased', 1);
    // The address a1 gave back goes to the next VM: same address, another owner and VM.
    vms.b2 = await createVm(cp, { clusterId: fx.clusterId, nodeId: fx.nodeIds[1], name: 'b2', ownerId: 'globex', family: 4 });

    // A deleted VM's address is held, and billed, during the cool-down: until IpReleased, not VmDeleted.
    await cp.stopIpam(cp.ipams[0]);
    await cp.startIpam(1500);
    await deleteVm(cp, vms.b1.id);
    await waitForEvents(cp, 'IpReleased', 2);
    await readModelCaughtUp(cp);
    tEnd = new Date(Date.now() + 1).toISOString();
    await eventually(() => Date.now() > Date.parse(tEnd), 1000, 5); // `to` in the past: open intervals end exactly there
    events = await rawEvents(cp.nats);
  });

  afterAll(async () => {
    for (const ds of sources) await ds.destroy().catch(() => undefined);
    await cp?.close();
  });

  const ev = (type: string, vmId: string) => events.find((e) => e.body.type === type && e.body.data.vmId === vmId)?.body;
  const ms = (iso: string) => Date.parse(iso);
  /** Independent expectation straight from the events: overlap of [IpAllocated, IpReleased or end) with [from, to). */
  const expectedSeconds = (vmId: string, from: string, to: string) => {
    const start = Math.max(ms(from), ms(ev('IpAllocated', vmId)!.occurredAt));
    const rel = ev('IpReleased', vmId);
    const end = Math.min(ms(to), rel ? ms(rel.occurredAt) : Infinity);
    return Math.max(0, end - start) / 1000;
  };

  it('address-seconds per owner and address over [from, to), equal to the event times', async () => {
    const r = await usage({ from: t0, to: tEnd });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ from: t0, to: tEnd, ownerId: null, unit: 'address-seconds' });
    expect(r.body.owners.map((o: any) => o.ownerId)).toEqual(['acme', 'globex']);
    const acme = r.body.owners[0];
    const globex = r.body.owners[1];
    expect(acme.addresses.map((a: any) => [a.ip, a.family])).toEqual(
      [
        [vms.a2.ip, 6],
        [vms.a1.ip, 4],
      ].sort((x, y) => (x[0] < y[0] ? -1 : 1)),
    );
    const interval = (o: any, vmId: string) => o.addresses.flatMap((a: any) => a.intervals).find((i: any) => i.vmId === vmId);
    for (const [o, name] of [
      [acme, 'a1'],
      [acme, 'a2'],
      [globex, 'b1'],
      [globex, 'b2'],
    ] as const) {
      const i = interval(o, vms[name].id);
      expect({ name, seconds: i.seconds }).toEqual({ name, seconds: expectedSeconds(vms[name].id, t0, tEnd) });
      expect(i.allocatedAt).toBe(ev('IpAllocated', vms[name].id)!.occurredAt);
      expect(i.releasedAt).toBe(ev('IpReleased', vms[name].id)?.occurredAt ?? null);
    }
    // a1 stopped counting at its release; a2 (still held) counts up to `to`.
    expect(interval(acme, vms.a1.id).end).toBe(ev('IpReleased', vms.a1.id)!.occurredAt);
    expect(interval(acme, vms.a2.id)).toMatchObject({ releasedAt: null, end: tEnd });
    // Reused address: b2 holds a1's address, billed to globex from its own allocation.
    expect(vms.b2.ip).toBe(vms.a1.ip);
    const sum = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) * 1000) / 1000;
    expect(r.body.totals).toEqual({
      owners: 2,
      addresses: 4,
      intervals: 4,
      addressSeconds: sum(['a1', 'a2', 'b1', 'b2'].map((n) => expectedSeconds(vms[n].id, t0, tEnd))),
      byFamily: { '4': sum(['a1', 'b1', 'b2'].map((n) => expectedSeconds(vms[n].id, t0, tEnd))), '6': expectedSeconds(vms.a2.id, t0, tEnd) },
    });
    expect(acme.addressSeconds).toBe(sum([expectedSeconds(vms.a1.id, t0, tEnd), expectedSeconds(vms.a2.id, t0, tEnd)]));
    expect(typeof r.body.readModelPosition).toBe('number');
  });

  it('a deleted VM is billed until IpReleased (cool-down), not until VmDeleted', async () => {
    const deleted = ev('VmDeleted', vms.b1.id)!.occurredAt;
    const released = ev('IpReleased', vms.b1.id)!.occurredAt;
    expect(ms(released) - ms(deleted)).toBeGreaterThanOrEqual(1400);
    const r = await usage({ ownerId: 'globex', from: t0, to: tEnd });
    const i = r.body.owners[0].addresses.flatMap((a: any) => a.intervals).find((x: any) => x.vmId === vms.b1.id);
    expect(i).toMatchObject({ releasedAt: released, end: released });
  });

  it('clips to the window, filters by owner, and a window before any allocation is empty', async () => {
    const mid = new Date((ms(ev('IpAllocated', vms.a2.id)!.occurredAt) + ms(tEnd)) / 2).toISOString();
    const r = await usage({ ownerId: 'acme', from: mid, to: tEnd });
    expect(r.body.owners.map((o: any) => o.ownerId)).toEqual(['acme']);
    const a2 = r.body.owners[0].addresses.find((a: any) => a.ip === vms.a2.ip);
    expect(a2.intervals[0]).toMatchObject({ start: mid, end: tEnd, seconds: expectedSeconds(vms.a2.id, mid, tEnd) });
    const before = await usage({ from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z' });
    expect(before.body).toMatchObject({ owners: [], totals: { owners: 0, addresses: 0, intervals: 0, addressSeconds: 0 } });
    // `to` omitted: up to now, so at least what was billed up to tEnd.
    const now = await usage({ from: t0 });
    expect(now.status).toBe(200);
    expect(now.body.totals.addressSeconds).toBeGreaterThanOrEqual((await usage({ from: t0, to: tEnd })).body.totals.addressSeconds);
  });

  it('400 with the offending fields on bad input', async () => {
    const bad = async (params: Record<string, string>, fields: string[]) => {
      const r = await usage(params);
      expect({ params, status: r.status, code: r.body.code, fields: Object.keys(r.body.fields ?? {}).sort() }).toEqual({
        params,
        status: 400,
        code: 'validation-failed',
        fields: fields.sort(),
      });
    };
    await bad({}, ['from']);
    await bad({ from: 'yesterday' }, ['from']);
    await bad({ from: '2025-01-01T10:00:00' }, ['from']); // no zone
    await bad({ from: '2025-02-30' }, ['from']);
    await bad({ from: '2025-01-02T00:00:00Z', to: '2025-01-01T00:00:00Z' }, ['to']);
    await bad({ from: t0, ownerId: 'not an owner' }, ['ownerId']);
    await bad({ from: t0, owner: 'acme' }, ['owner']);
    await bad({ from: 'x', to: 'y', ownerId: '' }, ['from', 'to', 'ownerId']);
    const twice = await http('GET', `${cp.api}/billing/usage?from=${t0}&from=${t0}`);
    expect(twice.body.fields).toEqual({ from: ['must be given once'] });
  });

  it('a rebuilt projection gives the same usage answer, and the migration backfill gives the same rows', async () => {
    const rebuilt = await rebuildInto(cp.store, cp.db.url, 'fabric_usage_rebuild');
    sources.push(rebuilt.ds);
    const q = { from: new Date(t0), to: new Date(tEnd), asOf: new Date() };
    const a = await queryUsage(live, 'fabric', q);
    expect(a.totals.intervals).toBe(4);
    expect(await queryUsage(rebuilt.ds, 'fabric_usage_rebuild', q)).toEqual(a);
    expect(await queryUsage(rebuilt.ds, 'fabric_usage_rebuild', { ...q, ownerId: 'globex' })).toEqual(
      await queryUsage(live, 'fabric', { ...q, ownerId: 'globex' }),
    );
    // And the HTTP answer is that same computation on the live schema.
    const { readModelPosition, ...http200 } = (await usage({ from: t0, to: tEnd })).body;
    expect(http200).toEqual({ ...a, asOf: http200.asOf });
    expect(readModelPosition).toBeGreaterThan(0);

    // An existing deployment (read model already past these events) gets the same rows from the backfill.
    await rebuilt.ds.query(`DROP TABLE "fabric_usage_rebuild"."ip_usage"`);
    await rebuilt.ds.query(`DELETE FROM "fabric_usage_rebuild"."typeorm_migrations" WHERE name = 'IpUsage1795666948961'`);
    const migrated = await openDatabase({ url: cp.db.url, schema: 'fabric_usage_rebuild' });
    sources.push(migrated);
    expect((await dumpSchema(migrated, 'fabric_usage_rebuild')).ip_usage).toEqual((await dumpSchema(live, 'fabric')).ip_usage);
    expect(await queryUsage(migrated, 'fabric_usage_rebuild', q)).toEqual(a);
  });
});
