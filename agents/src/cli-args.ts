/** CLI flags → AgentOptions (pure, so it is unit-tested); `--lab` fills the rest from the lab state. */
import { isName } from '@fabric/contracts';
import type { AgentOptions, AgentRole } from './agent';

export const USAGE = `usage: agent --role node|rr|frr-router --target <id> [options]
  --ns <namespace>            NATS subject namespace (default $FABRIC_NS or 'fabric')
  --nats <url,…>              NATS servers (default $NATS_URL or 127.0.0.1:4222)
  --creds <file>              this agent's NATS identity (nkey seed, from \`npm run nats -- enroll\`; default $NATS_CREDS)
  --netns <name>              Linux network namespace of the target (lab)
  --bird-config <path>        BIRD config file (node, rr)
  --bird-socket <path>        BIRD control socket (node, rr)
  --bird-pid <path>           BIRD pid file (default next to the config)
  --bird-local <path>         operator-owned BIRD config, included when it exists (default bird.local.conf next to the config)
  --frr-local <path>          operator-owned FRR base config (default frr.conf.local in the FRR config dir)
  --evpn-frr <pathspace>      node, rr: the FRR (pathspace) beside BIRD that carries EVPN for private networks
  --vm-netns-prefix <prefix>  lab netns VM driver: VM namespaces are <prefix><8 hex of vm id>
  --resync-ms <ms>            periodic reconcile (default 30000)
  --no-kernel-events          node: do not follow the kernel's link/address/route events (ip monitor); only commands,
                              the resync and explicit reconciles converge the node
  --no-antispoof              node: leave VM source-address checks to your own firewall (default: the agent's
                              nftables table drops what a VM sends from an address that is not its own)
  --poll-ms <ms>              BGP session polling; route reads of the core besides its kernel route events (default 1000)
  --route-poll-ms <ms>        rr: the "routes changed?" probe tick (channel counters of the sessions expected to move; default 100)
  --session-hold-ms <ms>      a session's next up/down report waits that long after its previous one (default 5000)
  --state-dir <dir>           last applied generation and target lock (default $FABRIC_AGENT_STATE_DIR or /var/lib/ip-fabric-agent)
  --lock-dir <dir>            box locks (default $FABRIC_AGENT_LOCK_DIR or /run/lock/ip-fabric-agent)
  --lock-wait-ms <ms>         wait that long for another agent's lock or lease instead of exiting at once
  --lease-ttl-ms <ms>         lease on the bus, renewed every third of it (default 15000)
  --lab <prefix> --member <node1|rr1|core>
                              read role, netns, BIRD paths and VM namespace prefix from the lab state file`;

export interface LabMemberInfo {
  role: AgentRole;
  namespace: string;
  bird?: { configPath: string; controlSocket: string; pidFile?: string };
  vmNamespacePrefix?: string;
  evpnFrrPathspace?: string;
}

export type ParsedArgs = { help: true } | { help: false; options: AgentOptions; lab?: { prefix: string; member: string } };

const FLAGS = new Set([
  'role',
  'target',
  'ns',
  'nats',
  'creds',
  'netns',
  'bird-config',
  'bird-socket',
  'bird-pid',
  'bird-local',
  'frr-local',
  'evpn-frr',
  'vm-netns-prefix',
  'resync-ms',
  'no-kernel-events',
  'no-antispoof',
  'poll-ms',
  'route-poll-ms',
  'session-hold-ms',
  'state-dir',
  'lock-dir',
  'lock-wait-ms',
  'lease-ttl-ms',
  'lab',
  'member',
  'help',
]);

export function parseFlags(argv: string[]): Record<string, string | true> {
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument: ${a}`);
    const eq = a.indexOf('=');
    const k = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (!FLAGS.has(k)) throw new Error(`unknown flag --${k}`);
    if (eq > 0) flags[k] = a.slice(eq + 1);
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) flags[k] = argv[++i];
    else flags[k] = true;
  }
  return flags;
}

function strFlag(flags: Record<string, string | true>, k: string): string | undefined {
  const v = flags[k];
  if (v === true) throw new Error(`--${k} needs a value`);
  return v;
}

function msFlag(flags: Record<string, string | true>, k: string): number | undefined {
  const v = strFlag(flags, k);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${k} needs a positive integer`);
  return n;
}

const ROLES: AgentRole[] = ['node', 'rr', 'frr-router'];

