/**
 * The lab's state file (deploy/lab/README.md): its shape, where it lives and how to read it. Shared by the lab
 * harness (deploy/lab/topology.ts, which writes it) and the agent's `--lab` flag (which reads it), so the
 * production agent does not pull in the harness. No process, namespace or daemon code here.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { isName } from '@fabric/contracts';

export const LAB_RUN_ROOT = '/run/ip-fabric-lab';
export const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,9}-$/;
export const FABRIC_ASN = 65000;
export const CORE_ASN = 65001;
export const UNDERLAY_V4 = '198.18.0.0/24';
export const UNDERLAY_V6 = '2001:db8:ffff::/64';
export const UNDERLAY_IF = 'ul0';
export const ROUTE_PROTOCOL = 200;
export const VM_IF_PREFIX = 'vm';
export const GATEWAY = { ip: '10.0.0.1', mac: 'fe:ff:ff:ff:ff:ff' };

export interface LabBird {
  configPath: string;
  controlSocket: string;
  pidFile: string;
  pid?: number;
}

export interface LabMember {
  name: string; // 'core' | 'rr1' | 'node1' …
  namespace: string;
  ipv4: string;
  ipv6: string;
  underlayInterface: string;
}

/** FRR beside BIRD for EVPN (lab `up --evpn`): zebra + bgpd in the member's namespace, pathspace = namespace. */
export interface LabEvpnFrr {
  pathspace: string;
  configDir: string;
  runDir: string;
  /** bgpd's listen port: 0 on nodes (they connect), EVPN_BGP_PORT on RRs. */
  bgpPort: number;
  pids: Record<string, number>;
}

export interface LabRouteReflector extends LabMember {
  asn: number;
  bird: LabBird;
  evpnFrr?: LabEvpnFrr;
}

export interface LabNode extends LabMember {
  asn: number;
  bird: LabBird;
  routeProtocol: number;
  vmInterfacePrefix: string;
  /** Lab VM namespaces must start with this so `down` removes them. */
  vmNamespacePrefix: string;
  evpnFrr?: LabEvpnFrr;
}

export interface LabCore extends LabMember {
  asn: number;
  vendor: 'frr';
  frr: { pathspace: string; configDir: string; configPath: string; runDir: string; pids: Record<string, number> };
}

export interface LabState {
  version: 1;
  prefix: string;
  runDir: string;
  stateFile: string;
  createdAt: string;
  fabricAsn: number;
  coreAsn: number;
  gateway: { ip: string; mac: string };
  underlay: { namespace: string; bridge: string; ipv4Cidr: string; ipv6Cidr: string };
  core: LabCore;
  routeReflectors: LabRouteReflector[];
  nodes: LabNode[];
  namespaces: string[];
  /**
   * The management link (lab option `management`): the root namespace on the underlay bridge with one address,
   * routed to the core only — where the core reaches a collector running on the host (BMP), from its own address.
   */
  management?: { interface: string; ipv4: string };
}

/** The root namespace's address on the lab underlay when the lab has a management link. */
export const MANAGEMENT_IPV4 = '198.18.0.254';

export function validatePrefix(prefix: string): void {
  // One dash, at the end: no lab prefix can then be the beginning of another lab's namespace names.
  if (!PREFIX_PATTERN.test(prefix) || !isName(`${prefix}node100`)) {
    throw new Error(`invalid lab prefix ${JSON.stringify(prefix)}: lower-case letters/digits followed by one '-', e.g. 'fab-'`);
  }
}

export const labRunDir = (prefix: string) => path.join(LAB_RUN_ROOT, prefix);
export const labStateFile = (prefix: string) => path.join(labRunDir(prefix), 'state.json');

export function memberAddresses(kind: 'core' | 'rr' | 'node', k = 0): { ipv4: string; ipv6: string } {
  const host = kind === 'core' ? 1 : kind === 'rr' ? 10 + k : 100 + k;
  return { ipv4: `198.18.0.${host}`, ipv6: `2001:db8:ffff::${host}` };
}

export async function readLabState(prefix: string): Promise<LabState | undefined> {
  validatePrefix(prefix);
  try {
    return JSON.parse(await fs.readFile(labStateFile(prefix), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}
