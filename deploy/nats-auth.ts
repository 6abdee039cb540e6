/**
 * The product's own authenticated NATS: one nkey identity per service and per agent, per-subject
 * permissions (libs/eventstore/src/nats-auth.ts), data under .data/nats-auth. The server only knows public
 * keys; each seed is written once, 0600, for the process (or node) that uses it.
 *
 *   npm run nats -- enroll --role node|rr|router --target <id> [--out <file>]   # an agent's identity
 *   npm run nats -- enroll --role inventory|ipam|…|admin [--out <file>]
 *   npm run nats -- revoke <name> | list | url | config | import [--from <url>]
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { nkeys } from '@nats-io/nats-core';
import { type TargetKind } from '@fabric/contracts';
import {
  type EnrolledIdentity,
  type Identity,
  Nats,
  type NatsClusterMember,
  SERVICE_ROLES,
  identityName,
  importHistory,
  renderServerConfig,
} from '@fabric/eventstore';
import { DATA, daemon, log, pidOf, probe, which, aptInstall } from './infra';

export const AUTH_DIR = path.join(DATA, 'nats-auth');
const REGISTRY = path.join(AUTH_DIR, 'identities.json');
const CONFIG = path.join(AUTH_DIR, 'server.conf');
const CREDS = path.join(AUTH_DIR, 'creds');
const PID_NAME = 'nats-auth';

export const productNatsHost = () => process.env.FABRIC_NATS_HOST ?? '127.0.0.1';
export const productNatsPort = () => Number(process.env.FABRIC_NATS_PORT ?? 4223);
const ns = () => process.env.FABRIC_NS ?? 'fabric';

/**
 * FABRIC_NATS_CLUSTER=3: the product's NATS is a cluster of that many servers on this host (the lab's picture
 * of three control hosts): member i listens for clients on FABRIC_NATS_PORT + i - 1 and for routes on
 * FABRIC_NATS_ROUTE_PORT (6223) + i - 1, its monitoring endpoint (/healthz, /jsz: its own replicas) on
 * FABRIC_NATS_MONITOR_PORT (8223) + i - 1, its store in .data/nats-auth/n<i>/. 1 (the default): one server.
 */
export function natsClusterSize(): number {
  const n = Number(process.env.FABRIC_NATS_CLUSTER || 1);
  if (!Number.isInteger(n) || n < 1 || n > 5 || (n > 1 && n % 2 === 0))
    throw new Error(`FABRIC_NATS_CLUSTER must be 1, 3 or 5 (a Raft quorum), got ${process.env.FABRIC_NATS_CLUSTER}`);
  return n;
}

export interface ProductNatsMember {
  /** The supervised program (nats-auth, or nats-auth-<i> in a cluster). */
  program: string;
  port: number;
  config: string;
  storeDir: string;
  /** Monitoring port (cluster members). */
  httpPort?: number;
  cluster?: NatsClusterMember;
}

/** The route password of this data dir's cluster (generated once, 0600; the same in every member's config). */
function routePassword(): string {
  const file = path.join(AUTH_DIR, 'route-password');
  if (!existsSync(file)) writeAtomic(file, randomBytes(24).toString('hex') + '\n');
  return readFileSync(file, 'utf8').trim();
}

/** The servers of the product's NATS: one, or every member of its cluster. */
export function productNatsMembers(): ProductNatsMember[] {
  const size = natsClusterSize();
  if (size === 1) return [{ program: PID_NAME, port: productNatsPort(), config: CONFIG, storeDir: path.join(AUTH_DIR, 'jetstream') }];
  const host = productNatsHost();
  const routeBase = Number(process.env.FABRIC_NATS_ROUTE_PORT ?? 6223);
  const monitorBase = Number(process.env.FABRIC_NATS_MONITOR_PORT ?? 8223);
  const members = Array.from({ length: size }, (_, i) => i + 1);
  const password = routePassword();
  return members.map((i) => ({
    program: `${PID_NAME}-${i}`,
    port: productNatsPort() + i - 1,
    config: path.join(AUTH_DIR, `server-${i}.conf`),
    storeDir: path.join(AUTH_DIR, `n${i}`, 'jetstream'),
    httpPort: monitorBase + i - 1,
    cluster: {
      name: `${ns()}-nats`,
      serverName: `${ns()}-nats-${i}`,
      host,
      port: routeBase + i - 1,
      routes: members.map((j) => `${host}:${routeBase + j - 1}`),
      routeUser: 'route',
      routePassword: password,
    },
  }));
}

function readRegistry(): EnrolledIdentity[] {
  return existsSync(REGISTRY) ? (JSON.parse(readFileSync(REGISTRY, 'utf8')) as EnrolledIdentity[]) : [];
}

