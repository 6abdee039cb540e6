/**
 * Dual-stack VMs over the API: in a cluster with pools of both families a VM created without a family gets an IPv4
 * primary and an IPv6 extra address; a family named explicitly, `addressing`, a v4-only cluster, an exhausted IPv6
 * pool (the VM comes up with IPv4, the IPv6 address is failed), an exhausted IPv4 pool (the VM comes up with its IPv6
 * address as primary, the IPv4 one is failed), idempotency, dry run, the list, the guest's network config, and the VM's deletion releasing both.
 */
import { type NodeDesiredState } from '@fabric/contracts';
import { lastCommand } from '@fabric/testing/fabric';
import { eventually } from '@fabric/testing/infra';
import { startRouteAnnouncer } from '../../services/route-announcer/src/main';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, eventsOfType, type Fixture, readModelCaughtUp, settledVm, streamLastSeq } from '../support/api-fixtures';

describe('dual-stack VMs over the API', () => {
  let cp: ControlPlane;
  let announcer: { close(): Promise<void> };
  let dual: Fixture;
  let v4only: Fixture;
  const vm = (name: string, over: Record<string, unknown> = {}, fx = () => dual) => ({
    clusterId: fx().clusterId,
    nodeId: fx().nodeIds[0],
    name,
    ownerId: 'acme',
    ...over,
  });
  const addresses = async (id: string) => (await http('GET', `${cp.api}/vms/${id}`)).body.addresses as any[];
  /** Waits until IPAM decided every address of the VM (none left `requested`). */
  const decided = (id: string, count: number) =>
    eventually(
      async () => {
        const a = await addresses(id);
        return a.length === count && a.every((x) => x.status !== 'requested') ? a : undefined;
      },
      15000,
      50,
      `${count} addresses of VM ${id} decided`,
    );
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    cp = await startControlPlane({ ipamCooldownMs: 0 });
    announcer = await startRouteAnnouncer({ ns: cp.ns });
    dual = await createFixture(cp);
    // Two IPv6 addresses only: the third dual-stack VM finds the IPv6 pool exhausted.
    const v6 = await http('POST', `${cp.api}/clusters/${dual.clusterId}/networks`, {
      cidr: '2001:db8:1::/64',
      pools: [{ start: '2001:db8:1::10', end: '2001:db8:1::11' }],
    });
    expect(v6.status).toBe(201);
    v4only = await createFixture(cp, { name: 'v4only', cidr: '198.51.100.0/24', pools: [{ start: '198.51.100.10', end: '198.51.100.20' }], underlayBase: 150 });
    // Inventory learns the pools from IPAM's events: wait until it knows the cluster has both families.
    await eventually(
      async () => ((await http('POST', `${cp.api}/vms?dryRun=true`, vm('probe', { addressing: 'dual-stack' }))).status === 200 ? true : undefined),
      15000,
      50,
      'inventory to know both pools',
    );
  });
  afterAll(async () => {
    await announcer?.close().catch(() => undefined);
    await cp?.close();
  });

  it('a VM naming no family gets an IPv4 primary and an IPv6 extra address; each has its own status', async () => {
    const r = await http('POST', `${cp.api}/vms`, vm('d1'));
    expect(r).toMatchObject({
      status: 202,
      body: {
        addresses: [
          { family: 4, primary: true, status: 'requested' },
          { family: 6, primary: false, status: 'requested', requestId: expect.any(String) },
        ],
      },
    });
    ids.d1 = r.body.id;
    const v = await settledVm(cp, ids.d1);
    expect(v).toMatchObject({ family: 4, ip: '203.0.113.10' });
    const [p, x] = await decided(ids.d1, 2);
    // The primary's status is the VM's own route status.
    expect(p).toEqual({ ip: '203.0.113.10', family: 4, primary: true, status: v.status === 'ip-allocated' ? 'allocated' : v.status });
    expect(x).toMatchObject({ ip: '2001:db8:1::10', family: 6, primary: false, status: 'allocated', requestId: r.body.addresses[1].requestId });
    // The list shows both, the guest's network config has both (and a default route per family).
    const list = await http('GET', `${cp.api}/vms?clusterId=${dual.clusterId}`);
    expect(list.body.find((l: any) => l.id === ids.d1).addresses.map((a: any) => a.ip)).toEqual(['203.0.113.10', '2001:db8:1::10']);
    const cfg = await fetch(`${cp.api}/vms/${ids.d1}/network-config`, { headers: { authorization: `Bearer ${cp.adminToken}` } });
    const yaml = await cfg.text();
    for (const a of ['203.0.113.10/32', '2001:db8:1::10/128', 'to: ::/0']) expect(yaml).toContain(a);
  });

  it('a family or an address named explicitly, or addressing ipv4, gives one address', async () => {
    const f4 = await http('POST', `${cp.api}/vms`, vm('f4', { family: 4 }));
    expect(f4.body.addresses).toEqual([{ family: 4, primary: true, status: 'requested' }]);
    const ip = await http('POST', `${cp.api}/vms`, vm('fixed', { ip: '203.0.113.150' }));
    expect(ip.body.addresses).toEqual([{ family: 4, primary: true, status: 'requested', ip: '203.0.113.150' }]);
    const a4 = await http('POST', `${cp.api}/vms`, vm('a4', { addressing: 'ipv4' }));
    for (const id of [f4.body.id, ip.body.id, a4.body.id]) {
      expect(await settledVm(cp, id)).toMatchObject({ family: 4, status: 'ip-allocated' });
      expect(await decided(id, 1)).toHaveLength(1);
    }
    const requested = await eventsOfType(cp.store, cp.nats.subjects.evtAll('vm'), 'VmAddressRequested');
    expect(requested.filter((e) => [f4.body.id, ip.body.id, a4.body.id].includes((e.data as any).vmId))).toEqual([]);
  });

  it('a cluster with IPv4 pools only gives one address; dual-stack asked for there is a 409 that changes nothing', async () => {
    const r = await http(
      'POST',
      `${cp.api}/vms`,
      vm('solo', {}, () => v4only),
    );
    expect(r.body.addresses).toEqual([{ family: 4, primary: true, status: 'requested' }]);
    expect(await settledVm(cp, r.body.id)).toMatchObject({ ip: '198.51.100.10' });
    expect(await decided(r.body.id, 1)).toHaveLength(1);
    const head = await readModelCaughtUp(cp);
    const cases: [object, number, string][] = [
      [vm('x1', { addressing: 'dual-stack' }, () => v4only), 409, 'cluster-not-dual-stack'],
      [vm('x2', { addressing: 'both' }), 400, 'validation-failed'],
      [vm('x3', { addressing: 'ipv4', family: 6 }), 400, 'addressing-family-mismatch'],
      [vm('x4', { addressing: 'ipv6', ip: '203.0.113.160' }), 400, 'ip-family-mismatch'],
    ];
    for (const [body, status, code] of cases) {
      const x = await http('POST', `${cp.api}/vms`, body);
      expect({ status: x.status, code: x.body.code }).toEqual({ status, code });
      expect(x.body.message.length).toBeGreaterThan(5);
    }
    expect(await streamLastSeq(cp.nats)).toBe(head);
  });

  it('a dry run answers both addresses (the result, the events, the addresses IPAM would give) and writes nothing', async () => {
    const head = await readModelCaughtUp(cp);
    const r = await http('POST', `${cp.api}/vms?dryRun=true`, vm('dry'));
    expect(r.status).toBe(200);
    expect(r.body.result.addresses).toEqual([
      { family: 4, primary: true, status: 'requested' },
      { family: 6, primary: false, status: 'requested', requestId: expect.any(String) },
    ]);
    expect(r.body.events.map((e: { type: string }) => e.type)).toEqual(['VmCreated', 'VmAddressRequested']);
    expect(r.body.notes.join('\n')).toContain('address 2001:db8:1::11: the next free one now');
    expect(await streamLastSeq(cp.nats)).toBe(head);
  });

  it('honours Idempotency-Key: the same answer, one VM, one second address', async () => {
    const headers = { 'Idempotency-Key': 'dual-stack-1' };
    const first = await http('POST', `${cp.api}/vms`, vm('d2'), headers);
    const again = await http('POST', `${cp.api}/vms`, vm('d2'), headers);
    expect(first.status).toBe(202);
    expect(again).toMatchObject({ status: 202, body: first.body });
    ids.d2 = first.body.id;
    const [, x] = await decided(ids.d2, 2);
    expect(x).toMatchObject({ ip: '2001:db8:1::11', status: 'allocated' });
    const requested = await eventsOfType(cp.store, cp.nats.subjects.evt('vm', ids.d2), 'VmAddressRequested');
    expect(requested).toHaveLength(1);
  });

  it('the IPv6 pool exhausted: the VM comes up with its IPv4 address, the IPv6 one is failed with the reason', async () => {
    const r = await http('POST', `${cp.api}/vms`, vm('d3'));
    expect(r.body.addresses).toHaveLength(2);
    ids.d3 = r.body.id;
    expect(await settledVm(cp, ids.d3)).toMatchObject({ status: 'ip-allocated', ip: expect.stringMatching(/^203\.0\.113\./) });
    const [p, x] = await decided(ids.d3, 2);
    expect(p).toMatchObject({ family: 4, primary: true, status: 'allocated' });
    expect(x).toMatchObject({ family: 6, primary: false, status: 'failed', reason: expect.stringMatching(/^pool-exhausted: /) });
  });

  it('the IPv4 pool exhausted: the VM comes up with its IPv6 address as primary, its IPv4 address is failed with the reason', async () => {
    const tiny = await createFixture(cp, { name: 'tiny', cidr: '192.0.2.0/24', pools: [{ start: '192.0.2.10', end: '192.0.2.10' }], underlayBase: 170 });
    const v6 = await http('POST', `${cp.api}/clusters/${tiny.clusterId}/networks`, {
      cidr: '2001:db8:2::/64',
      pools: [{ start: '2001:db8:2::10', end: '2001:db8:2::ff' }],
    });
    expect(v6.status).toBe(201);
    await eventually(
      async () =>
        (
          await http(
            'POST',
            `${cp.api}/vms?dryRun=true`,
            vm('probe', { addressing: 'dual-stack' }, () => tiny),
          )
        ).status === 200
          ? true
          : undefined,
      15000,
      50,
      'inventory to know both pools',
    );
    const t1 = await http(
      'POST',
      `${cp.api}/vms`,
      vm('t1', {}, () => tiny),
    );
    expect(await decided(t1.body.id, 2)).toMatchObject([{ ip: '192.0.2.10' }, { ip: '2001:db8:2::10', status: 'allocated' }]);
    // The dry run says so first, and writes nothing.
    const head = await readModelCaughtUp(cp);
    const dry = await http(
      'POST',
      `${cp.api}/vms?dryRun=true`,
      vm('t2', {}, () => tiny),
    );
    expect(dry.status).toBe(200);
    expect(dry.body.events.map((e: { type: string }) => e.type)).toEqual(['VmCreated', 'VmAddressRequested']);
    expect(dry.body.notes.join('\n')).toContain("the VM's IPv6 address 2001:db8:2::11 would be its primary");
    expect(await streamLastSeq(cp.nats)).toBe(head);
    const t2 = await http(
      'POST',
      `${cp.api}/vms`,
      vm('t2', {}, () => tiny),
    );
    expect(t2.status).toBe(202);
    const [p, x] = await decided(t2.body.id, 2);
    expect(p).toMatchObject({ ip: '2001:db8:2::11', family: 6, primary: true });
    expect(x).toMatchObject({ family: 4, primary: false, status: 'failed', reason: expect.stringMatching(/^pool-exhausted: every IPv4 pool/) });
    const v = (await http('GET', `${cp.api}/vms/${t2.body.id}`)).body;
    expect(v).toMatchObject({ family: 6, ip: '2001:db8:2::11' });
    expect(v.status).not.toBe('failed');
    expect(v.reason ?? null).toBeNull();
    // Billed as the VM's primary address: one IpAllocated (IPv6), no extra address.
    const ipam = await cp.store.read(cp.nats.subjects.evt('ipam', tiny.clusterId));
    const mine = ipam.filter((e) => (e.data as any).vmId === t2.body.id).map((e) => e.type);
    expect(mine).toEqual(['IpAllocationFailed', 'IpAllocated', 'VmAddressAllocationFailed']);
    await readModelCaughtUp(cp);
    const usage = await http('GET', `${cp.api}/billing/usage?ownerId=acme&from=2020-01-01T00:00:00Z`);
    const billed = usage.body.owners[0].addresses.filter((a: any) => a.intervals.some((i: any) => i.vmId === t2.body.id));
    expect(billed.map((a: any) => [a.ip, a.family])).toEqual([['2001:db8:2::11', 6]]);
    // The guest's network config has the IPv6 address and its default route.
    const cfg = await fetch(`${cp.api}/vms/${t2.body.id}/network-config`, { headers: { authorization: `Bearer ${cp.adminToken}` } });
    const yaml = await cfg.text();
    for (const a of ['2001:db8:2::11/128', 'to: ::/0']) expect(yaml).toContain(a);
    expect(yaml).not.toContain('192.0.2.');
    // The node routes it as an IPv6 VM (route-announcer takes the family from the allocation, not from VmCreated).
    const nodeVm = async () => (await lastCommand<NodeDesiredState>(cp.nats, 'node', tiny.nodeIds[0]))?.vms.find((x) => x.vmId === t2.body.id);
    await eventually(async () => nodeVm(), 15000, 50, 'node state with the VM');
    expect(await nodeVm()).toMatchObject({ ip: '2001:db8:2::11', family: 6 });
    expect((await nodeVm())!.extraIps).toBeUndefined();
    // An extra address asked for later is allocated like on any VM with a primary.
    const more = await http('POST', `${cp.api}/vms/${t2.body.id}/addresses`, { family: 6 });
    expect(more.status).toBe(202);
    expect(await decided(t2.body.id, 3)).toMatchObject([{ primary: true }, { family: 4, status: 'failed' }, { family: 6, status: 'allocated' }]);
  });

  it('deleting a dual-stack VM releases both addresses (cool-down 0 here)', async () => {
    expect((await http('DELETE', `${cp.api}/vms/${ids.d1}`)).status).toBe(202);
    await eventually(
      async () => {
        const ipam = await cp.store.read(cp.nats.subjects.evt('ipam', dual.clusterId));
        const gone = ipam.filter((e) => (e.type === 'IpReleased' || e.type === 'VmAddressReleased') && (e.data as any).vmId === ids.d1);
        return gone.length === 2 ? gone.map((e) => (e.data as any).ip).sort() : undefined;
      },
      15000,
      50,
      'both addresses released',
    ).then((ips) => expect(ips).toEqual(['2001:db8:1::10', '203.0.113.10']));
    await eventually(async () => ((await addresses(ids.d1)).some((a) => !a.primary) ? undefined : true), 15000, 50, 'no extra address left');
    // The released IPv6 address is free again: the next dual-stack VM gets it.
    const next = await http('POST', `${cp.api}/vms`, vm('d4'));
    const [, x] = await decided(next.body.id, 2);
    expect(x).toMatchObject({ ip: '2001:db8:1::10', status: 'allocated' });
  });
});
