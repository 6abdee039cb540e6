/**
 * PATCH /clusters/:id/bgp: timers, graceful-restart time, BFD intervals, MD5 rotation, communities. A change
 * reaches every node, RR and the core as a new generation; bad input is refused with a reason and changes
 * nothing; `?dryRun=true` writes nothing and answers what would change.
 */
import { type NodeDesiredState, type RouterDesiredState, type RrDesiredState, rrTargetId } from '@fabric/contracts';
import { eventually } from '@fabric/testing/infra';
import { lastCommand } from '@fabric/testing/fabric';
import { startRouteAnnouncer } from '../../services/route-announcer/src/main';
import { startRrConfig } from '../../services/rr-config/src/main';
import { startRouterConfig } from '../../services/router-config/src/main';
import { type ControlPlane, clusterBody, http, startControlPlane } from '../support/control-plane';

describe('given a cluster with a node, its RRs and core rendered', () => {
  let cp: ControlPlane;
  const stops: (() => Promise<unknown>)[] = [];
  let clusterId: string;
  let nodeId: string;
  const rrTarget = () => rrTargetId(clusterId, 'rr1');
  const rr = () => lastCommand<RrDesiredState>(cp.nats, 'rr', rrTarget());
  const core = () => lastCommand<RouterDesiredState>(cp.nats, 'router', clusterId);
  const node = () => lastCommand<NodeDesiredState>(cp.nats, 'node', nodeId);
  const eventCount = async () => (await cp.store.read(cp.nats.subjects.evt('cluster', clusterId))).length;

  beforeAll(async () => {
    cp = await startControlPlane();
    for (const start of [startRrConfig, startRouterConfig, startRouteAnnouncer]) {
      const s = await start({ ns: cp.ns });
      stops.push(() => s.close());
    }
    const r = await http('POST', `${cp.api}/clusters`, clusterBody('bgpset'));
    expect(r.status).toBe(201);
    clusterId = r.body.id;
    const n = await http('POST', `${cp.api}/clusters/${clusterId}/nodes`, { name: 'n1', underlayIp: '198.18.1.10' });
    expect(n.status).toBe(201);
    nodeId = n.body.id;
    await eventually(async () => (await rr()) && (await core()) && (await node()), 15000, 50, 'first desired states');
  });

  afterAll(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await cp?.close();
  });

  it.each([
    [{ holdTime: 2 }, 'holdTime'],
    [{ holdTime: 70000 }, 'holdTime'],
    [{ holdTime: 9, keepaliveTime: 9 }, 'keepaliveTime'],
    [{ keepaliveTime: 5 }, 'keepaliveTime'],
    [{ bfdMinRxMs: 5 }, 'bfdMinRxMs'],
    [{ bfdMultiplier: 1 }, 'bfdMultiplier'],
    [{ gracefulRestartTime: 4000 }, 'gracefulRestartTime'],
    [{ community: '65535:666' }, 'community'],
  ])('when PATCH %j then 400 naming %s and nothing is written', async (body, field) => {
    const before = await eventCount();
    const r = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, body);
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain(field);
    expect(await eventCount()).toBe(before);
  });

  it('when PATCH has a field of the wrong type or an unknown field then 400', async () => {
    for (const body of [{ holdTime: '9' }, { bfd: 'yes' }, { md5Password: 'has space' }, { holdTimer: 9 }]) {
      const r = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, body);
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
    }
  });

  it('when PATCH ?dryRun=true then nothing is written and the answer lists the change and the targets', async () => {
    const before = await eventCount();
    const gens = [(await rr())!.generation, (await core())!.generation, (await node())!.generation];
    const r = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp?dryRun=true`, { holdTime: 9, bfd: true, bfdMinRxMs: 100, rotateMd5: true });
    expect(r.status).toBe(200);
    expect(r.body.dryRun).toBe(true);
    expect(r.body.changed).toEqual(expect.arrayContaining(['holdTime', 'bfd', 'bfdMinRxMs', 'md5Password']));
    expect(r.body.settingsDiff).toContain('+holdTime: 9');
    expect(r.body.targets.map((t: { kind: string; id: string }) => `${t.kind}:${t.id}`).sort()).toEqual(
      [`node:${nodeId}`, `rr:${rrTargetId(clusterId, 'rr1')}`, `rr:${rrTargetId(clusterId, 'rr2')}`, `router:${clusterId}`].sort(),
    );
    expect(JSON.stringify(r.body)).not.toMatch(/secret:|md5Password":"/);
    expect(await eventCount()).toBe(before);
    expect([(await rr())!.generation, (await core())!.generation, (await node())!.generation]).toEqual(gens);
    const bad = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp?dryRun=true`, { holdTime: 1 });
    expect(bad.status).toBe(400);
  });

  it('when PATCH timers and BFD then every target gets a new generation with them, and GET shows them', async () => {
    const gens = { rr: (await rr())!.generation, core: (await core())!.generation, node: (await node())!.generation };
    const r = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, {
      holdTime: 9,
      keepaliveTime: 3,
      bfd: true,
      bfdMinRxMs: 100,
      bfdMinTxMs: 100,
      bfdMultiplier: 3,
      gracefulRestartTime: 60,
    });
    expect(r.status).toBe(200);
    expect(r.body.bgp).toMatchObject({ holdTime: 9, keepaliveTime: 3, bfd: true, bfdMinRxMs: 100, bfdMultiplier: 3, gracefulRestartTime: 60 });
    const n = await eventually(async () => ((await node())!.generation > gens.node ? node() : undefined), 15000, 50, 'node generation');
    expect(n!.bird).toContain('hold time 9;');
    expect(n!.bird).toContain('min rx interval 100 ms;');
    const x = await eventually(async () => ((await rr())!.generation > gens.rr ? rr() : undefined), 15000, 50, 'RR generation');
    expect(x!.bird).toContain('keepalive time 3;');
    expect(x!.bird).toContain('bfd on;');
    const c = await eventually(async () => ((await core())!.generation > gens.core ? core() : undefined), 15000, 50, 'core generation');
    expect(c!.config).toContain('timers bgp 3 9');
    expect(c!.config).toContain('bfd profile FABRIC-BFD');
  });

  it('when PATCH sets a timer to null then it returns to the daemon default', async () => {
    const r = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, { holdTime: null, keepaliveTime: null });
    expect(r.status).toBe(200);
    expect(r.body.bgp.holdTime).toBeUndefined();
    await eventually(async () => !(await node())!.bird.includes('hold time'), 15000, 50, 'hold time gone from the node');
  });

  it('when PATCH rotates MD5 then the RR gets a new password and no response holds it', async () => {
    const r = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, { md5Password: 'R0tated-s3cret' });
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body)).not.toContain('R0tated-s3cret');
    expect(r.body.bgp.md5).toBe(true);
    await eventually(async () => (await rr())!.bird.includes('password "R0tated-s3cret";'), 15000, 50, 'RR password');
    const both = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, { md5Password: 'x1', rotateMd5: true });
    expect(both.status).toBe(400);
  });

  it('when PATCH an unknown cluster then 404', async () => {
    const r = await http('PATCH', `${cp.api}/clusters/00000000-0000-4000-8000-000000000001/bgp`, { holdTime: 9 });
    expect(r.status).toBe(404);
  });
});