function writeAtomic(file: string, text: string, mode = 0o600) {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** Writes each server's config from the registry and makes the running servers reload it. */
function writeConfig(identities: EnrolledIdentity[]) {
  writeAtomic(REGISTRY, JSON.stringify(identities, null, 2) + '\n');
  for (const m of productNatsMembers()) {
    writeAtomic(
      m.config,
      renderServerConfig({
        host: productNatsHost(),
        port: m.port,
        storeDir: m.storeDir,
        ns: ns(),
        identities,
        ...(m.cluster ? { cluster: m.cluster, httpPort: m.httpPort } : {}),
      }),
    );
    const pid = pidOf(m.program);
    if (pid) process.kill(pid, 'SIGHUP');
  }
}

export const credsFile = (name: string) => path.join(CREDS, `${name}.nk`);

/**
 * Creates a new key pair for an identity (replacing its previous key: re-enrolling rotates it), writes the
 * seed 0600 to `out` (default .data/nats-auth/creds/<name>.nk) and the public key into the server config.
 */
export function enroll(identity: Identity, out = credsFile(identityName(identity))): { name: string; publicKey: string; file: string } {
  const name = identityName(identity);
  const kp = nkeys.createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  const publicKey = kp.getPublicKey();
  writeAtomic(out, seed + '\n');
  const identities = readRegistry().filter((e) => identityName(e.identity) !== name);
  identities.push({ identity, publicKey, enrolledAt: new Date().toISOString() });
  writeConfig(identities);
  return { name, publicKey, file: out };
}

/** The identity's creds file, enrolling it when it has none yet (services and lab agents on this host). */
export function ensureIdentity(identity: Identity): string {
  const name = identityName(identity);
  const file = credsFile(name);
  const enrolled = readRegistry().find((e) => identityName(e.identity) === name);
  if (enrolled && existsSync(file)) {
    const seed = readFileSync(file, 'utf8').trim();
    if (nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey() === enrolled.publicKey) return file;
  }
  return enroll(identity, file).file;
}

export function revoke(name: string): boolean {
  const identities = readRegistry();
  const kept = identities.filter((e) => identityName(e.identity) !== name);
  if (kept.length === identities.length) return false;
  writeConfig(kept);
  return true;
}

/** The seed list of the product's NATS: every member (clients pick one and learn the others from it). */
export const productNatsUrl = () =>
  productNatsMembers()
    .map((m) => `nats://${productNatsHost()}:${m.port}`)
    .join(',');

/** Which NATS the product uses: NATS_URL when set (the operator's server and NATS_CREDS), else our own. */
export function usedNatsUrl(): string {
  return process.env.NATS_URL ?? productNatsUrl();
}

/** Waits until `creds` can connect (a reload of the server config is asynchronous). */
export async function waitAuthenticated(url: string, creds: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const n = await Nats.connect({ servers: url, creds, name: 'probe' });
      await n.close();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`cannot authenticate to ${url} with ${creds}: ${String((last as Error)?.message ?? last)}`);
}

/**
 * Starts the product's own authenticated nats-server (unless NATS_URL names another one), enrolls the
 * services and the control host's admin identity, and creates the streams with the admin identity (no
 * service or agent may create or change streams). Returns the URL; NATS_URL is set for child processes.
 */
export async function ensureProductNats(): Promise<{ url: string; own: boolean }> {
  if (process.env.NATS_URL) return { url: process.env.NATS_URL, own: false };
  // Every process started from here creates and checks the streams with the cluster's replicas.
  if (natsClusterSize() > 1) process.env.FABRIC_STREAM_REPLICAS ||= String(natsClusterSize());
  const admin = ensureIdentity({ role: 'admin' });
  for (const role of SERVICE_ROLES) ensureIdentity({ role });
  writeConfig(readRegistry());
  const url = productNatsUrl();
  const members = productNatsMembers();
  // A single server of an earlier start would answer on member 1's port: it is not a cluster member.
  if (members.length > 1 && pidOf(PID_NAME))
    throw new Error(
      `the single NATS server of an earlier start is running: npm run stop -- --all first (FABRIC_NATS_CLUSTER=${members.length} needs a data dir of its own, see docs/operations/nats-cluster.md)`,
    );
  let bin: string | undefined;
  for (const m of members) {
    if (await probe(productNatsHost(), m.port)) continue;
    bin ??= which('nats-server');
    if (!bin) {
      aptInstall(['nats-server']);
      bin = which('nats-server');
    }
    mkdirSync(m.storeDir, { recursive: true, mode: 0o700 });
    log(
      `starting the product's authenticated NATS${m.cluster ? ` member ${m.cluster.serverName} (routes on ${m.cluster.port})` : ''} on ${productNatsHost()}:${m.port} (data in ${path.dirname(m.storeDir)})`,
    );
    await daemon(m.program, bin!, ['-c', m.config]);
  }
  for (const m of members) await waitAuthenticated(`nats://${productNatsHost()}:${m.port}`, admin, 30000);
  const nats = await Nats.connect({ servers: url, creds: admin, name: 'launcher' });
  try {
    // A cluster answers JetStream requests once it has elected its meta leader (seconds after the start).
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await nats.ensureStreams();
        break;
      } catch (err) {
        if (Date.now() > deadline || !/unavailable|no suitable peers|timeout|503/i.test(String((err as Error)?.message ?? err))) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await nats.close();
  }
  process.env.NATS_URL = url;
  return { url, own: true };
}

