/**
 * What each fabricctl command asks the API and how it prints the answer. A command returns both the
 * machine form (`json`, what --json prints) and the human form (`text`).
 */
import { FlagValue, parsePair, Parsed, UsageError } from './args';
import { ApiClient, ApiError } from './client';
import { countByStatus, keyValues, sessionSummary, table } from './format';

export interface Output {
  json: unknown;
  text: string;
}
type Flags = Record<string, FlagValue | undefined>;
type Handler = (api: ApiClient, args: Record<string, string>, flags: Flags) => Promise<Output>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const q = (params: Record<string, unknown>) => {
  const s = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== '').map(([k, v]): [string, string] => [k, String(v)])).toString();
  return s ? `?${s}` : '';
};
const idem = (flags: Flags) => (flags['idempotency-key'] as string | undefined) ?? undefined;
const notFound = (code: string, message: string) => new ApiError({ status: 404, code, message });
const ago = (iso?: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

/** Clusters and nodes may be given by name: operators think in names, the API in ids. */
async function clusterId(api: ApiClient, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref.toLowerCase();
  const found = (await api.get<any[]>('/clusters')).find((c) => c.name === ref);
  if (!found) throw notFound('cluster-not-found', `no cluster named ${ref}`);
  return found.id;
}
async function nodeId(api: ApiClient, ref: string, cluster?: string): Promise<string> {
  if (UUID.test(ref)) return ref.toLowerCase();
  if (!cluster) throw new UsageError(`node "${ref}" is not an id: give --cluster to refer to it by name`);
  const found = (await api.get<any[]>(`/clusters/${cluster}/nodes`)).find((n) => n.name === ref);
  if (!found) throw notFound('node-not-found', `cluster has no node named ${ref}`);
  return found.id;
}

const vmColumns = (nodes: Map<string, string>) => [
  { header: 'ID', get: (v: any) => v.id },
  { header: 'NAME', get: (v: any) => v.name },
  { header: 'OWNER', get: (v: any) => v.ownerId },
  { header: 'IP', get: (v: any) => v.ip },
  { header: 'NODE', get: (v: any) => nodes.get(v.nodeId) ?? v.nodeId },
  { header: 'STATUS', get: (v: any) => v.status },
];
async function nodeNames(api: ApiClient, clusterIds: string[]): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const c of new Set(clusterIds)) for (const n of await api.get<any[]>(`/clusters/${c}/nodes`).catch(() => [])) m.set(n.id, n.name);
  return m;
}

const vmText = (vm: any, nodes: Map<string, string>) =>
  [
    keyValues([
      ['id', vm.id], ['name', vm.name], ['owner', vm.ownerId], ['cluster', vm.clusterId], ['node', nodes.get(vm.nodeId) ? `${nodes.get(vm.nodeId)} (${vm.nodeId})` : vm.nodeId],
      ...(vm.previousNodeId ? ([['previous node', nodes.get(vm.previousNodeId) ?? vm.previousNodeId]] as [string, unknown][]) : []),
      ['ip', vm.ip], ['family', vm.family], ['driver', vm.driver], ['status', vm.status], ...(vm.reason ? ([['reason', vm.reason]] as [string, unknown][]) : []),
      ['created', ago(vm.createdAt)], ['updated', ago(vm.updatedAt)],
    ]),
    ...(vm.history ? ['', 'history:', table(vm.history, [{ header: 'AT', get: (h: any) => ago(h.at) }, { header: 'STATUS', get: (h: any) => h.status }, { header: 'EVENT', get: (h: any) => h.event }, { header: 'DETAIL', get: (h: any) => h.detail }])] : []),
  ].join('\n');

const clusterColumns = [
  { header: 'ID', get: (c: any) => c.id },
  { header: 'NAME', get: (c: any) => c.name },
  { header: 'FABRIC ASN', get: (c: any) => c.fabricAsn, align: 'right' as const },
  { header: 'CORE ASN', get: (c: any) => c.coreAsn, align: 'right' as const },
  { header: 'COMMUNITY', get: (c: any) => c.community },
  { header: 'RRS', get: (c: any) => c.routeReflectors.map((r: any) => r.name) },
  { header: 'CORE', get: (c: any) => `${c.coreRouter.name} (${c.coreRouter.vendor})` },
];
const nodeColumns = [
  { header: 'ID', get: (n: any) => n.id },
  { header: 'NAME', get: (n: any) => n.name },
  { header: 'UNDERLAY', get: (n: any) => n.underlayIp },
  { header: 'UNDERLAY6', get: (n: any) => n.underlayIp6 },
  { header: 'STATUS', get: (n: any) => n.status },
];

async function routerConfig(api: ApiClient, flags: Flags, extra: Record<string, unknown>) {
  const cluster = await clusterId(api, flags.cluster as string);
  const r = await api.request<string>('GET', `/clusters/${cluster}/router/config${q({ format: flags.format ?? 'junos', ...extra })}`);
  return { cluster, version: Number(r.headers.get('x-config-version')), text: String(r.body) };
}

