/**
 * The product as `npm start` runs it, for fault injection: every process under the product's supervisor
 * (its own data dir), including its OWN nats-server (another port, its own store) and its OWN Postgres
 * (a private cluster from the Debian binaries, another port), so a test may kill them without touching the
 * machine's shared ones. Its NATS is authenticated as npm start's: every service and agent has its own nkey
 * identity under the permission table (support/suite-identities.ts); the harness reads as the admin.
 * `instances: 2` runs a second instance of every service (FABRIC_SERVICE_INSTANCES=2 of npm start).
 * A lab of its own prefix; close() removes everything, also after a failure.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { rrTargetId } from '@fabric/contracts';
import { Nats, type ServiceRole } from '@fabric/eventstore';
import { labDown, labUp, type LabState } from '../../../deploy/lab/topology';
import { registerLab } from '../../../deploy/lab/launch';
import { POSTGRES_DURABILITY_ENV } from '../../../deploy/durability';
import { probe, which } from '../../../deploy/infra';
import { markedProcesses, terminate } from '../../../deploy/procs';
import { type ProgramSpec } from '../../../deploy/supervisor';
import { SupervisorClient } from '../../../deploy/supervisor-client';
import { type AuthServer, SuiteIdentities } from './suite-identities';

const ROOT = path.resolve(__dirname, '..', '..', '..');
export const SERVICES = ['inventory', 'ipam', 'route-announcer', 'rr-config', 'router-config', 'gateway', 'projector'];

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const run = (cmd: string, args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile(cmd, args, { timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    ),
  );

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function postgresBin(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(path.join(base, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length) throw new Error('no Postgres server binaries under /usr/lib/postgresql (Debian package postgresql)');
  return path.join(base, versions[0], 'bin');
}

export interface SupervisedFabric {
  dataDir: string;
  sup: SupervisorClient;
  api: string;
  /** Every gateway's API (with `instances: 2`: the first and the second gateway), active-active. */
  apis: string[];
  /** The supervisor spec of a service instance (1 or 2), to bring back one a test removed. */
  serviceSpec(service: string, instance?: number): ProgramSpec;
  token: string;
  auth: Record<string, string>;
  natsUrl: string;
  databaseUrl: string;
  lab: LabState;
  clusterId: string;
  nodeIds: Record<string, string>;
  /** The harness's own connection to the product's NATS, as the admin identity (reconnects across its restarts). */
  nats: Nats;
  /** With `natsCluster`: its members (supervised programs nats-1…), else one server named nats. */
  natsMembers: NatsMemberInfo[];
  agentSpec(member: string): ProgramSpec;
  close(): Promise<void>;
}

export interface NatsMemberInfo {
  program: string;
  serverName: string;
  port: number;
  /** Monitoring port (/jsz: this server's own replicas). */
  httpPort: number;
}

/** `n` consecutive free ports on 127.0.0.1 (a cluster's members). */
export async function freePorts(n: number): Promise<number> {
  for (;;) {
    const base = await freePort();
    if (base + n >= 65535) continue;
    const busy = await Promise.all(Array.from({ length: n - 1 }, (_, i) => probe('127.0.0.1', base + 1 + i)));
    if (!busy.some(Boolean)) return base;
  }
}

/**
 * `natsCluster: 3` runs the product's NATS as a cluster of that many servers (routes with a password, the
 * streams with as many replicas) and every process connects with the seed list.
 */