/** NATS environment of one service process started by the launcher. */
export function serviceNatsEnv(role: (typeof SERVICE_ROLES)[number]): NodeJS.ProcessEnv {
  if (!process.env.NATS_URL || process.env.NATS_URL !== productNatsUrl()) return {};
  return { NATS_URL: productNatsUrl(), NATS_CREDS: ensureIdentity({ role }) };
}

/** NATS environment of a lab agent (its own identity, enrolled on first use). */
export function agentNatsEnv(kind: TargetKind, target: string): NodeJS.ProcessEnv {
  if (!process.env.NATS_URL || process.env.NATS_URL !== productNatsUrl()) return {};
  const file = ensureIdentity({ role: 'agent', kind, target });
  return { NATS_URL: productNatsUrl(), NATS_CREDS: file };
}

/** NATS environment of a BMP collector of a cluster's core (its own `bmp` identity, enrolled on first use). */
export function bmpNatsEnv(clusterId: string): NodeJS.ProcessEnv {
  if (!process.env.NATS_URL || process.env.NATS_URL !== productNatsUrl()) return {};
  return { NATS_URL: productNatsUrl(), NATS_CREDS: ensureIdentity({ role: 'bmp', cluster: clusterId }) };
}

function usage(): never {
  console.error(
    [
      'usage: npm run nats -- <command>',
      '  enroll --role node|rr|router --target <id> [--out <file>]   an agent identity (its seed file, 0600)',
      "  enroll --role bmp --target <clusterId> [--out <file>]      a BMP collector of that cluster's core",
      '  enroll --role admin|inventory|ipam|route-announcer|rr-config|router-config|gateway|projector [--out <file>]',
      '  revoke <name>                                              e.g. agent-node-<id>',
      "  import [--from <open NATS url, default 127.0.0.1:4222>] [--from-creds <file>]   upgrade: its history into the product's (empty) bus",
      '  list | url | config [--member <i>]',
    ].join('\n'),
  );
  process.exit(2);
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(args: string[]) {
  const cmd = args[0];
  if (cmd === 'enroll') {
    const role = flag(args, 'role');
    const target = flag(args, 'target');
    const out = flag(args, 'out');
    let identity: Identity;
    if (role === 'bmp') {
      if (!target) usage();
      identity = { role: 'bmp', cluster: target };
    } else if (role === 'node' || role === 'rr' || role === 'router') {
      if (!target) usage();
      identity = { role: 'agent', kind: role, target };
    } else if (role === 'admin' || (SERVICE_ROLES as readonly string[]).includes(role ?? '')) {
      identity = { role: role as 'admin' };
    } else usage();
    const r = enroll(identity, out ? path.resolve(out) : undefined);
    for (const m of productNatsMembers()) if (pidOf(m.program)) await waitAuthenticated(`nats://${productNatsHost()}:${m.port}`, r.file);
    console.log(JSON.stringify({ identity: r.name, publicKey: r.publicKey, creds: r.file, natsUrl: usedNatsUrl() }));
  } else if (cmd === 'revoke') {
    if (!args[1]) usage();
    if (!revoke(args[1])) {
      console.error(`no identity ${args[1]}`);
      process.exit(1);
    }
  } else if (cmd === 'import') {
    // Upgrade from an open NATS: its history into the product's own (empty) bus, same sequences.
    const fromUrl = flag(args, 'from') ?? '127.0.0.1:4222';
    const own = await ensureProductNats(); // our server and its (empty) streams, no service yet
    const to = await Nats.connect({ servers: own.url, creds: own.own ? credsFile('admin') : process.env.NATS_CREDS || undefined, name: 'import' });
    const from = await Nats.connect({ servers: fromUrl, creds: flag(args, 'from-creds'), name: 'import' });
    try {
      console.log(JSON.stringify({ from: fromUrl, to: usedNatsUrl(), ...(await importHistory(from, to)) }));
    } finally {
      await from.close();
      await to.close();
    }
  } else if (cmd === 'list') {
    for (const e of readRegistry()) console.log(`${identityName(e.identity).padEnd(60)} ${e.publicKey} ${e.enrolledAt}`);
  } else if (cmd === 'url') {
    console.log(usedNatsUrl());
  } else if (cmd === 'config') {
    // In a cluster: `config --member <i>` (default 1).
    const members = productNatsMembers();
    const m = members[Number(flag(args, 'member') ?? 1) - 1] ?? usage();
    process.stdout.write(existsSync(m.config) ? readFileSync(m.config, 'utf8') : '');
  } else usage();
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err) => {
      console.error(String(err?.message ?? err));
      process.exit(1);
    },
  );
}

/** NATS options of a read-only tool on the control host (projection rebuild): the gateway's identity. */
export function toolNatsOptions(identity: 'gateway' | 'admin' = 'gateway'): { servers: string; creds?: string } {
  if (process.env.NATS_URL) return { servers: process.env.NATS_URL, creds: process.env.NATS_CREDS || undefined };
  const file = credsFile(identity);
  return { servers: productNatsUrl(), creds: existsSync(file) ? file : undefined };
}
