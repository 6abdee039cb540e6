/**
 * What each fabricctl command asks the API and how it prints the answer. A command returns both the
 * machine form (`json`, what --json prints) and the human form (`text`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type {
  AuditEntry,
  AuditPage,
  Cluster,
  FloatingAddress,
  Health,
  Network,
  Node,
  NodeStatus,
  PrivateAttachment,
  PrivateNetwork,
  RouterConfigVersion,
  RouterRollbackAccepted,
  RouterRollbackPreview,
  RouterStatus,
  Vm,
  VmAccepted,
  VmWithHistory,
  WriteDryRun,
} from '@fabric/api-types';
import { type CommandName, type Parsed, type ParsedCommand, parsePair, UsageError } from './args';
import { type ApiClient, ApiError } from './client';
import { type Column, countByStatus, keyValues, sessionSummary, table } from './format';

export interface Output {
  json: unknown;
  text: string;
}
/** Every command that talks to the API (`completion` is answered locally). */
export type ApiCommandName = Exclude<CommandName, 'completion'>;
type Handlers = { [K in ApiCommandName]: (api: ApiClient, p: ParsedCommand<K>) => Promise<Output> };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const q = (params: Record<string, string | number | undefined>) => {
  const s = new URLSearchParams(
    Object.entries(params)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
  return s ? `?${s}` : '';
};
/** A write with `?dryRun=true`: nothing changes; the answer is the events and each target's config diff. */
async function dryRun(api: ApiClient, method: string, path: string, body?: unknown): Promise<{ json: WriteDryRun; text: string }> {
  const r = (await api.request<WriteDryRun>(method, `${path}${path.includes('?') ? '&' : '?'}dryRun=true`, body === undefined ? {} : { body })).body;
  const events = r.events.map((e) => `  ${e.type}`).join('\n');
  const notes = (r.notes ?? []).map((n) => `note: ${n}\n`).join('');
  const targets = r.targets
    .map((t) =>
      t.diff === null
        ? `config diff of ${t.kind} ${t.name}: not available (${t.diffError ?? 'no preview'})\n`
        : t.secretChanged
          ? `config of ${t.kind} ${t.name}: only a secret changes (redacted)\n`
          : t.diff,
    )
    .join('');
  const text = r.events.length
    ? `dry run: nothing was changed; would append:\n${events}\n${notes}${r.targets.length ? targets : 'no node, RR or core config would change\n'}`.trimEnd()
    : 'dry run: nothing would change';
  return { json: r, text };
}
const notFound = (code: string, message: string) => new ApiError({ status: 404, code, message });
const ago = (iso?: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

/** Clusters and nodes may be given by name: operators think in names, the API in ids. */
async function clusterId(api: ApiClient, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref.toLowerCase();
  const found = (await api.get<Cluster[]>('/clusters')).find((c) => c.name === ref);
  if (!found) throw notFound('cluster-not-found', `no cluster named ${ref}`);
  return found.id;
}
async function nodeId(api: ApiClient, ref: string, cluster?: string): Promise<string> {
  if (UUID.test(ref)) return ref.toLowerCase();
  if (!cluster) throw new UsageError(`node "${ref}" is not an id: give --cluster to refer to it by name`);
  const found = (await api.get<Node[]>(`/clusters/${cluster}/nodes`)).find((n) => n.name === ref);
  if (!found) throw notFound('node-not-found', `cluster has no node named ${ref}`);
  return found.id;
}

/** A private network given by id, or by name among the networks of `ownerId` in `cluster`. */
async function privateNetworkId(api: ApiClient, ref: string, cluster: string, ownerId: string): Promise<string> {
  if (UUID.test(ref)) return ref.toLowerCase();
  const found = (await api.get<PrivateNetwork[]>(`/clusters/${cluster}/private-networks${q({ ownerId })}`)).find((n) => n.name === ref);
  if (!found) throw notFound('private-network-not-found', `owner ${ownerId} has no private network named ${ref} in this cluster`);
  return found.id;
}
const privateNetworkColumns: Column<PrivateNetwork>[] = [
  { header: 'ID', get: (n) => n.id },
  { header: 'NAME', get: (n) => n.name },
  { header: 'OWNER', get: (n) => n.ownerId },
  { header: 'CIDR', get: (n) => n.cidr },
  { header: 'VNI', get: (n) => n.vni },
  { header: 'VMS', get: (n) => n.attachedVms },
];
const attachmentColumns: Column<PrivateAttachment>[] = [
  { header: 'VM', get: (a) => a.vmId },
  { header: 'NETWORK', get: (a) => a.name ?? a.networkId },
  { header: 'VNI', get: (a) => a.vni },
  { header: 'IP', get: (a) => a.ip },
  { header: 'MAC', get: (a) => a.mac },
  { header: 'STATUS', get: (a) => (a.status === 'releasing' ? `releasing (held until ${ago(a.releaseAt)})` : a.status) },
];

const vmColumns = (nodes: Map<string, string>): Column<Vm>[] => [
  { header: 'ID', get: (v) => v.id },
  { header: 'NAME', get: (v) => v.name },
  { header: 'OWNER', get: (v) => v.ownerId },
  { header: 'IP', get: (v) => v.ip },
  { header: 'NODE', get: (v) => nodes.get(v.nodeId) ?? v.nodeId },
  { header: 'STATUS', get: (v) => v.status },
];
async function nodeNames(api: ApiClient, clusterIds: string[]): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const c of new Set(clusterIds)) for (const n of await api.get<Node[]>(`/clusters/${c}/nodes`).catch((): Node[] => [])) m.set(n.id, n.name);
  return m;
}

