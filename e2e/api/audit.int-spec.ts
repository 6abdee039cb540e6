/** GET /api/v1/audit: who did what (events' meta.actor and the command), strict query, keyset pages, roles. */
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture, readModelCaughtUp } from '../support/api-fixtures';

describe('audit', () => {
  let cp: ControlPlane;
  let fx: Fixture;
  const tokens: Record<string, string> = {};
  let vmId: string;
  let before: string;

  beforeAll(async () => {
    cp = await startControlPlane();
    before = new Date(Date.now() - 1000).toISOString();
    fx = await createFixture(cp, { nodes: 2 });
    for (const [name, role] of [
      ['ops-alice', 'operator'],
      ['billing-bob', 'billing'],
    ]) {
      const r = await http('POST', `${cp.api}/tokens`, { name, role });
      expect(r.status).toBe(201);
      tokens[name] = r.body.token;
    }
    const vm = await http(
      'POST',
      `${cp.api}/vms`,
      { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'aud1', ownerId: 'cust-1' },
      {},
      { auth: tokens['ops-alice'] },
    );
    expect(vm.status).toBe(202);
    vmId = vm.body.id;
    expect((await http('POST', `${cp.api}/nodes/${fx.nodeIds[1]}/drain`, undefined, {}, { auth: tokens['ops-alice'] })).status).toBeLessThan(300);
    await readModelCaughtUp(cp);
  });
  afterAll(async () => {
    await cp?.close();
  });

  it('lists each event a command caused with its actor and command, newest first', async () => {
    const r = await http('GET', `${cp.api}/audit`);
    expect(r.status).toBe(200);
    const items = r.body.items as any[];
    expect(items.map((i) => i.seq)).toEqual([...items.map((i) => i.seq)].sort((a, b) => b - a));
    expect(items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actor: 'token:admin(admin)',
          command: 'CreateCluster',
          event: 'ClusterCreated',
          aggregate: 'cluster',
          aggregateId: fx.clusterId,
          clusterId: fx.clusterId,
        }),
        expect.objectContaining({ actor: 'token:admin(admin)', command: 'AddNetwork', event: 'NetworkAdded', aggregate: 'ipam', clusterId: fx.clusterId }),
        expect.objectContaining({
          actor: 'token:ops-alice(operator)',
          command: 'CreateVm',
          event: 'VmCreated',
          aggregate: 'vm',
          aggregateId: vmId,
          clusterId: fx.clusterId,
          detail: expect.objectContaining({ name: 'aud1' }),
        }),
        expect.objectContaining({ actor: 'token:ops-alice(operator)', command: 'DrainNode', event: 'NodeDrained', aggregateId: fx.nodeIds[1] }),
      ]),
    );
    // Consequences of reactors (IPAM's allocation, the derivers' desired states) are not commands of anyone.
    expect(items.some((i) => ['IpAllocated', 'DesiredStateChanged'].includes(i.event))).toBe(false);
    expect(r.body.readModelPosition).toBeGreaterThan(0);
  });

  it('filters by actor (stored form or bare token name), cluster and time window', async () => {
    for (const actor of ['ops-alice', 'token:ops-alice(operator)']) {
      const r = await http('GET', `${cp.api}/audit?actor=${encodeURIComponent(actor)}`);
      expect(r.status).toBe(200);
      expect(r.body.items.map((i: any) => i.command).sort()).toEqual(['CreateVm', 'DrainNode']);
    }
    expect((await http('GET', `${cp.api}/audit?actor=ops`)).body.items).toEqual([]);
    const other = await http('GET', `${cp.api}/audit?clusterId=00000000-0000-4000-8000-000000000000`);
    expect(other.body.items).toEqual([]);
    const mine = await http('GET', `${cp.api}/audit?clusterId=${fx.clusterId}`);
    expect(mine.body.items.length).toBeGreaterThanOrEqual(5);
    expect(mine.body.items.every((i: any) => i.clusterId === fx.clusterId)).toBe(true);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await http('GET', `${cp.api}/audit?from=${encodeURIComponent(future)}`)).body.items).toEqual([]);
    const windowed = await http('GET', `${cp.api}/audit?from=${encodeURIComponent(before)}&to=${encodeURIComponent(future)}`);
    expect(windowed.body.items.length).toBe(mine.body.items.length);
    expect((await http('GET', `${cp.api}/audit?to=${encodeURIComponent(before)}`)).body.items).toEqual([]);
  });

  it('pages with a cursor: every entry once, in order', async () => {
    const all = (await http('GET', `${cp.api}/audit?limit=1000`)).body.items as any[];
    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const r: any = await http('GET', `${cp.api}/audit?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.items);
      cursor = r.body.next;
    } while (cursor);
    expect(seen.map((i) => `${i.seq}.${i.index}`)).toEqual(all.map((i) => `${i.seq}.${i.index}`));
    expect(all.length).toBeGreaterThan(4);
  });

  it('refuses unknown or malformed parameters with 400 and the reason per field', async () => {
    const bad: [string, string][] = [
      ['actorr=x', 'actorr'],
      ['actor=a%20b', 'actor'],
      ['actor=a%27--', 'actor'],
      ['clusterId=nope', 'clusterId'],
      ['from=yesterday', 'from'],
      ['to=2025-02-30', 'to'],
      ['from=2025-01-02&to=2025-01-01', 'to'],
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['cursor=abc', 'cursor'],
      ['actor=a&actor=b', 'actor'],
    ];
    for (const [query, field] of bad) {
      const r = await http('GET', `${cp.api}/audit?${query}`);
      expect({ query, status: r.status }).toEqual({ query, status: 400 });
      expect(r.body.fields).toHaveProperty(field);
    }
  });

  it('is for admin and operator tokens, not billing', async () => {
    expect((await http('GET', `${cp.api}/audit`, undefined, {}, { auth: tokens['ops-alice'] })).status).toBe(200);
    expect((await http('GET', `${cp.api}/audit`, undefined, {}, { auth: tokens['billing-bob'] })).status).toBe(403);
    expect((await http('GET', `${cp.api}/audit`, undefined, {}, { auth: false })).status).toBe(401);
  });
});
