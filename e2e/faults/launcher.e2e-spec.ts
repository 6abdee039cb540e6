/**
 * `npm start` / `npm run status` / `npm run stop` as a user runs them (the launcher as its own process),
 * on this run's own data dir, NATS namespace, database, gateway port and lab prefix, with the product's own
 * authenticated NATS (every service and agent its own identity, as npm start):
 *  - kill -9 of a service and of an agent: the supervisor brings both back, the product keeps working;
 *  - stop after agents were killed (the supervisor restarting them while the stop runs), after the
 *    supervisor itself was killed, and after a start that failed half-way: no process of the product and
 *    no lab namespace remains — checked by the processes' environment (marker, FABRIC_NS), not pid files.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, dropTestDatabase, eventually, uniqueNs } from '@fabric/testing/infra';
import { labDown } from '../../deploy/lab/topology';
import { SupervisorClient } from '../../deploy/supervisor-client';
import { markedProcesses, terminate } from '../../deploy/procs';
import { listPids } from '../../agents/src/drivers/proc';
import { http } from '../support/control-plane';
import { coreRouteVia } from './support/lab-checks';

jest.setTimeout(600_000);
const ROOT = path.resolve(__dirname, '..', '..');

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

interface Run {
  code: number;
  out: string;
}

describe('npm start / status / stop under supervision', () => {
  const ns = uniqueNs('l');
  const prefix = `l${randomBytes(3).toString('hex')}-`;
  const token = `fab_${randomBytes(24).toString('hex')}`;
  let dataDir: string;
  let db: { name: string; url: string };
  let env: NodeJS.ProcessEnv;
  let api: string;
  let sup: SupervisorClient;

  const launcher = (cmd: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}) =>
    new Promise<Run>((resolve) =>
      execFile(
        process.execPath,
        ['-r', './deploy/register.js', 'deploy/launcher.ts', cmd, ...args],
        { cwd: ROOT, env: { ...env, ...extra }, timeout: 300_000, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      ),
    );

  /**
   * Every process of this run, found by what it carries: the supervisor marker or this run's NATS namespace.
   * `keptInfra`: the product's own NATS (and the supervisor keeping it) that a plain stop leaves running.
   */
  async function productProcesses(keptInfra = false): Promise<string[]> {
    const found: string[] = [];
    const supervisorPid = keptInfra ? (await sup.status())?.pid : undefined;
    for (const pid of await listPids()) {
      if (pid === process.pid || pid === supervisorPid) continue;
      const environ = await fs.readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
      const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      if (/\) [ZX] /.test(stat)) continue;
      const cmd = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
      const vars = environ.split('\0');
      if (keptInfra && vars.includes('FABRIC_PROGRAM=nats-auth')) continue;
      if (vars.includes(`FABRIC_SUPERVISOR=${dataDir}`) || vars.includes(`FABRIC_NS=${ns}`) || cmd.includes(`/run/ip-fabric-lab/${prefix}`))
        found.push(`${pid} ${cmd}`);
    }
    return found;
  }
  const labNamespaces = async () => (await fs.readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith(prefix));

  /** A failed command shows its output in the failure, not just its exit code. */
  const expectOk = (r: Run) => expect(r.code === 0 ? 0 : `exit ${r.code}:\n${r.out}`).toBe(0);

  async function expectNothingLeft(keptInfra = false) {
    expect(await productProcesses(keptInfra)).toEqual([]);
    expect(await labNamespaces()).toEqual([]);
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'fabric-launch-'));
    db = await createTestDatabase();
    const port = await freePort();
    api = `http://127.0.0.1:${port}/api/v1`;
    // The product's own authenticated NATS, as npm start runs it (no NATS_URL): every service and agent with its
    // own identity, the server and its store in this run's data dir.
    const { NATS_URL: _url, NATS_CREDS: _creds, ...inherited } = process.env;
    env = {
      ...inherited,
      FABRIC_DATA_DIR: dataDir,
      FABRIC_NS: ns,
      DATABASE_URL: db.url,
      GATEWAY_PORT: String(port),
      FABRIC_NATS_PORT: String(await freePort()),
      METRICS_BASE_PORT: '0',
      LAB_PREFIX: prefix,
      LAB_NODES: '2',
      LAB_CLUSTER: 'lab',
      FABRIC_ADMIN_TOKEN: token,
      IPAM_RELEASE_COOLDOWN_MS: '0',
      LOG_LEVEL: 'warn',
    };
    sup = new SupervisorClient(dataDir);
  });

  afterAll(async () => {
    await launcher('stop', ['--all']).catch(() => undefined);
    await terminate((await markedProcesses(dataDir)).map((p) => p.pid)).catch(() => undefined);
    await labDown(prefix).catch(() => undefined);
    await dropTestDatabase(db?.name);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts everything supervised; a killed service and agent come back by themselves', async () => {
    const started = await launcher('start');
    expectOk(started);
    const status = (await sup.status())!;
    expect(status.programs.map((p) => p.name).sort()).toEqual(
      [
        'agent-core',
        'agent-node1',
        'agent-node2',
        'agent-rr1',
        'agent-rr2',
        'gateway',
        'nats-auth',
        'inventory',
        'ipam',
        'projector',
        'route-announcer',
        'router-config',
        'rr-config',
      ].sort(),
    );

    for (const name of ['ipam', 'agent-node1']) {
      const before = await sup.waitFor(name, (p) => p.state === 'up');
      process.kill(before.pid!, 'SIGKILL');
      const after = await sup.waitFor(name, (p) => p.state === 'up' && p.pid !== before.pid);
      expect(after).toMatchObject({ restarts: before.restarts + 1, lastExit: { signal: 'SIGKILL' } });
    }
    const out = (await launcher('status')).out;
    expect(out).toMatch(/^ipam\s+up\s+\d+\s+1\s+SIGKILL\s/m);
    expect(out).toMatch(/^agent-node1\s+up\s+\d+\s+1\s+SIGKILL\s/m);

    // The restarted IPAM allocates and the restarted node agent applies: a new VM reaches the core via node1.
    const auth = { authorization: `Bearer ${token}` };
    const clusters = await http('GET', `${api}/clusters`, undefined, auth);
    const cluster = clusters.body.find((c: { name: string }) => c.name === 'lab');
    const nodes = await http('GET', `${api}/clusters/${cluster.id}/nodes`, undefined, auth);
    const node1 = nodes.body.find((n: { name: string }) => n.name === 'node1');
    const vm = await http(
      'POST',
      `${api}/vms`,
      { clusterId: cluster.id, nodeId: node1.id, name: 'after-kill', ownerId: 'c1', driver: 'netns', family: 4 },
      auth,
    );
    expect(vm.status).toBe(202);
    const ip = await eventually(async () => (await http('GET', `${api}/vms/${vm.body.id}`, undefined, auth)).body.ip, 30_000, 100, 'an address');
    await eventually(() => coreRouteVia(`${prefix}core`, ip), 60_000, 100, `${ip} at the core`);
  });

  it("on the authenticated bus, route-announcer's completions go through: a floating address moves and a VM migrates", async () => {
    const auth = { authorization: `Bearer ${token}` };
    const cluster = (await http('GET', `${api}/clusters`, undefined, auth)).body.find((c: { name: string }) => c.name === 'lab');
    const nodes = (await http('GET', `${api}/clusters/${cluster.id}/nodes`, undefined, auth)).body as { id: string; name: string; ipv4?: string }[];
    const [n1, n2] = ['node1', 'node2'].map((n) => nodes.find((x) => x.name === n)!);
    const vm = async (name: string, nodeId: string) => {
      const r = await http('POST', `${api}/vms`, { clusterId: cluster.id, nodeId, name, ownerId: 'c1', driver: 'netns', family: 4 }, auth);
      expect(r.status).toBe(202);
      return eventually(
        async () => {
          const v = (await http('GET', `${api}/vms/${r.body.id}`, undefined, auth)).body;
          return v.status === 'at-core' ? (v as { id: string; ip: string }) : undefined;
        },
        60_000,
        100,
        `${name} at-core`,
      );
    };
    const a = await vm('mover-a', n1.id);
    const b = await vm('mover-b', n2.id);
    const fl = await http('POST', `${api}/floating-addresses`, { clusterId: cluster.id, owner: 'c1' }, auth);
    expect(fl.status).toBe(201);
    const floating = () => http('GET', `${api}/floating-addresses/${fl.body.id}`, undefined, auth).then((r) => r.body);
    expect((await http('POST', `${api}/floating-addresses/${fl.body.id}/attach`, { vmId: a.id }, auth)).status).toBe(200);
    await eventually(async () => ((await floating()).route === 'at-core' ? true : undefined), 60_000, 100, 'floating address at-core on node1');
    // The move completes only when IPAM accepts route-announcer's CompleteFloatingMove (its NATS permissions).
    expect((await http('POST', `${api}/floating-addresses/${fl.body.id}/attach`, { vmId: b.id }, auth)).body.status).toBe('moving');
    await eventually(async () => ((await floating()).status === 'attached' ? true : undefined), 60_000, 100, 'floating address move completed');
    expect((await floating()).vmId).toBe(b.id);
    // Likewise inventory's CompleteMigration.
    expect((await http('POST', `${api}/vms/${a.id}/migrate`, { nodeId: n2.id }, auth)).status).toBe(202);
    await eventually(
      async () => {
        const v = (await http('GET', `${api}/vms/${a.id}`, undefined, auth)).body;
        return v.nodeId === n2.id && v.status !== 'migrating' ? true : undefined;
      },
      60_000,
      100,
      'migration completed',
    );
  });

  it('stops everything while the supervisor is restarting killed agents', async () => {
    const agents = (await sup.status())!.programs.filter((p) => p.name.startsWith('agent-'));
    for (const a of agents) process.kill(a.pid!, 'SIGKILL');
    const stopped = await launcher('stop');
    expectOk(stopped);
    // A plain stop keeps only what npm start would keep: its own NATS (Postgres is the suite's here).
    await expectNothingLeft(true);
    expect((await sup.status())?.programs.map((p) => p.name)).toEqual(['nats-auth']);
  });

  it('stops everything after the supervisor itself was killed', async () => {
    expectOk(await launcher('start'));
    const s = (await sup.status())!;
    process.kill(s.pid, 'SIGKILL');
    const st = await launcher('status');
    expect(st.out).toMatch(/supervisor not running/);
    expect(st.out).toMatch(/not supervised but ours/);
    expectOk(await launcher('stop'));
    // Its NATS too may stay (infra); the afterAll's stop --all removes it.
    await expectNothingLeft(true);
  });

  it('stops everything after a start that failed half-way', async () => {
    // An invalid cluster name: services and the lab come up, registering the lab fails.
    const failed = await launcher('start', [], { LAB_CLUSTER: 'not a name!' });
    expect(failed.code).not.toBe(0);
    // It must have failed at the registration, not earlier: show why otherwise.
    expect((await labNamespaces()).length ? 'lab up' : `no lab namespaces; start said:\n${failed.out}`).toBe('lab up');
    const programs = (await sup.status())!.programs;
    expect(programs.some((p) => p.name === 'gateway' && p.pid)).toBe(true);
    // The NATS the killed supervisor left behind was replaced by a supervised one (the new supervisor stops
    // its predecessor's orphans before the launcher looks for a running NATS).
    expect(programs.find((p) => p.name === 'nats-auth')).toMatchObject({ state: 'up' });
    expectOk(await launcher('stop'));
    // Its NATS too may stay (infra); the afterAll's stop --all removes it.
    await expectNothingLeft(true);
  });
});
