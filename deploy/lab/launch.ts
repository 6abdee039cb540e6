/**
 * Brings the lab fabric up for `npm start` (as root) and registers it through the public HTTP API,
 * exactly as an operator would: cluster with its RRs and FRR core, networks, nodes. Then one agent per
 * node, RR and the core. Idempotent: existing objects (by name) are reused.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { rrTargetId } from '@fabric/contracts';
import { DATA, ROOT, daemon, log, supervisor } from '../infra';
import { agentNatsEnv } from '../nats-auth';
import { labDown, labUp, type LabState } from './topology';

const REGISTER = path.join(ROOT, 'deploy', 'register.js');
const AGENT = path.join(ROOT, 'agents', 'src', 'main.ts');

export const labPrefix = () => process.env.LAB_PREFIX ?? 'fab-';

async function callApi<T = unknown>(method: string, url: string, body?: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} → ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** `token`: an API token with the operator (or admin) role. */
export async function registerLab(api: string, lab: LabState, clusterName = process.env.LAB_CLUSTER ?? 'lab', token?: string) {
  const call = <T = unknown>(method: string, url: string, body?: unknown) => callApi<T>(method, url, body, token);
  const clusters = await call<{ id: string; name: string }[]>('GET', `${api}/clusters`);
  let cluster = clusters.find((c) => c.name === clusterName);
  if (!cluster) {
    cluster = await call('POST', `${api}/clusters`, {
      name: clusterName,
      fabricAsn: lab.fabricAsn,
      coreAsn: lab.coreAsn,
      community: `${lab.fabricAsn}:100`,
      gateway: lab.gateway,
      routeReflectors: lab.routeReflectors.map((r) => ({ name: r.name, ip: r.ipv4 })),
      // A lab without RRs is a direct cluster (lab/test stands only): every node peers the core.
      ...(lab.routeReflectors.length ? {} : { topology: 'direct' }),
      coreRouter: { name: lab.core.name, ip: lab.core.ipv4, vendor: 'frr' },
    });
    log(`cluster ${clusterName} created (${cluster!.id})`);
  }
  const clusterId = cluster!.id;
  const nets = await call<{ cidr: string }[]>('GET', `${api}/clusters/${clusterId}/networks`);
  const wanted = [
    { cidr: '203.0.113.0/24', pools: [{ start: '203.0.113.10', end: '203.0.113.254' }] },
    { cidr: '198.51.100.0/24', pools: [{ start: '198.51.100.10', end: '198.51.100.254' }] },
    { cidr: '2001:db8:1::/64', pools: [{ start: '2001:db8:1::10', end: '2001:db8:1::ffff' }] },
  ];
  for (const n of wanted) if (!nets.some((x) => x.cidr === n.cidr)) await call('POST', `${api}/clusters/${clusterId}/networks`, n);
  const nodes = await call<{ id: string; name: string; status: string }[]>('GET', `${api}/clusters/${clusterId}/nodes`);
  const nodeIds: Record<string, string> = {};
  for (const n of lab.nodes) {
    const existing = nodes.find((x) => x.name === n.name && x.status !== 'left');
    nodeIds[n.name] =
      existing?.id ?? (await call<{ id: string }>('POST', `${api}/clusters/${clusterId}/nodes`, { name: n.name, underlayIp: n.ipv4, underlayIp6: n.ipv6 })).id;
  }
  return { clusterId, nodeIds };
}

/** One supervised agent per member (restarted by the supervisor when it exits). */
export async function startAgents(lab: LabState, clusterId: string, nodeIds: Record<string, string>, extraEnv: Record<string, string> = {}) {
  // Distinct metrics ports per agent (METRICS_BASE_PORT + 10 + i): the core, the RRs, then the nodes.
  let metricsPort = Number(process.env.METRICS_BASE_PORT ?? 9100) + 10;
  const agent = async (name: string, args: string[]) => {
    const port = metricsPort++;
    // Each agent its own NATS identity (enrolled on first use), bound to its own command and report subjects.
    const role = args[args.indexOf('--role') + 1];
    const natsEnv = agentNatsEnv(role === 'frr-router' ? 'router' : (role as 'node' | 'rr'), args[args.indexOf('--target') + 1]) as Record<string, string>;
    await daemon(name, process.execPath, ['-r', REGISTER, AGENT, ...args], {
      ...natsEnv,
      ...(process.env.METRICS_BASE_PORT !== '0' ? { METRICS_PORT: String(port) } : {}),
      ...extraEnv,
    });
  };
  // Poll BGP state and routes often: they drive the VM status (announced, at-core) operators watch.
  const poll = ['--poll-ms', process.env.LAB_POLL_MS ?? '300'];
  await agent('agent-core', ['--role', 'frr-router', '--target', clusterId, '--lab', lab.prefix, '--member', lab.core.name, ...poll]);
  for (const rr of lab.routeReflectors)
    await agent(`agent-${rr.name}`, ['--role', 'rr', '--target', rrTargetId(clusterId, rr.name), '--lab', lab.prefix, '--member', rr.name, ...poll]);
  for (const n of lab.nodes) await agent(`agent-${n.name}`, ['--role', 'node', '--target', nodeIds[n.name], '--lab', lab.prefix, '--member', n.name, ...poll]);
}

export async function startLab(api: string, token?: string) {
  const prefix = labPrefix();
  log(`bringing up the lab fabric (prefix ${prefix}): this needs root, BIRD and FRR`);
  await stopAgents();
  // Written first: a stop after a start that failed half-way still knows which lab to remove.
  writeFileSync(path.join(DATA, 'lab.json'), JSON.stringify({ prefix }, null, 2));
  const lab = await labUp({
    prefix,
    nodes: Number(process.env.LAB_NODES ?? 3),
    rrs: Number(process.env.LAB_RRS ?? 2),
    replace: true,
    // The host on the lab underlay (198.18.0.254): a BMP collector there sees the core's session (docs/operations/bmp.md).
    management: process.env.LAB_MANAGEMENT === '1',
  });
  const { clusterId, nodeIds } = await registerLab(api, lab, undefined, token);
  await startAgents(lab, clusterId, nodeIds);
  writeFileSync(path.join(DATA, 'lab.json'), JSON.stringify({ prefix, clusterId, nodeIds, api }, null, 2));
  const firstNode = Object.values(nodeIds)[0];
  log(
    `lab up: cluster ${clusterId}, nodes ${Object.entries(nodeIds)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  console.log(
    [
      '',
      'Try it:',
      `  export FABRIC_TOKEN=<an API token: the admin token printed below on first start, or POST ${api}/tokens>`,
      `  curl -s -XPOST ${api}/vms -H "Authorization: Bearer $FABRIC_TOKEN" -H 'content-type: application/json' \\`,
      `       -d '{"clusterId":"${clusterId}","nodeId":"${firstNode}","name":"web1","ownerId":"customer-1","driver":"netns"}'`,
      `  curl -s -H "Authorization: Bearer $FABRIC_TOKEN" ${api}/vms/<id>   # status: requested → ip-allocated → applied → announced → at-core`,
      `  ip netns exec ${prefix}core ping -c3 <its ip>`,
      '',
    ].join('\n'),
  );
}

/** Stops and forgets every supervised agent (a stop is not a crash: no restart). */
export async function stopAgents() {
  const sup = supervisor();
  const live = await sup.status();
  for (const p of live?.programs ?? []) if (p.name.startsWith('agent-')) await sup.remove(p.name);
}

export async function stopLab(prefix = labPrefix()) {
  await stopAgents();
  await labDown(prefix);
  log(`lab ${prefix} removed`);
}
