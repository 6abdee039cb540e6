/** API tokens: 401/403, roles, revocation, hashed storage, the actor in event meta, the first admin token. */
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { closeTestNats, createTestDatabase, dropTestDatabase, openTestNats, uniqueNs } from '@fabric/testing/infra';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture } from '../support/api-fixtures';
import { startGateway } from '../../services/gateway/src/main';

const TOKEN_CACHE_MS = 3000;

describe('API auth', () => {
  let cp: ControlPlane;
  let fx: Fixture;
  let db: DataSource;
  const tokens: Record<string, { id: string; token: string }> = {};
  const as = (who: string) => ({ auth: tokens[who].token });

  beforeAll(async () => {
    cp = await startControlPlane({ gateway: { tokenCacheMs: TOKEN_CACHE_MS } });
    fx = await createFixture(cp);
    db = new DataSource({ type: 'postgres', url: cp.db.url });
    await db.initialize();
    for (const [name, role] of [
      ['ops-alice', 'operator'],
      ['billing-bob', 'billing'],
      ['ops-gone', 'operator'],
    ]) {
      const r = await http('POST', `${cp.api}/tokens`, { name, role });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({ id: expect.any(String), name, role, token: expect.stringMatching(/^fab_[A-Za-z0-9_-]{43}$/) });
      tokens[name] = r.body;
    }
  });
  afterAll(async () => {
    await db?.destroy();
    await cp?.close();
  });

  const vmBody = (name: string) => ({ clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name, ownerId: 'cust-1' });

  it('answers 401 without a token or with an unknown / malformed one; health and docs need none', async () => {
    for (const [headers, opts] of [
      [{}, { auth: false as const }],
      [{}, { auth: 'fab_nope' }],
      [{ authorization: 'Basic abc' }, {}],
    ] as const) {
      const r = await http('GET', `${cp.api}/vms`, undefined, { ...headers }, opts);
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ status: 401, code: 'unauthorized', message: expect.any(String) });
    }
    expect((await http('POST', `${cp.api}/vms`, vmBody('x'), {}, { auth: false })).status).toBe(401);
    expect((await http('GET', `${cp.api}/health`, undefined, {}, { auth: false })).status).toBe(200);
    expect((await http('GET', `${cp.api.replace('/api/v1', '')}/api/docs-json`, undefined, {}, { auth: false })).status).toBe(200);
  });

  it('lets an operator create and read VMs, but not manage tokens (403)', async () => {
    const r = await http('POST', `${cp.api}/vms`, vmBody('op1'), {}, as('ops-alice'));
    expect(r.status).toBe(202);
    expect((await http('GET', `${cp.api}/vms/${r.body.id}`, undefined, {}, as('ops-alice'))).status).toBe(200);
    expect((await http('GET', `${cp.api}/clusters/${fx.clusterId}/networks`, undefined, {}, as('ops-alice'))).status).toBe(200);
    const t = await http('POST', `${cp.api}/tokens`, { name: 'sneaky', role: 'admin' }, {}, as('ops-alice'));
    expect(t.status).toBe(403);
    expect(t.body).toEqual({ status: 403, code: 'forbidden', message: expect.any(String) });
    expect((await http('GET', `${cp.api}/tokens`, undefined, {}, as('ops-alice'))).status).toBe(403);
  });

  it('keeps the billing role read-only on billing and events: 403 on POST /vms and cluster reads', async () => {
    const r = await http('POST', `${cp.api}/vms`, vmBody('bill1'), {}, as('billing-bob'));
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('forbidden');
    expect((await http('GET', `${cp.api}/clusters`, undefined, {}, as('billing-bob'))).status).toBe(403);
    expect((await http('GET', `${cp.api}/tokens`, undefined, {}, as('billing-bob'))).status).toBe(403);
    // GET /events is allowed (limit=1 after replaying from 0 ends the stream)
    const ev = await fetch(`${cp.api}/events?since=0&limit=1`, { headers: { authorization: `Bearer ${tokens['billing-bob'].token}` } });
    expect(ev.status).toBe(200);
    expect(await ev.text()).toContain('event: ');
  });

  it('records the token as the actor of the events its writes cause', async () => {
    const r = await http('POST', `${cp.api}/vms`, vmBody('actor1'), {}, as('ops-alice'));
    expect(r.status).toBe(202);
    const events = await cp.store.read(cp.store.subjects.evt('vm', r.body.id));
    expect(events[0]).toMatchObject({ type: 'VmCreated', meta: { actor: 'token:ops-alice(operator)' } });
  });

  it('lists tokens without secrets and answers 401 once a token is revoked', async () => {
    const list = await http('GET', `${cp.api}/tokens`);
    expect(list.status).toBe(200);
    expect(list.body.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['admin', 'ops-alice', 'billing-bob', 'ops-gone']));
    const text = JSON.stringify(list.body);
    for (const t of Object.values(tokens)) expect(text).not.toContain(t.token);
    expect(list.body.find((t: { name: string }) => t.name === 'ops-alice').lastUsedAt).not.toBeNull();

    expect((await http('GET', `${cp.api}/vms`, undefined, {}, as('ops-gone'))).status).toBe(200); // now in the token cache
    const del = await http('DELETE', `${cp.api}/tokens/${tokens['ops-gone'].id}`);
    expect(del.status).toBe(200);
    expect(del.body.revokedAt).toEqual(expect.any(String));
    // revoked on this gateway: its cache entry is dropped at once, not after the cache time
    const after = await http('GET', `${cp.api}/vms`, undefined, {}, as('ops-gone'));
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('unauthorized');
    expect((await http('DELETE', `${cp.api}/tokens/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
    expect((await http('POST', `${cp.api}/tokens`, { name: 'x', role: 'root' })).status).toBe(400);
  });

  it('trusts a verified token for at most the cache time: revoked by another gateway, it answers 401 within it', async () => {
    const r = await http('POST', `${cp.api}/tokens`, { name: 'ops-elsewhere', role: 'operator' });
    expect(r.status).toBe(201);
    const read = async () => (await http('GET', `${cp.api}/vms`, undefined, {}, { auth: r.body.token })).status;
    const t0 = performance.now();
    expect(await read()).toBe(200); // looked up, now cached
    // what DELETE /tokens/:id on another gateway instance writes; this gateway is not told
    await db.query(`UPDATE "fabric"."api_tokens" SET revoked_at = now() WHERE id = $1`, [r.body.id]);
    expect(await read()).toBe(200); // answered from the cache, no lookup
    let status = 200;
    while (status === 200 && performance.now() - t0 < TOKEN_CACHE_MS + 2000) {
      await new Promise((res) => setTimeout(res, 50));
      status = await read();
    }
    expect(status).toBe(401);
    expect(performance.now() - t0).toBeLessThan(TOKEN_CACHE_MS + 2000);
  });

  it('stores only sha256 hashes of tokens, never the tokens', async () => {
    const rows: { name: string; token_hash: string }[] = await db.query(`SELECT * FROM "fabric"."api_tokens"`);
    const dump = JSON.stringify(rows);
    for (const t of [cp.adminToken, ...Object.values(tokens).map((x) => x.token)]) {
      expect(dump).not.toContain(t);
      expect(rows.map((r) => r.token_hash)).toContain(createHash('sha256').update(t).digest('hex'));
    }
    // not part of the projected read model: a rebuild neither compares nor replays it
    const { PROJECTED_TABLES } = await import('@fabric/projections');
    expect(PROJECTED_TABLES).not.toContain('api_tokens');
  });
});

describe('first admin token', () => {
  it('is generated once into <dataDir>/initial-admin-token (0600) when no admin token exists', async () => {
    const ns = uniqueNs();
    const nats = await openTestNats(ns);
    const db = await createTestDatabase();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'fabric-auth-'));
    const saved = process.env.FABRIC_ADMIN_TOKEN;
    delete process.env.FABRIC_ADMIN_TOKEN;
    const start = () => startGateway({ ns, databaseUrl: db.url, schema: 'fabric', port: 0, dataDir });
    let g = await start();
    try {
      const file = path.join(dataDir, 'initial-admin-token');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, 'utf8').trim();
      const api = `${g.url}/api/v1`;
      const list = await http('GET', `${api}/tokens`, undefined, {}, { auth: token });
      expect(list.status).toBe(200);
      expect(list.body).toEqual([expect.objectContaining({ name: 'initial-admin', role: 'admin', revokedAt: null })]);
      // the launcher shows it and deletes the file; a restart does not write another one
      rmSync(file);
      await g.close();
      g = await start();
      expect(existsSync(file)).toBe(false);
      expect((await http('GET', `${g.url}/api/v1/tokens`, undefined, {}, { auth: token })).status).toBe(200);
    } finally {
      await g.close();
      if (saved !== undefined) process.env.FABRIC_ADMIN_TOKEN = saved;
      rmSync(dataDir, { recursive: true, force: true });
      await dropTestDatabase(db.name);
      await closeTestNats(nats);
    }
  });
});
