/**
 * Active-standby inventory (libs/eventstore/src/leader.ts): two inventory processes on one bus, one answers.
 * kill -9 of the leader during a burst of VM creations: the standby takes over by itself, every VM is created
 * exactly once (clients retry with the same command id, as the gateway does), and the killed instance comes
 * back as the standby. The same for a deriver (rr-config): only the leader publishes desired states. And the
 * projector, active-active without a lease: two processes, each killed -9 in turn during a burst through the API,
 * restarted; the read model ends with every VM once and the gateway's reads wait for it.
 */
import { randomUUID } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { Client } from 'pg';
import { EventStore, type Nats, RpcClient, rrNodesBucket } from '@fabric/eventstore';
import { closeTestNats, eventually, openTestNats, uniqueNs } from '@fabric/testing/infra';
import { rrTargetId } from '@fabric/contracts';
import { CLUSTER, NET4, POOL4B, appendEvents, baseFabric, ev, lastCommand } from '@fabric/testing/fabric';
import { clusterBody, type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, streamLastSeq } from '../support/api-fixtures';
import { killAllChildren, type ServiceProcess, spawnService } from '../support/processes';

jest.setTimeout(180_000);

describe('inventory active-standby', () => {
  const ns = uniqueNs('ha');
  let nats: Nats;
  let store: EventStore;
  let rpc: RpcClient;

  const inventory = (instance: string) => spawnService('inventory', { FABRIC_NS: ns, FABRIC_INSTANCE: instance, LOG_LEVEL: 'info' });
  const ready = (p: ServiceProcess, role: 'leader' | 'standby') => p.waitFor(new RegExp(`inventory ready at position \\d+ \\(${role}\\)`), 60_000);

  /** Sends until a leader answers (a retry keeps the command id: the same command, not a new one). */
  async function send<R>(command: string, payload: unknown, commandId = randomUUID()): Promise<R> {
    for (;;) {
      const r = await rpc.request<R>('inventory', command, { commandId, actor: 'test', payload });
      if (r.ok) return r.result;
      if (r.error.status !== 503) throw new Error(`${command}: ${JSON.stringify(r.error)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  beforeAll(async () => {
    nats = await openTestNats(ns);
    store = new EventStore(nats);
    rpc = new RpcClient(nats, 2_000);
  });
  afterAll(async () => {
    await killAllChildren();
    await closeTestNats(nats);
  });

  it('the standby takes over when the leader is killed mid-burst; nothing is lost or created twice', async () => {
    const a = inventory('a');
    await ready(a, 'leader');
    const b = inventory('b');
    await ready(b, 'standby');

    const { clusterId } = await send<{ clusterId: string }>('CreateCluster', clusterBody('ha'));
    const { nodeId } = await send<{ nodeId: string }>('JoinNode', { clusterId, name: 'node1', underlayIp: '198.18.0.101' });

    const total = 60;
    const commandIds = Array.from({ length: total }, () => randomUUID());
    let acked = 0;
    let killedAt = 0;
    let firstAfterKill = 0;
    const burst = (async () => {
      for (const [i, commandId] of commandIds.entries()) {
        await send('CreateVm', { clusterId, nodeId, name: `vm${i}`, ownerId: 'c1', driver: 'netns' }, commandId);
        acked++;
        if (killedAt && !firstAfterKill) firstAfterKill = Date.now();
      }
    })();
    await eventually(() => acked >= 20, 60_000, 20, '20 VMs created');
    killedAt = Date.now();
    await a.kill9();
    await burst;
    expect(b.output.join('')).toMatch(/elected leader/);
    console.log(`inventory failover: the standby answered ${firstAfterKill - killedAt} ms after kill -9 of the leader`);

    // Exactly one VmCreated per command, and the names are unique.
    const created = (await store.read(store.subjects.evtAll())).filter((e) => e.type === 'VmCreated');
    expect(created).toHaveLength(total);
    expect(new Set(created.map((e) => (e.data as { name: string }).name)).size).toBe(total);

    // The killed instance comes back as the standby: the lease stays with the new leader.
    const again = inventory('a');
    await ready(again, 'standby');
    const r = await send<{ vmId: string }>('CreateVm', { clusterId, nodeId, name: 'after', ownerId: 'c1', driver: 'netns' });
    expect(r.vmId).toBeDefined();
  });
});

describe('deriver active-standby (rr-config)', () => {
  const ns = uniqueNs('hd');
  let nats: Nats;
  let store: EventStore;
  const rrConfig = (instance: string) => spawnService('rr-config', { FABRIC_NS: ns, FABRIC_INSTANCE: instance, LOG_LEVEL: 'info' });

  beforeAll(async () => {
    nats = await openTestNats(ns);
    store = new EventStore(nats);
  });
  afterAll(async () => {
    await killAllChildren();
    await closeTestNats(nats);
  });

  it('only the leader publishes; after kill -9 the standby derives what changed since', async () => {
    await appendEvents(store, baseFabric());
    const a = rrConfig('a');
    await a.waitFor('leading: deriving and publishing', 60_000);
    const b = rrConfig('b');
    await b.waitFor('standing by', 60_000);
    const rr1 = rrTargetId(CLUSTER, 'rr-1');
    const first = await eventually(() => lastCommand(nats, 'rr', rr1), 30_000, 50, 'rr-1 desired state');

    await a.kill9();
    // A node joining: its session is one key of the RR node-parts bucket (the RR commands do not change).
    const node9 = '22222222-2222-4222-8222-222222222229';
    await appendEvents(store, [ev.nodeJoined(node9, 'node-9', '198.18.0.19')]);
    const kv = await new Kvm(nats.nc).open(rrNodesBucket(nats.subjects));
    const part = await eventually(
      async () => {
        const e = await kv.get(`${CLUSTER}.${node9}`);
        return e?.operation === 'PUT' ? e.string() : undefined;
      },
      60_000,
      100,
      "node-9's RR node part from the former standby",
    );
    expect(part).toContain('198.18.0.19');
    // A pool: a change of the cluster-wide part, a new generation of every RR command.
    await appendEvents(store, [ev.poolAdded(NET4, POOL4B, '203.0.113.128', '203.0.113.254')]);
    const next = await eventually(
      async () => {
        const c = await lastCommand(nats, 'rr', rr1);
        return c && c.generation > first.generation ? c : undefined;
      },
      60_000,
      100,
      'a new rr-1 generation from the former standby',
    );
    expect(JSON.stringify(next)).toContain('203.0.113.128');
    await b.waitFor('elected leader', 1_000);
  });
});

describe('projector processes (active-active, no lease)', () => {
  let cp: ControlPlane;
  afterAll(async () => {
    await killAllChildren();
    await cp?.close();
  });

  const projector = async () => {
    const p = spawnService('projector', { FABRIC_NS: cp.ns, DATABASE_URL: cp.db.url, DB_SCHEMA: 'fabric', LOG_LEVEL: 'info' });
    await p.waitFor('projector running', 60_000);
    return p;
  };

  it('each killed -9 in turn during a burst and restarted: every VM in the read model once, reads wait for it', async () => {
    // the gateway migrates and follows; the projectors write
    cp = await startControlPlane({ projector: 'external' });
    const procs = [await projector(), await projector()];
    const fx = await createFixture(cp, { nodes: 1 });
    const total = 60;
    let acked = 0;
    const ids: string[] = [];
    const burst = (async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < total) {
            const i = next++;
            const r = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: `p${i}`, ownerId: 'c1' });
            expect(r.status).toBe(202);
            ids.push(r.body.id);
            acked++;
          }
        }),
      );
    })();
    for (const [i, at] of [15, 35].entries()) {
      await eventually(() => acked >= at, 60_000, 10, `${at} VMs accepted`);
      await procs[i].kill9();
      procs[i] = await projector();
    }
    await burst;
    // A read of each accepted VM waits until the read model has it (202 → the gateway recorded its position).
    for (const id of ids) expect((await http('GET', `${cp.api}/vms/${id}`)).status).toBe(200);
    const head = await streamLastSeq(cp.nats);
    await eventually(() => (cp.gateway.runner.currentPosition >= head ? true : undefined), 30_000, 50, 'the gateway sees the checkpoint at the head');
    const db = new Client({ connectionString: cp.db.url });
    await db.connect();
    let rows: { name: string }[];
    try {
      rows = (await db.query(`SELECT name FROM fabric.vms WHERE name LIKE 'p%'`)).rows;
    } finally {
      await db.end();
    }
    expect(rows).toHaveLength(total);
    expect(new Set(rows.map((r) => r.name)).size).toBe(total);
    for (const p of procs) expect(p.running).toBe(true);
  });
});
