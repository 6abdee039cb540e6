/**
 * The embedded lab fabric (deploy/lab/README.md): everything in network namespaces named `<prefix>…`, nothing in the
 * root namespace except the run dir, /etc/frr/<prefix>core and /run/frr/<prefix>core.
 *
 * Addressing plan (underlay 198.18.0.0/24 + 2001:db8:ffff::/64 on one bridge in `<prefix>ul`):
 *   core          198.18.0.1        2001:db8:ffff::1      FRR, AS 65001
 *   rr<k>         198.18.0.(10+k)   2001:db8:ffff::(10+k) BIRD, AS 65000, forwarding off   (k = 1..9)
 *   node<k>       198.18.0.(100+k)  2001:db8:ffff::(100+k) BIRD, AS 65000, forwarding on,  (k = 1..100)
 *                 default via 198.18.0.1 / 2001:db8:ffff::1
 * (IPv6 host parts are the decimal digits written as hex groups, e.g. node1 = 2001:db8:ffff::101.)
 * 2001:db8:ffff::/48 is reserved for the lab underlay: do not put VM pools there.
 * Every namespace's underlay interface is `ul0`; in `<prefix>ul` the bridge is `br0`.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type { LabBird, LabEvpnFrr, LabMember, LabState } from '@fabric/lab-state';
import {
  CORE_ASN,
  FABRIC_ASN,
  GATEWAY,
  labRunDir,
  labStateFile,
  MANAGEMENT_IPV4,
  memberAddresses,
  readLabState,
  ROUTE_PROTOCOL,
  UNDERLAY_IF,
  UNDERLAY_V4,
  UNDERLAY_V6,
  validatePrefix,
  VM_IF_PREFIX,
} from '@fabric/lab-state';
import { run, runInNetns } from '../../agents/src/drivers/exec';
import { BirdDriver } from '../../agents/src/drivers/bird';
import { FrrDriver } from '../../agents/src/drivers/frr';
import { cmdline, isAlive, killAndWait, listPids } from '../../agents/src/drivers/proc';
import { EVPN_BGP_PORT } from '@fabric/renderers';

function evpnFrrOf(namespace: string, bgpPort: number): LabEvpnFrr {
  return { pathspace: namespace, configDir: path.join('/etc/frr', namespace), runDir: path.join('/run/frr', namespace), bgpPort, pids: {} };
}

// The state file's shape and reader live in libs/lab-state (the agent reads it too); re-exported for the harness' users.
export * from '@fabric/lab-state';

const MAX_RRS = 9;
const MAX_NODES = 100;

export interface LabOptions {
  prefix: string;
  nodes: number;
  rrs: number;
  /** Tear down leftovers of the same prefix first instead of failing. */
  replace?: boolean;
  /** Install bird2/frr/iputils-ping with apt-get when missing (default true). */
  installPackages?: boolean;
  /**
   * Private networks: FRR (zebra + bgpd) beside BIRD on every node (bgpd not listening) and RR (bgpd on
   * EVPN_BGP_PORT), for the EVPN routes (docs/adr/0015-evpn-frr-beside-bird.md).
   */
  evpn?: boolean;
  /**
   * A management link: a veth from the root namespace onto the underlay bridge, MANAGEMENT_IPV4/32 on the root side
   * and a /32 route to the core, so the core reaches a collector on the host (BMP) from its own underlay address.
   * One lab at a time can have it (the route is in the root namespace).
   */
  management?: boolean;
}

async function which(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    try {
      await fs.access(path.join(dir, cmd), 1);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

/** A fresh machine has nothing: install the Debian packages the lab needs. */
export async function ensureLabPackages(): Promise<void> {
  const need: string[] = [];
  if (!(await which('bird')) || !(await which('birdc'))) need.push('bird2');
  try {
    await fs.access('/usr/lib/frr/zebra');
    await fs.access('/usr/lib/frr/frr-reload.py');
    if (!(await which('vtysh'))) throw new Error();
  } catch {
    need.push('frr', 'frr-pythontools');
  }
  if (!(await which('ping'))) need.push('iputils-ping');
  if (!(await which('ip'))) need.push('iproute2');
  if (!need.length) return;
  // Another apt may hold the lock: wait for it rather than fail.
  const opts = { timeoutMs: 900_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } };
  await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update'], opts).catch(() => undefined);
  await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-install-recommends', ...need], opts);
}

async function netnsList(): Promise<string[]> {
  const { stdout } = await run('ip', ['-j', 'netns', 'list']);
  const rows = JSON.parse(stdout.trim() || '[]') as { name: string }[];
  return rows.map((r) => r.name);
}

async function ipBatch(ns: string, lines: string[]): Promise<void> {
  await run('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' });
}

