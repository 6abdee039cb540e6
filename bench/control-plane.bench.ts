/**
 * Control-plane throughput, each figure next to its floor measured in the same run:
 *  - raw JetStream sync publish/s and raw batched `pg` insert rows/s (the engines alone);
 *  - ours: VmCreated → IpAllocated end to end (VMs/s), projection rows/s (read-model catch-up),
 *    IPAM allocations/s with two IPAM processes over 10,000 VMs (and the duplicate count, which must be 0).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { EventStore, RpcClient } from '@fabric/eventstore';
import { openDatabase, ProjectionRunner } from '@fabric/projections';
import { closeTestNats, createTestDatabase, dropTestDatabase, openTestNats, uniqueNs } from '@fabric/testing/infra';
import { startInventory } from '../services/inventory/src/main';
import { startIpam } from '../services/ipam/src/main';
import { stop } from './fabric-processes';
import { report } from './summary';

const ROOT = path.resolve(__dirname, '..');
const N_PIPE = Number(process.env.BENCH_PIPELINE_VMS ?? 2000);
const N_IPAM = Number(process.env.BENCH_IPAM_VMS ?? 10000);

const rate = (n: number, ms: number) => (n * 1000) / ms;
const fmt = (x: number) => x.toFixed(0).padStart(8);

/** Raw sync publish into a stream configured like ours (file storage, dedupe window), then removed. */
async function rawPublish(store: EventStore, n: number): Promise<number> {
  const name = `${store.subjects.eventsStream}_RAW`;
  const subject = `${store.subjects.ns}.benchraw`;
  await store.nats.jsm.streams.add({ name, subjects: [subject], storage: 'file', duplicate_window: 15 * 60 * 1e9 } as never);
  try {
    const t = Date.now();
    for (let i = 0; i < n; i++) await store.nats.js.publish(subject, new TextEncoder().encode(`{"i":${i},"pad":"${'x'.repeat(200)}"}`), { msgID: `raw-${i}` });
    return rate(n, Date.now() - t);
  } finally {
    await store.nats.jsm.streams.delete(name);
  }
}

/**
 * Raw async windowed publish: up to `window` publishes in flight (each still acked by the stream, each with its
 * own Msg-Id, so dedupe is kept), into a stream configured like ours.
 */
async function rawPublishWindowed(store: EventStore, n: number, window = 256): Promise<number> {
  const name = `${store.subjects.eventsStream}_RAWW`;
  const subject = `${store.subjects.ns}.benchraww`;
  await store.nats.jsm.streams.add({ name, subjects: [subject], storage: 'file', duplicate_window: 15 * 60 * 1e9 } as never);
  try {
    const t = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < n) {
          const i = next++;
          await store.nats.js.publish(subject, new TextEncoder().encode(`{"i":${i},"pad":"${'x'.repeat(200)}"}`), { msgID: `raww-${i}` });
        }
      }),
    );
    return rate(n, Date.now() - t);
  } finally {
    await store.nats.jsm.streams.delete(name);
  }
}

async function rawInsert(url: string, n: number): Promise<number> {
  const c = new Client({ connectionString: url });
  await c.connect();
  await c.query('CREATE TABLE raw_bench (id uuid PRIMARY KEY, seq bigint, name text, status text, at timestamptz)');
  const t = Date.now();
  for (let i = 0; i < n; i += 500) {
    const rows: unknown[] = [];
    const values: string[] = [];
    for (let j = i; j < Math.min(n, i + 500); j++) {
      const k = rows.length;
      values.push(`($${k + 1},$${k + 2},$${k + 3},$${k + 4},now())`);
      rows.push(randomUUID(), j, `vm${j}`, 'requested');
    }
    await c.query('BEGIN');
    await c.query(`INSERT INTO raw_bench (id, seq, name, status, at) VALUES ${values.join(',')}`, rows);
    await c.query('COMMIT');
  }
  const r = rate(n, Date.now() - t);
  await c.end();
  return r;
}