/** Explicit flags win over what the lab state says. */
export function buildOptions(flags: Record<string, string | true>, member?: LabMemberInfo): AgentOptions {
  const role = (strFlag(flags, 'role') ?? member?.role) as AgentRole | undefined;
  if (!role || !ROLES.includes(role)) throw new Error(`--role must be one of ${ROLES.join(', ')}`);
  if (member && member.role !== role) throw new Error(`lab member is a ${member.role}, not a ${role}`);
  const targetId = strFlag(flags, 'target');
  if (!targetId) throw new Error('--target <id> is required (the node id, <clusterId>_<rrName>, or the cluster id of the router)');
  const birdConfig = strFlag(flags, 'bird-config') ?? member?.bird?.configPath;
  const birdSocket = strFlag(flags, 'bird-socket') ?? member?.bird?.controlSocket;
  const birdPid = strFlag(flags, 'bird-pid') ?? member?.bird?.pidFile;
  const birdLocal = strFlag(flags, 'bird-local');
  const frrLocal = strFlag(flags, 'frr-local');
  if (role !== 'frr-router' && (!birdConfig || !birdSocket)) throw new Error(`the ${role} role needs --bird-config and --bird-socket`);
  const namespace = strFlag(flags, 'netns') ?? member?.namespace;
  if (role === 'frr-router' && !namespace) throw new Error('the frr-router role needs --netns (the FRR pathspace)');
  const opts: AgentOptions = { role, targetId };
  const ns = strFlag(flags, 'ns');
  const natsUrl = strFlag(flags, 'nats');
  const vmNamespacePrefix = strFlag(flags, 'vm-netns-prefix') ?? member?.vmNamespacePrefix;
  const resyncMs = msFlag(flags, 'resync-ms');
  const pollMs = msFlag(flags, 'poll-ms');
  const routePollMs = msFlag(flags, 'route-poll-ms');
  const sessionHoldMs = msFlag(flags, 'session-hold-ms');
  const stateDir = strFlag(flags, 'state-dir');
  const lockDir = strFlag(flags, 'lock-dir');
  const lockWait = strFlag(flags, 'lock-wait-ms');
  const leaseTtlMs = msFlag(flags, 'lease-ttl-ms');
  for (const [k, v] of [
    ['state-dir', stateDir],
    ['lock-dir', lockDir],
    ['bird-local', birdLocal],
    ['frr-local', frrLocal],
  ] as const) {
    if (v !== undefined && !v.startsWith('/')) throw new Error(`--${k} needs an absolute path`);
  }
  if (ns) opts.ns = ns;
  if (natsUrl) opts.natsUrl = natsUrl;
  const natsCreds = strFlag(flags, 'creds');
  if (natsCreds) opts.natsCreds = natsCreds;
  if (namespace) opts.namespace = namespace;
  if (role !== 'frr-router')
    opts.bird = {
      configPath: birdConfig!,
      controlSocket: birdSocket!,
      ...(birdPid ? { pidFile: birdPid } : {}),
      ...(birdLocal ? { localConfigPath: birdLocal } : {}),
    };
  else if (birdLocal) throw new Error('--bird-local is for the node and rr roles');
  if (frrLocal) {
    if (role !== 'frr-router') throw new Error('--frr-local is for the frr-router role');
    opts.frrLocalConfigPath = frrLocal;
  }
  if (stateDir) opts.stateDir = stateDir;
  if (lockDir) opts.lockDir = lockDir;
  if (lockWait !== undefined) {
    const n = Number(lockWait);
    if (!Number.isInteger(n) || n < 0) throw new Error('--lock-wait-ms needs a non-negative integer');
    opts.lockWaitMs = n;
  }
  if (leaseTtlMs) opts.leaseTtlMs = leaseTtlMs;
  if (role === 'node' && vmNamespacePrefix) opts.vmNamespacePrefix = vmNamespacePrefix;
  const evpnFrr = strFlag(flags, 'evpn-frr') ?? member?.evpnFrrPathspace;
  if (evpnFrr !== undefined) {
    if (role === 'frr-router') throw new Error('--evpn-frr is for the node and rr roles');
    if (!isName(evpnFrr)) throw new Error('--evpn-frr needs an FRR pathspace name');
    opts.evpnFrrPathspace = evpnFrr;
  }
  if (resyncMs) opts.resyncMs = resyncMs;
  if (flags['no-kernel-events'] !== undefined) {
    if (flags['no-kernel-events'] !== true) throw new Error('--no-kernel-events takes no value');
    if (role !== 'node') throw new Error('--no-kernel-events is for the node role');
    opts.kernelEvents = false;
  }
  if (flags['no-antispoof'] !== undefined) {
    if (flags['no-antispoof'] !== true) throw new Error('--no-antispoof takes no value');
    if (role !== 'node') throw new Error('--no-antispoof is for the node role');
    opts.antispoof = false;
  }
  if (pollMs) opts.pollMs = pollMs;
  if (routePollMs) opts.routePollMs = routePollMs;
  if (sessionHoldMs) opts.sessionHoldMs = sessionHoldMs;
  return opts;
}

/** The lab state's description of one member (`core`, `rr<k>`, `node<k>`). */
export function labMember(
  state: {
    core: { name: string; namespace: string };
    routeReflectors: {
      name: string;
      namespace: string;
      bird: { configPath: string; controlSocket: string; pidFile: string };
      evpnFrr?: { pathspace: string };
    }[];
    nodes: {
      name: string;
      namespace: string;
      bird: { configPath: string; controlSocket: string; pidFile: string };
      vmNamespacePrefix: string;
      evpnFrr?: { pathspace: string };
    }[];
  },
  name: string,
): LabMemberInfo {
  if (state.core.name === name) return { role: 'frr-router', namespace: state.core.namespace };
  const rr = state.routeReflectors.find((r) => r.name === name);
  if (rr) return { role: 'rr', namespace: rr.namespace, bird: rr.bird, ...(rr.evpnFrr ? { evpnFrrPathspace: rr.evpnFrr.pathspace } : {}) };
  const n = state.nodes.find((x) => x.name === name);
  if (n)
    return {
      role: 'node',
      namespace: n.namespace,
      bird: n.bird,
      vmNamespacePrefix: n.vmNamespacePrefix,
      ...(n.evpnFrr ? { evpnFrrPathspace: n.evpnFrr.pathspace } : {}),
    };
  const names = [state.core.name, ...state.routeReflectors.map((r) => r.name), ...state.nodes.map((x) => x.name)];
  throw new Error(`no lab member ${JSON.stringify(name)} (members: ${names.join(', ')})`);
}
