/**
 * Floating addresses over the API with real services (gateway, inventory, IPAM, route-announcer): allocate to an
 * owner, attach to a VM (the node routes it), move to a VM on another node make-before-break (both nodes route it
 * until an RR reports the new node's route, as its agent would), detach, release; cross-owner refused, bad input
 * 4xx changing nothing, a dry run, Idempotency-Key, the VM's deletion detaching it, billing intervals, and a rebuild
 * of the projection from sequence 1 giving the same rows.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { type NodeDesiredState, rrTargetId } from '@fabric/contracts';
import { createDataSource, dumpSchema, rebuildInto } from '@fabric/projections';
import { lastCommand } from '@fabric/testing/fabric';
import { eventually } from '@fabric/testing/infra';
import { startRouteAnnouncer } from '../../services/route-announcer/src/main';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, eventsOfType, type Fixture, readModelCaughtUp, settledVm, streamLastSeq } from '../support/api-fixtures';

describe('floating addresses over the API', () => {
  let cp: ControlPlane;
  let fx: Fixture;
  let announcer: { close(): Promise<void> };
  const vms: Record<string, string> = {};
  let fid: string;
  let fip: string;
  const t0 = new Date().toISOString();
  const get = async (id = fid) => (await http('GET', `${cp.api}/floating-addresses/${id}`)).body;
  const nodeExtras = async (nodeIx: number, vmId: string) =>
    (await lastCommand<NodeDesiredState>(cp.nats, 'node', fx.nodeIds[nodeIx]))?.vms.find((v) => v.vmId === vmId)?.extraIps ?? [];
  const waitNode = (nodeIx: number, vmId: string, has: boolean) =>
    eventually(
      async () => ((await nodeExtras(nodeIx, vmId)).includes(fip) === has ? true : undefined),
      15000,
      50,
      `node ${nodeIx} ${has ? 'with' : 'without'} ${fip}`,
    );
  /** The RR reports a route (as the RR agent does from BIRD's table). */
  const rrSees = (prefix: string, nextHop: string, id: string) =>
    cp.store.append(cp.store.subjects.obs('rr', rrTargetId(fx.clusterId, 'rr1')), [
      {
        id,
        event: {
          type: 'RoutesChanged',
          data: { target: { kind: 'rr', id: rrTargetId(fx.clusterId, 'rr1') }, added: [{ prefix, nextHop }], withdrawn: [], total: 1 },
        },
      },
    ]);

  beforeAll(async () => {
    cp = await startControlPlane({ ipamCooldownMs: 0 });
    announcer = await startRouteAnnouncer({ ns: cp.ns });
    fx = await createFixture(cp, { nodes: 2 });
    for (const [name, node, owner] of [
      ['a', 0, 'acme'],
      ['b', 1, 'acme'],
      ['c', 0, 'globex'],
    ] as const) {
      const r = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[node], name, ownerId: owner });
      expect(r.status).toBe(202);
      vms[name] = r.body.id;
      await settledVm(cp, r.body.id);
    }
  });
  afterAll(async () => {
    await announcer?.close().catch(() => undefined);
    await cp?.close();
  });

  it('allocates an address to an owner (201); it is listed per owner and cluster', async () => {
    const r = await http('POST', `${cp.api}/floating-addresses`, { clusterId: fx.clusterId, owner: 'acme' });
    expect(r).toMatchObject({ status: 201, body: { ownerId: 'acme', clusterId: fx.clusterId, family: 4, status: 'allocated', vmId: null, route: 'none' } });
    fid = r.body.id;
    fip = r.body.ip;
    expect(fip).toMatch(/^203\.0\.113\.\d+$/);
    expect((await http('GET', `${cp.api}/floating-addresses?owner=acme`)).body.map((f: any) => f.id)).toEqual([fid]);
    expect((await http('GET', `${cp.api}/floating-addresses?owner=globex`)).body).toEqual([]);
    expect((await http('GET', `${cp.api}/floating-addresses?clusterId=${fx.clusterId}`)).body).toHaveLength(1);
  });

  it('refuses bad input and a VM of another owner with a reason, and changes nothing', async () => {
    const head = await readModelCaughtUp(cp);
    const none = '00000000-0000-4000-8000-000000000000';
    const cases: [string, string, object | undefined, number, string][] = [
      ['POST', '/floating-addresses', { clusterId: fx.clusterId }, 400, 'validation-failed'],
      ['POST', '/floating-addresses', { clusterId: fx.clusterId, owner: 'acme', family: 5 }, 400, 'validation-failed'],
      ['POST', '/floating-addresses', { clusterId: fx.clusterId, owner: 'acme', ip: '203.0.113.300' }, 400, 'validation-failed'],
      ['POST', '/floating-addresses', { clusterId: fx.clusterId, owner: 'acme', extra: 1 }, 400, 'validation-failed'],
      ['POST', '/floating-addresses', { clusterId: none, owner: 'acme' }, 404, 'cluster-not-found'],
      ['POST', '/floating-addresses', { clusterId: fx.clusterId, owner: 'acme', ip: fip }, 409, 'address-taken'],
      ['POST', '/floating-addresses', { clusterId: fx.clusterId, owner: 'acme', ip: '198.51.100.7' }, 422, 'outside-pools'],
      ['POST', '/floating-addresses', { clusterId: fx.clusterId, owner: 'acme', family: 6 }, 422, 'no-network'],
      ['GET', '/floating-addresses?owner=a%20b', undefined, 400, 'validation-failed'],
      ['GET', `/floating-addresses/${none}`, undefined, 404, 'floating-address-not-found'],
      ['POST', `/floating-addresses/not-a-uuid/attach`, { vmId: vms.a }, 400, 'invalid-id'],
      ['POST', `/floating-addresses/${fid}/attach`, { vmId: 'x' }, 400, 'validation-failed'],
      ['POST', `/floating-addresses/${fid}/attach`, { vmId: none }, 404, 'vm-not-found'],
      ['POST', `/floating-addresses/${fid}/attach`, { vmId: vms.c }, 409, 'owner-mismatch'],
      ['POST', `/floating-addresses/${fid}/detach`, undefined, 409, 'not-attached'],
      ['DELETE', `/floating-addresses/${none}`, undefined, 404, 'floating-address-not-found'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await http(method, `${cp.api}${path}`, body);
      expect({ method, path, status: r.status, code: r.body.code }).toEqual({ method, path, status, code });
      expect(r.body.message.length).toBeGreaterThan(5);
    }
    expect(await streamLastSeq(cp.nats)).toBe(head);
  });

  it('a dry run of an attach answers the event and the node config change, and writes nothing', async () => {
    const head = await readModelCaughtUp(cp);
    const r = await http('POST', `${cp.api}/floating-addresses/${fid}/attach?dryRun=true`, { vmId: vms.a });
    expect(r.status).toBe(200);
    expect(r.body.events.map((e: { type: string }) => e.type)).toEqual(['FloatingAddressAttached']);
    const node = r.body.targets.find((t: { kind: string; id: string }) => t.kind === 'node' && t.id === fx.nodeIds[0]);
    expect(node.diff).toContain(`+route ${fip}/32`);
    expect(await streamLastSeq(cp.nats)).toBe(head);
  });

  it('attaches to VM a: its node routes the address; GET /vms/:id lists it', async () => {
    const r = await http('POST', `${cp.api}/floating-addresses/${fid}/attach`, { vmId: vms.a }, { 'Idempotency-Key': 'attach-a' });
    expect(r).toMatchObject({ status: 200, body: { status: 'attached', vmId: vms.a, fromVmId: null } });
    const again = await http('POST', `${cp.api}/floating-addresses/${fid}/attach`, { vmId: vms.a }, { 'Idempotency-Key': 'attach-a' });
    expect(again.status).toBe(200);
    await waitNode(0, vms.a, true);
    const vm = (await http('GET', `${cp.api}/vms/${vms.a}`)).body;
    expect(vm.floatingAddresses).toEqual([expect.objectContaining({ id: fid, ip: fip, status: 'attached' })]);
    await rrSees(`${fip}/32`, '198.18.1.100', 'rr-sees-a');
    await eventually(async () => ((await get()).route === 'announced' ? true : undefined), 15000, 50, 'route announced');
  });

  it('moves to VM b on the other node make-before-break: both nodes route it until the RR sees node 2, then only node 2', async () => {
    const r = await http('POST', `${cp.api}/floating-addresses/${fid}/attach`, { vmId: vms.b });
    expect(r).toMatchObject({ status: 200, body: { status: 'moving', vmId: vms.b, fromVmId: vms.a } });
    await waitNode(1, vms.b, true);
    // The old node keeps it: no gap while the new route is not at the RRs.
    expect(await nodeExtras(0, vms.a)).toContain(fip);
    expect((await get()).status).toBe('moving');
    // Another move meanwhile is refused.
    const third = await http('POST', `${cp.api}/floating-addresses/${fid}/attach`, { vmId: vms.a });
    expect(third).toMatchObject({ status: 409, body: { code: 'move-in-progress' } });
    await rrSees(`${fip}/32`, '198.18.1.101', 'rr-sees-b');
    await eventually(async () => ((await get()).status === 'attached' ? true : undefined), 15000, 50, 'move completed');
    await waitNode(0, vms.a, false);
    expect(await nodeExtras(1, vms.b)).toContain(fip);
    const done = await eventsOfType(cp.store, cp.nats.subjects.evt('ipam', fx.clusterId), 'FloatingAddressMoveCompleted');
    expect(done).toHaveLength(1);
    expect(done[0].meta?.actor).toBe('route-announcer');
  });

  it('an admin may attach to a VM of another owner with allowOtherOwner; detach withdraws it', async () => {
    const r = await http('POST', `${cp.api}/floating-addresses/${fid}/detach`);
    expect(r).toMatchObject({ status: 200, body: { status: 'allocated', vmId: null } });
    await waitNode(1, vms.b, false);
    const other = await http('POST', `${cp.api}/floating-addresses/${fid}/attach`, { vmId: vms.c, allowOtherOwner: true });
    expect(other).toMatchObject({ status: 200, body: { status: 'attached', vmId: vms.c } });
    await waitNode(0, vms.c, true);
    expect((await http('POST', `${cp.api}/floating-addresses/${fid}/detach`)).status).toBe(200);
    await waitNode(0, vms.c, false);
  });

  it('deleting the VM detaches the address; it stays its owner’s', async () => {
    expect((await http('POST', `${cp.api}/floating-addresses/${fid}/attach`, { vmId: vms.b })).status).toBe(200);
    expect((await http('DELETE', `${cp.api}/vms/${vms.b}`)).status).toBe(202);
    await eventually(async () => ((await get()).status === 'allocated' ? true : undefined), 15000, 50, 'detached by the VM deletion');
    expect(await get()).toMatchObject({ ownerId: 'acme', vmId: null });
    const detached = await eventsOfType(cp.store, cp.nats.subjects.evt('ipam', fx.clusterId), 'FloatingAddressDetached');
    expect(detached.at(-1)?.data).toMatchObject({ vmId: vms.b, reason: 'vm-deleted' });
  });

  it('releasing it (DELETE) frees the address after the cool-down (0 s here); billing intervals per owner and VM', async () => {
    expect((await http('POST', `${cp.api}/floating-addresses/${fid}/attach`, { vmId: vms.a })).status).toBe(200);
    expect(await http('DELETE', `${cp.api}/floating-addresses/${fid}`)).toMatchObject({ status: 409, body: { code: 'floating-address-attached' } });
    expect((await http('POST', `${cp.api}/floating-addresses/${fid}/detach`)).status).toBe(200);
    const r = await http('DELETE', `${cp.api}/floating-addresses/${fid}?dryRun=true`);
    expect(r.body.events.map((e: { type: string }) => e.type)).toEqual(['FloatingAddressReleaseScheduled']);
    expect((await http('DELETE', `${cp.api}/floating-addresses/${fid}`)).status).toBe(200);
    await eventually(async () => ((await http('GET', `${cp.api}/floating-addresses/${fid}`)).status === 404 ? true : undefined), 15000, 50, 'released');
    await waitNode(0, vms.a, false);
    const live = createDataSource({ url: cp.db.url, schema: 'fabric', poolSize: 1 });
    await live.initialize();
    try {
      const rows: any[] = await live.query(`SELECT kind, vm_id, ended_at FROM fabric.floating_usage WHERE floating_id = $1 ORDER BY start_seq`, [fid]);
      expect(rows.map((x) => [x.kind, x.vm_id, x.ended_at !== null])).toEqual([
        ['owner', null, true],
        ['vm', vms.a, true],
        ['vm', vms.b, true],
        ['vm', vms.c, true],
        ['vm', vms.b, true],
        ['vm', vms.a, true],
      ]);
    } finally {
      await live.destroy();
    }
    // GET /billing/usage counts the owner interval (allocated → released).
    const usage = await http('GET', `${cp.api}/billing/usage?${new URLSearchParams({ from: t0, ownerId: 'acme' })}`);
    const mine = usage.body.owners[0].addresses.find((a: any) => a.ip === fip);
    expect(mine.intervals).toEqual([expect.objectContaining({ vmId: null, floatingId: fid, releasedAt: expect.any(String) })]);
    // Free again: a new floating address may take it.
    const again = await http('POST', `${cp.api}/floating-addresses`, { clusterId: fx.clusterId, owner: 'globex', ip: fip });
    expect(again).toMatchObject({ status: 201, body: { ip: fip, ownerId: 'globex' } });
    // Idempotency-Key: the same create once.
    const k = { 'Idempotency-Key': 'floating-create-1' };
    const one = await http('POST', `${cp.api}/floating-addresses`, { clusterId: fx.clusterId, owner: 'acme' }, k);
    const two = await http('POST', `${cp.api}/floating-addresses`, { clusterId: fx.clusterId, owner: 'acme' }, k);
    expect(two.body.id).toBe(one.body.id);
  });

  it('fabricctl floating create, ls, show, attach, detach, rm', async () => {
    const ctl = (...args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        const env = { ...process.env, FABRIC_API: cp.api, FABRIC_TOKEN: cp.adminToken };
        execFile(join(__dirname, '../../cli/fabricctl'), args, { env, timeout: 60000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout.trimEnd(), err: stderr.trimEnd() }),
        );
      });
    const created = await ctl('--json', 'floating', 'create', '--cluster', fx.clusterId, '--owner', 'acme');
    expect(created).toMatchObject({ code: 0, err: '' });
    const f = JSON.parse(created.out);
    expect((await ctl('floating', 'ls', '--owner', 'acme')).out).toContain(f.ip);
    expect(await ctl('floating', 'attach', f.id, '--vm', vms.a)).toMatchObject({ code: 0, out: expect.stringContaining(`${f.ip} -> vm ${vms.a}: attached`) });
    expect((await ctl('floating', 'show', f.id)).out).toMatch(/status:\s+attached/);
    expect(await ctl('floating', 'attach', f.id, '--vm', vms.c)).toMatchObject({ code: 1, err: expect.stringContaining('owner-mismatch') });
    expect(await ctl('floating', 'rm', f.id)).toMatchObject({ code: 1, err: expect.stringContaining('detach it first') });
    expect(await ctl('floating', 'detach', f.id)).toMatchObject({ code: 0, out: expect.stringContaining('detached') });
    expect(await ctl('floating', 'rm', f.id)).toMatchObject({ code: 0, out: expect.stringContaining('released') });
  });

  it('a rebuild from sequence 1 gives the same floating addresses, intervals and pool usage', async () => {
    const head = await readModelCaughtUp(cp);
    const live = createDataSource({ url: cp.db.url, schema: 'fabric', poolSize: 1 });
    await live.initialize();
    const rebuilt = await rebuildInto(cp.store, cp.db.url, 'fabric_rebuild');
    try {
      expect(rebuilt.position).toBe(head);
      const a = await dumpSchema(live, 'fabric');
      const b = await dumpSchema(rebuilt.ds, 'fabric_rebuild');
      for (const table of ['floating_addresses', 'floating_usage', 'pools']) {
        expect(a[table].length).toBeGreaterThan(0);
        expect({ table, rows: b[table] }).toEqual({ table, rows: a[table] });
      }
    } finally {
      await rebuilt.ds.destroy();
      await live.destroy();
    }
  });
});