const vmText = (vm: VmWithHistory, nodes: Map<string, string>) => {
  const node = nodes.get(vm.nodeId);
  const pairs: [string, unknown][] = [
    ['id', vm.id],
    ['name', vm.name],
    ['owner', vm.ownerId],
    ['cluster', vm.clusterId],
    ['node', node ? `${node} (${vm.nodeId})` : vm.nodeId],
    ...(vm.previousNodeId ? ([['previous node', nodes.get(vm.previousNodeId) ?? vm.previousNodeId]] as [string, unknown][]) : []),
    ['ip', vm.ip],
    ['family', vm.family],
    ['driver', vm.driver],
    ['status', vm.status],
    ...(vm.reason ? ([['reason', vm.reason]] as [string, unknown][]) : []),
    ...(vm.blackhole
      ? ([['blackhole', `since ${ago(vm.blackhole.since)} by ${vm.blackhole.actor ?? '-'}: ${vm.blackhole.reason}`]] as [string, unknown][])
      : []),
    ['created', ago(vm.createdAt)],
    ['updated', ago(vm.updatedAt)],
  ];
  const history = vm.history
    ? [
        '',
        'history:',
        table(vm.history, [
          { header: 'AT', get: (h) => ago(h.at) },
          { header: 'STATUS', get: (h) => h.status },
          { header: 'EVENT', get: (h) => h.event },
          { header: 'DETAIL', get: (h) => h.detail },
        ]),
      ]
    : [];
  const extra = (vm.addresses ?? []).filter((a) => !a.primary);
  const addresses = extra.length
    ? [
        '',
        'addresses:',
        table(vm.addresses ?? [], [
          { header: 'IP', get: (a) => a.ip ?? '-' },
          { header: 'FAMILY', get: (a) => a.family },
          { header: 'PRIMARY', get: (a) => (a.primary ? 'yes' : '') },
          { header: 'STATUS', get: (a) => a.status },
          { header: 'DETAIL', get: (a) => a.reason ?? (a.releaseAt ? `released at ${a.releaseAt}` : '') },
        ]),
      ]
    : [];
  return [keyValues(pairs), ...addresses, ...history].join('\n');
};

const floatingColumns: Column<FloatingAddress>[] = [
  { header: 'ID', get: (f) => f.id },
  { header: 'IP', get: (f) => f.ip },
  { header: 'OWNER', get: (f) => f.ownerId },
  { header: 'STATUS', get: (f) => f.status },
  { header: 'VM', get: (f) => (f.fromVmId ? `${f.fromVmId} -> ${f.vmId}` : (f.vmId ?? '-')) },
  { header: 'ROUTE', get: (f) => f.route },
];
const floatingText = (f: FloatingAddress) =>
  keyValues([
    ['id', f.id],
    ['ip', f.ip],
    ['owner', f.ownerId],
    ['cluster', f.clusterId],
    ['status', f.status],
    ['vm', f.vmId ?? '-'],
    ...(f.fromVmId ? [['moving from', f.fromVmId] as [string, string]] : []),
    ['route', f.route],
    ['core next hops', f.coreNextHops.join(', ') || '-'],
    ...(f.releaseAt ? [['released at', f.releaseAt] as [string, string]] : []),
  ]);

/** The API's warning about a cluster (a direct, lab-only one), as loud lines of text. */
const warningLines = (c: Cluster): string[] => (c.warning ? [`WARNING: cluster ${c.name}: ${c.warning}`] : []);

const clusterColumns: Column<Cluster>[] = [
  { header: 'ID', get: (c) => c.id },
  { header: 'NAME', get: (c) => c.name },
  { header: 'FABRIC ASN', get: (c) => c.fabricAsn, align: 'right' },
  { header: 'CORE ASN', get: (c) => c.coreAsn, align: 'right' },
  { header: 'COMMUNITY', get: (c) => c.community },
  { header: 'RRS', get: (c) => (c.topology === 'direct' ? 'none (DIRECT, lab only)' : c.routeReflectors.map((r) => r.name)) },
  { header: 'CORE', get: (c) => `${c.coreRouter.name} (${c.coreRouter.vendor})` },
];
const nodeColumns: Column<Node>[] = [
  { header: 'ID', get: (n) => n.id },
  { header: 'NAME', get: (n) => n.name },
  { header: 'UNDERLAY', get: (n) => n.underlayIp },
  { header: 'UNDERLAY6', get: (n) => n.underlayIp6 },
  { header: 'STATUS', get: (n) => n.status },
];
/** A network's pools as table rows (a network without pools gets one row of its own). */
interface PoolRow {
  cidr: string;
  family: 4 | 6;
  start?: string;
  end?: string;
  size?: string;
  used?: number;
}
const poolColumns: Column<PoolRow>[] = [
  { header: 'CIDR', get: (p) => p.cidr },
  { header: 'POOL', get: (p) => (p.start ? `${p.start} - ${p.end}` : '') },
  { header: 'SIZE', get: (p) => p.size, align: 'right' },
  { header: 'USED', get: (p) => p.used, align: 'right' },
];
const nodeStatusColumns: Column<NodeStatus>[] = [
  { header: 'NODE', get: (n) => n.name },
  { header: 'STATUS', get: (n) => n.status },
  { header: 'DESIRED', get: (n) => n.desiredGeneration, align: 'right' },
  { header: 'APPLIED', get: (n) => n.appliedGeneration, align: 'right' },
  { header: 'DRIFT', get: (n) => (n.drift ? 'DRIFT' : 'ok') },
  { header: 'BGP', get: (n) => sessionSummary(n.bgpSessions) },
  { header: 'VMS', get: (n) => n.vmCount, align: 'right' },
  { header: 'LAST ERROR', get: (n) => n.lastError },
];