export const HANDLERS: Record<string, Handler> = {
  async 'cluster create'(api, _a, f) {
    const core = parsePair(f['core-router'] as string, 'core-router');
    const bgp = f['md5-password'] !== undefined || f['graceful-restart'] !== undefined || f.bfd !== undefined;
    const body = {
      name: f.name, fabricAsn: f['fabric-asn'], coreAsn: f['core-asn'], community: f.community,
      routeReflectors: (f.rr as string[]).map((r) => parsePair(r, 'rr')),
      coreRouter: { ...core, vendor: f.vendor ?? 'junos' },
      ...(f['gateway-ip'] || f['gateway-mac'] ? { gateway: { ip: f['gateway-ip'], mac: f['gateway-mac'] } } : {}),
      ...(bgp ? { bgp: { md5Password: f['md5-password'], gracefulRestart: f['graceful-restart'] === true, bfd: f.bfd === true } } : {}),
    };
    const c = (await api.request('POST', '/clusters', { body, idempotencyKey: idem(f) })).body;
    return { json: c, text: `cluster ${c.name} created: ${c.id}` };
  },
  async 'cluster list'(api) {
    const cs = await api.get<any[]>('/clusters');
    return { json: cs, text: table(cs, clusterColumns, '(no clusters)') };
  },
  async 'cluster show'(api, a) {
    const id = await clusterId(api, a.cluster);
    const [c, networks, nodes] = await Promise.all([api.get(`/clusters/${id}`), api.get<any[]>(`/clusters/${id}/networks`), api.get<any[]>(`/clusters/${id}/nodes`)]);
    const pools = networks.flatMap((n) => (n.pools.length ? n.pools : [{}]).map((p: any) => ({ ...p, cidr: n.cidr, family: n.family })));
    const text = [
      keyValues([
        ['id', c.id], ['name', c.name], ['fabric ASN', c.fabricAsn], ['core ASN', c.coreAsn], ['community', c.community],
        ['gateway', `${c.gateway.ip} ${c.gateway.mac}`], ['rr cluster id', c.rrClusterId],
        ['core router', `${c.coreRouter.name} ${c.coreRouter.ip} (${c.coreRouter.vendor})`],
        ['bgp', `graceful-restart ${c.bgp.gracefulRestart ? 'on' : 'off'}, bfd ${c.bgp.bfd ? 'on' : 'off'}, md5 ${c.bgp.md5 ? 'on' : 'off'}`],
        ['created', ago(c.createdAt)],
      ]),
      '', 'route reflectors:', table(c.routeReflectors, [{ header: 'NAME', get: (r: any) => r.name }, { header: 'IP', get: (r: any) => r.ip }]),
      '', 'networks:',
      table(pools, [
        { header: 'CIDR', get: (p: any) => p.cidr }, { header: 'POOL', get: (p: any) => (p.start ? `${p.start} - ${p.end}` : '') },
        { header: 'SIZE', get: (p: any) => p.size, align: 'right' }, { header: 'USED', get: (p: any) => p.used, align: 'right' },
      ]),
      '', 'nodes:', table(nodes, nodeColumns),
    ].join('\n');
    return { json: { ...c, networks, nodes }, text };
  },
  async 'node join'(api, _a, f) {
    const cluster = await clusterId(api, f.cluster as string);
    const n = (await api.request('POST', `/clusters/${cluster}/nodes`, { body: { name: f.name, underlayIp: f['underlay-ip'], ...(f['underlay-ip6'] ? { underlayIp6: f['underlay-ip6'] } : {}) }, idempotencyKey: idem(f) })).body;
    return { json: n, text: `node ${n.name ?? f.name} joined: ${n.id}` };
  },
  async 'node drain'(api, a, f) {
    const id = await nodeId(api, a.node, f.cluster ? await clusterId(api, f.cluster as string) : undefined);
    const n = (await api.request('POST', `/nodes/${id}/drain`, { idempotencyKey: idem(f) })).body;
    return { json: n, text: `node ${n.name} is ${n.status}` };
  },
  async 'node list'(api, _a, f) {
    const ns = await api.get<any[]>(`/clusters/${await clusterId(api, f.cluster as string)}/nodes`);
    return { json: ns, text: table(ns, nodeColumns, '(no nodes)') };
  },
  async 'vm create'(api, _a, f) {
    const cluster = await clusterId(api, f.cluster as string);
    const node = await nodeId(api, f.node as string, cluster);
    const body = { clusterId: cluster, nodeId: node, name: f.name, ownerId: f.owner, ...(f.ip ? { ip: f.ip } : {}), ...(f.family ? { family: Number(f.family) } : {}), ...(f.driver ? { driver: f.driver } : {}) };
    const r = (await api.request('POST', '/vms', { body, idempotencyKey: idem(f) })).body;
    return { json: r, text: `vm ${f.name} accepted: ${r.id} (follow with: fabricctl vm show ${r.id})` };
  },
  async 'vm list'(api, _a, f) {
    const cluster = f.cluster ? await clusterId(api, f.cluster as string) : undefined;
    const node = f.node ? await nodeId(api, f.node as string, cluster) : undefined;
    const vms = await api.get<any[]>(`/vms${q({ clusterId: cluster, nodeId: node, ownerId: f.owner, status: f.status, limit: f.limit, offset: f.offset })}`);
    return { json: vms, text: table(vms, vmColumns(await nodeNames(api, vms.map((v) => v.clusterId))), '(no VMs)') };
  },
  async 'vm show'(api, a) {
    const vm = await api.get(`/vms/${encodeURIComponent(a.vm)}`);
    return { json: vm, text: vmText(vm, await nodeNames(api, [vm.clusterId])) };
  },
  async 'vm delete'(api, a, f) {
    const r = (await api.request('DELETE', `/vms/${encodeURIComponent(a.vm)}`, { idempotencyKey: idem(f) })).body;
    return { json: r, text: `vm ${a.vm} deleted (its address is released after the IPAM cool-down)` };
  },
  async 'vm migrate'(api, a, f) {
    const vm = await api.get(`/vms/${encodeURIComponent(a.vm)}`);
    const to = await nodeId(api, f.to as string, vm.clusterId);
    const r = (await api.request('POST', `/vms/${vm.id}/migrate`, { body: { nodeId: to }, idempotencyKey: idem(f) })).body;
    return { json: r, text: `vm ${vm.name} migrating to ${f.to}` };
  },
  async status(api, _a, f) {
    const clusters = f.cluster ? [await api.get(`/clusters/${await clusterId(api, f.cluster as string)}`)] : await api.get<any[]>('/clusters');
    const health = await api.get('/health').catch((e: ApiError) => ({ status: 'unknown', error: e.body }));
    const out: any[] = [];
    for (const c of clusters) {
      const nodes = await api.get<any[]>(`/clusters/${c.id}/nodes`);
      const statuses = await Promise.all(nodes.map((n) => api.get(`/nodes/${n.id}/status`)));
      const vms = await api.get<any[]>(`/vms${q({ clusterId: c.id, limit: 10000 })}`);
      out.push({ cluster: { id: c.id, name: c.name }, nodes: statuses, vmsByStatus: Object.fromEntries(countByStatus(vms)), vmTotal: vms.length });
    }
    const lag = health?.checks?.nats?.lag;
    const text = [
      `api ${health.status}${lag !== undefined ? `, read model lag ${lag} events` : ''}`,
      ...out.flatMap((o) => [
        '',
        `cluster ${o.cluster.name} (${o.cluster.id})`,
        table(o.nodes, [
          { header: 'NODE', get: (n: any) => n.name },
          { header: 'STATUS', get: (n: any) => n.status },
          { header: 'DESIRED', get: (n: any) => n.desiredGeneration, align: 'right' },
          { header: 'APPLIED', get: (n: any) => n.appliedGeneration, align: 'right' },
          { header: 'DRIFT', get: (n: any) => (n.drift ? 'DRIFT' : 'ok') },
          { header: 'BGP', get: (n: any) => sessionSummary(n.bgpSessions) },
          { header: 'VMS', get: (n: any) => n.vmCount, align: 'right' },
          { header: 'LAST ERROR', get: (n: any) => n.lastError },
        ], '(no nodes)'),
        `vms: ${o.vmTotal}${o.vmTotal ? ` (${Object.entries(o.vmsByStatus).map(([s, n]) => `${s} ${n}`).join(', ')})` : ''}`,
      ]),
      ...(out.length ? [] : ['', '(no clusters)']),
    ].join('\n');
    return { json: { health, clusters: out }, text };
  },
  async 'router-config show'(api, _a, f) {
    const r = await routerConfig(api, f, { version: f.version });
    return { json: { clusterId: r.cluster, format: f.format ?? 'junos', version: r.version, config: r.text }, text: r.text.replace(/\n$/, '') };
  },
  async 'router-config diff'(api, _a, f) {
    let to = f.to as number | undefined;
    if (to === undefined) to = (await routerConfig(api, f, {})).version;
    const from = (f.from as number | undefined) ?? to - 1;
    if (from < 1) throw new ApiError({ status: 404, code: 'router-config-not-found', message: `version ${to} is the first router config: nothing to diff against` });
    const r = await routerConfig(api, f, { version: to, diff: from });
    return { json: { clusterId: r.cluster, format: f.format ?? 'junos', from, to, diff: r.text }, text: r.text.replace(/\n$/, '') || `(versions ${from} and ${to} are identical)` };
  },
};

export function run(api: ApiClient, p: Parsed): Promise<Output> {
  return HANDLERS[p.command.path.join(' ')](api, p.args, p.flags);
}
