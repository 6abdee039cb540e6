/** Tenant private networks over the API: VNI allocation, attach/detach with private IPAM and cool-down, validation, audit. */
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createDataSource, dumpSchema, rebuildInto } from '@fabric/projections';
import { eventually } from '@fabric/testing/infra';
import { createFixture, type Fixture, readModelCaughtUp, settledVm } from '../support/api-fixtures';

describe('private networks over the API', () => {
  let cp: ControlPlane;
  let fx: Fixture;
  let other: Fixture;
  const vms: Record<string, string> = {};
  const base = () => `${cp.api}/clusters/${fx.clusterId}/private-networks`;

  const createVm = async (f: Fixture, name: string, ownerId: string) => {
    const r = await http('POST', `${cp.api}/vms`, { clusterId: f.clusterId, nodeId: f.nodeIds[0], name, ownerId });
    expect(r.status).toBe(202);
    await settledVm(cp, r.body.id);
    return r.body.id as string;
  };

  beforeAll(async () => {
    // A real cool-down: detached private addresses stay held for the whole test.
    cp = await startControlPlane({ ipamCooldownMs: 600_000 });
    fx = await createFixture(cp, { nodes: 2 });
    other = await createFixture(cp, { name: 'other', cidr: '198.51.100.0/24', pools: [{ start: '198.51.100.10', end: '198.51.100.100' }], underlayBase: 150 });
    vms.a1 = await createVm(fx, 'a1', 'tenant-a');
    vms.a2 = await createVm(fx, 'a2', 'tenant-a');
    vms.b1 = await createVm(fx, 'b1', 'tenant-b');
    vms.elsewhere = await createVm(other, 'a9', 'tenant-a');
  });
  afterAll(async () => {
    await cp?.close();
  });

  let netA: any;
  let netB: any;

  it('creates networks with control-plane VNIs, unique in the cluster; the same CIDR for two tenants', async () => {
    const a = await http('POST', base(), { ownerId: 'tenant-a', name: 'backend', cidr: '192.168.10.0/29' });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ ownerId: 'tenant-a', name: 'backend', cidr: '192.168.10.0/29', family: 4, vni: 10000, attachedVms: 0, attachments: [] });
    const b = await http('POST', base(), { ownerId: 'tenant-b', name: 'backend', cidr: '192.168.10.0/29' });
    expect(b.status).toBe(201);
    expect(b.body.vni).toBe(10001);
    const v6 = await http('POST', base(), { ownerId: 'tenant-a', name: 'v6', cidr: 'fd00:10::/64' });
    expect(v6).toMatchObject({ status: 201, body: { family: 6, vni: 10002 } });
    // VNIs are per cluster: another cluster starts at the beginning of the range.
    const o = await http('POST', `${cp.api}/clusters/${other.clusterId}/private-networks`, { ownerId: 'tenant-a', name: 'backend', cidr: '192.168.10.0/29' });
    expect(o).toMatchObject({ status: 201, body: { vni: 10000 } });
    netA = a.body;
    netB = b.body;
    const list = await http('GET', base());
    expect(list.body.map((n: any) => n.vni)).toEqual([10000, 10001, 10002]);
    expect((await http('GET', `${base()}?ownerId=tenant-b`)).body.map((n: any) => n.id)).toEqual([netB.id]);
    expect((await http('GET', `${base()}/${netA.id}`)).body).toMatchObject({ id: netA.id, vni: 10000 });
  });

  it('refuses bad input with a reason and changes nothing', async () => {
    const before = (await http('GET', base())).body;
    const cases: [object, number, string][] = [
      [{ ownerId: 'tenant-a', name: 'x', cidr: '203.0.113.0/24' }, 400, 'private-network-not-private'],
      [{ ownerId: 'tenant-a', name: 'x', cidr: '10.0.0.0/8' }, 400, 'private-network-size'],
      [{ ownerId: 'tenant-a', name: 'x', cidr: '192.168.20.1/24' }, 400, 'cidr-host-bits-set'],
      [{ ownerId: 'tenant-a', name: 'x', cidr: 'nonsense' }, 400, 'validation-failed'],
      [{ ownerId: 'tenant-a', name: 'bad name;', cidr: '192.168.20.0/24' }, 400, 'validation-failed'],
      [{ ownerId: 'tenant a', name: 'x', cidr: '192.168.20.0/24' }, 400, 'validation-failed'],
      [{ ownerId: 'tenant-a', name: 'x', cidr: '192.168.20.0/24', vni: 5 }, 400, 'validation-failed'],
      [{ ownerId: 'tenant-a', name: 'other', cidr: '192.168.10.0/24' }, 409, 'private-network-overlap'],
      [{ ownerId: 'tenant-a', name: 'backend', cidr: '192.168.30.0/24' }, 409, 'private-network-name-taken'],
      [{ ownerId: 'tenant-a', name: 'gw', cidr: '10.0.0.0/24' }, 409, 'private-network-contains-gateway'],
    ];
    for (const [body, status, code] of cases) {
      const r = await http('POST', base(), body);
      expect({ body, status: r.status, code: r.body.code }).toEqual({ body, status, code });
      expect(r.body.message.length).toBeGreaterThan(5);
    }
    expect(
      (await http('POST', `${cp.api}/clusters/00000000-0000-4000-8000-000000000000/private-networks`, { ownerId: 'a', name: 'x', cidr: '192.168.40.0/24' }))
        .status,
    ).toBe(404);
    expect((await http('GET', `${base()}/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
    expect((await http('GET', `${base()}?ownerId=a%20b`)).status).toBe(400);
    expect((await http('GET', base())).body).toEqual(before);
  });

  it('attaches VMs of the owner: distinct addresses from the private CIDR, a stable MAC each', async () => {
    const r1 = await http('POST', `${cp.api}/vms/${vms.a1}/private-networks`, { networkId: netA.id });
    expect(r1.status).toBe(200);
    expect(r1.body).toEqual([
      expect.objectContaining({
        networkId: netA.id,
        vmId: vms.a1,
        vni: 10000,
        ip: '192.168.10.2',
        status: 'attached',
        name: 'backend',
        cidr: '192.168.10.0/29',
      }),
    ]);
    expect(r1.body[0].mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    const r2 = await http('POST', `${cp.api}/vms/${vms.a2}/private-networks`, { networkId: netA.id });
    expect(r2.body[0].ip).toBe('192.168.10.3');
    expect(r2.body[0].mac).not.toBe(r1.body[0].mac);
    const b = await http('POST', `${cp.api}/vms/${vms.b1}/private-networks`, { networkId: netB.id });
    expect(b.body[0]).toMatchObject({ ip: '192.168.10.2', vni: 10001 }); // another tenant's L2 domain: same address is fine
    const net = (await http('GET', `${base()}/${netA.id}`)).body;
    expect(net.attachedVms).toBe(2);
    expect(net.attachments.map((x: any) => [x.vmId, x.ip])).toEqual([
      [vms.a1, '192.168.10.2'],
      [vms.a2, '192.168.10.3'],
    ]);
    expect((await http('GET', `${cp.api}/vms/${vms.a1}/private-networks`)).body).toEqual(r1.body);
  });

  it('refuses another owner, another cluster, a second attach, unknown ids, bad bodies', async () => {
    const cases: [string, object, number, string][] = [
      [vms.b1, { networkId: netA.id }, 409, 'private-network-owner-mismatch'],
      [vms.elsewhere, { networkId: netA.id }, 409, 'private-network-other-cluster'],
      [vms.a1, { networkId: netA.id }, 409, 'already-attached'],
      [vms.a1, { networkId: '00000000-0000-4000-8000-000000000000' }, 404, 'private-network-not-found'],
      ['00000000-0000-4000-8000-000000000000', { networkId: netA.id }, 404, 'vm-not-found'],
      [vms.a1, {}, 400, 'validation-failed'],
      [vms.a1, { networkId: netA.id.toUpperCase() }, 400, 'validation-failed'],
      [vms.a1, { networkId: netA.id, ip: '192.168.10.5' }, 400, 'validation-failed'],
    ];
    for (const [vm, body, status, code] of cases) {
      const r = await http('POST', `${cp.api}/vms/${vm}/private-networks`, body);
      expect({ vm, body, status: r.status, code: r.body.code }).toEqual({ vm, body, status, code });
    }
    expect((await http('GET', `${base()}/${netA.id}`)).body.attachedVms).toBe(2);
  });

  it('refuses to delete a network in use; detach holds the address for the cool-down; a full network says so', async () => {
    expect(await http('DELETE', `${base()}/${netA.id}`)).toMatchObject({ status: 409, body: { code: 'private-network-in-use' } });
    const d = await http('DELETE', `${cp.api}/vms/${vms.a2}/private-networks/${netA.id}`);
    expect(d.status).toBe(200);
    expect(d.body).toEqual([expect.objectContaining({ ip: '192.168.10.3', status: 'releasing', releaseAt: expect.any(String) })]);
    expect((await http('DELETE', `${cp.api}/vms/${vms.a2}/private-networks/${netA.id}`)).body.code).toBe('attachment-not-found');
    // .3 is cooling down: the next VM gets .4, and /29 has .2-.6 for VMs (.1 reserved).
    const again = await http('POST', `${cp.api}/vms/${vms.a2}/private-networks`, { networkId: netA.id });
    expect(again.body.find((x: any) => x.status === 'attached').ip).toBe('192.168.10.4');
    const more = [await createVm(fx, 'a3', 'tenant-a'), await createVm(fx, 'a4', 'tenant-a'), await createVm(fx, 'a5', 'tenant-a')];
    expect((await http('POST', `${cp.api}/vms/${more[0]}/private-networks`, { networkId: netA.id })).body[0].ip).toBe('192.168.10.5');
    expect((await http('POST', `${cp.api}/vms/${more[1]}/private-networks`, { networkId: netA.id })).body[0].ip).toBe('192.168.10.6');
    expect((await http('POST', `${cp.api}/vms/${more[2]}/private-networks`, { networkId: netA.id })).body.code).toBe('private-network-full');
  });

  it('a deleted VM leaves its networks (addresses cooling down); a network with no VM attached is deleted and its VNI is not reused', async () => {
    expect((await http('DELETE', `${cp.api}/vms/${vms.b1}`)).status).toBe(202);
    const att = await eventually(
      async () => {
        const r = await http('GET', `${cp.api}/vms/${vms.b1}/private-networks`);
        return r.body[0]?.status === 'releasing' ? r.body : undefined;
      },
      15000,
      50,
      'the deleted VM to leave its private network',
    );
    expect(att[0]).toMatchObject({ networkId: netB.id, ip: '192.168.10.2' });
    expect((await http('POST', `${cp.api}/vms/${vms.b1}/private-networks`, { networkId: netB.id })).body.code).toBe('vm-deleted');
    const del = await http('DELETE', `${base()}/${netB.id}`);
    expect(del).toMatchObject({ status: 200, body: { id: netB.id, vni: 10001 } });
    expect((await http('GET', `${base()}/${netB.id}`)).status).toBe(404);
    const next = await http('POST', base(), { ownerId: 'tenant-b', name: 'backend', cidr: '172.16.0.0/24' });
    expect(next.body.vni).toBe(10003);
  });

  it('every write is audited with its command and actor', async () => {
    const a = await http('GET', `${cp.api}/audit?clusterId=${fx.clusterId}&limit=1000`);
    const seen = new Set(a.body.items.map((i: any) => `${i.command}/${i.event}`));
    for (const x of [
      'CreatePrivateNetwork/PrivateNetworkCreated',
      'AttachPrivateNetwork/PrivateNetworkAttached',
      'DetachPrivateNetwork/PrivateNetworkDetached',
      'DeletePrivateNetwork/PrivateNetworkDeleted',
    ])
      expect(seen).toContain(x);
  });
  it('a rebuild from sequence 1 gives the same private networks and attachments', async () => {
    const head = await readModelCaughtUp(cp);
    const live = createDataSource({ url: cp.db.url, schema: 'fabric', poolSize: 1 });
    await live.initialize();
    const rebuilt = await rebuildInto(cp.store, cp.db.url, 'fabric_rebuild');
    try {
      expect(rebuilt.position).toBe(head);
      const a = await dumpSchema(live, 'fabric');
      const b = await dumpSchema(rebuilt.ds, 'fabric_rebuild');
      for (const table of ['private_networks', 'private_attachments']) {
        expect(a[table].length).toBeGreaterThan(0);
        expect({ table, rows: b[table] }).toEqual({ table, rows: a[table] });
      }
    } finally {
      await rebuilt.ds.destroy();
      await live.destroy();
    }
  });
});