async function setupCluster(rpc: RpcClient, poolStart: string, poolEnd: string, cidr: string) {
  const c = await rpc.request<{ clusterId: string }>('inventory', 'CreateCluster', {
    commandId: randomUUID(),
    payload: {
      name: `bench${Date.now()}`,
      fabricAsn: 65000,
      coreAsn: 65001,
      community: '65000:100',
      routeReflectors: [{ name: 'rr1', ip: '198.18.0.11' }],
      coreRouter: { name: 'core', ip: '198.18.0.1', vendor: 'frr' },
    },
  });
  if (!c.ok) throw new Error(JSON.stringify(c.error));
  const clusterId = c.result.clusterId;
  const net = await rpc.request('ipam', 'AddNetwork', { commandId: randomUUID(), payload: { clusterId, cidr, pools: [{ start: poolStart, end: poolEnd }] } });
  if (!net.ok) throw new Error(JSON.stringify(net.error));
  const node = await rpc.request<{ nodeId: string }>('inventory', 'JoinNode', {
    commandId: randomUUID(),
    payload: { clusterId, name: 'node1', underlayIp: '198.18.0.101' },
  });
  if (!node.ok) throw new Error(JSON.stringify(node.error));
  return { clusterId, nodeId: node.result.nodeId };
}

async function countAllocated(store: EventStore, clusterId: string): Promise<{ vms: Set<string>; ips: Map<string, number> }> {
  const vms = new Set<string>();
  const ips = new Map<string, number>();
  for (const e of await store.read(store.subjects.evt('ipam', clusterId))) {
    if (e.type !== 'IpAllocated') continue;
    const d = e.data;
    vms.add(d.vmId);
    ips.set(d.ip, (ips.get(d.ip) ?? 0) + 1);
  }
  return { vms, ips };
}

