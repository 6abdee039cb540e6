/**
 * fabricctl's command line: the command table and a strict parser (unknown flags and missing values are
 * usage errors, exit code 2, before anything is sent to the API). Pure: no I/O.
 */

export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagType = 'string' | 'int' | 'bool' | 'list';
export interface FlagSpec {
  type: FlagType;
  desc: string;
  required?: boolean;
  choices?: string[];
  /** Shown in help for a value flag. */
  value?: string;
}
export interface CommandSpec {
  /** e.g. ['vm', 'create'] */
  path: string[];
  summary: string;
  /** Required positional arguments, in order. */
  args?: { name: string; desc: string }[];
  flags?: Record<string, FlagSpec>;
}

export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  api: { type: 'string', value: 'URL', desc: 'API base URL (env FABRIC_API, default http://127.0.0.1:8080/api/v1)' },
  token: { type: 'string', value: 'TOKEN', desc: 'API token, sent as Authorization: Bearer (env FABRIC_TOKEN)' },
  json: { type: 'bool', desc: 'machine output: the API JSON on stdout, errors as JSON on stderr' },
  help: { type: 'bool', desc: 'show help' },
};

const CLUSTER = { type: 'string', value: 'ID|NAME', desc: 'cluster id or name', required: true } as const;
const IDEMPOTENCY = { type: 'string', value: 'KEY', desc: 'Idempotency-Key header: a retry with the same key changes nothing twice' } as const;

export const COMMANDS: CommandSpec[] = [
  {
    path: ['cluster', 'create'],
    summary: 'create a cluster',
    flags: {
      name: { type: 'string', required: true, value: 'NAME', desc: 'cluster name' },
      'fabric-asn': { type: 'int', required: true, value: 'ASN', desc: 'ASN of nodes and route reflectors' },
      'core-asn': { type: 'int', required: true, value: 'ASN', desc: 'ASN of the core router' },
      community: { type: 'string', required: true, value: 'ASN:N', desc: 'BGP community of VM routes' },
      rr: { type: 'list', required: true, value: 'NAME=IP', desc: 'route reflector (repeat for each)' },
      'core-router': { type: 'string', required: true, value: 'NAME=IP', desc: 'core router' },
      vendor: { type: 'string', value: 'junos|frr', choices: ['junos', 'frr'], desc: 'core router vendor (default junos)' },
      'gateway-ip': { type: 'string', value: 'IP', desc: 'VM gateway address' },
      'gateway-mac': { type: 'string', value: 'MAC', desc: 'VM gateway MAC' },
      'md5-password': { type: 'string', value: 'PASSWORD', desc: 'BGP MD5 password' },
      'graceful-restart': { type: 'bool', desc: 'enable BGP graceful restart' },
      bfd: { type: 'bool', desc: 'enable BFD' },
      'idempotency-key': IDEMPOTENCY,
    },
  },
  { path: ['cluster', 'list'], summary: 'list clusters' },
  { path: ['cluster', 'show'], summary: 'show a cluster: route reflectors, core router, networks, nodes', args: [{ name: 'cluster', desc: 'cluster id or name' }] },
  {
    path: ['node', 'join'],
    summary: 'join a node (hypervisor) to a cluster',
    flags: {
      cluster: CLUSTER,
      name: { type: 'string', required: true, value: 'NAME', desc: 'node name' },
      'underlay-ip': { type: 'string', required: true, value: 'IPv4', desc: 'underlay IPv4 address' },
      'underlay-ip6': { type: 'string', value: 'IPv6', desc: 'underlay IPv6 address (needed for IPv6 VMs)' },
      'idempotency-key': IDEMPOTENCY,
    },
  },
  {
    path: ['node', 'drain'],
    summary: 'drain a node (no new VMs)',
    args: [{ name: 'node', desc: 'node id, or name with --cluster' }],
    flags: { cluster: { ...CLUSTER, required: false, desc: 'cluster id or name (to refer to the node by name)' }, 'idempotency-key': IDEMPOTENCY },
  },
  { path: ['node', 'list'], summary: 'list the nodes of a cluster', flags: { cluster: CLUSTER } },
  {
    path: ['vm', 'create'],
    summary: 'create a VM (its address is allocated and announced asynchronously)',
    flags: {
      cluster: CLUSTER,
      node: { type: 'string', required: true, value: 'ID|NAME', desc: 'node id or name' },
      name: { type: 'string', required: true, value: 'NAME', desc: 'VM name' },
      owner: { type: 'string', required: true, value: 'OWNER', desc: 'owner (billing) id' },
      ip: { type: 'string', value: 'IP', desc: 'a specific address (default: the next free one)' },
      family: { type: 'string', value: '4|6', choices: ['4', '6'], desc: 'address family (default 4)' },
      driver: { type: 'string', value: 'tap|veth|netns', choices: ['tap', 'veth', 'netns'], desc: 'interface driver on the node' },
      'idempotency-key': IDEMPOTENCY,
    },
  },
  {
    path: ['vm', 'list'],
    summary: 'list VMs',
    flags: {
      cluster: { ...CLUSTER, required: false },
      node: { type: 'string', value: 'ID|NAME', desc: 'node id (or name with --cluster)' },
      owner: { type: 'string', value: 'OWNER', desc: 'owner id' },
      status: { type: 'string', value: 'STATUS', desc: 'requested, ip-allocated, applied, announced, at-core, failed, migrating, deleted' },
      limit: { type: 'int', value: 'N', desc: 'at most N (default 1000)' },
      offset: { type: 'int', value: 'N', desc: 'skip N' },
    },
  },
  { path: ['vm', 'show'], summary: 'show a VM and its history', args: [{ name: 'vm', desc: 'VM id' }] },
  { path: ['vm', 'delete'], summary: 'delete a VM', args: [{ name: 'vm', desc: 'VM id' }], flags: { 'idempotency-key': IDEMPOTENCY } },
  {
    path: ['vm', 'migrate'],
    summary: 'migrate a VM to another node (make-before-break)',
    args: [{ name: 'vm', desc: 'VM id' }],
    flags: { to: { type: 'string', required: true, value: 'ID|NAME', desc: 'target node id or name' }, 'idempotency-key': IDEMPOTENCY },
  },
  { path: ['status'], summary: 'cluster overview: nodes with drift and BGP sessions, VM counts by status', flags: { cluster: { ...CLUSTER, required: false, desc: 'one cluster (default: all)' } } },
  {
    path: ['router-config', 'show'],
    summary: "the core router's configuration",
    flags: {
      cluster: CLUSTER,
      format: { type: 'string', value: 'junos|frr', choices: ['junos', 'frr'], desc: 'default junos' },
      version: { type: 'int', value: 'N', desc: 'a given version (default: latest)' },
    },
  },
  {
    path: ['router-config', 'diff'],
    summary: 'diff between two versions of the core router configuration',
    flags: {
      cluster: CLUSTER,
      format: { type: 'string', value: 'junos|frr', choices: ['junos', 'frr'], desc: 'default junos' },
      from: { type: 'int', value: 'N', desc: 'older version (default: the one before --to)' },
      to: { type: 'int', value: 'N', desc: 'newer version (default: latest)' },
    },
  },
];

