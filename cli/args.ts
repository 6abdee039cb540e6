/**
 * fabricctl's command line, declared with commander: strict (unknown options, missing or surplus arguments,
 * missing required options and bad values are usage errors, exit code 2, before anything is sent to the API),
 * `--help` per command, and every parse typed by command name. Pure: no I/O (output is captured).
 */
import { Argument, Command, type CommanderError, InvalidArgumentError, Option } from 'commander';

export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Vendor = 'junos' | 'frr';
export type Driver = 'tap' | 'veth' | 'netns';
export type VmAddressing = 'dual-stack' | 'ipv4' | 'ipv6';
export type Shell = 'bash';

export interface GlobalOptions {
  api?: string;
  token?: string;
  json: boolean;
}
interface Idempotent {
  idempotencyKey?: string;
}
type None = Record<string, never>;

/** Options of each command, as commander hands them over (camelCase). */
export interface CommandOptions {
  'cluster create': Idempotent & {
    name: string;
    fabricAsn: number;
    coreAsn: number;
    community: string;
    rr?: string[];
    topology?: 'route-reflectors' | 'direct';
    coreRouter: string;
    vendor?: Vendor;
    gatewayIp?: string;
    gatewayMac?: string;
    md5Password?: string;
    md5OptOut?: string;
    gracefulRestart?: boolean;
    bfd?: boolean;
    prefixLimitAction?: string;
    coreCommunity?: string;
    dryRun?: boolean;
  };
  'cluster list': None;
  'cluster show': None;
  'cluster set-bgp': Idempotent & {
    holdTime?: number;
    keepaliveTime?: number;
    gracefulRestart?: 'on' | 'off';
    grTime?: number;
    bfd?: 'on' | 'off';
    bfdMinRx?: number;
    bfdMinTx?: number;
    bfdMultiplier?: number;
    md5Password?: string;
    rotateMd5?: boolean;
    community?: string;
    coreCommunity?: string;
    prefixLimitAction?: string;
    bmp?: string;
    reset?: string[];
    dryRun?: boolean;
  };
  'node join': Idempotent & { dryRun?: boolean; cluster: string; name: string; underlayIp: string; underlayIp6?: string };
  'node drain': Idempotent & { dryRun?: boolean; cluster?: string; evacuate?: boolean };
  'node evacuate': Idempotent & { dryRun?: boolean; cluster?: string };
  'node undrain': Idempotent & { dryRun?: boolean; cluster?: string };
  'node enroll': { cluster: string; out: string; natsUrl?: string };
  'node list': { cluster: string };
  'vm create': Idempotent & {
    dryRun?: boolean;
    cluster: string;
    node: string;
    name: string;
    owner: string;
    ip?: string;
    family?: '4' | '6';
    addressing?: VmAddressing;
    driver?: Driver;
  };
  'vm list': { cluster?: string; node?: string; owner?: string; status?: string; limit?: number; offset?: number };
  'vm show': None;
  'vm delete': Idempotent & { dryRun?: boolean };
  'vm migrate': Idempotent & { dryRun?: boolean; to: string };
  'vm blackhole': Idempotent & { dryRun?: boolean; reason: string };
  'vm unblackhole': Idempotent & { dryRun?: boolean };
  'vm attach-network': Idempotent & { network: string; dryRun?: boolean };
  'vm detach-network': Idempotent & { network: string; dryRun?: boolean };
  'vm address': Idempotent & { dryRun?: boolean; family?: '4' | '6'; ip?: string };
  'floating create': Idempotent & { dryRun?: boolean; cluster: string; owner: string; family?: '4' | '6'; ip?: string };
  'floating ls': { cluster?: string; owner?: string };
  'floating show': None;
  'floating attach': Idempotent & { dryRun?: boolean; vm: string; allowOtherOwner?: boolean };
  'floating detach': Idempotent & { dryRun?: boolean };
  'floating rm': Idempotent & { dryRun?: boolean };
  'private-network create': Idempotent & { cluster: string; owner: string; name: string; cidr: string; dryRun?: boolean };
  'private-network list': { cluster: string; owner?: string };
  'private-network show': { cluster: string };
  'private-network delete': Idempotent & { cluster: string; dryRun?: boolean };
  status: { cluster?: string };
  'router-config show': { cluster: string; format?: Vendor; version?: number };
  'router-config diff': { cluster: string; format?: Vendor; from?: number; to?: number };
  'router-config list': { cluster: string };
  'router-config status': { cluster: string };
  'router-config rollback': Idempotent & { cluster: string; to: number; reason?: string; format?: Vendor; dryRun?: boolean };
  audit: { cluster?: string; actor?: string; from?: string; to?: string; limit?: number; cursor?: string; all?: boolean };
  completion: None;
}
/** Positional arguments of the commands that take some. */
interface CommandArgs {
  'cluster show': { cluster: string };
  'cluster set-bgp': { cluster: string };
  'node drain': { node: string };
  'node evacuate': { node: string };
  'node undrain': { node: string };
  'node enroll': { node: string };
  'vm show': { vm: string };
  'vm delete': { vm: string };
  'vm migrate': { vm: string };
  'vm blackhole': { vm: string };
  'vm unblackhole': { vm: string };
  'vm attach-network': { vm: string };
  'vm detach-network': { vm: string };
  'vm address': { action: 'add' | 'rm'; vm: string; ip?: string };
  'private-network show': { network: string };
  'private-network delete': { network: string };
  'floating show': { id: string };
  'floating attach': { id: string };
  'floating detach': { id: string };
  'floating rm': { id: string };
  completion: { shell: Shell };
}
export type CommandName = keyof CommandOptions;
export type ArgsOf<K extends CommandName> = K extends keyof CommandArgs ? CommandArgs[K] : None;