/** The data of an audit entry in one short line (ids shortened; the full entry is in --json). */
const auditDetail = (e: AuditEntry) =>
  Object.entries(e.detail)
    .filter(([k]) => !['clusterId', 'vmId', 'nodeId'].includes(k) || e.aggregate === 'ipam')
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
const auditColumns: Column<AuditEntry>[] = [
  { header: 'AT', get: (e) => ago(e.at) },
  { header: 'ACTOR', get: (e) => e.actor },
  { header: 'COMMAND', get: (e) => e.command },
  { header: 'EVENT', get: (e) => e.event },
  { header: 'ON', get: (e) => `${e.aggregate} ${e.aggregateId}` },
  { header: 'DETAIL', get: (e) => auditDetail(e).slice(0, 120) },
];

async function routerConfig(api: ApiClient, cluster: string, format: string, extra: { version?: number; diff?: number }) {
  const id = await clusterId(api, cluster);
  const r = await api.request<string>('GET', `/clusters/${id}/router/config${q({ format, ...extra })}`);
  return { cluster: id, version: Number(r.headers.get('x-config-version')), text: String(r.body) };
}

interface BgpDryRun {
  changed: string[];
  settingsDiff: string;
  /** `diff`: the target's unified config diff (secrets redacted); null with `diffError` when it could not be rendered. */
  targets: { kind: string; id: string; name: string; diff?: string | null; diffError?: string }[];
}
const timer = (label: string, v: number | undefined, unit: string) => (v === undefined ? [] : [`${label} ${v}${unit}`]);
function bgpSummary(b: Cluster['bgp']): string {
  return [
    `graceful-restart ${b.gracefulRestart ? 'on' : 'off'}`,
    ...timer('gr time', b.gracefulRestartTime, 's'),
    `bfd ${b.bfd ? 'on' : 'off'}`,
    ...timer('bfd rx', b.bfdMinRxMs, 'ms'),
    ...timer('bfd tx', b.bfdMinTxMs, 'ms'),
    ...timer('bfd multiplier', b.bfdMultiplier, ''),
    ...timer('hold', b.holdTime, 's'),
    ...timer('keepalive', b.keepaliveTime, 's'),
    `md5 ${b.md5 ? 'on' : `off (${b.md5OptOut ?? 'no reason recorded'})`}`,
    `node prefix limit action ${b.prefixLimitAction}`,
    `core community ${b.coreCommunity}`,
    `bmp station ${b.bmpStation ? `${b.bmpStation.address.includes(':') ? `[${b.bmpStation.address}]` : b.bmpStation.address}:${b.bmpStation.port}` : 'none'}`,
  ].join(', ');
}

/** `--bmp 198.18.254.1:11019` or `[2001:db8::9]:11019`: the API validates the address and the port's range. */
export function bmpStationArg(v: string): { address: string; port: number } {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(v) ?? /^([0-9.]+):(\d{1,5})$/.exec(v);
  if (!m) throw new UsageError(`--bmp ${v}: expected ADDRESS:PORT (an IPv6 address in brackets)`);
  return { address: m[1], port: Number(m[2]) };
}

/** `status`: one cluster's nodes with their apply state and its VMs counted by status. */
interface ClusterStatus {
  cluster: { id: string; name: string };
  nodes: NodeStatus[];
  vmsByStatus: Record<string, number>;
  vmTotal: number;
}

