/**
 * Convergence on the lab: how long from an API call until the VM's route is installed in the core's
 * kernel (watched with `ip monitor route` in the core namespace), next to the floor measured in the same
 * run — the raw BIRD chain alone (a kernel route re-added on a node → installed at the core).
 *  - p50/p99 over 200 sequential VMs (POST /vms → route at the core)
 *  - a burst of 1,000 VMs spread over 3 nodes → time until all are at the core
 * VMs use the `tap` driver with their tap devices pre-created, as libvirt would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { vmInterfaceName } from '@fabric/contracts';
import { http } from '../e2e/support/control-plane';
import { startProcessFabric, type ProcessFabric } from './fabric-processes';
import { runIn } from '../e2e/support/net';

const SEQUENTIAL = Number(process.env.BENCH_SEQ_VMS ?? 200);
const BURST = Number(process.env.BENCH_BURST_VMS ?? 1000);

class CoreWatcher {
  private proc: ChildProcess;
  private seen = new Map<string, number>();
  private waiters = new Map<string, (t: number) => void>();
  constructor(namespace: string) {
    this.proc = spawn('ip', ['-n', namespace, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buf = '';
    this.proc.stdout!.on('data', (chunk: Buffer) => {
      const now = performance.now();
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('Deleted') || !line.includes('proto bgp')) continue;
        const dst = line.split(' ')[0].replace(/\/(32|128)$/, '');
        if (!this.seen.has(dst)) this.seen.set(dst, now);
        this.waiters.get(dst)?.(now);
        this.waiters.delete(dst);
      }
    });
  }
  forget(ip: string) {
    this.seen.delete(ip);
  }
  when(ip: string, timeoutMs = 30000): Promise<number> {
    const t = this.seen.get(ip);
    if (t !== undefined) return Promise.resolve(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${ip} not at the core after ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(ip, (x) => (clearTimeout(timer), resolve(x)));
    });
  }
  stop() {
    this.proc.kill();
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

type Fabric = ProcessFabric;

async function coreRoute(f: Fabric, ip: string): Promise<string | undefined> {
  const v6 = ip.includes(':');
  const out = await runIn(undefined, 'ip', ['-j', '-n', f.lab.core.namespace, v6 ? '-6' : '-4', 'route', 'show', `${ip}/${v6 ? 128 : 32}`]);
  return (JSON.parse(out || '[]') as { dst: string }[])[0]?.dst;
}

async function addTaps(f: Fabric, nodeName: string, vmIds: string[]) {
  const node = f.lab.nodes.find((n) => n.name === nodeName)!;
  const lines = vmIds.map((id) => `tuntap add dev ${vmInterfaceName(id)} mode tap`).join('\n') + '\n';
  await new Promise<void>((resolve, reject) => {
    const p = spawn('ip', ['-n', node.namespace, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(err))));
    p.stdin!.end(lines);
  });
}

export async function benchConvergence() {
  const f = await startProcessFabric({ nodes: 3, rrs: 2, pollMs: Number(process.env.BENCH_POLL_MS ?? 300) });
  const watch = new CoreWatcher(f.lab.core.namespace);
  try {
    const net = await http(
      'POST',
      `${f.api}/clusters/${f.clusterId}/networks`,
      { cidr: '2001:db8:2::/64', pools: [{ start: '2001:db8:2::10', end: '2001:db8:2::ffff' }] },
      f.auth,
    );
    if (net.status !== 201) throw new Error(JSON.stringify(net.body));
    const node1 = f.lab.nodes[0];

    // Floor: the raw BIRD chain. A VM placed through the API (so the RRs accept its prefix), then its
    // kernel route removed and re-added by hand on the node; time until the core installs it again.
    const warm = randomUUID();
    await addTaps(f, 'node1', [warm]);
    const w = await http(
      'POST',
      `${f.api}/vms`,
      { vmId: warm, clusterId: f.clusterId, nodeId: f.nodeIds.node1, name: 'floor', ownerId: 'bench', driver: 'tap' },
      f.auth,
    );
    if (w.status !== 202) throw new Error(JSON.stringify(w.body));
    const wip = (await waitIp(f, warm)) as string;
    await watch.when(wip, 60000);
    await f.stopAgent('node1'); // so it does not race us re-adding the route
    const floor: number[] = [];
    for (let i = 0; i < 50; i++) {
      await runIn(undefined, 'ip', ['-n', node1.namespace, 'route', 'del', `${wip}/32`, 'proto', '200']);
      while (await coreRoute(f, wip)) await new Promise((r) => setTimeout(r, 2));
      watch.forget(wip);
      const t0 = performance.now();
      await runIn(undefined, 'ip', ['-n', node1.namespace, 'route', 'add', `${wip}/32`, 'dev', vmInterfaceName(warm), 'scope', 'link', 'proto', '200']);
      floor.push((await watch.when(wip)) - t0);
    }
    f.startAgent('node1');
    await new Promise((r) => setTimeout(r, 3000)); // its start-up reconcile

    // Ours, sequential: POST /vms → route at the core.
    const seqIds = Array.from({ length: SEQUENTIAL }, () => randomUUID());
    await addTaps(f, 'node1', seqIds);
    const ours: number[] = [];
    for (const [i, vmId] of seqIds.entries()) {
      const t0 = performance.now();
      const r = await http(
        'POST',
        `${f.api}/vms`,
        { vmId, clusterId: f.clusterId, nodeId: f.nodeIds.node1, name: `seq${i}`, ownerId: 'bench', driver: 'tap' },
        f.auth,
      );
      if (r.status !== 202) throw new Error(JSON.stringify(r.body));
      const ip = await waitIp(f, vmId);
      ours.push((await watch.when(ip)) - t0);
    }

    // Burst: 1,000 IPv6 VMs over 3 nodes at once.
    const burst = Array.from({ length: BURST }, (_, i) => ({ vmId: randomUUID(), node: f.lab.nodes[i % 3].name }));
    for (const n of f.lab.nodes)
      await addTaps(
        f,
        n.name,
        burst.filter((b) => b.node === n.name).map((b) => b.vmId),
      );
    const tb = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < burst.length) {
          const b = burst[next++];
          const r = await http(
            'POST',
            `${f.api}/vms`,
            { vmId: b.vmId, clusterId: f.clusterId, nodeId: f.nodeIds[b.node], name: `b${b.vmId.slice(0, 8)}`, ownerId: 'bench', driver: 'tap', family: 6 },
            f.auth,
          );
          if (r.status !== 202) throw new Error(JSON.stringify(r.body));
        }
      }),
    );
    const acceptedMs = performance.now() - tb;
    const ips = await Promise.all(burst.map((b) => waitIp(f, b.vmId, 120000)));
    const done = Math.max(...(await Promise.all(ips.map((ip) => watch.when(ip, 180000)))));
    const burstMs = done - tb;

    const f50 = pct(floor, 50);
    const f99 = pct(floor, 99);
    console.log('convergence (lab: 3 nodes, 2 RRs, FRR core)');
    console.log(`  floor: kernel route on a node → core (raw BIRD chain)   p50 ${f50.toFixed(1)} ms  p99 ${f99.toFixed(1)} ms  (${floor.length} samples)`);
    console.log(
      `  ours: POST /vms → route at the core, sequential         p50 ${pct(ours, 50).toFixed(1)} ms  p99 ${pct(ours, 99).toFixed(1)} ms  (${ours.length} VMs)  = ${(pct(ours, 50) / f50).toFixed(1)} × floor p50`,
    );
    console.log(
      `  ours: burst of ${BURST} VMs over 3 nodes                  all at the core in ${(burstMs / 1000).toFixed(2)} s = ${((BURST * 1000) / burstMs).toFixed(0)} VMs/s (API accepted them in ${(acceptedMs / 1000).toFixed(2)} s)`,
    );
  } finally {
    watch.stop();
    await f.close();
  }
}

async function waitIp(f: Fabric, vmId: string, timeoutMs = 30000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const g = await http('GET', `${f.api}/vms/${vmId}`, undefined, f.auth);
    if (g.body?.ip) return g.body.ip;
    if (g.body?.status === 'failed') throw new Error(`VM ${vmId} failed: ${g.body.reason}`);
    if (Date.now() > deadline) throw new Error(`VM ${vmId} got no address within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
