/**
 * Address and topology safety: only routable unicast networks of a sane size, pools that hold no network,
 * broadcast, gateway or infrastructure (RR, core, node underlay) address, nodes never on the core's or an
 * RR's or another node's address, no overlapping networks between clusters behind one core router, one
 * spelling per address (IPv4-mapped IPv6 refused) and per id (lower-case UUIDs). Each refusal: a 4xx with a
 * reason, and the event stream does not move.
 */
import { randomUUID } from 'node:crypto';
import { clusterBody, type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture, streamLastSeq } from '../support/api-fixtures';

type Res = { status: number; body: any };

describe('address and topology safety', () => {
  let cp: ControlPlane;
  let fx: Fixture;

  beforeAll(async () => {
    cp = await startControlPlane();
    // core 198.18.0.1, RRs 198.18.0.11/.12, nodes 198.18.1.100/.101, network 203.0.113.0/24
    fx = await createFixture(cp, { name: 'safe', nodes: 2 });
  });
  afterAll(() => cp?.close());

  async function refused(send: () => Promise<Res>, status: number, code: string, field?: string): Promise<Res> {
    const before = await streamLastSeq(cp.nats);
    const res = await send();
    expect({ status: res.status, body: res.body }).toEqual({ status, body: expect.objectContaining({ status, code, message: expect.any(String) }) });
    if (field) expect(Object.keys(res.body.fields ?? {}).some((k) => k === field || k.startsWith(`${field}.`) || k.startsWith(`${field}[`))).toBe(true);
    expect(await streamLastSeq(cp.nats)).toBe(before);
    return res;
  }
  const post = (path: string, body: unknown) => () => http('POST', `${cp.api}${path}`, body);
  const network = (cidr: string, pools?: { start: string; end: string }[]) => post(`/clusters/${fx.clusterId}/networks`, { cidr, ...(pools ? { pools } : {}) });

  describe('networks are routable unicast, not too wide', () => {
    it.each([
      ['0.0.0.0/0', 'network-is-default-route'],
      ['::/0', 'network-is-default-route'],
      ['0.0.0.0/24', 'network-not-unicast'],
      ['127.0.0.0/24', 'network-not-unicast'],
      ['169.254.0.0/24', 'network-not-unicast'],
      ['224.0.0.0/24', 'network-not-unicast'],
      ['239.255.255.0/24', 'network-not-unicast'],
      ['240.0.0.0/24', 'network-not-unicast'],
      ['255.255.255.255/32', 'network-not-unicast'],
      ['::1/128', 'network-not-unicast'],
      ['::/128', 'network-not-unicast'],
      ['fe80::/64', 'network-not-unicast'],
      ['ff02::/64', 'network-not-unicast'],
      ['100.64.0.0/10', 'network-too-wide'],
      ['2001::/16', 'network-too-wide'],
    ])('%s → 400 %s', async (cidr, code) => {
      await refused(network(cidr), 400, code, 'cidr');
    });

    it('IPv4-mapped IPv6 is refused wherever an address is given', async () => {
      await refused(network('::ffff:192.0.2.0/120'), 400, 'validation-failed', 'cidr');
      await refused(network('2001:db8:5::/64', [{ start: '::ffff:192.0.2.1', end: '2001:db8:5::9' }]), 400, 'validation-failed', 'pools');
      await refused(
        post('/vms', { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'mapped', ownerId: 'c', ip: '::ffff:203.0.113.50' }),
        400,
        'validation-failed',
        'ip',
      );
      await refused(
        post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-mapped', underlayIp: '198.18.1.170', underlayIp6: '::ffff:198.18.1.170' }),
        400,
        'validation-failed',
        'underlayIp6',
      );
      await refused(
        post('/clusters', { ...clusterBody('c-mapped'), coreRouter: { name: 'core', ip: '::ffff:198.18.0.1', vendor: 'frr' } }),
        400,
        'validation-failed',
        'coreRouter',
      );
    });
  });

  describe('pools', () => {
    it('may not contain the network or broadcast address', async () => {
      await refused(network('192.0.2.0/24', [{ start: '192.0.2.0', end: '192.0.2.10' }]), 400, 'pool-contains-reserved-address');
      await refused(network('192.0.2.0/24', [{ start: '192.0.2.250', end: '192.0.2.255' }]), 400, 'pool-contains-reserved-address');
      await refused(
        post(`/clusters/${fx.clusterId}/networks/${fx.networkId}/pools`, { start: '203.0.113.201', end: '203.0.113.255' }),
        400,
        'pool-contains-reserved-address',
      );
    });

    it('may not contain a route reflector, the core router or a node underlay address', async () => {
      for (const [range, what] of [
        [['198.18.0.5', '198.18.0.20'], '198.18.0.11'],
        [['198.18.0.1', '198.18.0.3'], '198.18.0.1'],
      ] as const) {
        const r = await refused(network('198.18.0.0/24', [{ start: range[0], end: range[1] }]), 400, 'pool-contains-infrastructure-address');
        expect(r.body.message).toContain(what);
      }
      const n = await refused(network('198.18.1.0/24', [{ start: '198.18.1.90', end: '198.18.1.110' }]), 400, 'pool-contains-infrastructure-address');
      expect(n.body.message).toContain('198.18.1.100');
    });
  });

  describe('nodes', () => {
    it("may not join on the core router's, a route reflector's or another node's address", async () => {
      await refused(post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-core', underlayIp: '198.18.0.1' }), 400, 'underlay-is-core-router', 'underlayIp');
      await refused(post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-rr', underlayIp: '198.18.0.12' }), 400, 'underlay-is-route-reflector', 'underlayIp');
      await refused(post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-dup', underlayIp: '198.18.1.101' }), 409, 'underlay-ip-taken');
    });

    it('may not join on an address no router forwards', async () => {
      for (const underlayIp of ['127.0.0.1', '0.0.0.0', '169.254.3.3', '224.0.0.5', '255.255.255.255']) {
        await refused(post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-bad', underlayIp }), 400, 'address-not-unicast', 'underlayIp');
      }
      await refused(
        post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-bad6', underlayIp: '198.18.1.171', underlayIp6: 'fe80::1' }),
        400,
        'address-not-unicast',
        'underlayIp6',
      );
    });

    it('a node or route reflector may not sit inside a VM address pool', async () => {
      await refused(post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-pool', underlayIp: '203.0.113.50' }), 409, 'underlay-in-pool');
      await refused(post(`/clusters/${fx.clusterId}/route-reflectors`, { name: 'rr-pool', ip: '203.0.113.51' }), 409, 'ip-in-pool');
    });

    it('an IPv6 underlay another node uses is taken too', async () => {
      const a = await http('POST', `${cp.api}/clusters/${fx.clusterId}/nodes`, {
        name: 'n-v6a',
        underlayIp: '198.18.1.180',
        underlayIp6: '2001:db8:ffff::180',
      });
      expect(a.status).toBe(201);
      await refused(
        post(`/clusters/${fx.clusterId}/nodes`, { name: 'n-v6b', underlayIp: '198.18.1.181', underlayIp6: '2001:DB8:FFFF:0::180' }),
        409,
        'underlay-ip-taken',
      );
    });
  });

  describe('clusters behind one core router', () => {
    it('may not hold overlapping networks; behind another core router they may', async () => {
      const same = await http('POST', `${cp.api}/clusters`, { ...clusterBody('same-core') });
      expect(same.status).toBe(201);
      const r = await refused(post(`/clusters/${same.body.id}/networks`, { cidr: '203.0.113.128/25' }), 409, 'network-overlap-shared-core');
      expect(r.body.message).toContain(fx.clusterId);
      expect((await http('POST', `${cp.api}/clusters/${same.body.id}/networks`, { cidr: '198.51.100.0/24' })).status).toBe(201);

      const other = await http('POST', `${cp.api}/clusters`, { ...clusterBody('other-core'), coreRouter: { name: 'core2', ip: '198.18.0.2', vendor: 'frr' } });
      expect(other.status).toBe(201);
      expect((await http('POST', `${cp.api}/clusters/${other.body.id}/networks`, { cidr: '203.0.113.0/24' })).status).toBe(201);
    });
  });

  describe('ids are lower-case UUIDs', () => {
    it('an upper-case copy of an id is refused in paths and bodies, and never creates a second aggregate', async () => {
      const upper = fx.clusterId.toUpperCase();
      await refused(() => http('GET', `${cp.api}/clusters/${upper}`), 400, 'invalid-id', 'id');
      await refused(post(`/clusters/${upper}/nodes`, { name: 'n-up', underlayIp: '198.18.1.190' }), 400, 'invalid-id');
      await refused(post('/vms', { clusterId: upper, nodeId: fx.nodeIds[0], name: 'up', ownerId: 'c' }), 400, 'validation-failed', 'clusterId');

      const vmId = randomUUID();
      const created = await http('POST', `${cp.api}/vms`, { vmId, clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'lower', ownerId: 'c' });
      expect(created.status).toBe(202);
      await refused(
        post('/vms', { vmId: vmId.toUpperCase(), clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'upper', ownerId: 'c' }),
        400,
        'validation-failed',
        'vmId',
      );
      await refused(() => http('DELETE', `${cp.api}/vms/${vmId.toUpperCase()}`), 400, 'invalid-id');
      await refused(post('/clusters', { ...clusterBody('c-upper'), clusterId: randomUUID().toUpperCase() }), 400, 'validation-failed', 'clusterId');
    });
  });
});
