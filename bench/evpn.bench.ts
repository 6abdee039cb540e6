/**
 * Private networks at scale (issue 14: "VNIs per node and MACs per VNI measured in the bench"). A lab of two nodes
 * and one RR with FRR EVPN beside BIRD (`labUp --evpn`), FRR configured with the product's renderers and applied
 * with frr-reload as the agents do. Per scenario (VNIs × MACs per VNI on node1):
 *  - apply: node1's EvpnDriver.reconcile (the agent's code) creating vx/br per VNI and plugging the VM ports with
 *    their static FDB entries, vs the floor: the same devices, ports and FDB entries by raw `ip -batch` +
 *    `bridge -batch` in a namespace of its own (no FRR watching), measured in the same run;
 *  - convergence: from the start of the apply until node2 has received every route of node1 through the RR
 *    (one type-3 per VNI + one type-2 per MAC, counted as node2's prefixes received from the RR);
 *  - withdrawal: from the start of the empty reconcile until node2 holds none of them.
 * The VM ports are made beforehand (veth pairs, far end up: a carrier, as a running VM's tap), as a hypervisor would. Needs root; run it under the heavy lock.
 * Knobs: BENCH_EVPN_SCENARIOS="VNIsxMACs,…" (default 1x1,10x1,1x100,100x1,500x1,1x1000); BENCH_EVPN_BUDGET_S
 * (default 240): no scenario starts after that, so the run stays bounded and always cleans up.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { renderNodeEvpn, renderRrEvpn } from '@fabric/renderers';
import { EvpnDriver, type EvpnNetwork, privateInterfaceName } from '../agents/src/drivers/evpn';
import { FrrDriver } from '../agents/src/drivers/frr';
import { labDown, labUp } from '../deploy/lab/topology';

const SCENARIOS = (process.env.BENCH_EVPN_SCENARIOS ?? '1x1,10x1,1x100,100x1,500x1,1x1000').split(',').map((s) => {
  const [v, m] = s.split('x').map(Number);
  if (!(v >= 1 && m >= 1)) throw new Error(`BENCH_EVPN_SCENARIOS: bad scenario ${s}`);
  return { vnis: v, macs: m };
});
const VNI_BASE = 10000;
const BUDGET_MS = Number(process.env.BENCH_EVPN_BUDGET_S ?? 240) * 1000;
const BGP = { gracefulRestart: false, bfd: false };

function exec(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.slice(0, 4).join(' ')}: ${err.slice(0, 300)}`))));
    p.stdin!.on('error', () => undefined);
    p.stdin!.end(input ?? '');
  });
}
const ipBatch = (ns: string, lines: string[]) => exec('ip', ['-n', ns, '-batch', '-'], lines.join('\n') + '\n');
const bridgeBatch = (ns: string, lines: string[]) => exec('bridge', ['-n', ns, '-batch', '-'], lines.join('\n') + '\n');

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t) / 1e6, r];
}

/** Node2's EVPN prefixes received from the RR (FRR's summary), or -1 while the session is not established. */
async function received(pathspace: string, rrIp: string): Promise<number> {
  const out = await exec('vtysh', ['-N', pathspace, '-c', 'show bgp l2vpn evpn summary json']).catch(() => '{}');
  const j = JSON.parse(out || '{}') as { peers?: Record<string, { state?: string; pfxRcd?: number }> };
  const p = j.peers?.[rrIp];
  return p?.state === 'Established' ? (p.pfxRcd ?? 0) : -1;
}

