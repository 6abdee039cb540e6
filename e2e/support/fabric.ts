/**
 * The whole product on a real lab: control plane (in process, own NATS namespace + database), the three
 * derivers, a lab fabric in network namespaces with its own prefix, registered through the HTTP API,
 * and one agent per node, RR and the core. Everything is removed by close(), also after a failure.
 */
import { randomBytes } from 'node:crypto';
import { eventually } from '@fabric/testing/infra';
import { rrTargetId } from '@fabric/contracts';
import { labDown, labUp, type LabState } from '../../deploy/lab/topology';
import { registerLab } from '../../deploy/lab/launch';
import { type AgentHandle, startAgent } from '../../agents/src/agent';
import { startRouteAnnouncer } from '../../services/route-announcer/src/main';
import { startRrConfig } from '../../services/rr-config/src/main';
import { startRouterConfig } from '../../services/router-config/src/main';
import { type ControlPlane, startControlPlane } from './control-plane';
import { runIn } from './net';

export interface Fabric {
  cp: ControlPlane;
  api: string;
  lab: LabState;
  clusterId: string;
  nodeIds: Record<string, string>;
  agents: Map<string, AgentHandle>;
  startMemberAgent(member: string): Promise<AgentHandle>;
  stopMemberAgent(member: string): Promise<void>;
  close(): Promise<void>;
}

export async function startFabric(
  opts: {
    nodes?: number;
    rrs?: number;
    registerNodes?: number;
    pollMs?: number;
    /** FRR beside BIRD for private networks (EVPN). */
    evpn?: boolean;
    /** The lab's management link (the core reaches a collector on the host: BMP). */
    management?: boolean;
  } = {},
): Promise<Fabric> {
  const prefix = `e${randomBytes(3).toString('hex')}-`;
  const closers: (() => Promise<unknown>)[] = [];
  const agents = new Map<string, AgentHandle>();
  const closeAll = async () => {
    for (const a of agents.values()) await a.stop().catch(() => undefined);
    agents.clear();
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const cp = await startControlPlane({ ipamCooldownMs: 0 });
    closers.push(() => cp.close());
    for (const start of [startRouteAnnouncer, startRrConfig, startRouterConfig]) {
      const s = await start({ ns: cp.ns });
      closers.push(() => s.close());
    }
    closers.push(() => labDown(prefix));
    const lab = await labUp({
      prefix,
      nodes: opts.nodes ?? 2,
      rrs: opts.rrs ?? 2,
      replace: true,
      evpn: opts.evpn === true,
      management: opts.management === true,
    });
    const registered = { ...lab, nodes: lab.nodes.slice(0, opts.registerNodes ?? lab.nodes.length) };
    const { clusterId, nodeIds } = await registerLab(cp.api, registered, 'lab', cp.adminToken);
    const member = (name: string) => {
      if (name === lab.core.name) return { role: 'frr-router' as const, targetId: clusterId, namespace: lab.core.namespace };
      const rr = lab.routeReflectors.find((r) => r.name === name);
      const evpn = (m: { evpnFrr?: { pathspace: string } }) => (m.evpnFrr ? { evpnFrrPathspace: m.evpnFrr.pathspace } : {});
      if (rr) return { role: 'rr' as const, targetId: rrTargetId(clusterId, rr.name), namespace: rr.namespace, bird: rr.bird, ...evpn(rr) };
      const node = lab.nodes.find((n) => n.name === name);
      if (!node || !nodeIds[name]) throw new Error(`unknown lab member ${name}`);
      return {
        role: 'node' as const,
        targetId: nodeIds[name],
        namespace: node.namespace,
        bird: node.bird,
        vmNamespacePrefix: node.vmNamespacePrefix,
        ...evpn(node),
      };
    };
    const fabric: Fabric = {
      cp,
      api: cp.api,
      lab,
      clusterId,
      nodeIds,
      agents,
      async startMemberAgent(name) {
        const a = await startAgent({ ...member(name), ns: cp.ns, pollMs: opts.pollMs ?? 300, resyncMs: 60_000 });
        agents.set(name, a);
        return a;
      },
      async stopMemberAgent(name) {
        await agents.get(name)?.stop();
        agents.delete(name);
      },
      close: closeAll,
    };
    await fabric.startMemberAgent(lab.core.name);
    for (const rr of lab.routeReflectors) await fabric.startMemberAgent(rr.name);
    for (const n of registered.nodes) await fabric.startMemberAgent(n.name);
    return fabric;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** The core's kernel route to `ip` (via which next hop), or undefined. */
export async function coreRoute(f: Fabric, ip: string): Promise<{ dst: string; gateway?: string } | undefined> {
  const v6 = ip.includes(':');
  const out = await runIn(undefined, 'ip', ['-j', '-n', f.lab.core.namespace, v6 ? '-6' : '-4', 'route', 'show', `${ip}/${v6 ? 128 : 32}`]);
  const routes = JSON.parse(out || '[]') as { dst: string; gateway?: string; nexthops?: { gateway: string }[] }[];
  const r = routes[0];
  return r ? { dst: r.dst, gateway: r.gateway ?? r.nexthops?.[0]?.gateway } : undefined;
}

export async function pingFrom(namespace: string, ip: string): Promise<boolean> {
  try {
    await runIn(namespace, ip.includes(':') ? 'ping' : 'ping', [...(ip.includes(':') ? ['-6'] : []), '-c', '1', '-W', '1', ip]);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the core holds `ip` via `via` (a node's underlay address). */
export function atCoreVia(f: Fabric, ip: string, via: string, timeoutMs = 60000): Promise<true> {
  return eventually(async () => ((await coreRoute(f, ip))?.gateway === via ? true : undefined), timeoutMs, 100, `${ip} at the core via ${via}`);
}

/** Waits until the core holds no route to `ip`. */
export function goneAtCore(f: Fabric, ip: string, timeoutMs = 60000): Promise<true> {
  return eventually(async () => ((await coreRoute(f, ip)) === undefined ? true : undefined), timeoutMs, 100, `${ip} withdrawn at the core`);
}

/** Samples the core's next hop for `ip` every few ms until `stop()`: a make-before-break move shows no `undefined`. */
export function sampleCoreRoute(f: Fabric, ip: string): { samples: (string | undefined)[]; stop(): Promise<void> } {
  const samples: (string | undefined)[] = [];
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      samples.push((await coreRoute(f, ip))?.gateway);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    samples,
    stop: async () => {
      sampling = false;
      await loop;
    },
  };
}