export interface ParsedCommand<K extends CommandName> {
  name: K;
  args: ArgsOf<K>;
  opts: CommandOptions[K];
  global: GlobalOptions;
}
export type Parsed = { [K in CommandName]: ParsedCommand<K> }[CommandName];
export type ParseResult = Parsed | { help: string };

const int = (v: string): number => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(v);
};
const list = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];
/** Given twice is an error, not "the last one wins": `--owner a --owner b` is a typo, not an intent. */
const once = (v: string, prev: string | undefined): string => {
  if (prev !== undefined) throw new InvalidArgumentError('given twice');
  return v;
};
const pair = (v: string): string => {
  if (!/^[^=]+=.+$/.test(v)) throw new InvalidArgumentError('must be NAME=IP');
  return v;
};

type OptionKind = 'string' | 'int' | 'list' | 'pair' | 'pairs' | 'bool';
interface OptionSpec {
  flags: string;
  desc: string;
  kind?: OptionKind;
  required?: boolean;
  choices?: readonly string[];
}
function option(spec: OptionSpec): Option {
  const o = new Option(spec.flags, spec.required ? `${spec.desc} (required)` : spec.desc);
  if (spec.choices) o.choices(spec.choices);
  else if (spec.kind === 'int') o.argParser(int);
  else if (spec.kind === 'list') o.argParser(list);
  else if (spec.kind === 'pairs') o.argParser((v: string, prev: string[] | undefined) => list(pair(v), prev));
  else if (spec.kind === 'pair') o.argParser((v: string, prev: string | undefined) => once(pair(v), prev));
  else if (spec.kind !== 'bool') o.argParser(once);
  if (spec.required) o.makeOptionMandatory();
  return o;
}

const cluster = (required = true, desc = 'cluster id or name'): OptionSpec => ({ flags: '--cluster <ID|NAME>', desc, required });
const IDEMPOTENCY: OptionSpec = { flags: '--idempotency-key <KEY>', desc: 'Idempotency-Key header: a retry with the same key changes nothing twice' };
const DRY_RUN: OptionSpec = { flags: '--dry-run', desc: 'change nothing: show the events and each node, RR and core config diff', kind: 'bool' };
const FORMAT: OptionSpec = { flags: '--format <junos|frr>', desc: 'configuration dialect (default junos)', choices: ['junos', 'frr'] };