async function waitAllocated(store: EventStore, clusterId: string, n: number, timeoutMs: number) {
  const subject = store.subjects.evt('ipam', clusterId);
  const deadline = Date.now() + timeoutMs;
  // cheap progress check: the ipam subject has one message per allocation (+1: AddNetwork with its pool is one message)
  for (;;) {
    const info = await store.nats.jsm.streams.info(store.subjects.eventsStream, { subjects_filter: subject } as never);
    const count = (info.state as unknown as { subjects?: Record<string, number> }).subjects?.[subject] ?? 0;
    if (count >= n + 1) return;
    if (Date.now() > deadline) throw new Error(`only ${count - 1}/${n} allocations after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function benchControlPlane() {
  const ns = uniqueNs('b');
  const nats = await openTestNats(ns);
  const store = new EventStore(nats);
  const db = await createTestDatabase();
  const children: ChildProcess[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const publishRate = await rawPublish(store, 5000);
    const windowedRate = await rawPublishWindowed(store, 20000);
    const insertRate = await rawInsert(db.url, 20000);
    console.log('floors (raw engines, this run)');
    console.log(`  JetStream sync publish        ${fmt(publishRate)} msg/s`);
    console.log(`  JetStream async, 256 in flight${fmt(windowedRate)} msg/s  (each acked, own Msg-Id)`);
    console.log(`  pg batched insert (500/tx)    ${fmt(insertRate)} rows/s`);

    // 1. pipeline: CreateVm over RPC → VmCreated → IPAM → IpAllocated
    const inv = await startInventory({ ns });
    closers.push(() => inv.close());
    const ipam = await startIpam({ ns, cooldownMs: 0 });
    closers.push(() => ipam.close());
    const rpc = new RpcClient(nats, 30000);
    const { clusterId, nodeId } = await setupCluster(rpc, '203.0.112.10', '203.0.119.250', '203.0.112.0/21');
    const t0 = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < N_PIPE) {
          const i = next++;
          const r = await rpc.request('inventory', 'CreateVm', { commandId: randomUUID(), payload: { clusterId, nodeId, name: `vm${i}`, ownerId: 'bench' } });
          if (!r.ok) throw new Error(JSON.stringify(r.error));
        }
      }),
    );
    await waitAllocated(store, clusterId, N_PIPE, 120000);
    const pipeRate = rate(N_PIPE, Date.now() - t0);

    // 2. projection: replay everything so far into a fresh read model
    const ds = await openDatabase({ url: db.url, schema: 'bench_rm' });
    const runner = new ProjectionRunner(store, ds);
    const head = await store.headSeq();
    const t1 = Date.now();
    await runner.catchUp(1000);
    const projRate = rate(head, Date.now() - t1);
    await ds.destroy();

    // 3. two IPAM processes allocating N_IPAM VMs whose VmCreated are already in the stream
    const c2 = await setupCluster(rpc, '198.18.128.1', '198.18.191.254', '198.18.128.0/18');
    await ipam.close();
    closers.pop();
    const vmSubject = (id: string) => store.subjects.evt('vm', id);
    for (let i = 0; i < N_IPAM; i += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, N_IPAM - i) }, () => {
          const vmId = randomUUID();
          return store.append(
            vmSubject(vmId),
            [
              {
                id: `seed:${vmId}`,
                event: {
                  type: 'VmCreated',
                  data: { vmId, clusterId: c2.clusterId, nodeId: c2.nodeId, name: `v${vmId.slice(0, 8)}`, ownerId: 'bench', family: 4, driver: 'tap' },
                },
              },
            ],
            0,
          );
        }),
      );
    }
    await nats.jsm.consumers.delete(nats.subjects.eventsStream, nats.subjects.durable('ipam')).catch(() => undefined);
    const t2 = Date.now();
    for (let i = 0; i < 2; i++) {
      // BENCH_CPU_PROFILE=ipam: the first IPAM process writes a CPU profile (as in the convergence bench).
      const prof =
        i === 0 && process.env.BENCH_CPU_PROFILE === 'ipam' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE_DIR ?? os.tmpdir()}`] : [];
      const child = spawn(process.execPath, [...prof, '-r', path.join(ROOT, 'deploy/register.js'), path.join(ROOT, 'services/ipam/src/main.ts')], {
        cwd: ROOT,
        env: { ...process.env, FABRIC_NS: ns, IPAM_RELEASE_COOLDOWN_MS: '0', LOG_LEVEL: 'warn' },
        stdio: 'ignore',
      });
      children.push(child);
    }
    await waitAllocated(store, c2.clusterId, N_IPAM, 600000);
    const ipamRate = rate(N_IPAM, Date.now() - t2);
    const { vms, ips } = await countAllocated(store, c2.clusterId);
    const dupAddresses = [...ips.values()].filter((n) => n > 1).length;

    console.log('ours');
    console.log(
      `  VmCreated → IpAllocated       ${fmt(pipeRate)} VMs/s     ${(pipeRate / publishRate).toFixed(2)} × raw sync publish, ${(pipeRate / windowedRate).toFixed(2)} × raw async windowed (target ≥ 0.5)  (${N_PIPE} VMs, RPC + 2 appends each)`,
    );
    console.log(
      `  projection catch-up           ${fmt(projRate)} events/s  ${(projRate / insertRate).toFixed(2)} × raw insert (target ≥ 0.5)  (${head} events)`,
    );
    console.log(
      `  IPAM, 2 processes             ${fmt(ipamRate)} allocs/s  ${(ipamRate / publishRate).toFixed(2)} × raw sync publish, ${(ipamRate / windowedRate).toFixed(2)} × raw async windowed (target ≥ 0.5)  (${vms.size}/${N_IPAM} VMs allocated, ${dupAddresses} duplicate addresses)`,
    );
    const r = (x: number) => x.toFixed(2);
    report({
      figure: 'VmCreated → IpAllocated',
      ours: `${pipeRate.toFixed(0)} VMs/s`,
      floor: `${windowedRate.toFixed(0)} msg/s async windowed (sync ${publishRate.toFixed(0)})`,
      ratio: r(pipeRate / windowedRate),
      target: '≥ 0.5',
      met: pipeRate / windowedRate >= 0.5,
    });
    report({
      figure: 'IPAM, 2 processes',
      ours: `${ipamRate.toFixed(0)} allocs/s, ${dupAddresses} dup`,
      floor: `${windowedRate.toFixed(0)} msg/s async windowed`,
      ratio: r(ipamRate / windowedRate),
      target: '≥ 0.5',
      met: ipamRate / windowedRate >= 0.5,
    });
    report({
      figure: 'projection catch-up',
      ours: `${projRate.toFixed(0)} events/s`,
      floor: `${insertRate.toFixed(0)} rows/s batched insert`,
      ratio: r(projRate / insertRate),
      target: '≥ 0.5',
      met: projRate / insertRate >= 0.5,
    });
    if (dupAddresses !== 0 || vms.size !== N_IPAM) throw new Error('IPAM invariant violated');
  } finally {
    // SIGTERM first: a profiled process writes its profile on a clean exit.
    await Promise.all(children.map((c) => stop(c)));
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await closeTestNats(nats);
    await dropTestDatabase(db.name);
  }
}