async function sysctl(ns: string, settings: Record<string, string>): Promise<void> {
  await runInNetns(ns, 'sysctl', ['-q', '-w', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
}

function minimalBirdConfig(routerId: string): string {
  // Replaced by the agents; valid on its own so BIRD can start.
  return `# lab placeholder, replaced by the agent\nrouter id ${routerId};\nprotocol device { }\n`;
}

function initialFrrConfig(): string {
  return 'frr defaults traditional\nip forwarding\nipv6 forwarding\n!\n';
}

async function writeState(state: LabState): Promise<void> {
  const tmp = `${state.stateFile}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(state, null, 2) + '\n');
  await fs.rename(tmp, state.stateFile);
}

/** Builds the lab; on any failure everything created so far is removed again. */
export async function labUp(opts: LabOptions): Promise<LabState> {
  const { prefix } = opts;
  validatePrefix(prefix);
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES) throw new Error(`--nodes must be 1..${MAX_NODES}`);
  // 0 RRs: a direct cluster (lab/test stands only), every node peers the core.
  if (!Number.isInteger(opts.rrs) || opts.rrs < 0 || opts.rrs > MAX_RRS) throw new Error(`--rrs must be 0..${MAX_RRS}`);
  if (process.getuid && process.getuid() !== 0) throw new Error('the lab needs root (network namespaces)');
  if (opts.installPackages !== false) await ensureLabPackages();

  const leftovers = (await netnsList()).filter((n) => n.startsWith(prefix));
  const hasState = await readLabState(prefix);
  if (leftovers.length || hasState) {
    if (!opts.replace) {
      throw new Error(
        `lab ${prefix} is already up (namespaces: ${leftovers.join(', ') || 'none'}; state: ${hasState ? labStateFile(prefix) : 'none'}); run 'down --prefix ${prefix}' first or pass --replace`,
      );
    }
    await labDown(prefix);
  }

  const runDir = labRunDir(prefix);
  await fs.mkdir(runDir, { recursive: true, mode: 0o750 });
  const ulNs = `${prefix}ul`;
  const coreNs = `${prefix}core`;
  // bgpd_bmp loaded: the core can be given a BMP station (docs/adr/bmp-collector.md).
  const frr = new FrrDriver({ namespace: coreNs, bgpdModules: ['bmp'] });
  const birdFor = (name: string): LabBird => ({
    configPath: path.join(runDir, name, 'bird.conf'),
    controlSocket: path.join(runDir, name, 'bird.ctl'),
    pidFile: path.join(runDir, name, 'bird.pid'),
  });
  const member = (name: string, addrs: { ipv4: string; ipv6: string }): LabMember => ({
    name,
    namespace: `${prefix}${name}`,
    ...addrs,
    underlayInterface: UNDERLAY_IF,
  });
  const state: LabState = {
    version: 1,
    prefix,
    runDir,
    stateFile: labStateFile(prefix),
    createdAt: new Date().toISOString(),
    fabricAsn: FABRIC_ASN,
    coreAsn: CORE_ASN,
    gateway: { ...GATEWAY },
    underlay: { namespace: ulNs, bridge: 'br0', ipv4Cidr: UNDERLAY_V4, ipv6Cidr: UNDERLAY_V6 },
    core: {
      ...member('core', memberAddresses('core')),
      asn: CORE_ASN,
      vendor: 'frr',
      frr: { pathspace: coreNs, configDir: frr.configDir, configPath: frr.configPath, runDir: frr.runDir, pids: {} },
    },
    routeReflectors: Array.from({ length: opts.rrs }, (_, i) => ({
      ...member(`rr${i + 1}`, memberAddresses('rr', i + 1)),
      asn: FABRIC_ASN,
      bird: birdFor(`rr${i + 1}`),
    })),
    nodes: Array.from({ length: opts.nodes }, (_, i) => ({
      ...member(`node${i + 1}`, memberAddresses('node', i + 1)),
      asn: FABRIC_ASN,
      bird: birdFor(`node${i + 1}`),
      routeProtocol: ROUTE_PROTOCOL,
      vmInterfacePrefix: VM_IF_PREFIX,
      // Per node: during a migration the same VM exists on two nodes, i.e. in two namespaces.
      vmNamespacePrefix: `${prefix}n${i + 1}vm`,
    })),
    namespaces: [],
  };

  try {
    // State first, so `down` can clean up after a crash half-way through.
    await writeState(state);
    await run('ip', ['netns', 'add', ulNs]);
    state.namespaces.push(ulNs);
    await writeState(state);
    await sysctl(ulNs, { 'net.ipv6.conf.all.disable_ipv6': '1' });
    await ipBatch(ulNs, ['link set dev lo up', 'link add br0 type bridge', 'link set dev br0 up']);

    const members: (LabMember & { forwarding: '0' | '1'; defaultRoute: boolean })[] = [
      { ...state.core, forwarding: '1', defaultRoute: false },
      ...state.routeReflectors.map((r) => ({ ...r, forwarding: '0' as const, defaultRoute: false })),
      ...state.nodes.map((n) => ({ ...n, forwarding: '1' as const, defaultRoute: true })),
    ];
    for (const m of members) {
      await run('ip', ['netns', 'add', m.namespace]);
      state.namespaces.push(m.namespace);
      await writeState(state);
      await sysctl(m.namespace, {
        'net.ipv4.ip_forward': m.forwarding,
        'net.ipv6.conf.all.forwarding': m.forwarding,
        'net.ipv6.conf.default.accept_ra': '0',
      });
      // The bridge-side end is named after the member inside <prefix>ul; the member side is ul0.
      await ipBatch(ulNs, [
        `link add ${m.name} type veth peer name ${UNDERLAY_IF} netns ${m.namespace}`,
        `link set dev ${m.name} master br0`,
        `link set dev ${m.name} up`,
      ]);
      const lines = [
        'link set dev lo up',
        `address add ${m.ipv4}/24 dev ${UNDERLAY_IF}`,
        `address add ${m.ipv6}/64 dev ${UNDERLAY_IF} nodad`,
        `link set dev ${UNDERLAY_IF} up`,
      ];
      if (m.defaultRoute) {
        lines.push(`route add default via ${state.core.ipv4} dev ${UNDERLAY_IF}`, `route add default via ${state.core.ipv6} dev ${UNDERLAY_IF}`);
      }
      await ipBatch(m.namespace, lines);
    }

    if (opts.management) {
      // Its ulNs end goes with ulNs, so labDown removes the pair (and the route) with the namespace.
      const mg = `${prefix}mg`;
      state.management = { interface: mg, ipv4: MANAGEMENT_IPV4 };
      await writeState(state);
      await run('ip', ['link', 'add', mg, 'type', 'veth', 'peer', 'name', 'mgmt', 'netns', ulNs]);
      await ipBatch(ulNs, ['link set dev mgmt master br0', 'link set dev mgmt up']);
      await run('ip', ['addr', 'add', `${MANAGEMENT_IPV4}/32`, 'dev', mg]);
      await run('ip', ['link', 'set', mg, 'up']);
      await run('ip', ['route', 'add', `${state.core.ipv4}/32`, 'dev', mg, 'src', MANAGEMENT_IPV4]);
    }

    await frr.start(initialFrrConfig());
    state.core.frr.pids = (await frr.pids()) as Record<string, number>;
    await writeState(state);

    for (const m of [...state.routeReflectors, ...state.nodes]) {
      await fs.mkdir(path.dirname(m.bird.configPath), { recursive: true });
      await fs.writeFile(m.bird.configPath, minimalBirdConfig(m.ipv4), { mode: 0o640 });
      const bird = new BirdDriver({ namespace: m.namespace, ...m.bird });
      await bird.start();
      m.bird.pid = await bird.pid();
      await writeState(state);
    }
    if (opts.evpn) {
      for (const m of state.routeReflectors) m.evpnFrr = evpnFrrOf(m.namespace, EVPN_BGP_PORT);
      for (const m of state.nodes) m.evpnFrr = evpnFrrOf(m.namespace, 0);
      await writeState(state);
      // The agents apply the rendered EVPN config; until then FRR runs an empty one (no BGP instance).
      for (const m of [...state.routeReflectors, ...state.nodes]) {
        const e = m.evpnFrr!;
        const driver = new FrrDriver({ namespace: m.namespace, daemons: ['zebra', 'bgpd'], bgpPort: e.bgpPort });
        await driver.start('frr defaults traditional\n!\n');
        e.pids = (await driver.pids()) as Record<string, number>;
        await writeState(state);
      }
    }
    return state;
  } catch (e) {
    await labDown(prefix).catch(() => undefined);
    throw e;
  }
}

const validName = (n: string) => /^[A-Za-z0-9_.-]{1,64}$/.test(n);

const DAEMON_NAMES = new Set(['bird', 'zebra', 'bgpd', 'staticd', 'bfdd', 'watchfrr', 'mgmtd']);

/** Removes everything of the lab: processes, namespaces, run dir, FRR dirs. Safe to call repeatedly. */
export async function labDown(prefix: string): Promise<{ killed: number[]; namespaces: string[] }> {
  validatePrefix(prefix);
  const runDir = labRunDir(prefix);
  const coreNs = `${prefix}core`;
  const state = await readLabState(prefix);
  const victims = new Set<number>();

  if (state) {
    for (const p of Object.values(state.core.frr.pids ?? {})) victims.add(p);
    for (const m of [...state.routeReflectors, ...state.nodes]) {
      if (m.bird.pid) victims.add(m.bird.pid);
      for (const p of Object.values(m.evpnFrr?.pids ?? {})) victims.add(p);
    }
  }
  // After a crash the state may be stale: daemons whose command line references our run dir or pathspace.
  for (const pid of await listPids()) {
    const argv = await cmdline(pid);
    if (!argv || !argv.length) continue;
    if (!DAEMON_NAMES.has(path.basename(argv[0]))) continue;
    const refs = argv.some((a) => a === runDir || a.startsWith(runDir + '/') || a.startsWith(`/etc/frr/${coreNs}/`));
    const nsArg = argv.some((a, i) => a === '-N' && (argv[i + 1] === coreNs || argv[i + 1]?.startsWith(prefix)));
    if (refs || nsArg) victims.add(pid);
  }
  const ours = (await netnsList()).filter((n) => n.startsWith(prefix));
  // Anything still running inside a lab namespace belongs to the lab (pings, daemons, shells of tests).
  for (const ns of ours) {
    const r = await run('ip', ['netns', 'pids', ns], { allowFailure: true });
    for (const s of r.stdout.split(/\s+/)) if (/^\d+$/.test(s)) victims.add(Number(s));
  }
  victims.delete(process.pid);
  const killed: number[] = [];
  await Promise.all(
    [...victims].map(async (pid) => {
      if (await isAlive(pid)) {
        await killAndWait(pid);
        killed.push(pid);
      }
    }),
  );
  for (const ns of ours) await run('ip', ['netns', 'del', ns], { allowFailure: true });
  // The management link goes with its underlay namespace; this catches a half-built one (no namespace yet).
  await run('ip', ['link', 'del', `${prefix}mg`], { allowFailure: true });
  await fs.rm(runDir, { recursive: true, force: true });
  // The core's FRR and, with --evpn, every node's and RR's: pathspaces named after the lab's namespaces.
  for (const dir of ['/etc/frr', '/run/frr']) {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const n of names) if (n === coreNs || (n.startsWith(prefix) && validName(n))) await fs.rm(path.join(dir, n), { recursive: true, force: true });
  }
  return { killed, namespaces: ours };
}