export const HANDLERS: Handlers = {
  async 'cluster create'(api, { opts: o }) {
    const safety = {
      ...(o.md5OptOut !== undefined ? { md5OptOut: o.md5OptOut } : {}),
      ...(o.prefixLimitAction !== undefined ? { prefixLimitAction: o.prefixLimitAction } : {}),
      ...(o.coreCommunity !== undefined ? { coreCommunity: o.coreCommunity } : {}),
    };
    const bgp = o.md5Password !== undefined || o.gracefulRestart !== undefined || o.bfd !== undefined;
    const rrs = o.rr ?? [];
    if (!rrs.length && o.topology !== 'direct')
      throw new UsageError('give the route reflectors with --rr NAME=IP (or, for a lab/test stand only, --topology direct)');
    const body = {
      name: o.name,
      fabricAsn: o.fabricAsn,
      coreAsn: o.coreAsn,
      community: o.community,
      ...(o.topology !== undefined ? { topology: o.topology } : {}),
      routeReflectors: rrs.map(parsePair),
      coreRouter: { ...parsePair(o.coreRouter), vendor: o.vendor ?? 'junos' },
      ...(o.gatewayIp || o.gatewayMac ? { gateway: { ip: o.gatewayIp, mac: o.gatewayMac } } : {}),
      ...(bgp
        ? { bgp: { md5Password: o.md5Password, gracefulRestart: o.gracefulRestart === true, bfd: o.bfd === true, ...safety } }
        : Object.keys(safety).length
          ? { bgp: safety }
          : {}),
    };
    if (o.dryRun) return dryRun(api, 'POST', '/clusters', body);
    const c = (await api.request<Cluster>('POST', '/clusters', { body, idempotencyKey: o.idempotencyKey })).body;
    return { json: c, text: [`cluster ${c.name} created: ${c.id}`, ...warningLines(c)].join('\n') };
  },
  async 'cluster list'(api) {
    const cs = await api.get<Cluster[]>('/clusters');
    return { json: cs, text: [table(cs, clusterColumns, '(no clusters)'), ...cs.flatMap(warningLines)].join('\n') };
  },
  async 'cluster show'(api, { args }) {
    const id = await clusterId(api, args.cluster);
    const [c, networks, nodes] = await Promise.all([
      api.get<Cluster>(`/clusters/${id}`),
      api.get<Network[]>(`/clusters/${id}/networks`),
      api.get<Node[]>(`/clusters/${id}/nodes`),
    ]);
    const pools = networks.flatMap((n): PoolRow[] =>
      n.pools.length ? n.pools.map((p) => ({ ...p, cidr: n.cidr, family: n.family })) : [{ cidr: n.cidr, family: n.family }],
    );
    const text = [
      ...warningLines(c),
      keyValues([
        ['id', c.id],
        ['name', c.name],
        ['topology', c.topology ?? 'route-reflectors'],
        ['fabric ASN', c.fabricAsn],
        ['core ASN', c.coreAsn],
        ['community', c.community],
        ['gateway', `${c.gateway.ip} ${c.gateway.mac}`],
        ['rr cluster id', c.rrClusterId],
        ['core router', `${c.coreRouter.name} ${c.coreRouter.ip} (${c.coreRouter.vendor})`],
        ['bgp', bgpSummary(c.bgp)],
        ['created', ago(c.createdAt)],
      ]),
      '',
      'route reflectors:',
      table(c.routeReflectors, [
        { header: 'NAME', get: (r) => r.name },
        { header: 'IP', get: (r) => r.ip },
      ]),
      '',
      'networks:',
      table(pools, poolColumns),
      '',
      'nodes:',
      table(nodes, nodeColumns),
    ].join('\n');
    return { json: { ...c, networks, nodes }, text };
  },
  async 'cluster set-bgp'(api, { args, opts: o }) {
    const id = await clusterId(api, args.cluster);
    const onOff = (v?: 'on' | 'off') => (v === undefined ? undefined : v === 'on');
    const given: Record<string, unknown> = {
      holdTime: o.holdTime,
      keepaliveTime: o.keepaliveTime,
      gracefulRestart: onOff(o.gracefulRestart),
      gracefulRestartTime: o.grTime,
      bfd: onOff(o.bfd),
      bfdMinRxMs: o.bfdMinRx,
      bfdMinTxMs: o.bfdMinTx,
      bfdMultiplier: o.bfdMultiplier,
      md5Password: o.md5Password,
      rotateMd5: o.rotateMd5,
      community: o.community,
      coreCommunity: o.coreCommunity,
      prefixLimitAction: o.prefixLimitAction,
      bmpStation: o.bmp === undefined ? undefined : bmpStationArg(o.bmp),
    };
    const body: Record<string, unknown> = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
    for (const k of o.reset ?? []) body[k] = null; // the API refuses an unknown name
    if (!Object.keys(body).length) throw new UsageError('nothing to change: give at least one setting');
    if (o.dryRun) {
      const r = (await api.request<BgpDryRun>('PATCH', `/clusters/${id}/bgp${q({ dryRun: 'true' })}`, { body })).body;
      const targets = r.targets.map((t) => `  ${t.kind} ${t.name} (${t.id})`).join('\n');
      const diffs = r.targets
        .map((t) =>
          t.diff === undefined
            ? ''
            : t.diff === null
              ? `config diff of ${t.kind} ${t.name}: not available (${t.diffError ?? 'no preview'})\n`
              : t.diff || `config diff of ${t.kind} ${t.name}: no change\n`,
        )
        .join('');
      const text = r.changed.length
        ? `dry run: would change ${r.changed.join(', ')}\n${r.settingsDiff}targets that get a new generation:\n${targets || '  (none)'}\n${diffs}`.trimEnd()
        : 'dry run: nothing would change';
      return { json: r, text };
    }
    const c = (await api.request<Cluster>('PATCH', `/clusters/${id}/bgp`, { body, idempotencyKey: o.idempotencyKey })).body;
    return { json: c, text: `cluster ${c.name}: bgp ${bgpSummary(c.bgp)}` };
  },
  async 'node join'(api, { opts: o }) {
    const cluster = await clusterId(api, o.cluster);
    const body = { name: o.name, underlayIp: o.underlayIp, ...(o.underlayIp6 ? { underlayIp6: o.underlayIp6 } : {}) };
    if (o.dryRun) return dryRun(api, 'POST', `/clusters/${cluster}/nodes`, body);
    // The gateway answers `{id}` alone when the read model has not caught up yet.
    const n = (await api.request<Partial<Node> & { id: string }>('POST', `/clusters/${cluster}/nodes`, { body, idempotencyKey: o.idempotencyKey })).body;
    return { json: n, text: `node ${n.name ?? o.name} joined: ${n.id}` };
  },
  async 'node drain'(api, { args, opts: o }) {
    const id = await nodeId(api, args.node, o.cluster ? await clusterId(api, o.cluster) : undefined);
    if (o.dryRun) return dryRun(api, 'POST', `/nodes/${id}/drain`, o.evacuate ? { evacuate: true } : {});
    const n = (await api.request<Node>('POST', `/nodes/${id}/drain`, { body: o.evacuate ? { evacuate: true } : {}, idempotencyKey: o.idempotencyKey })).body;
    return { json: n, text: `node ${n.name} is ${n.status}` };
  },
  async 'node evacuate'(api, { args, opts: o }) {
    const id = await nodeId(api, args.node, o.cluster ? await clusterId(api, o.cluster) : undefined);
    if (o.dryRun) return dryRun(api, 'POST', `/nodes/${id}/evacuate`);
    await api.request<Node>('POST', `/nodes/${id}/evacuate`, { idempotencyKey: o.idempotencyKey });
    const s = await api.get<NodeStatus>(`/nodes/${id}/status`);
    const progress = s.evacuation
      ? `: ${s.evacuation.waiting} VM(s) waiting, ${s.evacuation.migrating} migrating`
      : s.status === 'drained'
        ? ': no VM left'
        : '';
    return { json: s, text: `node ${s.name} is ${s.status}${progress}` };
  },
  async 'node undrain'(api, { args, opts: o }) {
    const id = await nodeId(api, args.node, o.cluster ? await clusterId(api, o.cluster) : undefined);
    if (o.dryRun) return dryRun(api, 'POST', `/nodes/${id}/undrain`);
    const n = (await api.request<Node>('POST', `/nodes/${id}/undrain`, { idempotencyKey: o.idempotencyKey })).body;
    return { json: n, text: `node ${n.name} is ${n.status}` };
  },
  async 'node enroll'(api, { args, opts: o }) {
    const cluster = await clusterId(api, o.cluster);
    const n = (await api.get<Node[]>(`/clusters/${cluster}/nodes`)).find((x) => x.id === args.node.toLowerCase() || x.name === args.node);
    if (!n) throw notFound('node-not-found', `cluster has no node ${args.node}`);
    // The identity is enrolled where the product's NATS config lives: this host's checkout (npm run nats -- enroll).
    // From cli/ (sources) or node_modules/.cache/fabricctl (cli/run.js's transpile).
    const root = [join(__dirname, '..'), join(__dirname, '..', '..', '..')].find((d) => existsSync(join(d, 'deploy', 'enroll-bundle.ts')));
    if (!root) throw new UsageError('node enroll runs on the control host, from the product checkout');
    const argv = [
      '-r',
      join(root, 'deploy', 'register.js'),
      join(root, 'deploy', 'enroll-bundle.ts'),
      '--node-id',
      n.id,
      '--node-name',
      n.name,
      '--underlay-ip',
      n.underlayIp,
      '--out',
      o.out,
      ...(o.natsUrl ? ['--nats-url', o.natsUrl] : []),
    ];
    const r = spawnSync(process.execPath, argv, { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new UsageError(`enrollment failed: ${(r.stderr || r.error?.message || '').trim()}`);
    const bundle = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { identity: string; dir: string; files: string[] };
    return {
      json: { node: n, ...bundle },
      text: `enrollment bundle of node ${n.name} (${bundle.identity}) in ${bundle.dir}: ${bundle.files.join(', ')}\ncopy it to the host and run install.sh as root`,
    };
  },
  async 'node list'(api, { opts: o }) {
    const ns = await api.get<Node[]>(`/clusters/${await clusterId(api, o.cluster)}/nodes`);
    return { json: ns, text: table(ns, nodeColumns, '(no nodes)') };
  },
  async 'vm create'(api, { opts: o }) {
    const cluster = await clusterId(api, o.cluster);
    const node = await nodeId(api, o.node, cluster);
    const body = {
      clusterId: cluster,
      nodeId: node,
      name: o.name,
      ownerId: o.owner,
      ...(o.ip ? { ip: o.ip } : {}),
      ...(o.family ? { family: Number(o.family) } : {}),
      ...(o.addressing ? { addressing: o.addressing } : {}),
      ...(o.driver ? { driver: o.driver } : {}),
    };
    if (o.dryRun) return dryRun(api, 'POST', '/vms', body);
    const r = (await api.request<VmAccepted>('POST', '/vms', { body, idempotencyKey: o.idempotencyKey })).body;
    const families = (r.addresses ?? []).map((a) => `IPv${a.family}`).join(' + ');
    return { json: r, text: `vm ${o.name} accepted: ${r.id} (follow with: fabricctl vm show ${r.id})${families ? `; addresses: ${families}` : ''}` };
  },
  async 'vm list'(api, { opts: o }) {
    const cluster = o.cluster ? await clusterId(api, o.cluster) : undefined;
    const node = o.node ? await nodeId(api, o.node, cluster) : undefined;
    const vms = await api.get<Vm[]>(`/vms${q({ clusterId: cluster, nodeId: node, ownerId: o.owner, status: o.status, limit: o.limit, offset: o.offset })}`);
    return {
      json: vms,
      text: table(
        vms,
        vmColumns(
          await nodeNames(
            api,
            vms.map((v) => v.clusterId),
          ),
        ),
        '(no VMs)',
      ),
    };
  },
  async 'vm show'(api, { args }) {
    const vm = await api.get<VmWithHistory>(`/vms/${encodeURIComponent(args.vm)}`);
    const priv = await api.get<PrivateAttachment[]>(`/vms/${vm.id}/private-networks`).catch((): PrivateAttachment[] => []);
    const privText = priv.length ? `\n\nprivate networks:\n${table(priv, attachmentColumns)}` : '';
    // --json carries the attachments too: a script reads the VM's private addresses and MACs from one call.
    return { json: { ...vm, privateNetworks: priv }, text: vmText(vm, await nodeNames(api, [vm.clusterId])) + privText };
  },
  async 'vm delete'(api, { args, opts: o }) {
    if (o.dryRun) return dryRun(api, 'DELETE', `/vms/${encodeURIComponent(args.vm)}`);
    const r = (await api.request<VmAccepted>('DELETE', `/vms/${encodeURIComponent(args.vm)}`, { idempotencyKey: o.idempotencyKey })).body;
    return { json: r, text: `vm ${args.vm} deleted (its address is released after the IPAM cool-down)` };
  },
  async 'vm migrate'(api, { args, opts: o }) {
    const vm = await api.get<Vm>(`/vms/${encodeURIComponent(args.vm)}`);
    const to = await nodeId(api, o.to, vm.clusterId);
    if (o.dryRun) return dryRun(api, 'POST', `/vms/${vm.id}/migrate`, { nodeId: to });
    const r = (await api.request<VmAccepted>('POST', `/vms/${vm.id}/migrate`, { body: { nodeId: to }, idempotencyKey: o.idempotencyKey })).body;
    return { json: r, text: `vm ${vm.name} migrating to ${o.to}` };
  },
  async 'vm blackhole'(api, { args, opts: o }) {
    if (o.dryRun) return dryRun(api, 'POST', `/vms/${encodeURIComponent(args.vm)}/blackhole`, { reason: o.reason });
    const vm = (
      await api.request<Vm>('POST', `/vms/${encodeURIComponent(args.vm)}/blackhole`, { body: { reason: o.reason }, idempotencyKey: o.idempotencyKey })
    ).body;
    return { json: vm, text: `vm ${vm.name} (${vm.ip ?? 'no address yet'}) blackholed: the core discards its traffic` };
  },
  async 'vm unblackhole'(api, { args, opts: o }) {
    if (o.dryRun) return dryRun(api, 'DELETE', `/vms/${encodeURIComponent(args.vm)}/blackhole`);
    const vm = (await api.request<Vm>('DELETE', `/vms/${encodeURIComponent(args.vm)}/blackhole`, { idempotencyKey: o.idempotencyKey })).body;
    return { json: vm, text: `vm ${vm.name} (${vm.ip ?? 'no address yet'}) blackhole lifted: routed normally again` };
  },
  async 'vm address'(api, { args, opts: o }) {
    const vm = encodeURIComponent(args.vm);
    if (args.action === 'add') {
      if (args.ip !== undefined) throw new UsageError('vm address add takes the address as --ip <IP>, not as an argument', 'vm address');
      const body = { ...(o.family ? { family: Number(o.family) } : {}), ...(o.ip !== undefined ? { ip: o.ip } : {}) };
      if (o.dryRun) return dryRun(api, 'POST', `/vms/${vm}/addresses`, body);
      const r = (
        await api.request<{ requestId: string; family: number; ip?: string }>('POST', `/vms/${vm}/addresses`, { body, idempotencyKey: o.idempotencyKey })
      ).body;
      return {
        json: r,
        text: `vm ${args.vm}: IPv${r.family} address ${r.ip ?? ''}${r.ip ? ' ' : ''}requested (request ${r.requestId}); follow it with vm show`,
      };
    }
    if (args.ip === undefined) throw new UsageError('vm address rm needs the address: vm address rm <vm> <ip>', 'vm address');
    if (o.ip !== undefined || o.family !== undefined) throw new UsageError('vm address rm takes no --ip or --family', 'vm address');
    const path = `/vms/${vm}/addresses/${encodeURIComponent(args.ip)}`;
    if (o.dryRun) return dryRun(api, 'DELETE', path);
    const r = (await api.request<{ ip: string }>('DELETE', path, { idempotencyKey: o.idempotencyKey })).body;
    return { json: r, text: `vm ${args.vm}: address ${r.ip} removed (withdrawn; released after the IPAM cool-down)` };
  },
  async 'vm attach-network'(api, { args, opts: o }) {
    const vm = await api.get<Vm>(`/vms/${encodeURIComponent(args.vm)}`);
    const networkId = await privateNetworkId(api, o.network, vm.clusterId, vm.ownerId);
    if (o.dryRun) return dryRun(api, 'POST', `/vms/${vm.id}/private-networks`, { networkId });
    const atts = (await api.request<PrivateAttachment[]>('POST', `/vms/${vm.id}/private-networks`, { body: { networkId }, idempotencyKey: o.idempotencyKey }))
      .body;
    const a = atts.find((x) => x.networkId === networkId && x.status === 'attached');
    return { json: atts, text: `vm ${vm.name} attached to ${a?.name ?? networkId} (vni ${a?.vni}): ${a?.ip}, mac ${a?.mac}` };
  },
  async 'vm detach-network'(api, { args, opts: o }) {
    const vm = await api.get<Vm>(`/vms/${encodeURIComponent(args.vm)}`);
    const networkId = await privateNetworkId(api, o.network, vm.clusterId, vm.ownerId);
    if (o.dryRun) return dryRun(api, 'DELETE', `/vms/${vm.id}/private-networks/${networkId}`);
    const atts = (await api.request<PrivateAttachment[]>('DELETE', `/vms/${vm.id}/private-networks/${networkId}`, { idempotencyKey: o.idempotencyKey })).body;
    return { json: atts, text: `vm ${vm.name} detached (its private address is released after the IPAM cool-down)` };
  },
  async 'private-network create'(api, { opts: o }) {
    const cluster = await clusterId(api, o.cluster);
    if (o.dryRun) return dryRun(api, 'POST', `/clusters/${cluster}/private-networks`, { ownerId: o.owner, name: o.name, cidr: o.cidr });
    const n = (
      await api.request<PrivateNetwork>('POST', `/clusters/${cluster}/private-networks`, {
        body: { ownerId: o.owner, name: o.name, cidr: o.cidr },
        idempotencyKey: o.idempotencyKey,
      })
    ).body;
    return { json: n, text: `private network ${n.name} (${n.cidr}) of ${n.ownerId}: vni ${n.vni}, id ${n.id}` };
  },
  async 'private-network list'(api, { opts: o }) {
    const nets = await api.get<PrivateNetwork[]>(`/clusters/${await clusterId(api, o.cluster)}/private-networks${q({ ownerId: o.owner })}`);
    return { json: nets, text: table(nets, privateNetworkColumns, '(no private networks)') };
  },
  async 'private-network show'(api, { args, opts: o }) {
    const n = await api.get<PrivateNetwork>(`/clusters/${await clusterId(api, o.cluster)}/private-networks/${encodeURIComponent(args.network)}`);
    const head = keyValues([
      ['id', n.id],
      ['name', n.name],
      ['owner', n.ownerId],
      ['cidr', n.cidr],
      ['vni', n.vni],
      ['created', ago(n.createdAt)],
    ]);
    return {
      json: n,
      text: `${head}\n\n${table(
        n.attachments.map((a) => ({ ...a, name: n.name })),
        attachmentColumns,
        '(no VMs attached)',
      )}`,
    };
  },
  async 'private-network delete'(api, { args, opts: o }) {
    const cluster = await clusterId(api, o.cluster);
    if (o.dryRun) return dryRun(api, 'DELETE', `/clusters/${cluster}/private-networks/${encodeURIComponent(args.network)}`);
    const n = (
      await api.request<PrivateNetwork>('DELETE', `/clusters/${cluster}/private-networks/${encodeURIComponent(args.network)}`, {
        idempotencyKey: o.idempotencyKey,
      })
    ).body;
    return { json: n, text: `private network ${n.name} deleted (vni ${n.vni} freed)` };
  },
  async 'floating create'(api, { opts: o }) {
    const body = {
      clusterId: await clusterId(api, o.cluster),
      owner: o.owner,
      ...(o.family ? { family: Number(o.family) } : {}),
      ...(o.ip !== undefined ? { ip: o.ip } : {}),
    };
    if (o.dryRun) return dryRun(api, 'POST', '/floating-addresses', body);
    const f = (await api.request<FloatingAddress>('POST', '/floating-addresses', { body, idempotencyKey: o.idempotencyKey })).body;
    return { json: f, text: `floating address ${f.ip} of ${f.ownerId}: id ${f.id}` };
  },
  async 'floating ls'(api, { opts: o }) {
    const list = await api.get<FloatingAddress[]>(
      `/floating-addresses${q({ owner: o.owner, clusterId: o.cluster ? await clusterId(api, o.cluster) : undefined })}`,
    );
    return { json: list, text: table(list, floatingColumns, '(no floating addresses)') };
  },
  async 'floating show'(api, { args }) {
    const f = await api.get<FloatingAddress>(`/floating-addresses/${encodeURIComponent(args.id)}`);
    return { json: f, text: floatingText(f) };
  },
  async 'floating attach'(api, { args, opts: o }) {
    const path = `/floating-addresses/${encodeURIComponent(args.id)}/attach`;
    const body = { vmId: o.vm, ...(o.allowOtherOwner ? { allowOtherOwner: true } : {}) };
    if (o.dryRun) return dryRun(api, 'POST', path, body);
    const f = (await api.request<FloatingAddress>('POST', path, { body, idempotencyKey: o.idempotencyKey })).body;
    const how = f.status === 'moving' ? `moving from vm ${f.fromVmId} (withdrawn there once the new route is at the RRs)` : 'attached';
    return { json: f, text: `floating address ${f.ip} -> vm ${f.vmId}: ${how}` };
  },
  async 'floating detach'(api, { args, opts: o }) {
    const path = `/floating-addresses/${encodeURIComponent(args.id)}/detach`;
    if (o.dryRun) return dryRun(api, 'POST', path);
    const f = (await api.request<FloatingAddress>('POST', path, { idempotencyKey: o.idempotencyKey })).body;
    return { json: f, text: `floating address ${f.ip} detached (withdrawn; still ${f.ownerId}'s)` };
  },
  async 'floating rm'(api, { args, opts: o }) {
    const path = `/floating-addresses/${encodeURIComponent(args.id)}`;
    if (o.dryRun) return dryRun(api, 'DELETE', path);
    const f = (await api.request<FloatingAddress>('DELETE', path, { idempotencyKey: o.idempotencyKey })).body;
    return { json: f, text: `floating address ${f.ip} released (back in its pool after the IPAM cool-down)` };
  },
  async status(api, { opts: o }) {
    const clusters = o.cluster ? [await api.get<Cluster>(`/clusters/${await clusterId(api, o.cluster)}`)] : await api.get<Cluster[]>('/clusters');
    // /health answers 503 with the same body when degraded: show it rather than fail.
    const health = await api.get<Health>('/health').catch((e: ApiError) => ({ status: 'unknown', error: e.body, checks: undefined }));
    const out: ClusterStatus[] = [];
    for (const c of clusters) {
      const nodes = await api.get<Node[]>(`/clusters/${c.id}/nodes`);
      const statuses = await Promise.all(nodes.map((n) => api.get<NodeStatus>(`/nodes/${n.id}/status`)));
      const vms = await api.get<Vm[]>(`/vms${q({ clusterId: c.id, limit: 10000 })}`);
      out.push({ cluster: { id: c.id, name: c.name }, nodes: statuses, vmsByStatus: Object.fromEntries(countByStatus(vms)), vmTotal: vms.length });
    }
    const lag = health.checks?.nats?.lag;
    const text = [
      `api ${health.status}${lag !== undefined ? `, read model lag ${lag} events` : ''}`,
      ...out.flatMap((s) => [
        '',
        `cluster ${s.cluster.name} (${s.cluster.id})`,
        table(s.nodes, nodeStatusColumns, '(no nodes)'),
        `vms: ${s.vmTotal}${
          s.vmTotal
            ? ` (${Object.entries(s.vmsByStatus)
                .map(([st, n]) => `${st} ${n}`)
                .join(', ')})`
            : ''
        }`,
      ]),
      ...(out.length ? [] : ['', '(no clusters)']),
    ].join('\n');
    return { json: { health, clusters: out }, text };
  },
  async audit(api, { opts: o }) {
    const cluster = o.cluster ? await clusterId(api, o.cluster) : undefined;
    const items: AuditEntry[] = [];
    let cursor = o.cursor;
    let next: string | null = null;
    do {
      const page = await api.get<AuditPage>(`/audit${q({ clusterId: cluster, actor: o.actor, from: o.from, to: o.to, limit: o.limit, cursor })}`);
      items.push(...page.items);
      next = page.next;
      cursor = next ?? undefined;
    } while (o.all && next);
    const text = [table(items, auditColumns, '(no entries)'), ...(next ? ['', `more: fabricctl audit --cursor ${next} (or --all)`] : [])].join('\n');
    return { json: { items, next }, text };
  },
  async 'router-config show'(api, { opts: o }) {
    const format = o.format ?? 'junos';
    const r = await routerConfig(api, o.cluster, format, { version: o.version });
    return { json: { clusterId: r.cluster, format, version: r.version, config: r.text }, text: r.text.replace(/\n$/, '') };
  },
  async 'router-config diff'(api, { opts: o }) {
    const format = o.format ?? 'junos';
    const to = o.to ?? (await routerConfig(api, o.cluster, format, {})).version;
    const from = o.from ?? to - 1;
    if (from < 1)
      throw new ApiError({ status: 404, code: 'router-config-not-found', message: `version ${to} is the first router config: nothing to diff against` });
    const r = await routerConfig(api, o.cluster, format, { version: to, diff: from });
    return { json: { clusterId: r.cluster, format, from, to, diff: r.text }, text: r.text.replace(/\n$/, '') || `(versions ${from} and ${to} are identical)` };
  },
  async 'router-config list'(api, { opts: o }) {
    const id = await clusterId(api, o.cluster);
    const rows = (await api.request<RouterConfigVersion[]>('GET', `/clusters/${id}/router/configs`)).body;
    const cols: Column<RouterConfigVersion>[] = [
      { header: 'VERSION', get: (r) => String(r.version) },
      { header: 'CREATED', get: (r) => ago(r.createdAt) },
      { header: 'HASH', get: (r) => r.hash.slice(0, 12) },
      { header: 'NOTE', get: (r) => (r.rollbackOf !== undefined ? `rollback to v${r.rollbackOf}` : '') },
    ];
    return { json: rows, text: table(rows, cols, '(no router config yet)') };
  },
  async 'router-config status'(api, { opts: o }) {
    const id = await clusterId(api, o.cluster);
    const s = (await api.request<RouterStatus>('GET', `/clusters/${id}/router/status`)).body;
    const st = s.bmpStation;
    const lines = [
      `bmp station       ${st ? `${st.address.includes(':') ? `[${st.address}]` : st.address}:${st.port}` : 'none'}`,
      `vm routes at core ${s.routes.agent} by the FRR agent, ${s.routes.bmp} by BMP`,
      `compared          ${s.bmp.compared ? `yes (sampled ${ago(s.bmp.sampledAt)}, grace ${s.bmp.graceMs} ms, ${s.bmp.pending} pending)` : 'no (needs a BMP station and the FRR agent)'}`,
      ...(s.bmp.disagreements.length
        ? [
            '',
            table(
              s.bmp.disagreements,
              [
                { header: 'PREFIX', get: (d) => d.prefix },
                { header: 'ONLY IN', get: (d) => (d.heldBy === 'agent' ? 'FRR agent' : 'BMP') },
                { header: 'SINCE', get: (d) => ago(d.since) },
              ],
              '',
            ),
          ]
        : []),
    ];
    return { json: s, text: lines.join('\n') };
  },
  async 'router-config rollback'(api, { opts: o }) {
    const id = await clusterId(api, o.cluster);
    const body = { toVersion: o.to, ...(o.reason !== undefined ? { reason: o.reason } : {}) };
    if (o.dryRun) {
      const r = (await api.request<RouterRollbackPreview>('POST', `/clusters/${id}/router/rollback${q({ dryRun: 'true' })}`, { body })).body;
      const format = o.format ?? 'junos';
      const diff = (r.diffs[format] ?? '').replace(/\n$/, '');
      return { json: r, text: `dry run: v${r.fromVersion} → v${r.toVersion} (${format}):\n${diff || '(identical)'}` };
    }
    const r = (await api.request<RouterRollbackAccepted>('POST', `/clusters/${id}/router/rollback`, { body, idempotencyKey: o.idempotencyKey })).body;
    return {
      json: r,
      text: `core router config of v${r.toVersion} requested again (current: v${r.fromVersion ?? '-'}): it is published as a new version; see router-config list`,
    };
  },
};

/** Runs one parsed API command; the mapped type ties each command name to its own options. */
export function run<K extends ApiCommandName>(api: ApiClient, p: ParsedCommand<K>): Promise<Output> {
  const handler: Handlers[K] = HANDLERS[p.name];
  return handler(api, p);
}

export const isApiCommand = (p: Parsed): p is Extract<Parsed, { name: ApiCommandName }> => p.name !== 'completion';
