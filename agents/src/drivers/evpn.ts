/**
 * The L2 data plane of tenant private networks on a node (docs/operations/private-networks.md): per VNI a VXLAN
 * device `vx<vni>` (local = the node's underlay IPv4, UDP 4789, learning off: FRR's EVPN routes fill the flood list
 * and the remote MACs) enslaved to a bridge `br<vni>` (no address: L2 only, ARP/ND suppression on the VXLAN port),
 * and each VM's private interface `p<vni 6 hex><vm 8 hex>` in that bridge with the VM's MAC as a static local FDB
 * entry (FRR announces it as a type-2 route at once). Idempotent; owns only names of those three shapes.
 *
 * Lab (netns VM driver): the private interface is a veth whose other end `p<vni>` is in the VM's namespace, with the
 * VM's MAC and private address (what a guest would configure). Otherwise (tap, veth) the hypervisor creates the
 * interface with that name; until it exists it is reported missing (a warning, retried at the next reconcile).
 */
import { isIp, isMac, isName } from '@fabric/contracts';
import { assertNamespace, run } from './exec';

export const VXLAN_PORT = 4789;
const VX = /^vx(\d{1,8})$/;
const BR = /^br(\d{1,8})$/;
const PORT = /^p[0-9a-f]{14}$/;

/** Host-side name of a VM's interface in a private network (15 bytes: `p`, 6 hex of the VNI, 8 hex of the VM id). */
export function privateInterfaceName(vni: number, vmId: string): string {
  const vm = vmId.replace(/-/g, '').slice(0, 8).toLowerCase();
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff || !/^[0-9a-f]{8}$/.test(vm)) throw new Error(`no private interface name for ${vni}/${vmId}`);
  return `p${vni.toString(16).padStart(6, '0')}${vm}`;
}

/** The interface's name inside the lab VM namespace. */
export const guestPrivateInterfaceName = (vni: number) => `p${vni}`;

export interface EvpnPort {
  ifName: string;
  mac: string;
  ip: string;
  prefixLength: number;
  /** Lab netns driver: the VM namespace the guest end lives in (created by the netlink driver). */
  vmNamespace?: string;
}

export interface EvpnNetwork {
  vni: number;
  ports: EvpnPort[];
}

export interface EvpnReconcileResult {
  operations: string[];
  /** Interfaces the hypervisor has not created yet. */
  missing: string[];
}

interface Link {
  ifname: string;
  master?: string;
  link_netnsid?: number;
  linkinfo?: {
    info_kind?: string;
    info_data?: { id?: number; local?: string; port?: number; learning?: boolean };
    info_slave_data?: { learning?: boolean };
  };
}

export class EvpnDriver {
  constructor(private readonly opts: { namespace?: string }) {
    if (opts.namespace) assertNamespace(opts.namespace);
  }

  private ipArgs(ns = this.opts.namespace): string[] {
    return ns ? ['-n', ns] : [];
  }

  private async batch(lines: string[][], ns = this.opts.namespace): Promise<void> {
    if (!lines.length) return;
    // Argument arrays joined for `ip -batch`: every token was validated (names, numbers, addresses, MACs).
    await run('ip', [...this.ipArgs(ns), '-batch', '-'], { input: lines.map((l) => l.join(' ')).join('\n') + '\n' });
  }

  private async links(): Promise<Map<string, Link>> {
    const { stdout } = await run('ip', [...this.ipArgs(), '-j', '-d', 'link', 'show']);
    const rows = JSON.parse(stdout.trim() || '[]') as Link[];
    return new Map(rows.map((l) => [l.ifname, l]));
  }

