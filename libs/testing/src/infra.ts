/**
 * Real infrastructure for integration tests: every run gets its own NATS namespace (streams, subjects,
 * durables) and its own Postgres database, removed afterwards even when the test fails.
 */
import { pollUntil } from '@fabric/service-kit';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nkeys } from '@nats-io/nats-core';
import { type EnrolledIdentity, type Identity, Nats, identityName, natsServerConfig, renderServerConfig } from '@fabric/eventstore';

export function uniqueNs(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export const natsUrl = () => process.env.NATS_URL ?? '127.0.0.1:4222';
export const adminDatabaseUrl = () => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function openTestNats(ns = uniqueNs()): Promise<Nats> {
  const nats = await Nats.connect({ servers: natsUrl(), ns });
  await nats.ensureStreams();
  return nats;
}

export async function closeTestNats(nats: Nats | undefined): Promise<void> {
  if (!nats) return;
  await nats.destroyStreams().catch(() => undefined);
  await nats.close();
}

/** Creates a fresh database; returns its URL. */
export async function createTestDatabase(name = uniqueNs('fabric_t_')): Promise<{ name: string; url: string }> {
  const admin = new Client({ connectionString: adminDatabaseUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

export async function dropTestDatabase(name: string | undefined): Promise<void> {
  if (!name) return;
  const admin = new Client({ connectionString: adminDatabaseUrl() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Polls `fn` until it returns a truthy value or the timeout passes (no fixed sleeps in tests). */
export function eventually<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 15000,
  intervalMs = 50,
  what = 'condition',
): Promise<T> {
  return pollUntil(fn, timeoutMs, what, intervalMs);
}

/** A TCP port nothing listens on now (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

/** Whether something accepts TCP connections on the port (a server that is up). */
export function tcpAnswers(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connectTcp({ host, port }, () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * A nats-server of its own with the product's authorization (nkey users, per-subject permissions) on a
 * free port of `host` (default 127.0.0.1; a test host's own address when a container must reach it), for the tests of
 * identities and permissions. `creds(name)` is the seed file of an identity.
 */
export interface AuthNats {
  url: string;
  ns: string;
  creds(name: string): string;
  stop(): Promise<void>;
}

export async function startAuthenticatedNats(identities: Identity[], ns = uniqueNs('auth'), host = '127.0.0.1'): Promise<AuthNats> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fabric-nats-auth-'));
  const files = new Map<string, string>();
  const enrolled: EnrolledIdentity[] = identities.map((identity) => {
    const kp = nkeys.createUser();
    const file = path.join(dir, `${identityName(identity)}.nk`);
    writeFileSync(file, new TextDecoder().decode(kp.getSeed()), { mode: 0o600 });
    files.set(identityName(identity), file);
    return { identity, publicKey: kp.getPublicKey(), enrolledAt: new Date().toISOString() };
  });
  const port = await freePort(host);
  const conf = path.join(dir, 'server.conf');
  writeFileSync(conf, renderServerConfig({ host, port, storeDir: path.join(dir, 'js'), ns, identities: enrolled }));
  const bin = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p)) ?? 'nats-server';
  const child: ChildProcess = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `nats://${host}:${port}`;
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`nats-server exited: ${stderr}`);
        return tcpAnswers(port, host);
      },
      15000,
      50,
      'authenticated nats-server up',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    ns,
    creds: (name) => {
      const f = files.get(name);
      if (!f) throw new Error(`no identity ${name}`);
      return f;
    },
    stop,
  };
}

export interface TestNatsCluster {
  /** Client URL of each member. */
  urls: string[];
  /** kill -9 of one member (index), as a lost host. */
  kill(i: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A throwaway NATS cluster of `size` nats-servers with JetStream (anonymous clients, ports picked free, a temp
 * directory each), for specs of what only a replicated stream does. Removed by stop(), also when start fails.
 */
export async function startNatsCluster(size = 3, host = '127.0.0.1'): Promise<TestNatsCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fabric-nats-cluster-'));
  const members: { port: number; routePort: number; child?: ChildProcess; exited: Promise<void>; stderr: string }[] = [];
  for (let i = 0; i < size; i++) members.push({ port: await freePort(host), routePort: await freePort(host), stderr: '', exited: Promise.resolve() });
  const bin = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p)) ?? 'nats-server';
  const routes = members.map((m) => `${host}:${m.routePort}`);
  members.forEach((m, i) => {
    const conf = path.join(dir, `n${i}.conf`);
    const cfg = natsServerConfig({
      host,
      port: m.port,
      storeDir: path.join(dir, `js${i}`),
      cluster: { name: 'test', serverName: `n${i}`, host, port: m.routePort, routes, routeUser: 'route', routePassword: 'route-test' },
    });
    writeFileSync(conf, JSON.stringify(cfg));
    const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d) => (m.stderr += String(d)));
    m.child = child;
    m.exited = new Promise<void>((r) => child.once('exit', () => r()));
  });
  const stop = async () => {
    for (const m of members) if (m.child && m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGTERM');
    await Promise.all(members.map((m) => m.exited));
    rmSync(dir, { recursive: true, force: true });
  };
  const urls = members.map((m) => `nats://${host}:${m.port}`);
  try {
    // Up when JetStream has a meta leader: a stream can then be created with every replica.
    await eventually(
      async () => {
        for (const m of members) if (m.child?.exitCode !== null) throw new Error(`nats-server exited: ${m.stderr}`);
        const nats = await Nats.connect({ servers: urls.join(','), ns: 'probe' });
        try {
          await nats.jsm.getAccountInfo();
          return true;
        } catch {
          return false;
        } finally {
          await nats.close();
        }
      },
      30_000,
      200,
      'NATS cluster has a JetStream leader',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    urls,
    kill: async (i) => {
      members[i].child?.kill('SIGKILL');
      await members[i].exited;
    },
    stop,
  };
}
