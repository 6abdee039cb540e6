/**
 * HTTP hardening: a too-large body is a 413, every query parameter is validated (400 with `fields`, never
 * a 500), unknown query parameters and bodies on writes are refused, internal errors never reach a client,
 * Idempotency-Key is bound to (token, method, path, body), failed authentications are rate limited per
 * source and per token, event streams are bounded per token and end when it is revoked, `?access_token` never
 * reaches a trace, and every response carries the security headers (the dashboard a strict CSP).
 * Real NATS and Postgres; every refusal also checks that the event stream did not move.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { setupTelemetry, shutdownTelemetry } from '@fabric/telemetry';
import { eventually } from '@fabric/testing/infra';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture, readModelCaughtUp, settledVm, streamLastSeq } from '../support/api-fixtures';
import { openSse } from '../support/sse';

type Res = { status: number; body: any };

describe('HTTP hardening', () => {
  const exporter = new InMemorySpanExporter();
  const dashboard = mkdtempSync(join(tmpdir(), 'fabric-dash-'));
  let cp: ControlPlane;
  let fx: Fixture;

  beforeAll(async () => {
    await setupTelemetry('test', exporter);
    mkdirSync(join(dashboard, 'assets'));
    writeFileSync(
      join(dashboard, 'index.html'),
      '<!doctype html><html><head><script type="module" src="/assets/app.js"></script></head><body><div id="root"></div></body></html>',
    );
    writeFileSync(join(dashboard, 'assets', 'app.js'), 'console.log(1)');
    cp = await startControlPlane({
      ipamCooldownMs: 0,
      gateway: { dashboardDir: dashboard, limits: { authFailuresPerSource: 6, authFailuresPerToken: 3, authFailureWindowSeconds: 2, sseStreamsPerToken: 2 } },
    });
    fx = await createFixture(cp, { nodes: 2 });
  });
  afterAll(async () => {
    await cp?.close();
    await shutdownTelemetry();
    rmSync(dashboard, { recursive: true, force: true });
  });

  async function refused(send: () => Promise<Res>, status: number, code?: string, field?: string): Promise<Res> {
    const before = await streamLastSeq(cp.nats);
    const res = await send();
    expect({ status: res.status, body: res.body }).toEqual({
      status,
      body: expect.objectContaining({ status, code: expect.any(String), message: expect.any(String) }),
    });
    expect(Object.keys(res.body).every((k) => ['status', 'code', 'message', 'fields'].includes(k))).toBe(true);
    if (code) expect(res.body.code).toBe(code);
    if (field) expect(Object.keys(res.body.fields ?? {})).toContain(field);
    expect(await streamLastSeq(cp.nats)).toBe(before);
    return res;
  }
  const get = (path: string, headers?: Record<string, string>) => () => http('GET', `${cp.api}${path}`, undefined, headers);
  const vmBody = (over: Record<string, unknown> = {}) => ({
    clusterId: fx.clusterId,
    nodeId: fx.nodeIds[0],
    name: `vm-${randomUUID().slice(0, 8)}`,
    ownerId: 'cust-1',
    ...over,
  });

  describe('body limit', () => {
    it('a 300 kB body is a 413, nothing written', async () => {
      await refused(() => http('POST', `${cp.api}/vms`, vmBody({ ownerId: 'x'.repeat(300_000) })), 413, 'payload-too-large');
      await refused(
        () => http('POST', `${cp.api}/clusters/${fx.clusterId}/networks`, JSON.stringify({ cidr: '192.0.2.0/24', pad: 'y'.repeat(70_000) })),
        413,
        'payload-too-large',
      );
    });
  });

  describe('query parameters', () => {
    it.each([
      ['offset=1e300', 'offset'],
      ['offset=-1', 'offset'],
      ['offset=1.5', 'offset'],
      ['offset=99999999999999999999', 'offset'],
      ['limit=1.5', 'limit'],
      ['limit=0', 'limit'],
      ['limit=10001', 'limit'],
      ['limit=%201', 'limit'],
      ['limit=1&limit=2', 'limit'],
      ['clusterId=not-a-uuid', 'clusterId'],
      ['status=gone', 'status'],
      ['dryRun=true', 'dryRun'],
    ])('GET /vms?%s → 400 naming %s', async (q, field) => {
      await refused(get(`/vms?${q}`), 400, 'validation-failed', field);
    });

    it.each([
      ['version=1.5', 'version'],
      ['version=1e3', 'version'],
      ['version=0', 'version'],
      ['version=-2', 'version'],
      ['diff=abc', 'diff'],
      ['format=cisco', 'format'],
      ['formt=frr', 'formt'],
    ])('GET /clusters/:id/router/config?%s → 400 naming %s', async (q, field) => {
      await refused(get(`/clusters/${fx.clusterId}/router/config?${q}`), 400, 'validation-failed', field);
    });

    it('events and billing queries too', async () => {
      await refused(get('/events?limit=1e3'), 400, 'validation-failed', 'limit');
      await refused(get('/events?since=1.5'), 400, 'validation-failed', 'since');
      await refused(get('/events?vmid=x'), 400, 'validation-failed', 'vmid');
      await refused(get('/billing/usage?from=2025-01-01T00:00:00Z&owner=x'), 400, 'validation-failed', 'owner');
      await refused(get(`/clusters/${fx.clusterId}?expand=all`), 400, 'validation-failed', 'expand');
    });

    it('valid values still work', async () => {
      expect((await http('GET', `${cp.api}/vms?limit=10&offset=0&clusterId=${fx.clusterId}`)).status).toBe(200);
      expect((await http('GET', `${cp.api}/vms?offset=2147483647`)).body).toEqual([]);
    });
  });

  describe('writes refuse what they do not understand', () => {
    // dryRun is a query POST /vms understands (docs: dry runs); an unknown one or a value it does not know is refused.
    it('POST /vms?force=true and POST /vms?dryRun=yes are 400s and create nothing', async () => {
      const name = `dry-${randomUUID().slice(0, 6)}`;
      await refused(() => http('POST', `${cp.api}/vms?force=true`, vmBody({ name })), 400, 'validation-failed', 'force');
      await refused(() => http('POST', `${cp.api}/vms?dryRun=yes`, vmBody({ name })), 400, 'validation-failed', 'dryRun');
      await readModelCaughtUp(cp);
      expect((await http('GET', `${cp.api}/vms?clusterId=${fx.clusterId}`)).body.map((v: { name: string }) => v.name)).not.toContain(name);
    });

    it('a body on a write that takes none is a 400 (DELETE /vms/:id, POST /nodes/:id/evacuate); an unknown body field is a 400', async () => {
      const vm = await http('POST', `${cp.api}/vms`, vmBody());
      expect(vm.status).toBe(202);
      await settledVm(cp, vm.body.id);
      await refused(() => http('DELETE', `${cp.api}/vms/${vm.body.id}`, { force: true }), 400, 'unexpected-body');
      await refused(() => http('POST', `${cp.api}/nodes/${fx.nodeIds[1]}/evacuate`, { reason: 'x' }), 400, 'unexpected-body');
      await refused(() => http('POST', `${cp.api}/nodes/${fx.nodeIds[1]}/drain`, { reason: 'x' }), 400, 'validation-failed', 'reason');
      await refused(() => http('POST', `${cp.api}/nodes/${fx.nodeIds[1]}/drain`, { evacuate: 'yes' }), 400, 'validation-failed', 'evacuate');
      await refused(() => http('POST', `${cp.api}/nodes/${fx.nodeIds[1]}/drain?now=1`), 400, 'validation-failed', 'now');
      expect((await http('GET', `${cp.api}/vms/${vm.body.id}`)).body.status).not.toBe('deleted');
    });
  });

  describe('internal errors', () => {
    it('a failing read is a 500 without the SQL error text, with a trace id to find it in the logs', async () => {
      const db = new Client({ connectionString: cp.db.url });
      await db.connect();
      try {
        await db.query('ALTER TABLE "fabric"."vms" RENAME TO "vms_hidden"');
        const r = await http('GET', `${cp.api}/vms`);
        expect(r.status).toBe(500);
        expect(r.body).toEqual({ status: 500, code: 'internal-error', message: expect.stringMatching(/^internal error( \(trace [0-9a-f]{32}\))?$/) });
        expect(JSON.stringify(r.body)).not.toMatch(/relation|vms|select|postgres/i);
      } finally {
        await db.query('ALTER TABLE "fabric"."vms_hidden" RENAME TO "vms"').catch(() => undefined);
        await db.end();
      }
    });
  });

  describe('Idempotency-Key', () => {
    async function twoVms() {
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) {
        const r = await http('POST', `${cp.api}/vms`, vmBody());
        expect(r.status).toBe(202);
        ids.push(r.body.id);
        await settledVm(cp, r.body.id);
      }
      return ids;
    }

    it("one key reused on a second VM's DELETE is a 422 and the second VM stays; the same DELETE again answers as the first", async () => {
      const [a, b] = await twoVms();
      const key = { 'Idempotency-Key': `del-${randomUUID()}` };
      expect((await http('DELETE', `${cp.api}/vms/${a}`, undefined, key)).status).toBe(202);
      await refused(() => http('DELETE', `${cp.api}/vms/${b}`, undefined, key), 422, 'idempotency-key-reused');
      expect((await http('GET', `${cp.api}/vms/${b}`)).body.status).not.toBe('deleted');
      expect((await http('DELETE', `${cp.api}/vms/${a}`, undefined, key)).status).toBe(202);
      // without the key the second delete goes through
      expect((await http('DELETE', `${cp.api}/vms/${b}`)).status).toBe(202);
      await eventually(async () => (await http('GET', `${cp.api}/vms/${b}`)).body.status === 'deleted', 15000, 50, 'second VM deleted');
    });

    it('the same key with another body or on another path is a 422', async () => {
      const key = { 'Idempotency-Key': `post-${randomUUID()}` };
      const body = vmBody();
      const first = await http('POST', `${cp.api}/vms`, body, key);
      expect(first.status).toBe(202);
      await refused(() => http('POST', `${cp.api}/vms`, { ...body, name: `${body.name}-2` }, key), 422, 'idempotency-key-reused');
      await refused(() => http('POST', `${cp.api}/clusters/${fx.clusterId}/networks`, { cidr: '192.0.2.0/24' }, key), 422, 'idempotency-key-reused');
      expect((await http('POST', `${cp.api}/vms`, body, key)).body.id).toBe(first.body.id);
    });

    it('keys are per token: another token may use the same key for its own request', async () => {
      const t = await http('POST', `${cp.api}/tokens`, { name: `ops-${randomUUID().slice(0, 6)}`, role: 'operator' });
      const key = { 'Idempotency-Key': `shared-${randomUUID()}` };
      expect((await http('POST', `${cp.api}/vms`, vmBody(), key)).status).toBe(202);
      expect((await http('POST', `${cp.api}/vms`, vmBody(), key, { auth: t.body.token })).status).toBe(202);
    });

    it.each([
      ['a space', 'a b'],
      ['129 characters', 'k'.repeat(129)],
      ['a quote', 'k"1'],
      ['empty', ''],
    ])('a malformed key (%s) is a 400', async (_, k) => {
      await refused(() => http('POST', `${cp.api}/vms`, vmBody(), { 'Idempotency-Key': k }), 400, 'invalid-idempotency-key');
    });
  });

  describe('event streams', () => {
    it('are bounded per token, end when the token is revoked, and the token then gets a 401', async () => {
      const t = await http('POST', `${cp.api}/tokens`, { name: `sse-${randomUUID().slice(0, 6)}`, role: 'billing' });
      expect(t.status).toBe(201);
      const auth = { authorization: `Bearer ${t.body.token}` };
      const a = await openSse(`${cp.api}/events`, auth);
      const b = await openSse(`${cp.api}/events?access_token=${t.body.token}`, {});
      expect([a.status, b.status]).toEqual([200, 200]);
      const third = await fetch(`${cp.api}/events`, { headers: auth });
      expect(third.status).toBe(429);
      expect(await third.json()).toMatchObject({ status: 429, code: 'too-many-streams' });
      // another token is not affected by this one's streams
      const admin = await openSse(`${cp.api}/events`, { authorization: `Bearer ${cp.adminToken}` });
      expect(admin.status).toBe(200);
      admin.close();

      expect((await http('DELETE', `${cp.api}/tokens/${t.body.id}`)).status).toBe(200);
      await Promise.all([a.ended, b.ended]);
      expect((await fetch(`${cp.api}/events`, { headers: auth })).status).toBe(401);
    });

    it('?access_token never appears in a trace', async () => {
      const t = await http('POST', `${cp.api}/tokens`, { name: `trace-${randomUUID().slice(0, 6)}`, role: 'billing' });
      const s = await openSse(`${cp.api}/events?since=0&limit=1&access_token=${t.body.token}`, {});
      expect(s.status).toBe(200);
      await s.ended;
      const span = await eventually(
        () => exporter.getFinishedSpans().find((x) => x.name === 'HTTP GET /events' && String(x.attributes['url.path']).includes('since=0&limit=1&')),
        10000,
        50,
        'the SSE request span',
      );
      expect(String(span.attributes['url.path'])).toContain('access_token=REDACTED');
      const everything = JSON.stringify(exporter.getFinishedSpans().map((x) => ({ name: x.name, attributes: x.attributes, events: x.events })));
      expect(everything).not.toContain(t.body.token);
    });
  });

  describe('security headers', () => {
    it('the dashboard has a strict Content-Security-Policy; every response the usual hardening headers', async () => {
      const page = await fetch(cp.api.replace('/api/v1', '/'), { headers: { accept: 'text/html' } });
      expect(page.status).toBe(200);
      const csp = page.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/script-src[^;]*unsafe/);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("object-src 'none'");
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(page.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(page.headers.get('x-powered-by')).toBeNull();
      const asset = await fetch(cp.api.replace('/api/v1', '/assets/app.js'));
      expect(asset.headers.get('content-security-policy')).toContain("script-src 'self'");
      const api = await fetch(`${cp.api}/health`);
      expect(api.headers.get('x-content-type-options')).toBe('nosniff');
      expect(api.headers.get('x-powered-by')).toBeNull();
    });
  });

  describe('failed authentications are rate limited', () => {
    /** From 127.0.0.2: its own source address, so the block does not touch the other tests' requests. */
    function attempt(token: string): Promise<{ status: number; retryAfter: string | undefined; body: any }> {
      const url = new URL(`${cp.api}/clusters`);
      return new Promise((resolve, reject) => {
        const req = request(
          { host: url.hostname, port: url.port, path: url.pathname, localAddress: '127.0.0.2', headers: { authorization: `Bearer ${token}` } },
          (res) => {
            let text = '';
            res
              .on('data', (c) => (text += c))
              .on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: JSON.parse(text) }));
          },
        );
        req.on('error', reject).end();
      });
    }

    it('per token, then per source address, with Retry-After; a valid token works again after the window', async () => {
      const bad = `fab_${randomUUID()}`;
      for (let i = 0; i < 3; i++) expect((await attempt(bad)).status).toBe(401);
      const blocked = await attempt(bad);
      expect(blocked).toMatchObject({ status: 429, body: { status: 429, code: 'too-many-failed-authentications' } });
      expect(Number(blocked.retryAfter)).toBeGreaterThanOrEqual(1);
      // other bad tokens from the same address: counted per source (3 so far, limit 6)
      for (let i = 0; i < 3; i++) expect((await attempt(`fab_${randomUUID()}`)).status).toBe(401);
      const bySource = await attempt(`fab_${randomUUID()}`);
      expect(bySource.status).toBe(429);
      expect(bySource.body.message).toContain('address');
      expect(Number(bySource.retryAfter)).toBeGreaterThanOrEqual(1);
      // while the source is blocked even a valid token waits; afterwards it works
      expect((await attempt(cp.adminToken)).status).toBe(429);
      await eventually(async () => (await attempt(cp.adminToken)).status === 200, 10000, 200, 'the failure window to end');
    });
  });
});
