/**
 * PATCH /clusters/:id/bgp: timers, graceful-restart time, BFD intervals, MD5 rotation, communities. A change
 * reaches every node, RR and the core as a new generation; bad input is refused with a reason and changes
 * nothing; `?dryRun=true` writes nothing and answers what would change, with each target's config diff.
 * BFD sessions the agents report reach the topology, the node status and the metrics.
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
    // Each target's config diff, rendered by its deriver with the new settings; the MD5 secret never shows.
    const diffOf = (kind: string) => r.body.targets.find((t: { kind: string }) => t.kind === kind).diff as string;
    expect(diffOf('node')).toMatch(/^\+\s+hold time 9;$/m);
    expect(diffOf('node')).toMatch(/^\+\s+bfd on;$/m);
    expect(diffOf('node')).toMatch(/^\+\s+min rx interval 100 ms;$/m);
    expect(diffOf('node')).toContain('(current)');
    expect(diffOf('rr')).toMatch(/^\+\s+hold time 9;$/m);
    expect(diffOf('router')).toMatch(/^\+.*bfd/m);
    for (const t of r.body.targets) expect(t.diffError).toBeUndefined();
    const secret = (await rr())!.bird.match(/password "([^"]+)"/)?.[1];
    if (secret) expect(JSON.stringify(r.body)).not.toContain(secret);
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

  it('when the agents report BFD sessions then the topology, the node status and the metrics show them; a removed session is gone', async () => {
    const rrIp = '198.18.0.11';
    const nodeIp = '198.18.1.10';
    const bfd = (kind: 'node' | 'rr', id: string, peerIp: string, state: string) =>
      cp.store.append(cp.store.subjects.obs(kind, id), [
        {
          id: `bfd-${kind}-${id}-${peerIp}-${state}-${Date.now()}`,
          event: {
            type: 'BfdSessionStateChanged',
            data: { target: { kind, id }, peerIp, state, ...(state === 'removed' ? {} : { intervalMs: 100, timeoutMs: 300 }) },
          },
        },
      ]);
    type Link = { a: { name: string }; b: { name: string }; bfd: { state: string | null; sides: { kind: string; state: string; timeoutMs: number }[] } };
    const link = async () => {
      const t = await http('GET', `${cp.api}/clusters/${clusterId}/topology`);
      return (t.body.sessions as Link[]).find((x) => x.a.name === 'rr1' && x.b.name === 'n1')!;
    };
    expect((await link()).bfd).toEqual({ state: null, sides: [] });
    await bfd('node', nodeId, rrIp, 'up');
    await bfd('rr', rrTarget(), nodeIp, 'up');
    const up = await eventually(async () => ((await link()).bfd.sides.length === 2 ? link() : undefined), 15000, 50, 'BFD in the topology');
    expect(up.bfd.state).toBe('up');
    expect(up.bfd.sides).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'node', state: 'up', timeoutMs: 300 }), expect.objectContaining({ kind: 'rr', state: 'up' })]),
    );
    const status = await http('GET', `${cp.api}/nodes/${nodeId}/status`);
    expect(status.body.bfdSessions).toEqual([expect.objectContaining({ peerIp: rrIp, state: 'up', intervalMs: 100, timeoutMs: 300, interface: null })]);
    const metrics = async () => (await http('GET', `${cp.api.replace('/api/v1', '')}/metrics`)).body as string;
    expect(await metrics()).toMatch(new RegExp(`fabric_bfd_sessions\\{kind="node",target="${nodeId}",state="up"\\} 1`));

    await bfd('rr', rrTarget(), nodeIp, 'down');
    await eventually(async () => (await link()).bfd.state === 'down', 15000, 50, 'BFD down in the topology');
    expect(await metrics()).toMatch(new RegExp(`fabric_bfd_sessions\\{kind="rr",target="${rrTarget()}",state="down"\\} 1`));

    await bfd('rr', rrTarget(), nodeIp, 'removed');
    await bfd('node', nodeId, rrIp, 'removed');
    await eventually(async () => (await link()).bfd.state === null, 15000, 50, 'BFD gone from the topology');
    expect((await http('GET', `${cp.api}/nodes/${nodeId}/status`)).body.bfdSessions).toEqual([]);
  });

  it('when PATCH sets the BMP station then only the core gets it (FRR and Junos), the dry run shows it, null removes it', async () => {
    for (const bmpStation of [
      { address: 'collector', port: 11019 },
      { address: '198.18.254.1', port: 0 },
      { address: '198.18.254.1', port: 70000 },
      '198.18.254.1',
    ]) {
      const r = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, { bmpStation });
      expect({ bmpStation, status: r.status }).toEqual({ bmpStation, status: 400 });
    }
    const gens = { rr: (await rr())!.generation, core: (await core())!.generation, node: (await node())!.generation };
    const station = { address: '198.18.254.1', port: 11019 };
    const dry = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp?dryRun=true`, { bmpStation: station });
    expect(dry.status).toBe(200);
    expect(dry.body.changed).toEqual(['bmpStation']);
    expect(dry.body.targets.map((t: { kind: string }) => t.kind)).toEqual(['router']);
    expect(dry.body.targets[0].diff).toContain('+  bmp connect 198.18.254.1 port 11019 min-retry 1000 max-retry 10000');
    const r = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, { bmpStation: station });
    expect(r.status).toBe(200);
    expect(r.body.bgp.bmpStation).toEqual(station);
    const c = await eventually(async () => ((await core())!.generation > gens.core ? core() : undefined), 15000, 50, 'core generation');
    expect(c!.config).toContain(' bmp targets FABRIC-BMP');
    // The Junos text is the read model's rendered version: it follows the core's command, so wait for it.
    const junos = await eventually(
      async () => {
        const j = String((await http('GET', `${cp.api}/clusters/${clusterId}/router/config?format=junos`)).body);
        return j.includes('station-address') ? j : undefined;
      },
      15000,
      50,
      'junos config with the station',
    );
    expect(junos).toMatch(/station-address 198\.18\.254\.1/);
    expect({ rr: (await rr())!.generation, node: (await node())!.generation }).toEqual({ rr: gens.rr, node: gens.node });
    const off = await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, { bmpStation: null });
    expect(off.status).toBe(200);
    expect(off.body.bgp.bmpStation).toBeUndefined();
    await eventually(async () => !(await core())!.config.includes('bmp'), 15000, 50, 'station gone from the core');
  });

  it('when PATCH an unknown cluster then 404', async () => {
    const r = await http('PATCH', `${cp.api}/clusters/00000000-0000-4000-8000-000000000001/bgp`, { holdTime: 9 });
    expect(r.status).toBe(404);
  });
});
