/**
 * Floating addresses on a real BGP lab: a floating address attached to a VM on node 1 is routed there, accepted by
 * the RR and installed at the FRR core, and answers ping from the core; moved to a VM on node 2 it is announced
 * there first and withdrawn from node 1 only once the RRs hold the new route: sampled continuously at the core, the
 * /32 is never absent during the move. Detached, it is withdrawn; it stays its owner's. A move between two VMs of
 * one node keeps the route; deleting the VM holding it withdraws it.
 */
import { eventually } from '@fabric/testing/infra';
import { http } from '../support/control-plane';
import { atCoreVia, coreRoute, type Fabric, goneAtCore, pingFrom, sampleCoreRoute, startFabric } from '../support/fabric';

jest.setTimeout(600_000);

describe('floating addresses on a real BGP lab', () => {
  let f: Fabric;

  beforeAll(async () => {
    f = await startFabric({ nodes: 2, rrs: 1 });
  });
  afterAll(async () => {
    await f?.close();
  });

  const atCore = (ip: string, via: string) => atCoreVia(f, ip, via, 120000);
  const goneAt = (ip: string) => goneAtCore(f, ip);
  const createVm = async (name: string, nodeName: string) => {
    const c = await http('POST', `${f.api}/vms`, { clusterId: f.clusterId, nodeId: f.nodeIds[nodeName], name, ownerId: 'customer-1', driver: 'netns' });
    expect(c.status).toBe(202);
    return eventually(
      async () => {
        const g = await http('GET', `${f.api}/vms/${c.body.id}`);
        return g.body.ip ? g.body : undefined;
      },
      15000,
      50,
      'an address',
    );
  };

  it('attach on node 1, ping from the core, move to node 2 with no gap at the core, detach withdraws it', async () => {
    const [n1, n2] = f.lab.nodes;
    const a = await createVm('fa', n1.name);
    const b = await createVm('fb', n2.name);
    await atCore(a.ip, n1.ipv4);
    await atCore(b.ip, n2.ipv4);

    const created = await http('POST', `${f.api}/floating-addresses`, { clusterId: f.clusterId, owner: 'customer-1' });
    expect(created.status).toBe(201);
    const { id, ip } = created.body as { id: string; ip: string };
    expect((await http('POST', `${f.api}/floating-addresses/${id}/attach`, { vmId: a.id })).status).toBe(200);
    await atCore(ip, n1.ipv4);
    await eventually(() => pingFrom(f.lab.core.namespace, ip), 10000, 200, `ping ${ip} on ${n1.name}`);
    await eventually(async () => ((await http('GET', `${f.api}/floating-addresses/${id}`)).body.route === 'at-core' ? true : undefined), 30000, 100, 'at-core');

    const sampler = sampleCoreRoute(f, ip);
    const samples = sampler.samples;
    const t0 = Date.now();
    try {
      const mv = await http('POST', `${f.api}/floating-addresses/${id}/attach`, { vmId: b.id });
      expect(mv).toMatchObject({ status: 200, body: { status: 'moving', vmId: b.id, fromVmId: a.id } });
      await atCore(ip, n2.ipv4);
      await eventually(
        async () => ((await http('GET', `${f.api}/floating-addresses/${id}`)).body.status === 'attached' ? true : undefined),
        60000,
        100,
        'move completed',
      );
      // The old node lets go only after the completion; the core keeps the route via node 2.
      await eventually(async () => ((await pingFrom(f.lab.core.namespace, ip)) ? true : undefined), 10000, 200, `ping ${ip} on ${n2.name}`);
    } finally {
      await sampler.stop();
    }
    console.log(`floating move: ${samples.length} samples of the core's route over ${Date.now() - t0} ms, none absent`);
    expect(samples.length).toBeGreaterThan(10);
    expect(samples.filter((s) => s === undefined)).toHaveLength(0);
    expect(samples[0]).toBe(n1.ipv4);
    expect(samples[samples.length - 1]).toBe(n2.ipv4);

    expect((await http('POST', `${f.api}/floating-addresses/${id}/detach`)).status).toBe(200);
    await goneAt(ip);
    expect(await pingFrom(f.lab.core.namespace, ip)).toBe(false);
    expect(await http('GET', `${f.api}/floating-addresses/${id}`)).toMatchObject({ status: 200, body: { ownerId: 'customer-1', status: 'allocated' } });
    // The VMs keep their own addresses.
    expect((await coreRoute(f, a.ip))?.gateway).toBe(n1.ipv4);
    expect((await coreRoute(f, b.ip))?.gateway).toBe(n2.ipv4);
    expect((await http('DELETE', `${f.api}/floating-addresses/${id}`)).status).toBe(200);
  });

  it('a move between two VMs of one node keeps the route at the core; deleting the VM holding it withdraws it', async () => {
    const n2 = f.lab.nodes[1];
    const c = await createVm('fc', n2.name);
    const d = await createVm('fd', n2.name);
    await atCore(c.ip, n2.ipv4);
    await atCore(d.ip, n2.ipv4);
    const created = await http('POST', `${f.api}/floating-addresses`, { clusterId: f.clusterId, owner: 'customer-1' });
    const { id, ip } = created.body as { id: string; ip: string };
    expect((await http('POST', `${f.api}/floating-addresses/${id}/attach`, { vmId: c.id })).status).toBe(200);
    await atCore(ip, n2.ipv4);
    const sampler = sampleCoreRoute(f, ip);
    const samples = sampler.samples;
    try {
      expect((await http('POST', `${f.api}/floating-addresses/${id}/attach`, { vmId: d.id })).status).toBe(200);
      await eventually(
        async () => ((await http('GET', `${f.api}/floating-addresses/${id}`)).body.status === 'attached' ? true : undefined),
        60000,
        100,
        'move completed',
      );
      // The node applied the move (one route, on the new VM's interface) and the address answers there.
      await eventually(async () => ((await pingFrom(f.lab.core.namespace, ip)) ? true : undefined), 10000, 200, `ping ${ip} on ${d.name}`);
    } finally {
      await sampler.stop();
    }
    expect(samples.length).toBeGreaterThan(10);
    expect(samples.filter((s) => s !== n2.ipv4)).toHaveLength(0);
    expect((await http('DELETE', `${f.api}/vms/${d.id}`)).status).toBe(202);
    await goneAt(ip);
    await eventually(
      async () => ((await http('GET', `${f.api}/floating-addresses/${id}`)).body.status === 'allocated' ? true : undefined),
      30000,
      100,
      'detached',
    );
    expect((await http('DELETE', `${f.api}/floating-addresses/${id}`)).status).toBe(200);
  });
});