async function until(what: string, timeoutMs: number, test: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Deterministic fake VM ids and MACs (locally administered) for VNI index v, MAC index m. */
const vmId = (v: number, m: number) => `${(v * 65536 + m).toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
const mac = (v: number, m: number) => {
  const x = v * 65536 + m;
  return `02:be:${[24, 16, 8, 0].map((s) => ((x >> s) & 255).toString(16).padStart(2, '0')).join(':')}`;
};

function networks(vnis: number, macs: number): EvpnNetwork[] {
  return Array.from({ length: vnis }, (_, v) => ({
    vni: VNI_BASE + v,
    ports: Array.from({ length: macs }, (_, m) => ({
      ifName: privateInterfaceName(VNI_BASE + v, vmId(v, m)),
      mac: mac(v, m),
      ip: `10.${(m >> 8) & 255}.${m & 255}.${(v % 250) + 2}`,
      prefixLength: 8,
    })),
  }));
}

// A veth pair per port (the far end up, in the same namespace): the port has a carrier, as a running VM's tap has.
// The far end has the VM's MAC, as a guest does: its own frames must not add a second learned MAC (type-2 route).
const taps = (ns: string, nets: EvpnNetwork[]) =>
  ipBatch(
    ns,
    nets.flatMap((n) =>
      n.ports.flatMap((p) => [`link add ${p.ifName} type veth peer name q${p.ifName.slice(1)}`, `link set dev q${p.ifName.slice(1)} address ${p.mac} up`]),
    ),
  );
const deleteTaps = (ns: string, nets: EvpnNetwork[]) =>
  ipBatch(
    ns,
    nets.flatMap((n) => n.ports.map((p) => `link del dev ${p.ifName}`)),
  );

/** The same devices, ports and FDB entries as the driver, by raw batches (the floor). */
async function floor(ns: string, vtep: string, nets: EvpnNetwork[]): Promise<number> {
  await taps(ns, nets);
  const [t] = await timed(async () => {
    await ipBatch(
      ns,
      nets.flatMap((n) => [
        `link add br${n.vni} type bridge`,
        `link set dev br${n.vni} addrgenmode none`,
        `link add vx${n.vni} type vxlan id ${n.vni} local ${vtep} dstport 4789 nolearning`,
        `link set dev vx${n.vni} master br${n.vni}`,
        `link set dev vx${n.vni} type bridge_slave neigh_suppress on learning off`,
        `link set dev vx${n.vni} up`,
        `link set dev br${n.vni} up`,
        ...n.ports.flatMap((p) => [`link set dev ${p.ifName} master br${n.vni}`, `link set dev ${p.ifName} up`]),
      ]),
    );
    await bridgeBatch(
      ns,
      nets.flatMap((n) => n.ports.map((p) => `fdb replace ${p.mac} dev ${p.ifName} master static`)),
    );
  });
  await ipBatch(
    ns,
    nets.flatMap((n) => [`link del dev vx${n.vni}`, `link del dev br${n.vni}`]),
  );
  await deleteTaps(ns, nets);
  return t;
}

export interface EvpnRow {
  vnis: number;
  macs: number;
  routes: number;
  apply: number;
  floor: number;
  converge: number;
  withdraw: number;
}

export async function benchEvpn(): Promise<EvpnRow[]> {
  const prefix = `bv${randomBytes(2).toString('hex')}-`;
  const floorNs = `${prefix}floor`;
  const rows: EvpnRow[] = [];
  const cleanup = async () => {
    await exec('ip', ['netns', 'del', floorNs]).catch(() => undefined);
    await labDown(prefix).catch(() => undefined);
  };
  // Killed by a timeout: the lab goes anyway.
  const onTerm = () => void cleanup().finally(() => process.exit(143));
  process.once('SIGTERM', onTerm);
  try {
    const lab = await labUp({ prefix, nodes: 2, rrs: 1, replace: true, evpn: true });
    await exec('ip', ['netns', 'add', floorNs]);
    await exec('ip', ['-n', floorNs, 'link', 'set', 'lo', 'up']);
    const [n1, n2] = lab.nodes;
    const rr = lab.routeReflectors[0];
    const frr = (m: { evpnFrr?: { pathspace: string; bgpPort: number }; namespace: string }) =>
      new FrrDriver({ namespace: m.namespace, daemons: ['zebra', 'bgpd'], bgpPort: m.evpnFrr!.bgpPort });
    const rrs = [{ name: rr.name, ip: rr.ipv4 }];
    await frr(rr).applyConfig(
      renderRrEvpn({
        hostname: rr.name,
        localIp: rr.ipv4,
        fabricAsn: lab.fabricAsn,
        rrClusterId: rr.ipv4,
        nodes: [n1, n2].map((n) => ({ name: n.name, underlayIp: n.ipv4 })),
        bgp: BGP,
      }),
    );
    for (const n of [n1, n2])
      await frr(n).applyConfig(renderNodeEvpn({ hostname: n.name, localIp: n.ipv4, fabricAsn: lab.fabricAsn, routeReflectors: rrs, bgp: BGP }));
    await until('node2 EVPN session to the RR', 60_000, async () => (await received(n2.namespace, rr.ipv4)) === 0);
    const driver = new EvpnDriver({ namespace: n1.namespace });
    console.log(`\nEVPN scale (node1 → RR → node2; apply = EvpnDriver.reconcile vs raw ip/bridge -batch of the same work)`);
    console.log('  VNIs × MACs | routes | apply ms | floor ms | ratio | converged ms | per route ms | withdrawn ms');
    const started = Date.now();
    for (const s of SCENARIOS) {
      if (Date.now() - started > BUDGET_MS) {
        console.log(`  ${s.vnis} × ${s.macs}: skipped (past the ${BUDGET_MS / 1000} s budget)`);
        continue;
      }
      const nets = networks(s.vnis, s.macs);
      const routes = s.vnis + s.vnis * s.macs;
      const floorMs = await floor(floorNs, n1.ipv4, nets);
      await taps(n1.namespace, nets);
      const t0 = Date.now();
      const [apply, r] = await timed(() => driver.reconcile(n1.ipv4, nets));
      if (r.missing.length) throw new Error(`missing ports: ${r.missing.length}`);
      let got = 0;
      await until(`${routes} routes at node2`, 120_000, async () => (got = await received(n2.namespace, rr.ipv4)) >= routes);
      if (got !== routes) console.log(`  (node2 received ${got} routes, expected ${routes}: MACs learned beside the static ones?)`);
      const converge = Date.now() - t0;
      const t1 = Date.now();
      await driver.reconcile(n1.ipv4, []);
      await deleteTaps(n1.namespace, nets);
      await until('routes withdrawn at node2', 120_000, async () => (await received(n2.namespace, rr.ipv4)) === 0);
      const withdraw = Date.now() - t1;
      const row = { vnis: s.vnis, macs: s.macs, routes, apply, floor: floorMs, converge, withdraw };
      rows.push(row);
      console.log(
        `  ${`${s.vnis} × ${s.macs}`.padEnd(11)} | ${String(routes).padStart(6)} | ${apply.toFixed(0).padStart(8)} | ${floorMs.toFixed(0).padStart(8)} | ` +
          `${(apply / floorMs).toFixed(1).padStart(5)} | ${String(converge).padStart(12)} | ${(converge / routes).toFixed(2).padStart(12)} | ${String(withdraw).padStart(12)}`,
      );
    }
    return rows;
  } finally {
    process.off('SIGTERM', onTerm);
    await cleanup();
  }
}
