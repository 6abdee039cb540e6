/**
 * Extra addresses of a VM over the API: POST/DELETE /vms/:id/addresses, validation, idempotency, dry run, the
 * addresses in GET /vms/:id, the node's desired state (route-announcer), the release cool-down (here 0 s),
 * billing intervals per address, and the VM's deletion releasing every address.
 */
import { type NodeDesiredState } from '@fabric/contracts';
import { createDataSource, dumpSchema, rebuildInto } from '@fabric/projections';
import { lastCommand } from '@fabric/testing/fabric';
import { eventually } from '@fabric/testing/infra';
import { startRouteAnnouncer } from '../../services/route-announcer/src/main';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, eventsOfType, type Fixture, readModelCaughtUp, settledVm, streamLastSeq } from '../support/api-fixtures';

describe('extra VM addresses over the API', () => {
  let cp: ControlPlane;
  let fx: Fixture;
  let announcer: { close(): Promise<void> };
  let vmId: string;
  let primary: string;
  const t0 = new Date().toISOString();
  const addresses = async (id = vmId) => (await http('GET', `${cp.api}/vms/${id}`)).body.addresses as any[];
  /** Waits until the request's address is decided by IPAM (allocated or failed) and returns it. */
  const decided = (requestId: string, id = vmId) =>
    eventually(
      async () => (await addresses(id)).find((a) => a.requestId === requestId && a.status !== 'requested'),
      15000,
      50,
      `address request ${requestId} to be decided`,
    );
  const nodeVm = async () => (await lastCommand<NodeDesiredState>(cp.nats, 'node', fx.nodeIds[0]))?.vms.find((v) => v.vmId === vmId);

  beforeAll(async () => {
    cp = await startControlPlane({ ipamCooldownMs: 0 });
    announcer = await startRouteAnnouncer({ ns: cp.ns });
    fx = await createFixture(cp);
    const v6 = await http('POST', `${cp.api}/clusters/${fx.clusterId}/networks`, {
      cidr: '2001:db8:1::/64',
      pools: [{ start: '2001:db8:1::10', end: '2001:db8:1::ff' }],
    });
    expect(v6.status).toBe(201);
    const r = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'multi', ownerId: 'acme', family: 4 });
    expect(r.status).toBe(202);
    vmId = r.body.id;
    primary = (await settledVm(cp, vmId)).ip;
  });
  afterAll(async () => {
    await announcer?.close().catch(() => undefined);
    await cp?.close();
  });

  it('a VM shows its primary address in addresses', async () => {
    expect(await addresses()).toEqual([{ ip: primary, family: 4, primary: true, status: expect.any(String) }]);
  });

  it('adds an IPv4, an IPv6 and a specific address; each is allocated and listed on the node with the VM', async () => {
    const a = await http('POST', `${cp.api}/vms/${vmId}/addresses`, {});
    expect(a).toMatchObject({ status: 202, body: { vmId, family: 4, status: 'requested', requestId: expect.any(String) } });
    const b = await http('POST', `${cp.api}/vms/${vmId}/addresses`, { family: 6 });
    expect(b).toMatchObject({ status: 202, body: { family: 6 } });
    const c = await http('POST', `${cp.api}/vms/${vmId}/addresses`, { ip: '203.0.113.150' });
    expect(c).toMatchObject({ status: 202, body: { family: 4, ip: '203.0.113.150' } });
    const [x, y, z] = [await decided(a.body.requestId), await decided(b.body.requestId), await decided(c.body.requestId)];
    expect(x).toMatchObject({ ip: '203.0.113.11', family: 4, primary: false, status: 'allocated' });
    expect(y).toMatchObject({ ip: '2001:db8:1::10', family: 6, primary: false, status: 'allocated' });
    expect(z).toMatchObject({ ip: '203.0.113.150', family: 4, primary: false, status: 'allocated' });
    expect((await addresses()).map((p) => p.ip)).toEqual([primary, '203.0.113.11', '2001:db8:1::10', '203.0.113.150']);
    await eventually(async () => ((await nodeVm())?.extraIps?.length === 3 ? true : undefined), 15000, 50, 'node state with the extra addresses');
    expect((await nodeVm())!.extraIps).toEqual(['2001:db8:1::10', '203.0.113.11', '203.0.113.150']);
    // The guest's cloud-init network config carries every address, and a default route per family.
    const cfg = await fetch(`${cp.api}/vms/${vmId}/network-config`, { headers: { authorization: `Bearer ${cp.adminToken}` } });
    const yaml = await cfg.text();
    for (const a of [`${primary}/32`, '203.0.113.11/32', '203.0.113.150/32', '2001:db8:1::10/128', 'to: ::/0']) expect(yaml).toContain(a);
    // Another VM never gets an address held as an extra one.
    const other = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'other', ownerId: 'globex', ip: '203.0.113.11' });
    expect((await settledVm(cp, other.body.id)).status).toBe('failed');
  });

  it('an address IPAM cannot allocate is listed as failed with the reason', async () => {
    const r = await http('POST', `${cp.api}/vms/${vmId}/addresses`, { ip: '198.51.100.7' });
    expect(r.status).toBe(202);
    expect(await decided(r.body.requestId)).toMatchObject({ ip: '198.51.100.7', status: 'failed', reason: expect.stringMatching(/^outside-pools: /) });
  });

  it('refuses bad input with a reason and changes nothing', async () => {
    const head = await readModelCaughtUp(cp);
    const cases: [string, string, object | undefined, number, string][] = [
      ['POST', `/vms/${vmId}/addresses`, { family: 5 }, 400, 'validation-failed'],
      ['POST', `/vms/${vmId}/addresses`, { ip: '203.0.113.300' }, 400, 'validation-failed'],
      ['POST', `/vms/${vmId}/addresses`, { ip: '203.0.113.12', extra: 1 }, 400, 'validation-failed'],
      ['POST', `/vms/${vmId}/addresses`, { ip: '2001:db8:1::20', family: 4 }, 400, 'ip-family-mismatch'],
      ['POST', `/vms/not-a-uuid/addresses`, {}, 400, 'invalid-id'],
      ['POST', `/vms/00000000-0000-4000-8000-000000000000/addresses`, {}, 404, 'vm-not-found'],
      ['POST', `/vms/${vmId}/addresses`, { ip: primary }, 409, 'address-already-assigned'],
      ['POST', `/vms/${vmId}/addresses`, { ip: '203.0.113.150' }, 409, 'address-already-assigned'],
      ['DELETE', `/vms/${vmId}/addresses/${primary}`, undefined, 409, 'primary-address'],
      ['DELETE', `/vms/${vmId}/addresses/203.0.113.99`, undefined, 404, 'address-not-found'],
      ['DELETE', `/vms/${vmId}/addresses/203.0.113.1;reboot`, undefined, 400, 'invalid-ip'],
      ['DELETE', `/vms/00000000-0000-4000-8000-000000000000/addresses/203.0.113.11`, undefined, 404, 'vm-not-found'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await http(method, `${cp.api}${path}`, body);
      expect({ method, path, status: r.status, code: r.body.code }).toEqual({ method, path, status, code });
      expect(r.body.message.length).toBeGreaterThan(5);
    }
    expect(await streamLastSeq(cp.nats)).toBe(head);
  });

  it('honours Idempotency-Key: the same request once, one address', async () => {
    const headers = { 'Idempotency-Key': 'extra-address-1' };
    const first = await http('POST', `${cp.api}/vms/${vmId}/addresses`, {}, headers);
    const again = await http('POST', `${cp.api}/vms/${vmId}/addresses`, {}, headers);
    expect(first.status).toBe(202);
    expect(again).toMatchObject({ status: 202, body: { requestId: first.body.requestId } });
    expect(await decided(first.body.requestId)).toMatchObject({ ip: '203.0.113.12', status: 'allocated' });
    const requested = await eventsOfType(cp.store, cp.nats.subjects.evt('vm', vmId), 'VmAddressRequested');
    expect(requested.filter((e) => e.type === 'VmAddressRequested' && e.data.requestId === first.body.requestId)).toHaveLength(1);
  });

  it('a dry run answers the decision and the address IPAM would allocate, and writes nothing', async () => {
    const head = await readModelCaughtUp(cp);
    const r = await http('POST', `${cp.api}/vms/${vmId}/addresses?dryRun=true`, { ip: '203.0.113.160' });
    expect(r.status).toBe(200);
    expect(r.body.events.map((e: { type: string }) => e.type)).toEqual(['VmAddressRequested']);
    expect(r.body.notes.join()).toContain('address 203.0.113.160: the requested one, free now');
    const node = r.body.targets.find((t: { kind: string }) => t.kind === 'node');
    expect(node.diff).toMatch(/^\+route 203\.0\.113\.160\/32 dev \S+ # vm .* extra address$/m);
    const rm = await http('DELETE', `${cp.api}/vms/${vmId}/addresses/203.0.113.150?dryRun=true`);
    expect(rm.status).toBe(200);
    expect(rm.body.events.map((e: { type: string }) => e.type)).toEqual(['VmAddressRemoved']);
    expect(await streamLastSeq(cp.nats)).toBe(head);
  });

  it('removing an extra address withdraws it from the node and releases it after the cool-down; billing has its own interval', async () => {
    const r = await http('DELETE', `${cp.api}/vms/${vmId}/addresses/203.0.113.150`);
    expect(r).toMatchObject({ status: 202, body: { vmId, ip: '203.0.113.150', status: 'releasing' } });
    await eventually(async () => ((await nodeVm())?.extraIps?.includes('203.0.113.150') === false ? true : undefined), 15000, 50, 'node without the address');
    await eventually(async () => ((await addresses()).some((a) => a.ip === '203.0.113.150') ? undefined : true), 15000, 50, 'the address released');
    const usage = await http('GET', `${cp.api}/billing/usage?${new URLSearchParams({ from: t0, ownerId: 'acme' })}`);
    expect(usage.status).toBe(200);
    const ips = usage.body.owners[0].addresses.map((a: any) => a.ip);
    expect(ips).toEqual(expect.arrayContaining([primary, '203.0.113.11', '203.0.113.12', '203.0.113.150', '2001:db8:1::10']));
    const released = usage.body.owners[0].addresses.find((a: any) => a.ip === '203.0.113.150').intervals;
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({ vmId, releasedAt: expect.any(String) });
    const held = usage.body.owners[0].addresses.find((a: any) => a.ip === '203.0.113.11').intervals;
    expect(held[0]).toMatchObject({ vmId, releasedAt: null });
  });

  it('deleting the VM withdraws and releases every address; a deleted VM takes no address', async () => {
    expect((await http('DELETE', `${cp.api}/vms/${vmId}`)).status).toBe(202);
    const add = await http('POST', `${cp.api}/vms/${vmId}/addresses`, {});
    expect(add).toMatchObject({ status: 409, body: { code: 'vm-deleted' } });
    expect((await http('DELETE', `${cp.api}/vms/${vmId}/addresses/203.0.113.11`)).body.code).toBe('vm-deleted');
    await eventually(
      async () => {
        const rel = await eventsOfType(cp.store, cp.nats.subjects.evt('ipam', fx.clusterId), 'VmAddressReleased');
        return rel.filter((e) => e.type === 'VmAddressReleased' && e.data.vmId === vmId).length === 4 ? true : undefined;
      },
      15000,
      50,
      'every extra address released',
    );
    await eventually(async () => ((await addresses()).filter((a) => !a.primary).length === 0 ? true : undefined), 15000, 50, 'no extra address left');
    await eventually(async () => ((await nodeVm()) === undefined ? true : undefined), 15000, 50, 'the VM gone from its node');
    // The released addresses are free again.
    const next = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'reuse', ownerId: 'globex', ip: '203.0.113.150' });
    expect(await settledVm(cp, next.body.id)).toMatchObject({ ip: '203.0.113.150' });
  });

  it('a rebuild from sequence 1 gives the same addresses, billing intervals and pool usage', async () => {
    const keeper = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'keeper', ownerId: 'acme', family: 4 });
    await settledVm(cp, keeper.body.id);
    const r = await http('POST', `${cp.api}/vms/${keeper.body.id}/addresses`, { family: 6 });
    expect(await decided(r.body.requestId, keeper.body.id)).toMatchObject({ status: 'allocated' });
    const head = await readModelCaughtUp(cp);
    const live = createDataSource({ url: cp.db.url, schema: 'fabric', poolSize: 1 });
    await live.initialize();
    const rebuilt = await rebuildInto(cp.store, cp.db.url, 'fabric_rebuild');
    try {
      expect(rebuilt.position).toBe(head);
      const a = await dumpSchema(live, 'fabric');
      const b = await dumpSchema(rebuilt.ds, 'fabric_rebuild');
      for (const table of ['vm_addresses', 'ip_usage', 'pools']) {
        expect(a[table].length).toBeGreaterThan(0);
        expect({ table, rows: b[table] }).toEqual({ table, rows: a[table] });
      }
    } finally {
      await rebuilt.ds.destroy();
      await live.destroy();
    }
  });
});
