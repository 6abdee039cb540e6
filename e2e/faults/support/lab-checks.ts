/** Reads the lab's kernel tables (argument arrays, no shell). */
import { runIn } from '../../support/net';

/** The core's kernel route to `ip` (its next hop), or undefined. */
export async function coreRouteVia(coreNamespace: string, ip: string): Promise<{ dst: string; gateway?: string } | undefined> {
  const v6 = ip.includes(':');
  const out = await runIn(undefined, 'ip', ['-j', '-n', coreNamespace, v6 ? '-6' : '-4', 'route', 'show', `${ip}/${v6 ? 128 : 32}`]);
  const r = (JSON.parse(out || '[]') as { dst: string; gateway?: string; nexthops?: { gateway: string }[] }[])[0];
  return r ? { dst: r.dst, gateway: r.gateway ?? r.nexthops?.[0]?.gateway } : undefined;
}

/** Every BGP route the core installed, by destination (without the /32 or /128) → next hops. */
export async function coreBgpRoutes(coreNamespace: string): Promise<Map<string, string[]>> {
  const routes = new Map<string, string[]>();
  for (const family of ['-4', '-6']) {
    const out = await runIn(undefined, 'ip', ['-j', '-n', coreNamespace, family, 'route', 'show', 'proto', 'bgp'], 30_000);
    for (const r of JSON.parse(out || '[]') as { dst: string; gateway?: string; nexthops?: { gateway: string }[] }[]) {
      const dst = r.dst.replace(/\/(32|128)$/, '');
      routes.set(dst, r.gateway ? [r.gateway] : (r.nexthops ?? []).map((n) => n.gateway));
    }
  }
  return routes;
}

/** The fabric's kernel routes on a node (route protocol 200): destination → device. */
export async function nodeFabricRoutes(nodeNamespace: string, protocol = 200): Promise<Map<string, string>> {
  const routes = new Map<string, string>();
  for (const family of ['-4', '-6']) {
    const out = await runIn(undefined, 'ip', ['-j', '-n', nodeNamespace, family, 'route', 'show', 'proto', String(protocol)], 30_000);
    for (const r of JSON.parse(out || '[]') as { dst: string; dev: string }[]) routes.set(r.dst.replace(/\/(32|128)$/, ''), r.dev);
  }
  return routes;
}
