/**
 * The cluster's BGP MD5 password: in no event, no read model row, no API response (configs show it
 * redacted, GET /events to a billing token), yet each agent receives it on its own command subject. A cluster
 * created without one gets a generated password (MD5 by default) unless it opts out with a reason.
 */
import { type RrDesiredState, type RouterDesiredState, rrTargetId } from '@fabric/contracts';
import { eventually } from '@fabric/testing/infra';
import { secretsBucket } from '@fabric/eventstore';
import { lastCommand } from '@fabric/testing/fabric';
import { startRrConfig } from '../../services/rr-config/src/main';
import { startRouterConfig } from '../../services/router-config/src/main';
import { type ControlPlane, clusterBody, http, startControlPlane } from '../support/control-plane';

const SECRET = 'Md5-s3cret!fabric';

describe('given a cluster created with an MD5 password', () => {
  let cp: ControlPlane;
  const stops: (() => Promise<unknown>)[] = [];
  let clusterId: string;

  beforeAll(async () => {
    cp = await startControlPlane();
    const rr = await startRrConfig({ ns: cp.ns });
    stops.push(() => rr.close());
    const router = await startRouterConfig({ ns: cp.ns });
    stops.push(() => router.close());
    const r = await http('POST', `${cp.api}/clusters`, { ...clusterBody('sec'), bgp: { md5Password: SECRET, gracefulRestart: true, bfd: false } });
    expect(r.status).toBe(201);
    clusterId = r.body.id;
  });

  afterAll(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await cp?.close();
  });

  it('then the RR and core agents get it on their own command subject, and no event holds it', async () => {
    const rr = await eventually(() => lastCommand<RrDesiredState>(cp.nats, 'rr', rrTargetId(clusterId, 'rr1')), 15000, 50, 'RR desired state');
    expect(JSON.stringify(rr)).toContain(SECRET);
    const core = await eventually(() => lastCommand<RouterDesiredState>(cp.nats, 'router', clusterId), 15000, 50, 'core desired state');
    expect(JSON.stringify(core)).toContain(`password ${SECRET}`);
    await eventually(async () => (await cp.store.read(cp.nats.subjects.evt('router', clusterId))).length > 0, 15000, 50, 'router config rendered');
    const events = await cp.store.read(cp.nats.subjects.evtAll());
    expect(events.some((e) => e.type === 'ClusterCreated')).toBe(true);
    expect(JSON.stringify(events)).not.toContain(SECRET);
  });

  it('then API responses show it redacted: RR config, core config (junos, frr, diff), cluster', async () => {
    const rrConf = await eventually(
      async () => {
        const r = await http('GET', `${cp.api}/clusters/${clusterId}/route-reflectors/rr1/config`);
        return r.status === 200 ? (r.body as string) : undefined;
      },
      15000,
      50,
      'RR config',
    );
    expect(rrConf).toContain('password "<redacted>";');
    for (const format of ['junos', 'frr']) {
      const r = await eventually(
        async () => {
          const x = await http('GET', `${cp.api}/clusters/${clusterId}/router/config?format=${format}`);
          return x.status === 200 ? x : undefined;
        },
        15000,
        50,
        `${format} config`,
      );
      expect(String(r.body)).not.toContain(SECRET);
      expect(String(r.body)).toContain('<redacted>');
    }
    const cluster = await http('GET', `${cp.api}/clusters/${clusterId}`);
    expect(JSON.stringify(cluster.body)).not.toContain(SECRET);
    expect(cluster.body.bgp.md5).toBe(true);
  });

  it('then GET /events to a billing token never shows it', async () => {
    const t = await http('POST', `${cp.api}/tokens`, { name: 'billing-sec', role: 'billing' });
    expect(t.status).toBe(201);
    const head = await cp.store.headSeq();
    const res = await fetch(`${cp.api}/events?since=0&limit=${head}`, { headers: { authorization: `Bearer ${t.body.token}` } });
    const text = await res.text();
    expect(text).toContain('event: ClusterCreated');
    expect(text).not.toContain(SECRET);
  });

  it('then the read model holds a reference, not the value', async () => {
    const { Client } = await import('pg');
    const c = new Client({ connectionString: cp.db.url });
    await c.connect();
    try {
      const rows = await eventually(
        async () => (await c.query(`SELECT bgp FROM fabric.clusters WHERE id = $1`, [clusterId])).rows[0],
        15000,
        50,
        'cluster row',
      );
      expect(JSON.stringify(rows)).not.toContain(SECRET);
    } finally {
      await c.end();
    }
  });

  it('when the password is rotated then every agent gets the new one in a new generation, and it is nowhere else', async () => {
    const NEW = 'Rotated-s3cret#2';
    const rrId = rrTargetId(clusterId, 'rr1');
    const before = (await lastCommand<RrDesiredState>(cp.nats, 'rr', rrId))!;
    const r = await http('PUT', `${cp.api}/clusters/${clusterId}/bgp/md5-password`, { md5Password: NEW });
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body)).not.toContain(NEW);
    const rr = await eventually(
      async () => {
        const s = await lastCommand<RrDesiredState>(cp.nats, 'rr', rrId);
        return s && s.generation > before.generation ? s : undefined;
      },
      15000,
      50,
      'RR desired state with the new password',
    );
    expect(JSON.stringify(rr)).toContain(NEW);
    expect(JSON.stringify(rr)).not.toContain(SECRET);
    const core = await eventually(
      async () => {
        const s = await lastCommand<RouterDesiredState>(cp.nats, 'router', clusterId);
        return s && JSON.stringify(s).includes(NEW) ? s : undefined;
      },
      15000,
      50,
      'core desired state with the new password',
    );
    expect(JSON.stringify(core)).not.toContain(SECRET);
    const events = await cp.store.read(cp.nats.subjects.evtAll());
    expect(events.some((e) => e.type === 'BgpPasswordChanged')).toBe(true);
    expect(JSON.stringify(events)).not.toContain(NEW);
    const junos = await http('GET', `${cp.api}/clusters/${clusterId}/router/config?format=junos`);
    expect(String(junos.body)).not.toContain(NEW);
  });

  it('when a rotation is refused (bad password, unknown cluster) then nothing changes', async () => {
    const secrets = async () => (await cp.nats.jsm.streams.info(`KV_${secretsBucket(cp.nats.subjects)}`)).state.messages;
    const head = await cp.store.headSeq();
    const stored = await secrets();
    expect((await http('PUT', `${cp.api}/clusters/${clusterId}/bgp/md5-password`, { md5Password: 'has space' })).status).toBe(400);
    expect((await http('PUT', `${cp.api}/clusters/${clusterId}/bgp/md5-password`, {})).status).toBe(400);
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await http('PUT', `${cp.api}/clusters/${unknown}/bgp/md5-password`, { md5Password: 'abc' })).status).toBe(404);
    expect(await secrets()).toBe(stored);
    // (derivers may still be publishing the previous rotation's desired states: only cluster events matter)
    expect((await cp.store.read(cp.nats.subjects.evtAll('cluster'), head)).length).toBe(0);
  });

  it('when a cluster is created without a password then one is generated: MD5 on, stored like a given one, in no event', async () => {
    const r = await http('POST', `${cp.api}/clusters`, clusterBody('sec-default'));
    expect(r.status).toBe(201);
    const cluster = await http('GET', `${cp.api}/clusters/${r.body.id}`);
    expect(cluster.body.bgp).toEqual({ gracefulRestart: true, bfd: false, md5: true, prefixLimitAction: 'restart', coreCommunity: 'no-export' });
    const rr = await eventually(() => lastCommand<RrDesiredState>(cp.nats, 'rr', rrTargetId(r.body.id, 'rr1')), 15000, 50, 'RR desired state');
    const generated = /password "([A-Za-z0-9_-]{32})";/.exec(rr.bird)?.[1];
    expect(generated).toBeDefined();
    const events = await cp.store.read(cp.nats.subjects.evtAll());
    expect(JSON.stringify(events)).not.toContain(generated);
    const rrConf = await eventually(
      async () => {
        const c = await http('GET', `${cp.api}/clusters/${r.body.id}/route-reflectors/rr1/config`);
        return c.status === 200 ? (c.body as string) : undefined;
      },
      15000,
      50,
      'RR config',
    );
    expect(rrConf).toContain('password "<redacted>";');
    expect(rrConf).not.toContain(generated);
  });

  it('when a cluster opts out of MD5 with a reason then it runs without, and the reason is shown; both at once is a 400', async () => {
    const r = await http('POST', `${cp.api}/clusters`, {
      ...clusterBody('sec-optout'),
      bgp: { md5OptOut: 'lab core without md5', prefixLimitAction: 'disable', coreCommunity: '65001:666' },
    });
    expect(r.status).toBe(201);
    const cluster = await http('GET', `${cp.api}/clusters/${r.body.id}`);
    expect(cluster.body.bgp).toEqual({
      gracefulRestart: true,
      bfd: false,
      md5: false,
      md5OptOut: 'lab core without md5',
      prefixLimitAction: 'disable',
      coreCommunity: '65001:666',
    });
    expect(
      (await http('POST', `${cp.api}/clusters/${r.body.id}/networks`, { cidr: '192.0.2.0/24', pools: [{ start: '192.0.2.16', end: '192.0.2.31' }] })).status,
    ).toBe(201);
    const rr = await eventually(
      async () => {
        const d = await lastCommand<RrDesiredState>(cp.nats, 'rr', rrTargetId(r.body.id, 'rr1'));
        return d?.bird.includes('192.0.2.16/28') ? d : undefined;
      },
      15000,
      50,
      'RR desired state with the pool',
    );
    expect(rr.bird).not.toContain('password');
    // the operator's core community on routes to the core
    expect(rr.bird).toContain('bgp_community.add((65001,666));');

    const head = await cp.store.headSeq();
    const both = await http('POST', `${cp.api}/clusters`, { ...clusterBody('sec-both'), bgp: { md5Password: 'abc', md5OptOut: 'why not' } });
    expect(both.status).toBe(400);
    expect(both.body).toMatchObject({ code: 'md5-conflict' });
    for (const bad of [
      { md5OptOut: 'x' },
      { md5OptOut: 'a"b; }' },
      { prefixLimitAction: 'shutdown' },
      { coreCommunity: 'no-export; }' },
      { coreCommunity: '70000:1' },
    ]) {
      expect((await http('POST', `${cp.api}/clusters`, { ...clusterBody('sec-bad'), bgp: bad })).status).toBe(400);
    }
    expect((await cp.store.read(cp.nats.subjects.evtAll('cluster'), head)).length).toBe(0);
  });
});
