/**
 * Core router config rollback: POST /clusters/:id/router/rollback publishes an earlier version's configs as a
 * new version (the FRR core's desired state follows), `?dryRun=true` shows the diff and writes nothing, bad
 * input is refused with a reason, the audit shows who and why, and the next change of the inputs ends it.
 */
import { type RouterDesiredState } from '@fabric/contracts';
import { eventually } from '@fabric/testing/infra';
import { lastCommand } from '@fabric/testing/fabric';
import { startRouterConfig } from '../../services/router-config/src/main';
import { type ControlPlane, clusterBody, http, startControlPlane } from '../support/control-plane';

describe('given a cluster whose core config has two versions (a second pool added)', () => {
  let cp: ControlPlane;
  let stopRouterConfig: () => Promise<unknown>;
  let clusterId: string;
  let networkId: string;
  const core = () => lastCommand<RouterDesiredState>(cp.nats, 'router', clusterId);
  const versions = async () => (await http('GET', `${cp.api}/clusters/${clusterId}/router/configs`)).body as { version: number; rollbackOf?: number }[];
  const config = async (version: number, format = 'frr') =>
    (await http('GET', `${cp.api}/clusters/${clusterId}/router/config?format=${format}&version=${version}`)).body as string;
  const clusterEvents = async () => (await cp.store.read(cp.nats.subjects.evt('cluster', clusterId))).length;
  const untilVersion = (v: number) => eventually(async () => ((await versions())[0]?.version === v ? true : undefined), 15000, 50, `router config v${v}`);

  beforeAll(async () => {
    cp = await startControlPlane();
    const rc = await startRouterConfig({ ns: cp.ns });
    stopRouterConfig = () => rc.close();
    const c = await http('POST', `${cp.api}/clusters`, clusterBody('rollback'));
    expect(c.status).toBe(201);
    clusterId = c.body.id;
    const n = await http('POST', `${cp.api}/clusters/${clusterId}/networks`, {
      cidr: '203.0.113.0/24',
      pools: [{ start: '203.0.113.10', end: '203.0.113.100' }],
    });
    expect(n.status).toBe(201);
    networkId = n.body.id;
    await untilVersion(2); // v1: RRs only, v2: the first pool
    const p = await http('POST', `${cp.api}/clusters/${clusterId}/networks/${networkId}/pools`, { start: '203.0.113.128', end: '203.0.113.254' });
    expect(p.status).toBe(201);
    await untilVersion(3);
  });

  afterAll(async () => {
    await stopRouterConfig?.().catch(() => undefined);
    await cp?.close();
  });

  it('a dry run answers the diff from the current version to the chosen one and writes nothing', async () => {
    const before = await clusterEvents();
    const r = await http('POST', `${cp.api}/clusters/${clusterId}/router/rollback?dryRun=true`, { toVersion: 2 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ clusterId, fromVersion: 3, toVersion: 2, dryRun: true });
    expect(r.body.diffs.frr).toMatch(/^-ip prefix-list FABRIC-POOLS seq \d+ permit 203\.0\.113\.128\/26 ge 32 le 32$/m);
    expect(r.body.diffs.junos).toContain('203.0.113.128/26');
    expect(JSON.stringify(r.body)).not.toMatch(/\{\{secret:/);
    expect(await clusterEvents()).toBe(before);
    expect((await versions())[0].version).toBe(3);
  });

  it.each([
    [{ toVersion: 0 }, 400, 'toVersion'],
    [{ toVersion: 'two' }, 400, 'toVersion'],
    [{ toVersion: 1.5 }, 400, 'toVersion'],
    [{}, 400, 'toVersion'],
    [{ toVersion: 2, force: true }, 400, 'force'],
    [{ toVersion: 2, reason: 'a\nb' }, 400, 'reason'],
    [{ toVersion: 3 }, 409, 'router-config-current'],
    [{ toVersion: 9 }, 404, 'router-config-version-not-found'],
  ])('POST %j → %i (%s), nothing written', async (body, status, reason) => {
    const before = await clusterEvents();
    for (const q of ['', '?dryRun=true']) {
      const r = await http('POST', `${cp.api}/clusters/${clusterId}/router/rollback${q}`, body);
      expect(r.status).toBe(status);
      expect(JSON.stringify(r.body)).toContain(reason);
    }
    expect(await clusterEvents()).toBe(before);
  });

  it('refuses a bad query, an unknown cluster and a billing token', async () => {
    expect((await http('POST', `${cp.api}/clusters/${clusterId}/router/rollback?dryRun=maybe`, { toVersion: 2 })).status).toBe(400);
    expect((await http('POST', `${cp.api}/clusters/00000000-0000-4000-8000-000000000000/router/rollback`, { toVersion: 1 })).status).toBe(404);
    const t = await http('POST', `${cp.api}/tokens`, { name: 'billing-rb', role: 'billing' });
    const r = await http('POST', `${cp.api}/clusters/${clusterId}/router/rollback`, { toVersion: 2 }, {}, { auth: t.body.token });
    expect(r.status).toBe(403);
  });

  it('when rolled back to v2, then v4 carries v2 and says so, the FRR core gets it, and the audit shows who and why', async () => {
    const r = await http('POST', `${cp.api}/clusters/${clusterId}/router/rollback`, { toVersion: 2, reason: 'v3 broke the uplinks' });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ clusterId, fromVersion: 3, toVersion: 2 });
    await untilVersion(4);
    expect((await versions())[0]).toMatchObject({ version: 4, rollbackOf: 2 });
    expect(await config(4)).toBe(await config(2));
    expect(await config(4, 'junos')).toBe(await config(2, 'junos'));
    await eventually(async () => ((await core())?.config.includes('203.0.113.128/26') === false ? true : undefined), 15000, 50, 'FRR core desired state = v2');
    const audit = await http('GET', `${cp.api}/audit?clusterId=${clusterId}`);
    expect(audit.body.items).toContainEqual(
      expect.objectContaining({
        command: 'RollbackRouterConfig',
        event: 'RouterConfigRollbackRequested',
        actor: expect.stringContaining('admin'),
        detail: expect.objectContaining({ toVersion: 2, fromVersion: 3, reason: 'v3 broke the uplinks' }),
      }),
    );
  });

  it('a restarted router-config keeps the rollback (no new version), and the next input change ends it', async () => {
    await stopRouterConfig();
    const rc = await startRouterConfig({ ns: cp.ns });
    stopRouterConfig = () => rc.close();
    // A third pool: the inputs changed, so the config follows them again (all three pools).
    const p = await http('POST', `${cp.api}/clusters/${clusterId}/networks/${networkId}/pools`, { start: '203.0.113.101', end: '203.0.113.110' });
    expect(p.status).toBe(201);
    await untilVersion(5);
    expect((await versions()).map((v) => v.version)).toEqual([5, 4, 3, 2, 1]);
    expect((await versions())[0].rollbackOf).toBeUndefined();
    const v5 = await config(5);
    expect(v5).toContain('203.0.113.128/26');
    await eventually(async () => ((await core())?.config.includes('203.0.113.128/26') ? true : undefined), 15000, 50, 'FRR core desired state = v5');
  });
});