export type FlagValue = string | number | boolean | string[];
export interface Parsed {
  command: CommandSpec;
  args: Record<string, string>;
  flags: Record<string, FlagValue>;
  global: { api?: string; token?: string; json: boolean };
}
export type ParseResult = Parsed | { help: true; command?: CommandSpec; topic?: string };

export function parseArgv(argv: string[]): ParseResult {
  const words: string[] = [];
  const raw: { name: string; value?: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      raw.push(eq > 0 ? { name: a.slice(2, eq), value: a.slice(eq + 1) } : { name: a.slice(2) });
    } else if (a === '-h') raw.push({ name: 'help' });
    else if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) throw new UsageError(`unknown option ${a}`);
    else if (raw.length && raw[raw.length - 1].value === undefined && takesValue(raw[raw.length - 1].name, words)) raw[raw.length - 1].value = a;
    else words.push(a);
  }
  const wantsHelp = raw.some((r) => r.name === 'help');
  const command = COMMANDS.find((c) => c.path.every((p, i) => words[i] === p));
  if (!command) {
    if (wantsHelp || words.length === 0) return { help: true, topic: words[0] };
    const group = COMMANDS.filter((c) => c.path[0] === words[0]);
    if (group.length) throw new UsageError(words[1] ? `unknown command "${words.slice(0, 2).join(' ')}"` : `"${words[0]}" needs a subcommand: ${group.map((c) => c.path[1]).join(', ')}`);
    throw new UsageError(`unknown command "${words[0]}"`);
  }
  if (wantsHelp) return { help: true, command };
  const specs: Record<string, FlagSpec> = { ...GLOBAL_FLAGS, ...(command.flags ?? {}) };
  const flags: Record<string, FlagValue> = {};
  for (const r of raw) {
    const spec = specs[r.name];
    if (!spec) throw new UsageError(`unknown option --${r.name} for "${command.path.join(' ')}"`, command.path.join(' '));
    if (spec.type === 'bool') {
      if (r.value !== undefined && !['true', 'false'].includes(r.value)) throw new UsageError(`--${r.name} takes no value`, command.path.join(' '));
      flags[r.name] = r.value !== 'false';
      continue;
    }
    if (r.value === undefined || r.value === '') throw new UsageError(`--${r.name} needs a value${spec.value ? ` (${spec.value})` : ''}`, command.path.join(' '));
    if (spec.choices && !spec.choices.includes(r.value)) throw new UsageError(`--${r.name} must be one of ${spec.choices.join(', ')}`, command.path.join(' '));
    if (spec.type === 'int') {
      if (!/^\d+$/.test(r.value)) throw new UsageError(`--${r.name} must be a non-negative integer`, command.path.join(' '));
      flags[r.name] = Number(r.value);
    } else if (spec.type === 'list') flags[r.name] = [...((flags[r.name] as string[]) ?? []), r.value];
    else {
      if (r.name in flags) throw new UsageError(`--${r.name} given twice`, command.path.join(' '));
      flags[r.name] = r.value;
    }
  }
  for (const [name, spec] of Object.entries(command.flags ?? {})) {
    if (spec.required && !(name in flags)) throw new UsageError(`missing --${name}${spec.value ? ` ${spec.value}` : ''}`, command.path.join(' '));
  }
  const positionals = words.slice(command.path.length);
  const expected = command.args ?? [];
  if (positionals.length < expected.length) throw new UsageError(`missing ${expected[positionals.length].name} argument`, command.path.join(' '));
  if (positionals.length > expected.length) throw new UsageError(`unexpected argument "${positionals[expected.length]}"`, command.path.join(' '));
  const args: Record<string, string> = {};
  expected.forEach((a, i) => (args[a.name] = positionals[i]));
  const { api, token, json } = flags;
  for (const g of ['api', 'token', 'json', 'help']) delete flags[g];
  return { command, args, flags, global: { api: api as string | undefined, token: token as string | undefined, json: json === true } };
}

