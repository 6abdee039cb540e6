/**
 * The product's own NATS as a 3-server cluster (FABRIC_NATS_CLUSTER=3), started by the launcher's code
 * (deploy/nats-auth.ts) under a supervisor of its own data dir: routes with their password, nkey identities
 * on every member, the streams and KV buckets with 3 replicas. A service connects with the seed list and keeps
 * publishing while the events stream's leader is killed with kill -9 and kept down; the member then comes back
 * and catches up: its own replica (its /jsz) reaches the same last sequence, nothing lost, nothing twice.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kvm } from '@nats-io/kv';
import { eventually } from '@fabric/testing/infra';
import { Nats } from '@fabric/eventstore';
import { markedProcesses, terminate } from '../../deploy/procs';
import { SupervisorClient } from '../../deploy/supervisor-client';
import { freePorts } from './support/supervised-fabric';
import type * as NatsAuthModule from '../../deploy/nats-auth';

jest.setTimeout(180_000);

type NatsAuth = typeof NatsAuthModule;

interface Jsz {
  account_details?: { stream_detail?: { name: string; state: { messages: number; last_seq: number } }[] }[];
}

describe('the product NATS as a 3-server cluster (FABRIC_NATS_CLUSTER=3)', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fabric-natscluster-'));
  const ns = `nc${randomUUID().slice(0, 8)}`;
  const saved = { ...process.env };
  let auth: NatsAuth;
  let sup: SupervisorClient;
  let admin: Nats | undefined;
  let service: Nats | undefined;

  beforeAll(async () => {
    const [client, route, monitor] = [await freePorts(3), await freePorts(3), await freePorts(3)];
    delete process.env.NATS_URL;
    delete process.env.NATS_CREDS;
    delete process.env.FABRIC_STREAM_REPLICAS;
    Object.assign(process.env, {
      FABRIC_DATA_DIR: dataDir,
      FABRIC_NATS_CLUSTER: '3',
      FABRIC_NATS_PORT: String(client),
      FABRIC_NATS_ROUTE_PORT: String(route),
      FABRIC_NATS_MONITOR_PORT: String(monitor),
      FABRIC_NS: ns,
    });
    // deploy/ reads its data dir when loaded: after the environment above.
    jest.isolateModules(() => {
      auth = require('../../deploy/nats-auth');
    });
    sup = new SupervisorClient(dataDir);
  });

  afterAll(async () => {
    await service?.close().catch(() => undefined);
    await admin?.close().catch(() => undefined);
    await sup.stop().catch(() => undefined);
    await terminate((await markedProcesses(sup.dataDir)).map((p) => p.pid)).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    process.env = saved;
  });

  const jsz = async (httpPort: number): Promise<Jsz> => (await fetch(`http://127.0.0.1:${httpPort}/jsz?accounts=true&streams=true`)).json() as Promise<Jsz>;
  const localEvents = async (httpPort: number) =>
    (await jsz(httpPort)).account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === `${ns.toUpperCase()}_EVENTS`)?.state;

  it('starts three authenticated members with routes and creates every stream with 3 replicas', async () => {
    const { url, own } = await auth.ensureProductNats();
    expect(own).toBe(true);
    const members = auth.productNatsMembers();
    expect(members.map((m) => m.program)).toEqual(['nats-auth-1', 'nats-auth-2', 'nats-auth-3']);
    expect(url.split(',')).toHaveLength(3);
    // Every process started from the launcher creates/checks the streams with the cluster's replicas.
    expect(process.env.FABRIC_STREAM_REPLICAS).toBe('3');
    for (const m of members) {
      expect(statSync(m.config).mode & 0o077).toBe(0);
      const conf = JSON.parse(readFileSync(m.config, 'utf8'));
      expect(conf.cluster.authorization.user).toBe('route');
      expect(conf.cluster.routes).toHaveLength(3);
    }

    admin = await Nats.connect({ servers: url, creds: auth.credsFile('admin'), ns, name: 'test-admin' });
    for (const stream of [`${ns.toUpperCase()}_EVENTS`, `${ns.toUpperCase()}_COMMANDS`, `KV_${ns.toUpperCase()}_SECRETS`, `KV_${ns}_agent_leases`]) {
      const info = await admin.jsm.streams.info(stream);
      expect({ stream, replicas: info.config.num_replicas }).toEqual({ stream, replicas: 3 });
      // A leader and two followers, on three different servers.
      await eventually(
        async () => {
          const i = await admin!.jsm.streams.info(stream);
          return i.cluster?.leader && i.cluster.replicas?.length === 2 && i.cluster.replicas.every((r) => r.current);
        },
        30_000,
        100,
        `${stream} replicated on 3 servers`,
      );
    }
    // Anonymous clients are refused by every member.
    for (const m of members)
      await expect(Nats.connect({ servers: `127.0.0.1:${m.port}`, ns, name: 'anonymous', creds: undefined }).then((n) => n.close())).rejects.toThrow(
        /authoriz/i,
      );
  });

  it('a service keeps publishing while the leader is killed with kill -9; the member comes back and catches up', async () => {
    const members = auth.productNatsMembers();
    const env = auth.serviceNatsEnv('inventory');
    expect(env.NATS_URL).toBe(auth.productNatsUrl());
    service = await Nats.connect({ servers: env.NATS_URL, creds: env.NATS_CREDS, ns, name: 'inventory' });
    const subject = `${ns}.evt.vm.${randomUUID()}`;
    const ids: string[] = [];
    const publish = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const id = randomUUID();
        // Retried with the same Msg-Id until acknowledged (as the event store does): stored once.
        await eventually(
          () =>
            service!.js.publish(subject, JSON.stringify({ id }), { msgID: id, timeout: 2000 }).then(
              () => true,
              () => false,
            ),
          60_000,
          100,
          `publish ${id}`,
        );
        ids.push(id);
      }
    };
    await publish(50);

    const events = `${ns.toUpperCase()}_EVENTS`;
    const leaderName = (await admin!.jsm.streams.info(events)).cluster!.leader!;
    const victim = members.find((m) => m.cluster!.serverName === leaderName)!;
    const before = (await sup.status())!.programs.find((p) => p.name === victim.program)!;
    process.kill(before.pid!, 'SIGKILL');
    // Kept down while the other two go on (a host lost for a while, not a quick restart).
    await sup.remove(victim.program);
    await publish(200);
    const down = await admin!.jsm.streams.info(events);
    expect(down.cluster!.leader).not.toBe(leaderName);
    expect(down.state.last_seq).toBe(250);

    // Back (as the next npm start brings it): it catches up from the new leader.
    delete process.env.NATS_URL;
    await auth.ensureProductNats();
    await eventually(
      async () => (await localEvents(victim.httpPort!).catch(() => undefined))?.last_seq === 250,
      60_000,
      200,
      `${victim.cluster!.serverName} caught up`,
    );
    for (const m of members) expect(await localEvents(m.httpPort!)).toMatchObject({ messages: 250, last_seq: 250 });

    // Nothing lost, nothing twice: every acknowledged id once, in order.
    const stored: string[] = [];
    const c = await admin!.js.consumers.get(events);
    const it = await c.fetch({ max_messages: 250, expires: 5000 });
    for await (const m of it) stored.push((m.json() as { id: string }).id);
    expect(stored).toEqual(ids);

    // The KV buckets are replicated too: a write through the seed list lands on every member.
    const kv = await new Kvm(admin!.nc).open(`${ns}_agent_leases`);
    await kv.put('node.x', 'held');
    expect((await admin!.jsm.streams.info(`KV_${ns}_agent_leases`)).cluster?.replicas?.length).toBe(2);
  });
});