interface LeafSpec {
  summary: string;
  args?: { name: string; desc: string; choices?: readonly string[]; optional?: boolean }[];
  options?: OptionSpec[];
}
/** The command table: group → subcommand → spec (a top-level command has the group's name as its only key). */
const COMMANDS: Record<string, { summary: string; commands: Record<string, LeafSpec> } | LeafSpec> = {
  cluster: {
    summary: 'clusters: create, list, show, set-bgp',
    commands: {
      create: {
        summary: 'create a cluster',
        options: [
          { flags: '--name <NAME>', desc: 'cluster name', required: true },
          { flags: '--fabric-asn <ASN>', desc: 'ASN of nodes and route reflectors', kind: 'int', required: true },
          { flags: '--core-asn <ASN>', desc: 'ASN of the core router', kind: 'int', required: true },
          { flags: '--community <ASN:N>', desc: 'BGP community of VM routes', required: true },
          { flags: '--rr <NAME=IP>', desc: 'route reflector (repeat for each; none only with --topology direct)', kind: 'pairs' },
          {
            flags: '--topology <route-reflectors|direct>',
            desc: 'direct: LAB/TEST STANDS ONLY, no route reflector, every node peers the core (default route-reflectors)',
            choices: ['route-reflectors', 'direct'],
          },
          { flags: '--core-router <NAME=IP>', desc: 'core router', kind: 'pair', required: true },
          { flags: '--vendor <junos|frr>', desc: 'core router vendor (default junos)', choices: ['junos', 'frr'] },
          { flags: '--gateway-ip <IP>', desc: 'VM gateway address' },
          { flags: '--gateway-mac <MAC>', desc: 'VM gateway MAC' },
          { flags: '--md5-password <PASSWORD>', desc: 'BGP MD5 password (default: one is generated)' },
          { flags: '--md5-opt-out <REASON>', desc: 'run the BGP sessions without MD5 (the reason is recorded)' },
          {
            flags: '--prefix-limit-action <ACTION>',
            desc: 'what RRs do with a node over its prefix limit (default restart)',
            choices: ['restart', 'disable', 'block', 'warn'],
          },
          { flags: '--core-community <no-export|none|ASN:N>', desc: 'community RRs add to routes sent to the core (default no-export)' },
          { flags: '--graceful-restart', desc: 'enable BGP graceful restart', kind: 'bool' },
          { flags: '--bfd', desc: 'enable BFD', kind: 'bool' },
          { flags: '--dry-run', desc: 'create nothing: show the events and the RR and core configs it would render (secrets redacted)', kind: 'bool' },
          IDEMPOTENCY,
        ],
      },
      list: { summary: 'list clusters' },
      show: { summary: 'show a cluster: route reflectors, core router, networks, nodes', args: [{ name: 'cluster', desc: 'cluster id or name' }] },
      'set-bgp': {
        summary: "change a cluster's BGP settings (every node, RR and the core get a new generation); --dry-run shows what would change",
        args: [{ name: 'cluster', desc: 'cluster id or name' }],
        options: [
          { flags: '--hold-time <S>', desc: 'BGP hold time: 0 or 3-65535 s', kind: 'int' },
          { flags: '--keepalive-time <S>', desc: 'keepalive, below the hold time (default hold/3)', kind: 'int' },
          { flags: '--graceful-restart <on|off>', desc: 'BGP graceful restart', choices: ['on', 'off'] },
          { flags: '--gr-time <S>', desc: 'graceful-restart time, 1-1800 s', kind: 'int' },
          { flags: '--bfd <on|off>', desc: 'BFD on every session', choices: ['on', 'off'] },
          { flags: '--bfd-min-rx <MS>', desc: 'BFD minimum receive interval, 10-60000 ms', kind: 'int' },
          { flags: '--bfd-min-tx <MS>', desc: 'BFD minimum transmit interval, 10-60000 ms', kind: 'int' },
          { flags: '--bfd-multiplier <N>', desc: 'BFD detect multiplier, 2-255', kind: 'int' },
          { flags: '--md5-password <PASSWORD>', desc: 'rotate the MD5 password to this one' },
          { flags: '--rotate-md5', desc: 'rotate the MD5 password to a generated one', kind: 'bool' },
          { flags: '--community <ASN:N>', desc: 'community of VM routes' },
          { flags: '--core-community <no-export|none|ASN:N>', desc: 'community RRs add to routes sent to the core' },
          { flags: '--prefix-limit-action <ACTION>', desc: 'what RRs do with a node over its prefix limit', choices: ['restart', 'disable', 'block', 'warn'] },
          { flags: '--bmp <ADDRESS:PORT>', desc: "the core's BMP station (198.18.254.1:11019, [2001:db8::9]:11019); --reset bmpStation: none" },
          {
            flags: '--reset <TIMER>',
            desc: 'return a timer to the daemon default (repeat): holdTime, keepaliveTime, gracefulRestartTime, bfdMinRxMs, bfdMinTxMs, bfdMultiplier, bmpStation',
            kind: 'list',
          },
          { flags: '--dry-run', desc: 'change nothing: show what would change and which targets', kind: 'bool' },
          IDEMPOTENCY,
        ],
      },
    },
  },
  node: {
    summary: 'nodes (hypervisors): join, drain, evacuate, undrain, list, enroll',
    commands: {
      join: {
        summary: 'join a node (hypervisor) to a cluster',
        options: [
          cluster(),
          { flags: '--name <NAME>', desc: 'node name', required: true },
          { flags: '--underlay-ip <IPv4>', desc: 'underlay IPv4 address', required: true },
          { flags: '--underlay-ip6 <IPv6>', desc: 'underlay IPv6 address (needed for IPv6 VMs)' },
          IDEMPOTENCY,
          DRY_RUN,
        ],
      },
      drain: {
        summary: 'drain a node (no new VMs)',
        args: [{ name: 'node', desc: 'node id, or name with --cluster' }],
        options: [
          cluster(false, 'cluster id or name (to refer to the node by name)'),
          { flags: '--evacuate', desc: 'also migrate every VM of the node away (as node evacuate)', kind: 'bool' },
          IDEMPOTENCY,
          DRY_RUN,
        ],
      },
      evacuate: {
        summary: 'drain a node and migrate its VMs to the nodes with the fewest VMs (progress: node evacuate again, or status)',
        args: [{ name: 'node', desc: 'node id, or name with --cluster' }],
        options: [cluster(false, 'cluster id or name (to refer to the node by name)'), IDEMPOTENCY, DRY_RUN],
      },
      undrain: {
        summary: 'return a drained node to service (stops an evacuation)',
        args: [{ name: 'node', desc: 'node id, or name with --cluster' }],
        options: [cluster(false, 'cluster id or name (to refer to the node by name)'), IDEMPOTENCY, DRY_RUN],
      },
      list: { summary: 'list the nodes of a cluster', options: [cluster()] },
      enroll: {
        summary: "what a new hypervisor needs (on the control host): its agent's NATS identity, unit, env file, BIRD base config, install script",
        args: [{ name: 'node', desc: 'node id, or name with --cluster' }],
        options: [
          cluster(),
          { flags: '--out <DIR>', desc: 'directory for the bundle (created; must be empty)', required: true },
          { flags: '--nats-url <URLS>', desc: "the seed list the agent connects with (default: the product's NATS URL)" },
        ],
      },
    },
  },
  vm: {
    summary: 'VMs: create, list, show, delete, migrate, blackhole, unblackhole, attach-network, detach-network, address',
    commands: {
      create: {
        summary: 'create a VM (its address is allocated and announced asynchronously)',
        options: [
          cluster(),
          { flags: '--node <ID|NAME>', desc: 'node id or name', required: true },
          { flags: '--name <NAME>', desc: 'VM name', required: true },
          { flags: '--owner <OWNER>', desc: 'owner (billing) id', required: true },
          { flags: '--ip <IP>', desc: 'a specific address (default: the next free one)' },
          { flags: '--family <4|6>', desc: 'address family (default 4)', choices: ['4', '6'] },
          {
            flags: '--addressing <MODE>',
            desc: 'dual-stack, ipv4 or ipv6 (default: dual-stack when the cluster has pools of both; --family or --ip alone: that family only)',
            choices: ['dual-stack', 'ipv4', 'ipv6'],
          },
          { flags: '--driver <tap|veth|netns>', desc: 'interface driver on the node', choices: ['tap', 'veth', 'netns'] },
          IDEMPOTENCY,
          DRY_RUN,
        ],
      },
      list: {
        summary: 'list VMs',
        options: [
          cluster(false),
          { flags: '--node <ID|NAME>', desc: 'node id (or name with --cluster)' },
          { flags: '--owner <OWNER>', desc: 'owner id' },
          { flags: '--status <STATUS>', desc: 'requested, ip-allocated, applied, announced, at-core, failed, migrating, deleted' },
          { flags: '--limit <N>', desc: 'at most N (default 1000)', kind: 'int' },
          { flags: '--offset <N>', desc: 'skip N', kind: 'int' },
        ],
      },
      show: { summary: 'show a VM and its history', args: [{ name: 'vm', desc: 'VM id' }] },
      delete: { summary: 'delete a VM', args: [{ name: 'vm', desc: 'VM id' }], options: [IDEMPOTENCY, DRY_RUN] },
      migrate: {
        summary: 'migrate a VM to another node (make-before-break)',
        args: [{ name: 'vm', desc: 'VM id' }],
        options: [{ flags: '--to <ID|NAME>', desc: 'target node id or name', required: true }, IDEMPOTENCY, DRY_RUN],
      },
      blackhole: {
        summary: "RTBH: the core discards the VM address's traffic (blackhole community), audited with the reason",
        args: [{ name: 'vm', desc: 'VM id' }],
        options: [{ flags: '--reason <TEXT>', desc: 'why (kept in the audit)', required: true }, IDEMPOTENCY, DRY_RUN],
      },
      unblackhole: {
        summary: 'lift the RTBH: the VM address is routed normally again',
        args: [{ name: 'vm', desc: 'VM id' }],
        options: [IDEMPOTENCY, DRY_RUN],
      },
      'attach-network': {
        summary: "attach a VM to a private network of its owner: an address from the network's CIDR and a MAC for its second interface",
        args: [{ name: 'vm', desc: 'VM id' }],
        options: [
          { flags: '--network <ID|NAME>', desc: "private network id, or name (of the VM's owner in the VM's cluster)", required: true },
          IDEMPOTENCY,
          DRY_RUN,
        ],
      },
      'detach-network': {
        summary: 'detach a VM from a private network (its address is held for the IPAM cool-down)',
        args: [{ name: 'vm', desc: 'VM id' }],
        options: [
          { flags: '--network <ID|NAME>', desc: "private network id, or name (of the VM's owner in the VM's cluster)", required: true },
          IDEMPOTENCY,
          DRY_RUN,
        ],
      },
      address: {
        summary:
          'extra addresses: `add <vm> [--family 6] [--ip X]` allocates one from the cluster pools; `rm <vm> <ip>` removes one (held for the IPAM cool-down; not the primary)',
        args: [
          { name: 'action', desc: 'add or rm', choices: ['add', 'rm'] },
          { name: 'vm', desc: 'VM id' },
          { name: 'ip', desc: 'rm: the address to remove', optional: true },
        ],
        options: [
          { flags: '--family <4|6>', desc: "add: address family (default: the --ip's, else 4)", choices: ['4', '6'] },
          { flags: '--ip <IP>', desc: 'add: a specific address of a pool (default: the next free one)' },
          IDEMPOTENCY,
          DRY_RUN,
        ],
      },
    },
  },
  'private-network': {
    summary: "tenants' private networks (VXLAN/EVPN, a VNI each): create, list, show, delete",
    commands: {
      create: {
        summary: 'create a private network for an owner; the control plane allocates its VNI',
        options: [
          cluster(),
          { flags: '--owner <OWNER>', desc: 'the tenant (only its VMs may attach)', required: true },
          { flags: '--name <NAME>', desc: 'network name (unique per owner)', required: true },
          { flags: '--cidr <CIDR>', desc: 'RFC 1918 / 100.64.0.0/10 IPv4 /16-/29, or fc00::/7 IPv6 /48-/124', required: true },
          IDEMPOTENCY,
          DRY_RUN,
        ],
      },
      list: { summary: "list a cluster's private networks", options: [cluster(), { flags: '--owner <OWNER>', desc: 'one owner only' }] },
      show: { summary: 'show a private network and its attached VMs', args: [{ name: 'network', desc: 'network id' }], options: [cluster()] },
      delete: {
        summary: 'delete a private network (refused while VMs are attached)',
        args: [{ name: 'network', desc: 'network id' }],
        options: [cluster(), IDEMPOTENCY, DRY_RUN],
      },
    },
  },
  floating: {
    summary: 'floating addresses (owned by an owner, attached to one VM, moved make-before-break): create, ls, show, attach, detach, rm',
    commands: {
      create: {
        summary: "allocate a floating address to an owner from the cluster's pools",
        options: [
          cluster(),
          { flags: '--owner <OWNER>', desc: 'who holds (and is billed for) it', required: true },
          { flags: '--family <4|6>', desc: "address family (default: the --ip's, else 4)", choices: ['4', '6'] },
          { flags: '--ip <IP>', desc: 'a specific address of a pool (default: the next free one)' },
          IDEMPOTENCY,
          DRY_RUN,
        ],
      },
      ls: { summary: 'list floating addresses', options: [cluster(false, 'one cluster (id or name)'), { flags: '--owner <OWNER>', desc: 'one owner only' }] },
      show: { summary: 'show a floating address: status, VM, route at the core', args: [{ name: 'id', desc: 'floating address id' }] },
      attach: {
        summary: 'attach to a VM (same cluster and owner), or move it there: the old VM withdraws once the new route is at the RRs',
        args: [{ name: 'id', desc: 'floating address id' }],
        options: [
          { flags: '--vm <ID>', desc: 'VM id', required: true },
          { flags: '--allow-other-owner', desc: 'admin: a VM of another owner', kind: 'bool' },
          IDEMPOTENCY,
          DRY_RUN,
        ],
      },
      detach: {
        summary: 'detach from its VM (withdrawn; the owner keeps it)',
        args: [{ name: 'id', desc: 'floating address id' }],
        options: [IDEMPOTENCY, DRY_RUN],
      },
      rm: {
        summary: 'release it (detach it first; back in the pool after the IPAM cool-down)',
        args: [{ name: 'id', desc: 'floating address id' }],
        options: [IDEMPOTENCY, DRY_RUN],
      },
    },
  },
  status: { summary: 'cluster overview: nodes with drift and BGP sessions, VM counts by status', options: [cluster(false, 'one cluster (default: all)')] },
  audit: {
    summary: 'who did what: the events caused by commands, newest first, with actor and command',
    options: [
      cluster(false, 'one cluster (id or name)'),
      { flags: '--actor <ACTOR>', desc: 'an actor (token:NAME(ROLE), a service) or a token name' },
      { flags: '--from <TIME>', desc: 'inclusive start, ISO 8601 with zone' },
      { flags: '--to <TIME>', desc: 'exclusive end, ISO 8601 with zone' },
      { flags: '--limit <N>', desc: 'entries per page, 1-1000 (default 100)', kind: 'int' },
      { flags: '--cursor <CURSOR>', desc: 'continue after a previous page (its "next")' },
      { flags: '--all', desc: 'follow every page', kind: 'bool' },
    ],
  },
  'router-config': {
    summary: 'core router config: show, diff, list, rollback; its route sources (status)',
    commands: {
      show: {
        summary: "the core router's configuration",
        options: [cluster(), FORMAT, { flags: '--version <N>', desc: 'a given version (default: latest)', kind: 'int' }],
      },
      diff: {
        summary: 'diff between two versions of the core router configuration',
        options: [
          cluster(),
          FORMAT,
          { flags: '--from <N>', desc: 'older version (default: the one before --to)', kind: 'int' },
          { flags: '--to <N>', desc: 'newer version (default: latest)', kind: 'int' },
        ],
      },
      list: { summary: 'the versions of the core router configuration, newest first', options: [cluster()] },
      status: {
        summary: "the core's route sources: VM routes held by the FRR agent's read and by BMP, the BMP station, disagreements",
        options: [cluster()],
      },
      rollback: {
        summary: 'make an earlier version desired again (published as a new version; holds until RRs, pools or BGP settings change)',
        options: [
          cluster(),
          { flags: '--to <N>', desc: 'the version to go back to', kind: 'int', required: true },
          { flags: '--reason <TEXT>', desc: 'why (kept in the audit)' },
          { flags: '--dry-run', desc: 'change nothing: show the diff from the current version to --to', kind: 'bool' },
          FORMAT,
          IDEMPOTENCY,
        ],
      },
    },
  },
  completion: {
    summary: 'print a shell completion script (bash: eval "$(fabricctl completion bash)")',
    args: [{ name: 'shell', desc: 'the shell', choices: ['bash'] }],
  },
};