/** `--flag value`: a value flag takes the next word (bool flags never do). Unknown flags are caught later. */
function takesValue(name: string, words: string[]): boolean {
  const command = COMMANDS.find((c) => c.path.every((p, i) => words[i] === p));
  const spec = GLOBAL_FLAGS[name] ?? command?.flags?.[name] ?? COMMANDS.map((c) => c.flags?.[name]).find(Boolean);
  return !!spec && spec.type !== 'bool';
}

/** `NAME=IP` pairs (route reflectors, core router). */
export function parsePair(v: string, flag: string): { name: string; ip: string } {
  const m = /^([^=]+)=(.+)$/.exec(v);
  if (!m) throw new UsageError(`--${flag} must be NAME=IP, got "${v}"`);
  return { name: m[1], ip: m[2] };
}

export function helpText(command?: CommandSpec, topic?: string): string {
  const flagLines = (flags: Record<string, FlagSpec>) =>
    alignPairs(Object.entries(flags).map(([n, f]) => [`  --${n}${f.value ? ` ${f.value}` : ''}`, `${f.desc}${f.required ? ' (required)' : ''}`]));
  if (command) {
    const usage = `fabricctl ${command.path.join(' ')}${(command.args ?? []).map((a) => ` <${a.name}>`).join('')}${command.flags ? ' [options]' : ''}`;
    return [`usage: ${usage}`, '', command.summary, ...(command.flags ? ['', 'options:', ...flagLines(command.flags)] : []), '', 'global options:', ...flagLines(GLOBAL_FLAGS)].join('\n');
  }
  const list = COMMANDS.filter((c) => !topic || c.path[0] === topic);
  return [
    'usage: fabricctl <command> [options]',
    '',
    'commands:',
    ...alignPairs(list.map((c) => [`  ${c.path.join(' ')}${(c.args ?? []).map((a) => ` <${a.name}>`).join('')}`, c.summary])),
    '',
    'global options:',
    ...flagLines(GLOBAL_FLAGS),
    '',
    'exit codes: 0 ok, 1 API error, 2 usage error. `fabricctl <command> --help` for its options.',
  ].join('\n');
}

function alignPairs(pairs: string[][]): string[] {
  const w = Math.max(...pairs.map((p) => p[0].length));
  return pairs.map(([a, b]) => `${a.padEnd(w)}  ${b}`);
}
