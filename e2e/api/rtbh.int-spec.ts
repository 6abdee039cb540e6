/** RTBH over the API: blackhole / lift a VM's address, roles (rtbh token for a DDoS detector), audit, validation. */
import { clusterBody, type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture, settledVm } from '../support/api-fixtures';

describe('RTBH (blackhole a VM address) over the API', () => {
  let cp: ControlPlane;
  let fx: Fixture;
  const tokens: Record<string, string> = {};
  let vmId: string;

  beforeAll(async () => {
    cp = await startControlPlane();
    fx = await createFixture(cp);
    for (const [name, role] of [
      ['ddos-detector', 'rtbh'],
      ['billing-bob', 'billing'],
      ['ops-alice', 'operator'],
    ]) {
      const r = await http('POST', `${cp.api}/tokens`, { name, role });
      expect(r.status).toBe(201);
      tokens[name] = r.body.token;
    }
    const vm = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'victim', ownerId: 'cust-1' });
    expect(vm.status).toBe(202);
    vmId = vm.body.id;
    await settledVm(cp, vmId);
  });
  afterAll(async () => {
    await cp?.close();
  });

  it('a cluster has the RFC 7999 blackhole community by default, or its own, never its VM community', async () => {
    expect((await http('GET', `${cp.api}/clusters/${fx.clusterId}`)).body.blackholeCommunity).toBe('65535:666');
    const own = await http('POST', `${cp.api}/clusters`, { ...clusterBody('rtbh2'), blackholeCommunity: '65000:666' });
    expect(own.status).toBe(201);
    expect((await http('GET', `${cp.api}/clusters/${own.body.id}`)).body.blackholeCommunity).toBe('65000:666');
    const same = await http('POST', `${cp.api}/clusters`, { ...clusterBody('rtbh3'), blackholeCommunity: '65000:100' });
    expect(same.status).toBe(400);
    expect(same.body.fields).toHaveProperty('blackholeCommunity');
    const bad = await http('POST', `${cp.api}/clusters`, { ...clusterBody('rtbh4'), blackholeCommunity: '65535:666 ] ; x' });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toHaveProperty('blackholeCommunity');
  });

  it('a DDoS detector token blackholes the address with a reason; the VM shows who, why and since when', async () => {
    const r = await http('POST', `${cp.api}/vms/${vmId}/blackhole`, { reason: 'udp flood 12 Gbit/s' }, {}, { auth: tokens['ddos-detector'] });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: vmId, blackhole: { reason: 'udp flood 12 Gbit/s', actor: 'token:ddos-detector(rtbh)', since: expect.any(String) } });
    const vm = await http('GET', `${cp.api}/vms/${vmId}`, undefined, {}, { auth: tokens['ddos-detector'] });
    expect(vm.body.blackhole.reason).toBe('udp flood 12 Gbit/s');
    expect(vm.body.history.find((h: any) => h.event === 'VmBlackholed').detail).toBe('blackholed by token:ddos-detector(rtbh): udp flood 12 Gbit/s');
    const again = await http('POST', `${cp.api}/vms/${vmId}/blackhole`, { reason: 'again' });
    expect(again).toMatchObject({ status: 409, body: { code: 'vm-already-blackholed' } });
  });

  it('the audit shows the command, the actor and the reason', async () => {
    const a = await http('GET', `${cp.api}/audit?actor=ddos-detector`);
    expect(a.body.items).toEqual([
      expect.objectContaining({
        command: 'BlackholeVm',
        event: 'VmBlackholed',
        actor: 'token:ddos-detector(rtbh)',
        aggregateId: vmId,
        detail: expect.objectContaining({ reason: 'udp flood 12 Gbit/s' }),
      }),
    ]);
  });

  it('refuses a bad reason, an unknown field, an unknown VM; the rtbh role may do nothing else', async () => {
    for (const body of [{}, { reason: '' }, { reason: 'x'.repeat(201) }, { reason: 'a\nb' }, { reason: 'ok', extra: 1 }]) {
      expect((await http('POST', `${cp.api}/vms/${vmId}/blackhole`, body)).status).toBe(400);
    }
    expect((await http('POST', `${cp.api}/vms/00000000-0000-4000-8000-000000000000/blackhole`, { reason: 'x' })).status).toBe(404);
    expect((await http('POST', `${cp.api}/vms/${vmId}/blackhole?force=1`, { reason: 'x' })).status).toBe(400);
    const det = { auth: tokens['ddos-detector'] };
    expect((await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'nope', ownerId: 'c' }, {}, det)).status).toBe(403);
    expect((await http('DELETE', `${cp.api}/vms/${vmId}`, undefined, {}, det)).status).toBe(403);
    expect((await http('GET', `${cp.api}/audit`, undefined, {}, det)).status).toBe(403);
    expect((await http('POST', `${cp.api}/vms/${vmId}/blackhole`, { reason: 'x' }, {}, { auth: tokens['billing-bob'] })).status).toBe(403);
  });

  it('lifting restores the normal state; lifting twice is a conflict', async () => {
    const r = await http('DELETE', `${cp.api}/vms/${vmId}/blackhole`, undefined, {}, { auth: tokens['ops-alice'] });
    expect(r.status).toBe(200);
    expect(r.body.blackhole).toBeNull();
    expect((await http('DELETE', `${cp.api}/vms/${vmId}/blackhole`)).body.code).toBe('vm-not-blackholed');
    const a = await http('GET', `${cp.api}/audit?actor=ops-alice`);
    expect(a.body.items[0]).toMatchObject({ command: 'LiftBlackhole', event: 'VmBlackholeLifted', aggregateId: vmId });
    expect((await http('POST', `${cp.api}/vms/${vmId}/blackhole`, { reason: 'second attack' })).status).toBe(200);
  });
});
