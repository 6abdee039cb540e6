/**
 * The operator dashboard in a real browser (Debian chromium via playwright-core) against the whole product on a
 * lab: sign in, create a VM from the form and watch it reach the core, a node's BGP sessions, the router config
 * diff, an API validation error shown on the form, and a floating address attached and moved from the VM pages.
 * Screenshots go to artifacts/screenshots/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { eventually } from '@fabric/testing/infra';
import { http } from '../support/control-plane';
import { atCoreVia, type Fabric, startFabric } from '../support/fabric';

jest.setTimeout(600_000);

const ROOT = path.resolve(__dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'artifacts', 'screenshots');
const DIST_INDEX = path.join(ROOT, 'dashboard', 'dist', 'index.html');

describe('operator dashboard in a browser', () => {
  let f: Fabric | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  const pageErrors: string[] = [];

  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const token = () => (f!.cp as { adminToken?: string }).adminToken ?? 'no-auth-configured-token';

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}: the browser tests need Debian's chromium (apt-get install chromium, or run deploy/ensure-deps.sh as root); set CHROMIUM_PATH to use another binary`,
      );
    }
    // Builds dashboard/dist when missing or older than its sources (as npm start does).
    execFileSync('bash', [path.join(ROOT, 'deploy', 'build-dashboard.sh')], { cwd: ROOT, stdio: 'pipe', timeout: 180_000 });
    if (!existsSync(DIST_INDEX)) throw new Error(`the dashboard build did not produce ${DIST_INDEX}`);
    mkdirSync(SHOTS, { recursive: true });
    f = await startFabric({ nodes: 2, rrs: 2 });
    base = f.api.replace(/\/api\/v1$/, '');
    // launch() runs chromium on a fresh temporary profile (user-data-dir) that it removes on close.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await f?.close();
  });

  it('serves the dashboard at / and sends unknown non-API paths to it', async () => {
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('<div id="root">');
    const deep = await fetch(`${base}/clusters/${f!.clusterId}/vms`, { headers: { accept: 'text/html' } });
    expect(deep.status).toBe(200);
    expect(deep.headers.get('content-type')).toContain('text/html');
    const api = await fetch(`${base}/api/v1/definitely-not-a-route`, { headers: { accept: 'text/html' } });
    expect(api.headers.get('content-type')).not.toContain('text/html');
  });

  it('signs in with an API token and shows the cluster overview', async () => {
    await page.goto(`${base}/login`);
    await page.getByLabel('API token').fill(token());
    await shot('01-login');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(new RegExp(`/clusters/${f!.clusterId}$`));
    await page.getByTestId('topology-svg').waitFor();
    await page.locator('[data-testid^="target-node-"]').first().waitFor();
    expect(
      await page.evaluate(() => (globalThis as unknown as { localStorage: { getItem(k: string): string | null } }).localStorage.getItem('ipfabric.token')),
    ).toBe(token());
    await shot('02-overview');
  });

  it('creates a VM from the form and shows its timeline reaching at-core', async () => {
    await page.getByTestId('nav-vms').click();
    await page.getByLabel('Name', { exact: true }).fill('web-ui');
    await page.getByLabel('Owner', { exact: true }).fill('customer-ui');
    await page.getByLabel('Node', { exact: true }).selectOption({ label: `node1 (${f!.lab.nodes[0].ipv4})` });
    await page.getByLabel('Driver', { exact: true }).selectOption('netns');
    await page.getByTestId('create-vm-submit').click();
    await page.waitForURL(/\/vms\/[0-9a-f-]{36}$/);
    const vmId = page.url().split('/').pop()!;
    await page
      .locator('[data-testid="timeline-at-core"][data-state="done"]')
      .waitFor({ timeout: 90_000 })
      .catch(async (e: Error) => {
        // Say whether the VM or only the page is behind.
        const seen = await http('GET', `${f!.api}/vms/${vmId}`).catch((err: Error) => ({ body: err.message }));
        throw new Error(`${e.message}\nthe API's VM meanwhile: ${JSON.stringify(seen.body)}`);
      });
    await expectText(page.getByTestId('vm-status'), 'at-core');
    for (const step of ['requested', 'ip-allocated', 'applied', 'announced', 'at-core']) {
      expect(await page.getByTestId(`timeline-${step}`).getAttribute('data-state')).toBe('done');
    }
    const ip = (await page.getByTestId('vm-ip-value').textContent())!.trim();
    const api = await http('GET', `${f!.api}/vms/${vmId}`);
    expect(api.body).toMatchObject({ name: 'web-ui', status: 'at-core', ip });
    await shot('03-vm-timeline');
    // RTBH from the VM page: blackhole with a reason (banner with who and why), then lift it.
    await page.getByTestId('blackhole-reason').fill('ui: syn flood');
    await page.getByTestId('blackhole-vm').click();
    await expectText(page.getByTestId('vm-blackhole'), 'ui: syn flood');
    expect((await http('GET', `${f!.api}/vms/${vmId}`)).body.blackhole).toMatchObject({ reason: 'ui: syn flood', actor: 'token:admin(admin)' });
    await shot('03b-vm-blackholed');
    await page.getByTestId('lift-blackhole').click();
    await page.getByTestId('vm-blackhole').waitFor({ state: 'detached' });
    await page.getByTestId('blackhole-reason').waitFor();
  });

  it("shows a node's BGP sessions Established", async () => {
    await page.getByTestId('nav-nodes').click();
    await page.getByTestId('nodes-table').getByRole('link', { name: 'node1' }).click();
    await page.waitForURL(new RegExp(`/nodes/${f!.nodeIds.node1}$`));
    const sessions = page.locator('[data-testid^="node-session-"]');
    await eventually(async () => ((await sessions.count()) === f!.lab.routeReflectors.length ? true : undefined), 30_000, 200, 'one session per RR');
    await page.locator('[data-testid^="node-session-"]:not([data-state="Established"])').waitFor({ state: 'detached', timeout: 60_000 });
    expect(await page.locator('[data-testid^="node-session-"][data-state="Established"]').count()).toBe(f!.lab.routeReflectors.length);
    await shot('04-node');
    // Evacuate asks for a confirmation and shows its dry run meanwhile: where web-ui would go, the receiving node's diff.
    await page.getByTestId('evacuate-button').click();
    await expectText(page.getByTestId('dry-run-events'), 'NodeEvacuationStarted');
    await expectText(page.getByTestId('dry-run-notes'), 'VM web-ui → node node');
    const receiving = /VM web-ui → node (node\d+)/.exec((await page.getByTestId('dry-run-notes').textContent())!)![1];
    expect(receiving).not.toBe('node1');
    await page.getByTestId(`dry-run-target-node-${receiving}`).waitFor();
    await shot('04b-node-evacuate-preview');
    await page.getByRole('group', { name: 'Confirm: Evacuate node' }).getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('dry-run').waitFor({ state: 'detached' });
    expect((await http('GET', `${f!.api}/nodes/${f!.nodeIds.node1}`)).body.status).toBe('active');
    // and every link of the topology picture is green
    await page.getByTestId('nav-topology').click();
    await page.locator('[data-testid^="session-"][data-state="Established"]').first().waitFor();
    await page.locator('[data-testid^="session-"]:not([data-state="Established"])').waitFor({ state: 'detached', timeout: 60_000 });
    await shot('05-topology');
  });

  it('shows the router config diff between two versions', async () => {
    const before = await http<{ version: number }[]>('GET', `${f!.api}/clusters/${f!.clusterId}/router/configs`);
    expect(before.status).toBe(200);
    const nets = await http<{ id: string; cidr: string }[]>('GET', `${f!.api}/clusters/${f!.clusterId}/networks`);
    const net = nets.body.find((n) => n.cidr === '198.51.100.0/24')!;
    // A second pool changes the core's prefix lists: a new router config version.
    const pool = await http('POST', `${f!.api}/clusters/${f!.clusterId}/networks/${net.id}/pools`, { start: '198.51.100.2', end: '198.51.100.5' });
    expect(pool.status).toBeLessThan(300);
    const latest = before.body[0]?.version ?? 0;
    const after = await eventually(
      async () => {
        const r = await http<{ version: number }[]>('GET', `${f!.api}/clusters/${f!.clusterId}/router/configs`);
        return r.body[0]?.version > latest ? r.body : undefined;
      },
      30_000,
      200,
      'a new router config version',
    );
    await page.getByTestId('nav-router-config').click();
    await page.getByTestId('router-config').waitFor();
    await page.getByTestId('router-format').selectOption('frr');
    await page.getByTestId('router-version').selectOption(String(after[0].version));
    await page.getByTestId('router-diff-base').selectOption(String(after[1].version));
    const diff = page.getByTestId('router-diff');
    await diff.waitFor();
    await expectText(diff, `frr v${after[1].version}`);
    await expectText(diff, '198.51.100.2');
    expect(await diff.locator('.d-add').count()).toBeGreaterThan(0);
    await shot('06-router-diff');
  });

  it('shows the API error of an invalid form submission, field by field', async () => {
    await page.getByTestId('nav-vms').click();
    await page.getByLabel('Name', { exact: true }).fill(`bad"name`);
    await page.getByLabel('Owner', { exact: true }).fill('customer-ui');
    await page.getByTestId('create-vm-submit').click();
    const err = page.getByTestId('api-error');
    await err.waitFor();
    await expectText(page.getByTestId('api-error-status'), '400');
    expect((await page.getByTestId('api-error-code').textContent())!.length).toBeGreaterThan(0);
    await expectText(page.getByTestId('api-error-fields'), 'name');
    await page.getByTestId('field-error-name').waitFor();
    expect(page.url()).toMatch(/\/vms$/);
    await shot('07-form-error');
  });

  it('shows who did what on the audit page, filtered by actor', async () => {
    await page.getByTestId('nav-audit').click();
    const created = page.locator('[data-testid="audit-row-VmCreated"]').first();
    await created.waitFor();
    expect(await created.textContent()).toContain('CreateVm');
    await page.getByTestId('audit-actor').fill('nobody');
    await page.getByTestId('audit-apply').click();
    await page.getByText('No entry matches.').waitFor();
    await page.getByTestId('audit-actor').fill('');
    await page.getByTestId('audit-apply').click();
    await page.locator('[data-testid="audit-row-ClusterCreated"]').first().waitFor();
    await shot('09-audit');
  });

  it("attaches the owner's floating address from a VM page, moves it from another VM's page, and shows it move", async () => {
    const [n1, n2] = f!.lab.nodes;
    const vms = (await http<{ id: string; name: string }[]>('GET', `${f!.api}/vms?clusterId=${f!.clusterId}`)).body;
    const a = vms.find((v) => v.name === 'web-ui')!;
    const c = await http('POST', `${f!.api}/vms`, {
      clusterId: f!.clusterId,
      nodeId: f!.nodeIds[n2.name],
      name: 'web-ui-2',
      ownerId: 'customer-ui',
      driver: 'netns',
    });
    expect(c.status).toBe(202);
    const b = c.body as { id: string };
    await eventually(async () => ((await http('GET', `${f!.api}/vms/${b.id}`)).body.status === 'at-core' ? true : undefined), 90_000, 200, 'web-ui-2 at-core');
    const fa = await http('POST', `${f!.api}/floating-addresses`, { clusterId: f!.clusterId, owner: 'customer-ui' });
    expect(fa.status).toBe(201);
    const ip = fa.body.ip as string;
    // web-ui's page (node 1): the owner's address, not attached; attach it here.
    await page.goto(`${base}/clusters/${f!.clusterId}/vms/${a.id}`);
    const row = page.getByTestId(`floating-${ip}`);
    await expectText(row, 'allocated');
    await expectText(page.getByTestId(`floating-attach-${ip}`), 'Attach here');
    await page.getByTestId(`floating-attach-${ip}`).click();
    await expectText(row, 'attached here');
    await atCoreVia(f!, ip, n1.ipv4, 120_000);
    await expectText(row, 'at-core');
    await shot('10-floating-attached');
    // web-ui-2's page (node 2): on another VM; move it here, make-before-break, until it is attached here.
    await page.goto(`${base}/clusters/${f!.clusterId}/vms/${b.id}`);
    const row2 = page.getByTestId(`floating-${ip}`);
    await expectText(row2, 'on another VM');
    await expectText(page.getByTestId(`floating-attach-${ip}`), 'Move here');
    await page.getByTestId(`floating-attach-${ip}`).click();
    await atCoreVia(f!, ip, n2.ipv4, 120_000);
    await expectText(row2, 'attached here');
    await expectText(row2, 'at-core');
    expect((await http('GET', `${f!.api}/floating-addresses/${fa.body.id}`)).body).toMatchObject({ vmId: b.id, fromVmId: null, status: 'attached' });
    await shot('11-floating-moved');
    // And web-ui's page says where it went.
    await page.goto(`${base}/clusters/${f!.clusterId}/vms/${a.id}`);
    await expectText(page.getByTestId(`floating-${ip}`), 'on another VM');
    await expectText(page.getByTestId(`floating-attach-${ip}`), 'Move here');
  });

  it('keeps a live event log and raised no page errors', async () => {
    await page.getByTestId('nav-events').click();
    // With GET /api/v1/events the log fills from the feed; without it the dashboard says it polls.
    await page.locator('[data-testid="event-row"], [data-testid="feed-status"][data-mode="polling"]').first().waitFor({ timeout: 30_000 });
    if ((await page.getByTestId('feed-status').getAttribute('data-mode')) === 'live') {
      await page.getByTestId('event-row').first().waitFor();
      await page.locator('[data-testid="event-row"][data-type="VmCreated"]').first().waitFor();
    }
    await shot('08-events');
    expect(pageErrors).toEqual([]);
  });
});

async function expectText(locator: ReturnType<Page['getByTestId']>, text: string) {
  await eventually(async () => ((await locator.textContent())?.includes(text) ? true : undefined), 30_000, 100, `"${text}" shown`);
}
