/**
 * docs/architecture.md (invariants): every bad input is refused with a 4xx and a reason `{status, code, message, fields?}`,
 * and nothing is written (the events stream does not move). Refusals IPAM can only make asynchronously
 * (exhausted pool, address taken, outside pools) are recorded facts: the VM ends `failed` with the reason.
 */
import { randomUUID } from 'node:crypto';
import { clusterBody, type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture, readModelCaughtUp, settledVm, streamLastSeq } from '../support/api-fixtures';

type Res = { status: number; body: any };

describe('bad input gets a 4xx with a reason and writes nothing', () => {
  let cp: ControlPlane;
  let fx: Fixture;
  /** A cluster whose only pool holds a single address. */
  let tiny: Fixture;
  let drainedNodeId: string;
  let firstVm: { id: string; ip: string };

  beforeAll(async () => {
    cp = await startControlPlane();
    fx = await createFixture(cp, { name: 'lab', nodes: 2 });
    tiny = await createFixture(cp, { name: 'tiny', cidr: '198.51.100.0/24', pools: [{ start: '198.51.100.10', end: '198.51.100.10' }], underlayBase: 200 });
    const drained = await http('POST', `${cp.api}/clusters/${fx.clusterId}/nodes`, { name: 'node-drained', underlayIp: '198.18.1.150' });
    expect(drained.status).toBe(201);
    drainedNodeId = drained.body.id;
    expect((await http('POST', `${cp.api}/nodes/${drainedNodeId}/drain`)).status).toBe(200);
    const vm = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'web1', ownerId: 'cust-1' });
    expect(vm.status).toBe(202);
    const settled = await settledVm(cp, vm.body.id);
    expect(settled.status).toBe('ip-allocated');
    firstVm = { id: vm.body.id, ip: settled.ip };
    await readModelCaughtUp(cp);
  });
  afterAll(() => cp?.close());

  /** Runs a request and asserts: the given 4xx, a well-formed error body, and no event appended. */
  async function refused(send: () => Promise<Res>, status: number, code?: string, field?: string): Promise<Res> {
    const before = await streamLastSeq(cp.nats);
    const res = await send();
    const after = await streamLastSeq(cp.nats);
    const summary = `${res.status} ${JSON.stringify(res.body)}`;
    expect({ status: res.status, summary }).toEqual({ status, summary });
    expect(res.body).toEqual(expect.objectContaining({ status, code: expect.any(String), message: expect.any(String) }));
    expect(res.body.message.length).toBeGreaterThan(0);
    expect(Object.keys(res.body).every((k) => ['status', 'code', 'message', 'fields'].includes(k))).toBe(true);
    if (code) expect(res.body.code).toBe(code);
    if (field) {
      expect(res.body.fields).toBeDefined();
      expect(Object.keys(res.body.fields).some((k) => k === field || k.startsWith(`${field}.`))).toBe(true);
    }
    expect(after).toBe(before);
    return res;
  }

  const post = (path: string, body: unknown, headers?: Record<string, string>) => () => http('POST', `${cp.api}${path}`, body, headers);
  const vmBody = (over: Record<string, unknown> = {}) => ({
    clusterId: fx.clusterId,
    nodeId: fx.nodeIds[0],
    name: `vm-${randomUUID().slice(0, 8)}`,
    ownerId: 'cust-1',
    ...over,
  });

  describe('values parsed strictly', () => {
    it.each([
      ['a prefix length over 32', '203.0.113.0/33'],
      ['not a CIDR at all', 'not-a-cidr'],
      ['an address without prefix', '192.0.2.0'],
      ['a short IPv4 form', '10.1/16'],
      ['a zone index', 'fe80::%eth0/64'],
    ])('invalid CIDR: %s', async (_, cidr) => {
      // Refused at the edge (validation-failed) or by IPAM's own parser (invalid-cidr): 400 naming cidr either way.
      await refused(post(`/clusters/${fx.clusterId}/networks`, { cidr }), 400, undefined, 'cidr');
    });

    it('a CIDR with host bits set', async () => {
      const r = await refused(post(`/clusters/${fx.clusterId}/networks`, { cidr: '192.0.2.5/24' }), 400, 'cidr-host-bits-set', 'cidr');
      expect(r.body.message).toContain('192.0.2.0/24');
    });

    it.each([
      ['node underlay octet over 255', () => post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-bad', underlayIp: '198.18.1.300' }), 'underlayIp'],
      ['node underlay IPv6 where IPv4 is required', () => post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-bad', underlayIp: '2001:db8::1' }), 'underlayIp'],
      ['VM requested ip garbage', () => post('/vms', vmBody({ ip: '203.0.113.999' })), 'ip'],
      ['VM requested ip with a prefix length', () => post('/vms', vmBody({ ip: '203.0.113.50/32' })), 'ip'],
      [
        'pool start not an address',
        () => post(`/clusters/${fx.clusterId}/networks`, { cidr: '192.0.2.0/24', pools: [{ start: 'abc', end: '192.0.2.9' }] }),
        'pools',
      ],
      [
        'route reflector ip octal-ish short form',
        () => post('/clusters', { ...clusterBody('c-ip'), routeReflectors: [{ name: 'rr1', ip: '198.18.11' }] }),
        'routeReflectors',
      ],
      ['core router ip empty', () => post('/clusters', { ...clusterBody('c-ip2'), coreRouter: { name: 'core', ip: '', vendor: 'frr' } }), 'coreRouter'],
    ])('invalid IP: %s', async (_, req, field) => {
      await refused(req(), 400, 'validation-failed', field);
    });

    it.each(['zz:zz:zz:zz:zz:zz', 'fe:ff:ff:ff:ff', 'fe-ff-ff-ff-ff-ff', 'fe:ff:ff:ff:ff:ff:00'])('invalid MAC %j', async (mac) => {
      await refused(post('/clusters', { ...clusterBody('c-mac'), gateway: { ip: '10.0.0.1', mac } }), 400, 'validation-failed', 'gateway');
    });

    it.each([
      ['0', 0],
      ['4294967296', 4294967296],
      ['"65000" (a string)', '65000'],
      ['1.5', 1.5],
      ['-1', -1],
    ])('ASN %s', async (_, asn) => {
      await refused(post('/clusters', { ...clusterBody('c-asn'), fabricAsn: asn }), 400, 'validation-failed', 'fabricAsn');
      await refused(post('/clusters', { ...clusterBody('c-asn'), coreAsn: asn }), 400, 'validation-failed', 'coreAsn');
    });

    it.each(['65000:70000', 'abc', '70000:1', '65000', '65000:1:2', ''])('community %j', async (community) => {
      await refused(post('/clusters', { ...clusterBody('c-comm'), community }), 400, 'validation-failed', 'community');
    });

    it('the boundary ASNs 1 and 4294967295 are accepted (the range is not off by one)', async () => {
      const r = await http('POST', `${cp.api}/clusters`, { ...clusterBody('c-asn-edge'), fabricAsn: 4294967295, coreAsn: 1 });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ fabricAsn: 4294967295, coreAsn: 1 });
    });
  });

  describe('networks and pools', () => {
    it('overlapping network → 409', async () => {
      await refused(post(`/clusters/${fx.clusterId}/networks`, { cidr: '203.0.113.128/25' }), 409, 'network-overlap');
      await refused(post(`/clusters/${fx.clusterId}/networks`, { cidr: '203.0.0.0/16' }), 409, 'network-overlap');
    });

    it('pool outside its network → 400', async () => {
      await refused(
        post(`/clusters/${fx.clusterId}/networks`, { cidr: '192.0.2.0/24', pools: [{ start: '198.51.100.1', end: '198.51.100.5' }] }),
        400,
        'pool-outside-network',
      );
      await refused(
        post(`/clusters/${fx.clusterId}/networks`, { cidr: '192.0.2.0/24', pools: [{ start: '192.0.2.200', end: '192.0.3.5' }] }),
        400,
        'pool-outside-network',
      );
      await refused(post(`/clusters/${fx.clusterId}/networks/${fx.networkId}/pools`, { start: '192.0.2.1', end: '192.0.2.9' }), 400, 'pool-outside-network');
    });

    it('pool containing the gateway 10.0.0.1 → 400, and no part of the network is written', async () => {
      const r = await refused(
        post(`/clusters/${fx.clusterId}/networks`, {
          cidr: '10.0.0.0/24',
          pools: [
            { start: '10.0.0.2', end: '10.0.0.20' },
            { start: '10.0.0.1', end: '10.0.0.1' },
          ],
        }),
        400,
        'pool-contains-gateway',
      );
      expect(r.body.message).toContain('10.0.0.1');
      const nets = await http('GET', `${cp.api}/clusters/${fx.clusterId}/networks`);
      expect(nets.body.map((n: { cidr: string }) => n.cidr)).not.toContain('10.0.0.0/24');
    });

    it('overlapping pools → 409, pool with start after end → 400', async () => {
      await refused(post(`/clusters/${fx.clusterId}/networks/${fx.networkId}/pools`, { start: '203.0.113.150', end: '203.0.113.220' }), 409, 'pool-overlap');
      await refused(
        post(`/clusters/${fx.clusterId}/networks/${fx.networkId}/pools`, { start: '203.0.113.240', end: '203.0.113.230' }),
        400,
        'pool-start-after-end',
      );
    });
  });

  describe('references', () => {
    it('unknown node → 404', async () => {
      await refused(post('/vms', vmBody({ nodeId: randomUUID() })), 404, 'node-not-found');
      await refused(() => http('GET', `${cp.api}/nodes/${randomUUID()}`), 404, 'node-not-found');
      await refused(post(`/nodes/${randomUUID()}/drain`, undefined), 404, 'node-not-found');
    });

    it('unknown cluster → 404', async () => {
      const ghost = randomUUID();
      await refused(() => http('GET', `${cp.api}/clusters/${ghost}`), 404, 'cluster-not-found');
      await refused(post(`/clusters/${ghost}/nodes`, { name: 'n9', underlayIp: '198.18.1.99' }), 404, 'cluster-not-found');
      await refused(post(`/clusters/${ghost}/networks`, { cidr: '192.0.2.0/24' }), 404, 'cluster-not-found');
      await refused(post('/vms', vmBody({ clusterId: ghost })), 404, 'cluster-not-found');
    });

    it('VM on a node of another cluster → 409', async () => {
      await refused(post('/vms', vmBody({ clusterId: tiny.clusterId })), 409, 'node-in-other-cluster');
    });

    it('VM on a drained node → 409', async () => {
      const r = await refused(post('/vms', vmBody({ nodeId: drainedNodeId })), 409, 'node-not-active');
      expect(r.body.message).toContain('drained');
    });

    it('migration to a drained node → 409', async () => {
      await refused(post(`/vms/${firstVm.id}/migrate`, { nodeId: drainedNodeId }), 409, 'node-not-active');
    });

    it('unknown VM id → 404 (read, delete, migrate)', async () => {
      const ghost = randomUUID();
      await refused(() => http('GET', `${cp.api}/vms/${ghost}`), 404, 'vm-not-found');
      await refused(() => http('DELETE', `${cp.api}/vms/${ghost}`), 404, 'vm-not-found');
      await refused(post(`/vms/${ghost}/migrate`, { nodeId: fx.nodeIds[1] }), 404, 'vm-not-found');
    });

    it('malformed UUID in the path → 400', async () => {
      for (const bad of ['not-a-uuid', '123', `${randomUUID()}x`]) {
        await refused(() => http('GET', `${cp.api}/vms/${bad}`), 400);
        await refused(() => http('DELETE', `${cp.api}/vms/${bad}`), 400);
        await refused(() => http('GET', `${cp.api}/clusters/${bad}`), 400);
        await refused(post(`/clusters/${bad}/nodes`, { name: 'n9', underlayIp: '198.18.1.99' }), 400);
        await refused(post(`/nodes/${bad}/drain`, undefined), 400);
      }
    });

    it('malformed UUID in a body → 400 naming the field', async () => {
      await refused(post('/vms', vmBody({ nodeId: 'node-1' })), 400, 'validation-failed', 'nodeId');
      await refused(post(`/vms/${firstVm.id}/migrate`, { nodeId: 'x' }), 400, 'validation-failed', 'nodeId');
    });
  });

  describe('uniqueness', () => {
    it('duplicate VM name in a cluster → 409 (case-insensitive, like DNS)', async () => {
      await refused(post('/vms', vmBody({ name: 'web1' })), 409, 'vm-name-taken');
      await refused(post('/vms', vmBody({ name: 'WEB1', nodeId: fx.nodeIds[1] })), 409, 'vm-name-taken');
    });

    it('the same new VM name sent several times at once → exactly one VM, the others 409', async () => {
      const before = await streamLastSeq(cp.nats);
      const replies = await Promise.all(Array.from({ length: 6 }, () => http('POST', `${cp.api}/vms`, vmBody({ name: 'race-name' }))));
      expect(replies.map((r) => r.status).sort()).toEqual([202, 409, 409, 409, 409, 409]);
      for (const r of replies.filter((x) => x.status === 409)) expect(r.body).toMatchObject({ status: 409, code: 'vm-name-taken' });
      const created = (await cp.store.read(cp.store.subjects.evtAll('vm'), before)).filter((e) => e.type === 'VmCreated');
      expect(created.map((e) => (e.data as { name: string }).name)).toEqual(['race-name']);
      await settledVm(cp, replies.find((r) => r.status === 202)!.body.id);
    });

    it('the same new cluster name sent several times at once → exactly one cluster, the others 409', async () => {
      const before = await streamLastSeq(cp.nats);
      const replies = await Promise.all(Array.from({ length: 4 }, () => http('POST', `${cp.api}/clusters`, clusterBody('race-cluster'))));
      expect(replies.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
      const created = (await cp.store.read(cp.store.subjects.evtAll('cluster'), before)).filter((e) => e.type === 'ClusterCreated');
      expect(created.length).toBe(1);
    });

    it('duplicate cluster name → 409', async () => {
      await refused(post('/clusters', clusterBody('lab')), 409, 'cluster-name-taken');
      await refused(post('/clusters', clusterBody('LAB')), 409, 'cluster-name-taken');
    });

    it('duplicate node name or underlay address in a cluster → 409', async () => {
      await refused(post(`/clusters/${fx.clusterId}/nodes`, { name: 'node1', underlayIp: '198.18.1.99' }), 409, 'node-name-taken');
      await refused(post(`/clusters/${fx.clusterId}/nodes`, { name: 'node-x', underlayIp: '198.18.1.100' }), 409, 'underlay-ip-taken');
    });

    it('a cluster whose route reflectors repeat or sit on the gateway is refused whole (no half-written cluster)', async () => {
      await refused(
        post('/clusters', {
          ...clusterBody('c-rr'),
          routeReflectors: [
            { name: 'rr1', ip: '198.18.0.11' },
            { name: 'RR1', ip: '198.18.0.12' },
          ],
        }),
        400,
        'duplicate-route-reflector',
      );
      await refused(
        post('/clusters', {
          ...clusterBody('c-rr'),
          routeReflectors: [
            { name: 'rr1', ip: '198.18.0.11' },
            { name: 'rr2', ip: '10.0.0.1' },
          ],
        }),
        400,
        'ip-is-gateway',
      );
      expect((await http('GET', `${cp.api}/clusters`)).body.map((c: { name: string }) => c.name)).not.toContain('c-rr');
    });
  });

  describe('names that could break a config file', () => {
    const badNames = [
      ['a quote', 'a"b'],
      ['a single quote', "a'b"],
      ['braces', 'a{b}'],
      ['a newline', 'a\nb'],
      ['a semicolon', 'a;b'],
      ['a space', 'a b'],
      ['empty', ''],
      ['a leading dash', '-ab'],
      ['64 characters', 'a'.repeat(64)],
    ];

    it.each(badNames)('cluster name with %s → 400', async (_, name) => {
      await refused(post('/clusters', clusterBody(name)), 400, 'validation-failed', 'name');
    });
    it.each(badNames)('node name with %s → 400', async (_, name) => {
      await refused(post(`/clusters/${fx.clusterId}/nodes`, { name, underlayIp: '198.18.1.99' }), 400, 'validation-failed', 'name');
    });
    it.each(badNames)('VM name with %s → 400', async (_, name) => {
      await refused(post('/vms', vmBody({ name })), 400, 'validation-failed', 'name');
    });
    it.each(badNames)('route reflector name with %s → 400 (in the cluster and added later)', async (_, name) => {
      await refused(
        post('/clusters', { ...clusterBody('c-rrname'), routeReflectors: [{ name, ip: '198.18.0.11' }] }),
        400,
        'validation-failed',
        'routeReflectors',
      );
      await refused(post(`/clusters/${fx.clusterId}/route-reflectors`, { name, ip: '198.18.0.13' }), 400, 'validation-failed', 'name');
    });
    it('core router name and owner id with config metacharacters → 400', async () => {
      await refused(
        post('/clusters', { ...clusterBody('c-core'), coreRouter: { name: 'core;reboot', ip: '198.18.0.1', vendor: 'frr' } }),
        400,
        'validation-failed',
        'coreRouter',
      );
      await refused(
        post('/clusters', { ...clusterBody('c-core'), coreRouter: { name: 'core', ip: '198.18.0.1', vendor: 'cisco' } }),
        400,
        'validation-failed',
        'coreRouter',
      );
      await refused(post('/vms', vmBody({ ownerId: 'cust "1"' })), 400, 'validation-failed', 'ownerId');
      await refused(post('/clusters', { ...clusterBody('c-md5'), bgp: { md5Password: 'se"cret' } }), 400, 'validation-failed', 'bgp');
    });
  });

  describe('body shape', () => {
    it('unknown fields → 400 naming them (top level and nested)', async () => {
      await refused(post('/clusters', { ...clusterBody('c-extra'), extra: 1 }), 400, 'validation-failed', 'extra');
      await refused(
        post('/clusters', { ...clusterBody('c-extra'), routeReflectors: [{ name: 'rr1', ip: '198.18.0.11', password: 'x' }] }),
        400,
        'validation-failed',
        'routeReflectors',
      );
      await refused(post('/vms', vmBody({ status: 'at-core' })), 400, 'validation-failed', 'status');
      await refused(
        post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-extra', underlayIp: '198.18.1.98', clusterId: tiny.clusterId }),
        400,
        'validation-failed',
        'clusterId',
      );
      await refused(post(`/clusters/${fx.clusterId}/networks`, { cidr: '192.0.2.0/24', gateway: '192.0.2.1' }), 400, 'validation-failed', 'gateway');
    });

    it('missing required fields → 400 naming them', async () => {
      await refused(post('/vms', { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], ownerId: 'cust-1' }), 400, 'validation-failed', 'name');
      await refused(post('/clusters', { name: 'c-missing' }), 400, 'validation-failed', 'fabricAsn');
    });

    it('non-JSON body → 400', async () => {
      await refused(post('/vms', '{"clusterId": '), 400);
      await refused(post('/clusters', 'name=lab'), 400);
      await refused(post('/vms', '{nope}'), 400);
    });

    it('a JSON body that is not an object → 400', async () => {
      await refused(post('/vms', '[1,2,3]'), 400);
      await refused(post('/vms', '"web1"'), 400);
      await refused(post('/vms', 'null'), 400);
    });
  });

  describe('refusals IPAM records as facts: the VM ends failed with the reason', () => {
    it('exhausted pool → failed pool-exhausted', async () => {
      const ok = await http('POST', `${cp.api}/vms`, { clusterId: tiny.clusterId, nodeId: tiny.nodeIds[0], name: 'only', ownerId: 'cust-2' });
      expect(ok.status).toBe(202);
      expect(await settledVm(cp, ok.body.id)).toMatchObject({ status: 'ip-allocated', ip: '198.51.100.10' });
      const full = await http('POST', `${cp.api}/vms`, { clusterId: tiny.clusterId, nodeId: tiny.nodeIds[0], name: 'one-too-many', ownerId: 'cust-2' });
      expect(full.status).toBe(202);
      const vm = await settledVm(cp, full.body.id);
      expect(vm.status).toBe('failed');
      expect(vm.ip).toBeNull();
      expect(vm.reason).toMatch(/^pool-exhausted: /);
      expect(vm.history.map((h: { status: string }) => h.status)).toEqual(['requested', 'failed']);
    });

    it('address already taken (the requested ip of another VM) → failed address-taken, the holder keeps it', async () => {
      const r = await http('POST', `${cp.api}/vms`, vmBody({ ip: firstVm.ip }));
      expect(r.status).toBe(202);
      const vm = await settledVm(cp, r.body.id);
      expect(vm.status).toBe('failed');
      expect(vm.reason).toMatch(/^address-taken: /);
      expect(vm.ip).toBeNull();
      expect((await http('GET', `${cp.api}/vms/${firstVm.id}`)).body).toMatchObject({ status: 'ip-allocated', ip: firstVm.ip });
    });

    it('requested ip outside every pool → failed outside-pools', async () => {
      for (const ip of ['203.0.113.250', '192.0.2.10']) {
        const r = await http('POST', `${cp.api}/vms`, vmBody({ ip }));
        expect(r.status).toBe(202);
        const vm = await settledVm(cp, r.body.id);
        expect(vm.status).toBe('failed');
        expect(vm.reason).toMatch(/^outside-pools: /);
      }
    });

    it('a requested ip spelled differently but equal to a held one is still taken', async () => {
      const r = await http('POST', `${cp.api}/vms`, vmBody({ ip: firstVm.ip.replace(/\.(\d+)$/, '.0$1') }));
      // Either refused up front as a non-canonical address, or recorded as taken: never a second holder.
      if (r.status === 202) {
        const vm = await settledVm(cp, r.body.id);
        expect(vm.status).toBe('failed');
      } else {
        expect(r.status).toBe(400);
      }
    });
  });
});