const isGroup = (s: (typeof COMMANDS)[string]): s is { summary: string; commands: Record<string, LeafSpec> } => 'commands' in s;

/** A parse in progress: the program records the command it ran and the help text it printed. */
interface Capture {
  parsed?: Parsed;
  out: string;
}

/**
 * The fabricctl program: a successful parse is recorded in `capture.parsed`, help text in `capture.out`.
 * Each call builds a fresh program: commander keeps parse state in it.
 */
export function buildProgram(capture: Capture = { out: '' }): Command {
  const program = new Command('fabricctl')
    .description('the operator CLI of the ip-fabric HTTP API')
    .configureOutput({ writeOut: (s) => (capture.out += s), writeErr: (s) => (capture.out += s), outputError: () => undefined })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText('after', '\nexit codes: 0 ok, 1 API error, 2 usage error. `fabricctl <command> --help` for its options.')
    .addOption(new Option('--api <URL>', 'API base URL (env FABRIC_API, default http://127.0.0.1:8080/api/v1)').argParser(once))
    .addOption(new Option('--token <TOKEN>', 'API token, sent as Authorization: Bearer (env FABRIC_TOKEN)').argParser(once))
    .option('--json', 'machine output: the API JSON on stdout, errors as JSON on stderr');
  program.exitOverride(failure(''));

  const leaf = (parent: Command, path: string, name: string, spec: LeafSpec) => {
    const cmd = parent.command(name).description(spec.summary);
    cmd.exitOverride(failure(path));
    for (const a of spec.args ?? []) {
      const arg = new Argument(a.optional ? `[${a.name}]` : `<${a.name}>`, a.desc);
      if (a.choices) arg.choices(a.choices);
      cmd.addArgument(arg);
    }
    for (const o of spec.options ?? []) cmd.addOption(option(o));
    cmd.action((...actionArgs: unknown[]) => {
      const args = Object.fromEntries(cmd.registeredArguments.map((a, i) => [a.name(), actionArgs[i]]));
      const g = program.opts<{ api?: string; token?: string; json?: boolean }>();
      // The table above and CommandOptions describe the same commands; commander cannot type a table.
      capture.parsed = { name: path, args, opts: cmd.opts(), global: { api: g.api, token: g.token, json: g.json === true } } as Parsed;
    });
  };
  for (const [group, spec] of Object.entries(COMMANDS)) {
    if (!isGroup(spec)) {
      leaf(program, group, group, spec);
      continue;
    }
    const g = program.command(group).description(spec.summary);
    g.exitOverride(failure(group));
    for (const [name, sub] of Object.entries(spec.commands)) leaf(g, `${group} ${name}`, name, sub);
  }
  return program;
}