  /** Makes the node's VXLANs, bridges and private ports exactly `networks` (all of them: a full reconcile). */
  async reconcile(vtepIp: string, networks: EvpnNetwork[]): Promise<EvpnReconcileResult> {
    if (!isIp(vtepIp, 4)) throw new Error(`VTEP address must be IPv4: ${JSON.stringify(vtepIp)}`);
    for (const n of networks) {
      if (!Number.isInteger(n.vni) || n.vni < 1 || n.vni > 0xffffff) throw new Error(`invalid VNI ${JSON.stringify(n.vni)}`);
      for (const p of n.ports) {
        if (!PORT.test(p.ifName)) throw new Error(`invalid private interface name ${JSON.stringify(p.ifName)}`);
        if (!isMac(p.mac) || !isIp(p.ip) || !Number.isInteger(p.prefixLength) || p.prefixLength < 1 || p.prefixLength > 128) {
          throw new Error(`invalid private interface ${p.ifName}`);
        }
        if (p.vmNamespace !== undefined && !isName(p.vmNamespace)) throw new Error(`invalid VM namespace for ${p.ifName}`);
      }
    }
    const links = await this.links();
    const operations: string[] = [];
    const missing: string[] = [];
    const wantVni = new Map(networks.map((n) => [n.vni, n]));
    const wantPort = new Map(networks.flatMap((n) => n.ports.map((p) => [p.ifName, { vni: n.vni, port: p }] as const)));

    // Gone first: ports of VMs that left (a lab veth is deleted, a hypervisor's tap only leaves the bridge), then VNIs.
    const removals: string[][] = [];
    for (const l of links.values()) {
      if (!PORT.test(l.ifname) || wantPort.has(l.ifname)) continue;
      if (l.linkinfo?.info_kind === 'veth' && l.link_netnsid !== undefined) removals.push(['link', 'del', 'dev', l.ifname]);
      else if (l.master && BR.test(l.master)) removals.push(['link', 'set', 'dev', l.ifname, 'nomaster']);
    }
    for (const l of links.values()) {
      const m = VX.exec(l.ifname) ?? BR.exec(l.ifname);
      if (m && !wantVni.has(Number(m[1]))) removals.push(['link', 'del', 'dev', l.ifname]);
    }
    await this.batch(removals);
    operations.push(...removals.map((r) => `ip ${r.join(' ')}`));

    // One `ip -batch` per phase for the whole node (and one `bridge -batch` for the MACs), not processes per port:
    // the apply cost was ~60–120 ms per port with two processes each (bench/README.md, EVPN scale).
    const vniLines: string[][] = [];
    for (const n of networks) {
      const vx = `vx${n.vni}`;
      const br = `br${n.vni}`;
      const lines: string[][] = [];
      const cur = links.get(vx);
      const d = cur?.linkinfo?.info_data;
      const vxOk = cur?.linkinfo?.info_kind === 'vxlan' && d?.id === n.vni && d?.local === vtepIp && d?.port === VXLAN_PORT && d?.learning === false;
      if (cur && !vxOk) lines.push(['link', 'del', 'dev', vx]);
      if (!links.has(br)) lines.push(['link', 'add', br, 'type', 'bridge'], ['link', 'set', 'dev', br, 'addrgenmode', 'none']);
      if (!vxOk) {
        lines.push(
          ['link', 'add', vx, 'type', 'vxlan', 'id', String(n.vni), 'local', vtepIp, 'dstport', String(VXLAN_PORT), 'nolearning'],
          ['link', 'set', 'dev', vx, 'master', br],
          ['link', 'set', 'dev', vx, 'type', 'bridge_slave', 'neigh_suppress', 'on', 'learning', 'off'],
        );
      } else if (cur?.master !== br) lines.push(['link', 'set', 'dev', vx, 'master', br]);
      if (lines.length) lines.push(['link', 'set', 'dev', vx, 'up'], ['link', 'set', 'dev', br, 'up']);
      vniLines.push(...lines);
    }
    await this.batch(vniLines);
    operations.push(...vniLines.map((l) => `ip ${l.join(' ')}`));

    // Lab guests: the veths first (host side), then each VM namespace's end (one batch per namespace).
    const veths: string[][] = [];
    const guests = new Map<string, string[][]>();
    const portLines: string[][] = [];
    const fdb: string[][] = [];
    for (const n of networks) {
      const br = `br${n.vni}`;
      for (const p of n.ports) {
        const have = links.get(p.ifName);
        if (!have && p.vmNamespace) {
          const guest = guestPrivateInterfaceName(n.vni);
          veths.push(['link', 'add', p.ifName, 'type', 'veth', 'peer', 'name', guest, 'netns', p.vmNamespace]);
          const g = guests.get(p.vmNamespace) ?? [];
          g.push(
            ['link', 'set', 'dev', guest, 'address', p.mac],
            ['address', 'replace', `${p.ip}/${p.prefixLength}`, 'dev', guest, ...(p.ip.includes(':') ? ['nodad'] : [])],
            ['link', 'set', 'dev', guest, 'up'],
          );
          guests.set(p.vmNamespace, g);
        } else if (!have) {
          missing.push(p.ifName);
          continue;
        }
        if (!have || have.master !== br || have.linkinfo?.info_slave_data?.learning !== false) {
          // Learning off on the VM's port: only its own MAC (the static entry below) becomes a type-2 route; a guest
          // sending from other source MACs cannot grow every node's table of the network.
          portLines.push(
            ['link', 'set', 'dev', p.ifName, 'master', br],
            ['link', 'set', 'dev', p.ifName, 'type', 'bridge_slave', 'learning', 'off'],
            ['link', 'set', 'dev', p.ifName, 'up'],
          );
          // The VM's MAC is known before it speaks: FRR announces it (type-2) and remote nodes reach it at once.
          fdb.push(['fdb', 'replace', p.mac, 'dev', p.ifName, 'master', 'static']);
        }
      }
    }
    await this.batch(veths);
    operations.push(...veths.map((l) => `ip ${l.join(' ')}`));
    for (const [ns, lines] of guests) await this.batch(lines, ns);
    await this.batch(portLines);
    if (fdb.length) await run('bridge', [...this.ipArgs(), '-batch', '-'], { input: fdb.map((l) => l.join(' ')).join('\n') + '\n' });
    operations.push(...portLines.map((l) => `ip ${l.join(' ')}`), ...fdb.map((l) => `bridge ${l.join(' ')}`));
    return { operations, missing };
  }
}