export async function startSupervisedFabric(opts: { nodes?: number; rrs?: number; natsCluster?: number; instances?: 1 | 2 } = {}): Promise<SupervisedFabric> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fabric-faults-'));
  chmodSync(dataDir, 0o755); // the Postgres user reaches its cluster below
  const prefix = `f${randomBytes(3).toString('hex')}-`;
  const sup = new SupervisorClient(dataDir);
  let nats: Nats | undefined;
  const authServers: AuthServer[] = [];
  const close = async () => {
    await nats?.close().catch(() => undefined);
    await sup.stop().catch(() => undefined);
    await terminate((await markedProcesses(sup.dataDir)).map((p) => p.pid)).catch(() => undefined);
    await labDown(prefix).catch(() => undefined);
    // Every program's log, for a failed run (artifacts/ is not committed).
    if (existsSync(path.join(dataDir, 'logs')))
      cpSync(path.join(dataDir, 'logs'), path.join(ROOT, 'artifacts', 'faults-logs', prefix.slice(0, -1)), { recursive: true });
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await sup.start();
    const [pgPort, gwPort] = [await freePort(), await freePort()];
    const natsBin = which('nats-server');
    if (!natsBin) throw new Error('nats-server missing (deploy/ensure-deps.sh)');
    const size = opts.natsCluster ?? 1;
    const natsMembers: NatsMemberInfo[] = [];
    // The product's NATS as npm start runs it: nkey users with the permission table, nothing anonymous.
    const identities = new SuiteIdentities(dataDir, 'fabric');
    const admin = identities.creds({ role: 'admin' });
    const serviceCreds = Object.fromEntries(SERVICES.map((s) => [s, identities.creds({ role: s as ServiceRole })]));
    if (size === 1) {
      const natsPort = await freePort();
      const store = path.join(dataDir, 'nats');
      mkdirSync(store);
      authServers.push({ port: natsPort, storeDir: store, config: path.join(dataDir, 'nats.conf') });
      natsMembers.push({ program: 'nats', serverName: '', port: natsPort, httpPort: 0 });
    } else {
      const [client, route, monitor] = [await freePorts(size), await freePorts(size), await freePorts(size)];
      const routes = Array.from({ length: size }, (_, i) => `127.0.0.1:${route + i}`);
      const routePassword = randomBytes(16).toString('hex');
      for (let i = 0; i < size; i++) {
        const m: NatsMemberInfo = { program: `nats-${i + 1}`, serverName: `faults-nats-${i + 1}`, port: client + i, httpPort: monitor + i };
        const store = path.join(dataDir, `nats-${i + 1}`);
        mkdirSync(store);
        const cluster = { name: 'faults-nats', serverName: m.serverName, host: '127.0.0.1', port: route + i, routes, routeUser: 'route', routePassword };
        authServers.push({ port: m.port, storeDir: store, config: path.join(dataDir, `nats-${i + 1}.conf`), httpPort: m.httpPort, cluster });
        natsMembers.push(m);
      }
    }
    identities.writeConfigs(authServers);
    // The config file only, as npm start (nats-server 2.9 has no sync option for deploy/durability.ts to add).
    for (const [i, m] of natsMembers.entries()) await sup.ensure({ name: m.program, cmd: natsBin, args: ['-c', authServers[i].config], infra: true });

    const pgBin = postgresBin();
    const pgData = path.join(dataDir, 'pg');
    mkdirSync(pgData, { mode: 0o700 });
    const pgUser = Number((await run('id', ['-u', 'postgres'])).trim());
    const pgGroup = Number((await run('id', ['-g', 'postgres'])).trim());
    chownSync(pgData, pgUser, pgGroup);
    const asPostgres = ['--reuid=postgres', '--regid=postgres', '--init-groups', '--'];
    await run('setpriv', [...asPostgres, path.join(pgBin, 'initdb'), '-D', pgData, '-U', 'postgres', '-A', 'trust', '--no-sync']);
    // setpriv execs: the supervised pid is the postmaster, its backends share its process group.
    await sup.ensure({
      name: 'postgres',
      cmd: 'setpriv',
      args: [
        ...asPostgres,
        path.join(pgBin, 'postgres'),
        '-D',
        pgData,
        '-p',
        String(pgPort),
        '-k',
        pgData,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'synchronous_commit=on',
        '-c',
        'fsync=on',
        '-c',
        'max_connections=50',
      ],
      infra: true,
    });
    for (const m of natsMembers) await until(`own NATS ${m.program}`, () => probe('127.0.0.1', m.port));
    await until('own Postgres', () => probe('127.0.0.1', pgPort));

    // The admin creates the streams and buckets (no service may); a cluster once it has elected its meta leader.
    const first = await Nats.connect({
      servers: natsMembers.map((m) => `127.0.0.1:${m.port}`).join(','),
      ns: 'fabric',
      name: 'fault-suite-setup',
      creds: admin,
    });
    try {
      await until(
        'NATS accepts the streams',
        () =>
          first.ensureStreams(size).then(
            () => true,
            () => false,
          ),
        60_000,
      );
    } finally {
      await first.close();
    }

    const token = `fab_${randomBytes(24).toString('hex')}`;
    const natsUrl = natsMembers.map((m) => `127.0.0.1:${m.port}`).join(',');
    const databaseUrl = `postgres://postgres@127.0.0.1:${pgPort}/postgres`;
    const env: Record<string, string> = {
      NATS_URL: natsUrl,
      DATABASE_URL: databaseUrl,
      FABRIC_NS: 'fabric',
      DB_SCHEMA: 'fabric',
      GATEWAY_PORT: String(gwPort),
      FABRIC_ADMIN_TOKEN: token,
      FABRIC_DATA_DIR: dataDir,
      IPAM_RELEASE_COOLDOWN_MS: '0',
      LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'warn',
      METRICS_PORT: '',
      ...(size > 1 ? { FABRIC_STREAM_REPLICAS: String(size) } : {}),
      // A run with another leader lease TTL (docs/operations/nats-cluster.md, "Both at once").
      ...(process.env.FABRIC_LEADER_TTL_MS ? { FABRIC_LEADER_TTL_MS: process.env.FABRIC_LEADER_TTL_MS } : {}),
    };
    const node = (script: string, args: string[] = [], extra: Record<string, string> = {}): Omit<ProgramSpec, 'name'> => ({
      cmd: process.execPath,
      args: ['-r', path.join(ROOT, 'deploy', 'register.js'), path.join(ROOT, script), ...args],
      env: { ...env, ...extra },
      cwd: ROOT,
    });
    const instances = opts.instances ?? 1;
    const gwPorts = [gwPort, ...(instances === 2 ? [await freePort()] : [])];
    const apis = gwPorts.map((p) => `http://127.0.0.1:${p}/api/v1`);
    const api = apis[0];
    // As npm start (deploy/launcher.ts): `<name>-2` is the second instance, with the same identity as the first.
    const serviceSpec = (s: string, instance = 1): ProgramSpec => {
      const gateway = s === 'gateway';
      return {
        name: instance === 1 ? s : `${s}-${instance}`,
        ...node(`services/${s}/src/main.ts`, [], {
          NATS_CREDS: serviceCreds[s],
          ...(gateway ? { ...POSTGRES_DURABILITY_ENV, GATEWAY_PORT: String(gwPorts[instance - 1]), FABRIC_PROJECTOR: 'external' } : {}),
          ...(s === 'projector' ? POSTGRES_DURABILITY_ENV : {}),
        }),
        // The gateway's /health is its liveness probe.
        ...(gateway ? { health: { url: `${apis[instance - 1]}/health` } } : {}),
      };
    };
    const healthy = (url: string) =>
      until(
        `gateway ${url} healthy`,
        () =>
          fetch(`${url}/health`).then(
            (r) => r.ok,
            () => false,
          ),
        120_000,
      );
    for (const s of SERVICES) await sup.ensure(serviceSpec(s));
    nats = await Nats.connect({ servers: natsUrl, ns: 'fabric', name: 'fault-suite', creds: admin });
    await healthy(api);
    // Second instances once the first gateway ran the migrations (one migrator at a time), as npm start.
    if (instances === 2) {
      for (const s of SERVICES) await sup.ensure(serviceSpec(s, 2));
      await healthy(apis[1]);
    }

    const lab = await labUp({ prefix, nodes: opts.nodes ?? 3, rrs: opts.rrs ?? 2, replace: true });
    const { clusterId, nodeIds } = await registerLab(api, lab, 'lab', token);
    const members = [lab.core.name, ...lab.routeReflectors.map((r) => r.name), ...lab.nodes.map((n) => n.name)];
    const agentOf = (member: string) => {
      const role = member === lab.core.name ? 'frr-router' : lab.routeReflectors.some((r) => r.name === member) ? 'rr' : 'node';
      const target = role === 'frr-router' ? clusterId : role === 'rr' ? rrTargetId(clusterId, member) : nodeIds[member];
      // Each agent its own identity, bound to its own command and report subjects (deploy/lab/launch.ts).
      const creds = identities.creds({ role: 'agent', kind: role === 'frr-router' ? 'router' : role, target });
      return { role, target, creds };
    };
    const agentCreds = members.map((m) => agentOf(m).creds);
    // The servers learn the agents' keys: new configs, SIGHUP (a reload), then a connection proves it.
    identities.writeConfigs(authServers);
    for (const m of natsMembers) process.kill((await sup.waitFor(m.program, (p) => p.state === 'up' && !!p.pid)).pid!, 'SIGHUP');
    await until('agent identities accepted', () =>
      Nats.connect({ servers: natsUrl, creds: agentCreds.at(-1), name: 'fault-suite-probe' }).then(
        (n) => n.close().then(() => true),
        () => false,
      ),
    );
    const agentSpec = (member: string): ProgramSpec => {
      const { role, target, creds } = agentOf(member);
      return {
        name: `agent-${member}`,
        ...node('agents/src/main.ts', ['--role', role, '--target', target, '--lab', prefix, '--member', member, '--poll-ms', '300'], { NATS_CREDS: creds }),
      };
    };
    for (const m of members) await sup.ensure(agentSpec(m));
    return {
      dataDir,
      sup,
      api,
      apis,
      serviceSpec,
      token,
      auth: { authorization: `Bearer ${token}` },
      natsUrl,
      databaseUrl,
      lab,
      clusterId,
      nodeIds,
      nats,
      natsMembers,
      agentSpec,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
