/**
 * The real fabricctl process (cli/fabricctl wrapper) against a running control plane: tables, --json,
 * names resolved to ids, the API's errors made readable, and the exit codes (0 ok, 1 API, 2 usage).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { type ControlPlane, clusterBody, http, startControlPlane } from '../e2e/support/control-plane';
import { settledVm } from '../e2e/support/api-fixtures';
import { eventually } from '@fabric/testing/infra';
import { DIRECT_TOPOLOGY_WARNING } from '@fabric/contracts';

const BIN = join(__dirname, 'fabricctl');

interface Run {
  code: number;
  out: string;
  err: string;
}

describe('fabricctl against a control plane', () => {
  let cp: ControlPlane;
  let env: Record<string, string>;
  const ctl = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(BIN, args, { env: { ...process.env, ...env }, timeout: 60000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout.trimEnd(), err: stderr.trimEnd() });
      });
    });
  const ok = async (...args: string[]) => {
    const r = await ctl(...args);
    expect({ args, code: r.code, err: r.err }).toEqual({ args, code: 0, err: '' });
    return r.out;
  };

  beforeAll(async () => {
    cp = await startControlPlane({ ipamCooldownMs: 0 });
    // Works before and after API tokens: the token is sent only when the control plane has one.
    const token = (cp as { adminToken?: string }).adminToken;
    env = { FABRIC_API: cp.api, ...(token ? { FABRIC_TOKEN: token } : {}) };
  });

  afterAll(async () => {
    await cp?.close();
  });

  it('drives a cluster from creation to VM migration and deletion', async () => {
    const body = clusterBody('lab');
    // --dry-run creates nothing (no deriver runs here: the diffs say they are not available); the password never shows.
    const dryCluster = await ok(
      'cluster',
      'create',
      '--name',
      'lab',
      '--fabric-asn',
      '65000',
      '--core-asn',
      '65001',
      '--community',
      '65000:100',
      '--rr',
      'rr1=198.18.0.11',
      '--core-router',
      'core=198.18.0.1',
      '--md5-password',
      'dry-Secret-7',
      '--dry-run',
    );
    expect(dryCluster).toMatch(/^dry run: nothing was changed; would append:\n {2}ClusterCreated\n {2}RouteReflectorAdded\n/);
    expect(dryCluster).not.toContain('dry-Secret-7');
    expect(JSON.parse(await ok('cluster', 'list', '--json'))).toEqual([]);
    expect(
      await ok(
        'cluster',
        'create',
        '--name',
        'lab',
        '--fabric-asn',
        '65000',
        '--core-asn',
        '65001',
        '--community',
        '65000:100',
        '--rr',
        'rr1=198.18.0.11',
        '--rr',
        'rr2=198.18.0.12',
        '--core-router',
        'core=198.18.0.1',
        '--vendor',
        'frr',
        '--graceful-restart',
      ),
    ).toMatch(/^cluster lab created: [0-9a-f-]{36}$/);
    const clusters = JSON.parse(await ok('cluster', 'list', '--json'));
    expect(clusters).toHaveLength(1);
    expect(clusters[0]).toMatchObject({ name: 'lab', fabricAsn: body.fabricAsn, coreRouter: { vendor: 'frr' }, bgp: { gracefulRestart: true } });
    const clusterId = clusters[0].id;
    const list = (await ok('cluster', 'list')).split('\n');
    expect(list[0]).toMatch(/^ID\s+NAME\s+FABRIC ASN\s+CORE ASN\s+COMMUNITY\s+RRS\s+CORE$/);
    expect(list[1]).toMatch(new RegExp(`^${clusterId}\\s+lab\\s+65000\\s+65001\\s+65000:100\\s+rr1,rr2\\s+core \\(frr\\)$`));

    expect(await ok('node', 'join', '--cluster', 'lab', '--name', 'node1', '--underlay-ip', '198.18.1.101')).toMatch(/^node node1 joined: /);
    expect(await ok('node', 'join', '--cluster', clusterId, '--name', 'node2', '--underlay-ip', '198.18.1.102')).toMatch(/^node node2 joined: /);
    const nodes = await ok('node', 'list', '--cluster', 'lab');
    expect(nodes.split('\n').map((l) => l.split(/\s+/)[1])).toEqual(['NAME', 'node1', 'node2']);
    expect(
      (await http('POST', `${cp.api}/clusters/${clusterId}/networks`, { cidr: '203.0.113.0/24', pools: [{ start: '203.0.113.10', end: '203.0.113.20' }] }))
        .status,
    ).toBe(201);

    const created = JSON.parse(await ok('vm', 'create', '--cluster', 'lab', '--node', 'node1', '--name', 'web1', '--owner', 'customer-1', '--json'));
    expect(created).toMatchObject({ status: 'requested' });
    const vm = await settledVm(cp, created.id);
    expect(await ok('vm', 'create', '--cluster', 'lab', '--node', 'node2', '--name', 'web2', '--owner', 'customer-2')).toMatch(
      /^vm web2 accepted: [0-9a-f-]{36} \(follow with: fabricctl vm show /,
    );

    const vms = (await ok('vm', 'list', '--cluster', 'lab')).split('\n');
    expect(vms[0]).toMatch(/^ID\s+NAME\s+OWNER\s+IP\s+NODE\s+STATUS$/);
    expect(vms.find((l) => l.startsWith(vm.id))).toMatch(new RegExp(`web1\\s+customer-1\\s+${vm.ip.replace(/\./g, '\\.')}\\s+node1\\s+\\S+$`));
    expect((await ok('vm', 'list', '--owner', 'customer-2')).split('\n')).toHaveLength(2);
    expect(await ok('vm', 'list', '--owner', 'nobody')).toBe('(no VMs)');

    // --dry-run: the events and notes, nothing created (no deriver runs here: the diffs say they are not available).
    const dryVm = await ok('vm', 'create', '--cluster', 'lab', '--node', 'node1', '--name', 'web9', '--owner', 'customer-1', '--dry-run');
    expect(dryVm).toMatch(/^dry run: nothing was changed; would append:\n {2}VmCreated\nnote: address 203\.0\.113\.\d+: the next free one now/);
    expect(dryVm).toMatch(/config diff of node \*: not available \(route-announcer did not render a preview/);
    expect(JSON.parse(await ok('node', 'join', '--cluster', 'lab', '--name', 'node9', '--underlay-ip', '198.18.1.109', '--dry-run', '--json'))).toMatchObject({
      dryRun: true,
      events: [{ type: 'NodeJoined', data: { name: 'node9' } }],
    });
    expect(await ok('vm', 'blackhole', vm.id, '--reason', 'test', '--dry-run')).toMatch(/^dry run: nothing was changed; would append:\n {2}VmBlackholed/);
    expect((await ok('vm', 'list', '--cluster', 'lab')).split('\n')).toHaveLength(3);
    expect((await ok('node', 'list', '--cluster', 'lab')).split('\n')).toHaveLength(3);

    const show = await ok('vm', 'show', vm.id);
    expect(show).toContain(`ip:      ${vm.ip}`);
    expect(show).toContain(`node:    node1 (${vm.nodeId})`);
    expect(show).toMatch(/history:\nAT\s+STATUS\s+EVENT\s+DETAIL\n.*requested\s+VmCreated/);

    expect(await ok('vm', 'migrate', vm.id, '--to', 'node2')).toBe('vm web1 migrating to node2');
    expect(JSON.parse(await ok('vm', 'show', vm.id, '--json'))).toMatchObject({ status: 'migrating', previousNodeId: vm.nodeId });
    expect(await ok('node', 'drain', 'node1', '--cluster', 'lab')).toBe('node node1 is drained');

    const status = await ok('status');
    expect(status).toMatch(/^api ok, read model lag \d+ events/);
    expect(status).toContain(`cluster lab (${clusterId})`);
    expect(status).toMatch(/NODE\s+STATUS\s+DESIRED\s+APPLIED\s+DRIFT\s+BGP\s+VMS\s+LAST ERROR/);
    expect(status).toMatch(/node1\s+drained\s+0\s+0\s+ok\s+-\s+0\s+-/);
    expect(status).toMatch(/vms: 2 \(.*\)/);
    const statusJson = JSON.parse(await ok('status', '--json', '--cluster', 'lab'));
    expect(statusJson.clusters[0]).toMatchObject({ cluster: { name: 'lab' }, vmTotal: 2 });
    expect(statusJson.clusters[0].nodes.map((n: { name: string; drift: boolean }) => [n.name, n.drift])).toEqual([
      ['node1', false],
      ['node2', false],
    ]);

    expect(await ok('vm', 'blackhole', vm.id, '--reason', 'syn flood')).toBe(`vm web1 (${vm.ip}) blackholed: the core discards its traffic`);
    expect(await ok('vm', 'show', vm.id)).toMatch(/blackhole: +since .* by token:admin\(admin\): syn flood/);
    expect(await ctl('vm', 'blackhole', vm.id, '--reason', 'again')).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^error 409 vm-already-blackholed: /),
    });
    expect(await ctl('vm', 'blackhole', vm.id)).toMatchObject({ code: 2, err: expect.stringContaining("required option '--reason <TEXT>'") });
    expect(JSON.parse(await ok('vm', 'unblackhole', vm.id, '--json'))).toMatchObject({ id: vm.id, blackhole: null });
    // Evacuating node1: web1 is still migrating away from it (no agent completes it here), nothing else waits.
    expect(await ok('node', 'evacuate', 'node1', '--cluster', 'lab')).toBe('node node1 is evacuating: 0 VM(s) waiting, 1 migrating');
    expect(await ok('vm', 'delete', vm.id)).toMatch(/^vm .* deleted/);
    // The deleted VM left node1: the evacuation ends by itself.
    await eventually(
      async () => ((await http('GET', `${cp.api}/nodes/${vm.nodeId}/status`)).body.status === 'drained' ? true : undefined),
      20000,
      100,
      'evacuation of node1 finished',
    );
    expect(await ok('node', 'undrain', 'node1', '--cluster', 'lab')).toBe('node node1 is active');
  });

  it('cluster set-bgp: dry run changes nothing, then timers and BFD apply; bad input is refused with the field', async () => {
    const before = await ok('cluster', 'show', 'lab');
    const dry = await ok('cluster', 'set-bgp', 'lab', '--hold-time', '9', '--bfd', 'on', '--bfd-min-rx', '100', '--dry-run');
    expect(dry).toContain('dry run: would change bfd, holdTime, bfdMinRxMs');
    expect(dry).toContain('+holdTime: 9');
    expect(dry).toMatch(/router core/);
    // No deriver runs in this suite: each target says why its config diff is missing.
    expect(dry).toMatch(/config diff of node node1: not available \(route-announcer did not render a preview/);
    expect(await ok('cluster', 'show', 'lab')).toBe(before);
    const done = await ok('cluster', 'set-bgp', 'lab', '--hold-time', '9', '--keepalive-time', '3', '--bfd', 'on', '--bfd-min-rx', '100');
    expect(done).toContain('bfd on, bfd rx 100ms, hold 9s, keepalive 3s');
    expect(await ok('cluster', 'set-bgp', 'lab', '--reset', 'holdTime', '--reset', 'keepaliveTime')).not.toContain('hold 9s');
    expect(await ctl('cluster', 'set-bgp', 'lab', '--hold-time', '2')).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^error 400 invalid-bgp-settings: holdTime/),
    });
    expect(await ctl('cluster', 'set-bgp', 'lab')).toMatchObject({ code: 2, err: expect.stringContaining('nothing to change') });
  });

  it('audit: who did what, filtered and paged', async () => {
    const lines = (await ok('audit', '--cluster', 'lab', '--actor', 'admin', '--limit', '1000')).split('\n');
    expect(lines[0]).toMatch(/^AT\s+ACTOR\s+COMMAND\s+EVENT\s+ON\s+DETAIL$/);
    expect(lines.find((l) => / CreateVm\s+VmCreated /.test(l))).toMatch(/token:admin\(admin\)\s+CreateVm\s+VmCreated\s+vm [0-9a-f-]{36}\s+.*name=web2/);
    expect(lines.some((l) => / DrainNode\s+NodeDrained /.test(l))).toBe(true);
    expect(lines.some((l) => / MigrateVm\s+VmMigrationRequested /.test(l))).toBe(true);
    const page = JSON.parse(await ok('audit', '--limit', '2', '--json'));
    expect(page.items).toHaveLength(2);
    expect(page.next).toMatch(/^\d+\.\d+$/);
    expect(await ok('audit', '--limit', '2')).toContain(`more: fabricctl audit --cursor ${page.next}`);
    const all = JSON.parse(await ok('audit', '--limit', '2', '--all', '--json'));
    expect(all.next).toBeNull();
    expect(all.items.length).toBeGreaterThan(2);
    expect(await ok('audit', '--actor', 'nobody')).toBe('(no entries)');
    expect(await ctl('audit', '--from', 'yesterday')).toMatchObject({ code: 1, err: expect.stringMatching(/^error 400 validation-failed: [^]*from: /) });
  });

  it('router-config show|diff: text, versions, diff between versions', async () => {
    const clusterId = JSON.parse(await ok('cluster', 'list', '--json'))[0].id;
    expect(await ctl('router-config', 'show', '--cluster', 'lab')).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^error 404 router-config-not-found: /),
    });
    // The router-config service is not part of this control plane: append what it would render.
    for (const version of [1, 2]) {
      const configs = {
        junos: `set policy-options prefix-list fabric 203.0.113.${version}/32\n`,
        frr: `ip prefix-list fabric permit 203.0.113.${version}/32\n`,
      };
      await cp.store.append(cp.store.subjects.evt('router', clusterId), [
        {
          id: `rc-${clusterId}-${version}`,
          event: { type: 'RouterConfigRendered', data: { clusterId, version, hash: `h${version}`, configs, diffs: { junos: '', frr: '' } } },
        },
      ]);
    }
    await eventuallyOk(
      () => ctl('router-config', 'show', '--cluster', 'lab', '--format', 'frr'),
      (r) => r.out.includes('203.0.113.2/32'),
    );
    expect(await ok('router-config', 'show', '--cluster', 'lab', '--version', '1')).toBe('set policy-options prefix-list fabric 203.0.113.1/32');
    const diff = await ok('router-config', 'diff', '--cluster', 'lab');
    expect(diff).toContain('-set policy-options prefix-list fabric 203.0.113.1/32');
    expect(diff).toContain('+set policy-options prefix-list fabric 203.0.113.2/32');
    expect(JSON.parse(await ok('router-config', 'diff', '--cluster', 'lab', '--format', 'frr', '--json'))).toMatchObject({
      format: 'frr',
      from: 1,
      to: 2,
      diff: expect.stringContaining('+ip prefix-list fabric permit 203.0.113.2/32'),
    });
    const versions = (await ok('router-config', 'list', '--cluster', 'lab')).split('\n');
    expect(versions[0]).toMatch(/^VERSION\s+CREATED\s+HASH\s+NOTE$/);
    expect(versions.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['2', '1']);
    const dry = await ok('router-config', 'rollback', '--cluster', 'lab', '--to', '1', '--dry-run', '--format', 'frr');
    expect(dry).toContain('dry run: v2 → v1 (frr):');
    expect(dry).toContain('-ip prefix-list fabric permit 203.0.113.2/32');
    expect(await ctl('router-config', 'rollback', '--cluster', 'lab', '--to', '2')).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^error 409 router-config-current: /),
    });
    expect(await ctl('router-config', 'rollback', '--cluster', 'lab')).toMatchObject({ code: 2, err: expect.stringContaining('--to') });
    expect(await ok('router-config', 'rollback', '--cluster', 'lab', '--to', '1', '--reason', 'v2 broke it')).toMatch(
      /^core router config of v1 requested again \(current: v2\)/,
    );
  });

  it('router-config status: the BMP station and the VM routes each source says the core holds', async () => {
    const text = await ok('router-config', 'status', '--cluster', 'lab');
    expect(text).toMatch(/^bmp station {7}none$/m);
    expect(text).toMatch(/^vm routes at core \d+ by the FRR agent, 0 by BMP$/m);
    expect(text).toMatch(/^compared {10}no /m);
    expect(JSON.parse(await ok('router-config', 'status', '--cluster', 'lab', '--json'))).toMatchObject({
      bmpStation: null,
      routes: { agent: expect.any(Number), bmp: 0 },
      bmp: { compared: false, disagreements: [] },
    });
  });

  it('API errors: status, code, message and fields on stderr, exit 1; --json gives the error body', async () => {
    const taken = await ctl('vm', 'create', '--cluster', 'lab', '--node', 'node2', '--name', 'web2', '--owner', 'customer-2');
    expect(taken).toEqual({ code: 1, out: '', err: expect.stringMatching(/^error 409 vm-name-taken: .*web2/) });
    const invalid = await ctl('vm', 'create', '--cluster', 'lab', '--node', 'node2', '--name', 'bad_name!', '--owner', 'customer 2');
    expect(invalid.code).toBe(1);
    expect(invalid.err.split('\n')[0]).toMatch(/^error 400 [a-z-]+: /);
    expect(invalid.err).toMatch(/\n {2}name: /);
    expect(invalid.err).toMatch(/\n {2}ownerId: /);
    const missing = await ctl('vm', 'show', '00000000-0000-4000-8000-000000000000', '--json');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.err)).toEqual({ status: 404, code: 'vm-not-found', message: 'vm 00000000-0000-4000-8000-000000000000 not found' });
    expect(await ctl('cluster', 'show', 'nope')).toEqual({ code: 1, out: '', err: 'error 404 cluster-not-found: no cluster named nope' });
    expect(await ctl('node', 'list', '--cluster', 'lab', '--api', 'http://127.0.0.1:1/api/v1')).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^error unreachable: cannot reach the API at http:\/\/127\.0\.0\.1:1\/api\/v1/),
    });
    if (env.FABRIC_TOKEN) {
      expect(await ctl('cluster', 'list', '--token', 'wrong')).toMatchObject({ code: 1, err: expect.stringMatching(/^error 401 unauthorized: /) });
    }
  });

  it('private-network create|list|show|delete, vm attach-network|detach-network (networks by name)', async () => {
    const created = JSON.parse(await ok('vm', 'create', '--cluster', 'lab', '--node', 'node2', '--name', 'db1', '--owner', 'tenant-x', '--json'));
    const vm = await settledVm(cp, created.id);
    expect(await ok('private-network', 'create', '--cluster', 'lab', '--owner', 'tenant-x', '--name', 'backend', '--cidr', '192.168.50.0/24')).toMatch(
      /^private network backend \(192\.168\.50\.0\/24\) of tenant-x: vni 10000, id [0-9a-f-]{36}$/,
    );
    const list = (await ok('private-network', 'list', '--cluster', 'lab')).split('\n');
    expect(list[0]).toMatch(/^ID\s+NAME\s+OWNER\s+CIDR\s+VNI\s+VMS$/);
    expect(list[1]).toMatch(/backend\s+tenant-x\s+192\.168\.50\.0\/24\s+10000\s+0$/);
    const netId = list[1].split(/\s+/)[0];
    expect(await ok('vm', 'attach-network', vm.id, '--network', 'backend')).toMatch(
      /^vm db1 attached to backend \(vni 10000\): 192\.168\.50\.2, mac 02(:[0-9a-f]{2}){5}$/,
    );
    expect(await ok('private-network', 'show', netId, '--cluster', 'lab')).toMatch(
      new RegExp(`${vm.id}\\s+backend\\s+10000\\s+192\\.168\\.50\\.2\\s+\\S+\\s+attached`),
    );
    expect(await ok('vm', 'show', vm.id)).toMatch(/private networks:\nVM\s+NETWORK\s+VNI\s+IP\s+MAC\s+STATUS\n.*backend\s+10000\s+192\.168\.50\.2/);
    expect(JSON.parse(await ok('vm', 'show', vm.id, '--json')).privateNetworks).toEqual([
      expect.objectContaining({ networkId: netId, name: 'backend', vni: 10000, ip: '192.168.50.2', status: 'attached' }),
    ]);
    expect(await ctl('private-network', 'delete', netId, '--cluster', 'lab')).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^error 409 private-network-in-use: /),
    });
    expect(await ctl('private-network', 'create', '--cluster', 'lab', '--owner', 'tenant-x', '--name', 'pub', '--cidr', '203.0.113.0/24')).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^error 400 private-network-not-private: /),
    });
    expect(await ctl('vm', 'attach-network', vm.id)).toMatchObject({ code: 2, err: expect.stringContaining("required option '--network <ID|NAME>'") });
    expect(await ok('vm', 'detach-network', vm.id, '--network', netId)).toBe('vm db1 detached (its private address is released after the IPAM cool-down)');
    expect(await ok('private-network', 'delete', netId, '--cluster', 'lab')).toBe('private network backend deleted (vni 10000 freed)');
    expect(await ok('private-network', 'list', '--cluster', 'lab', '--owner', 'tenant-x')).toBe('(no private networks)');
  });

  it('cluster create --topology direct (lab only): no RR, the warning on create, list and show; without it RRs are required', async () => {
    const base = [
      'cluster',
      'create',
      '--name',
      'stand',
      '--fabric-asn',
      '65010',
      '--core-asn',
      '65011',
      '--community',
      '65010:100',
      '--core-router',
      'core=198.18.9.1',
    ];
    expect(await ctl(...base)).toEqual({
      code: 2,
      out: '',
      err: 'fabricctl: give the route reflectors with --rr NAME=IP (or, for a lab/test stand only, --topology direct)',
    });
    const warning = `WARNING: cluster stand: ${DIRECT_TOPOLOGY_WARNING}`;
    const created = await ok(...base, '--topology', 'direct', '--vendor', 'frr');
    expect(created.split('\n')).toEqual([expect.stringMatching(/^cluster stand created: [0-9a-f-]{36}$/), warning]);
    expect(await ok('cluster', 'list')).toContain(warning);
    expect(await ok('cluster', 'list')).toMatch(/stand\s+65010\s+65011\s+65010:100\s+none \(DIRECT, lab only\)/);
    const show = await ok('cluster', 'show', 'stand');
    expect(show.split('\n')[0]).toBe(warning);
    expect(show).toMatch(/topology:\s+direct/);
    expect(JSON.parse(await ok('cluster', 'show', 'stand', '--json'))).toMatchObject({
      topology: 'direct',
      routeReflectors: [],
      warning: DIRECT_TOPOLOGY_WARNING,
    });
    expect(await ctl(...base.map((a) => (a === 'stand' ? 'stand2' : a)), '--topology', 'direct', '--rr', 'rr1=198.18.9.2')).toMatchObject({
      code: 1,
      err: expect.stringContaining('direct-with-route-reflectors'),
    });
  });

  it('usage errors exit 2 before calling the API; help exits 0', async () => {
    expect(await ctl('vm', 'create', '--cluster', 'lab')).toEqual({
      code: 2,
      out: '',
      err: "fabricctl: required option '--node <ID|NAME>' not specified\n(run: fabricctl vm create --help)",
    });
    expect(await ctl('vm', 'frobnicate')).toMatchObject({ code: 2, err: expect.stringContaining("unknown command 'vm frobnicate'") });
    expect(await ctl('vm', 'list', '--colour', 'red', '--json')).toEqual({
      code: 2,
      out: '',
      err: JSON.stringify({ error: 'usage', message: "unknown option '--colour'" }),
    });
    expect(await ctl('node', 'drain', 'node1')).toEqual({
      code: 2,
      out: '',
      err: 'fabricctl: node "node1" is not an id: give --cluster to refer to it by name',
    });
    const help = await ctl('--help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/\n {2}router-config\s+core router config: show, diff, list, rollback/);
    expect(await ctl('router-config', 'diff', '--help')).toMatchObject({
      code: 0,
      out: expect.stringContaining('Usage: fabricctl router-config diff [options]'),
    });
    const completion = await ctl('completion', 'bash');
    expect(completion).toMatchObject({ code: 0, err: '', out: expect.stringContaining('complete -F _fabricctl_complete fabricctl') });
  });
});

async function eventuallyOk(run: () => Promise<Run>, done: (r: Run) => boolean, timeoutMs = 10000): Promise<Run> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run();
    if (done(r)) return r;
    if (Date.now() > deadline) throw new Error(`timed out: last run ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}