/** Help was printed: asked for (`--help`, `help`), or a group (or fabricctl) was given without a subcommand. */
class HelpShown extends Error {
  constructor(
    readonly path: string,
    readonly implicit: boolean,
  ) {
    super('help');
  }
}

function failure(path: string) {
  return (err: CommanderError): never => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') throw new HelpShown(path, err.code === 'commander.help');
    const message = err.message.replace(/^error: /, '');
    // A group's unknown subcommand is named with its group: `unknown command 'vm explode'`.
    throw new UsageError(
      err.code === 'commander.unknownCommand' && path ? message.replace("unknown command '", `unknown command '${path} `) : message,
      path || undefined,
    );
  };
}

export function parseArgv(argv: string[]): ParseResult {
  const capture: Capture = { out: '' };
  const program = buildProgram(capture);
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof HelpShown)) throw err;
    const asked = argv.some((a) => a === '--help' || a === '-h' || a === 'help');
    const group = COMMANDS[err.path];
    if (err.implicit && !asked && group && isGroup(group))
      throw new UsageError(`"${err.path}" needs a subcommand: ${Object.keys(group.commands).join(', ')}`, err.path);
    return { help: capture.out.trimEnd() };
  }
  if (!capture.parsed) throw new UsageError('no command');
  return capture.parsed;
}

/** The whole help of one command (or of fabricctl), as `--help` prints it. */
export function helpText(path = ''): string {
  const r = parseArgv([...path.split(' ').filter(Boolean), '--help']);
  return 'help' in r ? r.help : '';
}

/** `NAME=IP` pairs (route reflectors, core router); the parser has already checked the shape. */
export function parsePair(v: string): { name: string; ip: string } {
  const i = v.indexOf('=');
  return { name: v.slice(0, i), ip: v.slice(i + 1) };
}
