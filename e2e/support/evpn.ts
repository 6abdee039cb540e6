/** Reading a lab's EVPN data plane (docs/operations/private-networks.md): devices, FRR routes, who answered. */
import { type Fabric } from './fabric';
import { runIn } from './net';

export const nodeNamespace = (f: Fabric, node: string): string => {
  const n = f.lab.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`unknown lab node ${node}`);
  return n.namespace;
};

/** FRR's `show bgp l2vpn evpn route` on a node (the node's pathspace is its namespace name). */
export const evpnRoutes = (f: Fabric, node: string): Promise<string> =>
  runIn(undefined, 'vtysh', ['-N', nodeNamespace(f, node), '-c', 'show bgp l2vpn evpn route'], 10000, true);

/** Interface names in a namespace. */
export const linkNames = async (namespace: string): Promise<string[]> =>
  (JSON.parse((await runIn(undefined, 'ip', ['-j', '-n', namespace, 'link', 'show'])) || '[]') as { ifname: string }[]).map((l) => l.ifname);

/** The MAC a guest's neighbour table holds for `ip` (after a ping): who answered. */
export const neighbourMac = async (namespace: string, ip: string): Promise<string | undefined> =>
  (JSON.parse((await runIn(undefined, 'ip', ['-j', '-n', namespace, 'neigh', 'show', ip])) || '[]') as { lladdr?: string }[])[0]?.lladdr;

/** The type-2 (MAC) route of `mac` as FRR prints it. */
export const type2 = (mac: string): string => `[2]:[0]:[48]:[${mac}]`;
/** The type-3 (inclusive multicast, flood list) route of a VTEP. */
export const type3 = (vtep: string): string => `[3]:[0]:[32]:[${vtep}]`;
