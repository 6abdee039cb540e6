/**
 * What a hypervisor and a guest need to join the fabric (docs/operations/hypervisors.md):
 * - the host-side interface: named `vmInterfaceName(vmId)` (the node agent configures only that name) and
 *   carrying the cluster gateway IP and MAC, set by the agent, not by libvirt/LXD;
 * - the guest side: a MAC the fabric derives from the VM id, its /32 or /128, and an on-link default route to the
 *   cluster gateway (IPv4) or to fe80::1 (IPv6, the same link-local gateway on every host interface).
 * Pure: no I/O, no framework.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { canonicalIp, isIp, isMac, vmInterfaceName } from '@fabric/contracts';

/** The link-local IPv6 gateway every node interface carries (agents/src/drivers/netlink.ts). */
export const GUEST_IPV6_GATEWAY = 'fe80::1';
/** The guest's interface name in the documents (matched by MAC, renamed to this). */
export const GUEST_IF = 'eth0';

export interface GuestNetworkInput {
  vmId: string;
  ip: string;
  family: 4 | 6;
  gateway: { ip: string; mac: string };
  /** The VM's extra addresses (either family), configured beside `ip` on the same interface. */
  extraIps?: string[];
}

/**
 * The guest-side MAC of a VM: locally administered unicast (0x02 first octet), 40 bits of sha256(vmId).
 * It only has to be unique on the VM's point-to-point link, whose other end has the gateway MAC.
 */
export function vmGuestMac(vmId: string, gatewayMac?: string): string {
  const h = createHash('sha256').update(vmId).digest();
  const bytes = [0x02, h[0], h[1], h[2], h[3], h[4]];
  let mac = bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
  if (gatewayMac && mac === gatewayMac.toLowerCase()) {
    bytes[5] ^= 0x01;
    mac = bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
  }
  return mac;
}

function check(input: GuestNetworkInput): void {
  if (!/^[0-9a-f-]{36}$/i.test(input.vmId)) throw new Error(`invalid VM id: ${JSON.stringify(input.vmId)}`);
  if (input.family !== 4 && input.family !== 6) throw new Error(`invalid family: ${input.family}`);
  if (!isIp(input.ip, input.family)) throw new Error(`invalid IPv${input.family} address: ${JSON.stringify(input.ip)}`);
  if (!isIp(input.gateway.ip, 4)) throw new Error(`invalid gateway ip: ${JSON.stringify(input.gateway.ip)}`);
  if (!isMac(input.gateway.mac)) throw new Error(`invalid gateway mac: ${JSON.stringify(input.gateway.mac)}`);
  for (const x of input.extraIps ?? []) if (!isIp(x)) throw new Error(`invalid extra address: ${JSON.stringify(x)}`);
}

export interface GuestNetworkFacts {
  /** Host-side interface (libvirt tap `target dev`, LXD `host_name`). */
  hostIf: string;
  guestMac: string;
  /** The guest's address with its host prefix length. */
  address: string;
  /** The default route's next hop, on-link. */
  gateway: string;
  gatewayMac: string;
}

export function guestNetworkFacts(input: GuestNetworkInput): GuestNetworkFacts {
  check(input);
  return {
    hostIf: vmInterfaceName(input.vmId),
    guestMac: vmGuestMac(input.vmId, input.gateway.mac),
    address: `${canonicalIp(input.ip)}/${input.family === 4 ? 32 : 128}`,
    gateway: input.family === 4 ? canonicalIp(input.gateway.ip) : GUEST_IPV6_GATEWAY,
    gatewayMac: input.gateway.mac.toLowerCase(),
  };
}

/**
 * libvirt `<interface type='ethernet'>`: a plain tap, no bridge. libvirt creates the tap with the target name
 * (`managed='no'` when the tap is pre-created by the operator); the node agent then puts the gateway IP/MAC and
 * the /32 route on it. Every value is validated above (UUID-derived name, MAC, no user text).
 */
export function renderLibvirtInterface(input: GuestNetworkInput, opts: { precreatedTap?: boolean } = {}): string {
  const f = guestNetworkFacts(input);
  return [
    `<interface type='ethernet'>`,
    `  <mac address='${f.guestMac}'/>`,
    `  <target dev='${f.hostIf}'${opts.precreatedTap ? ` managed='no'` : ''}/>`,
    `  <model type='virtio'/>`,
    `</interface>`,
    '',
  ].join('\n');
}

/** LXD `nic` device: `nictype: p2p` is a veth pair with no host-side config by LXD (the node agent owns it). */
export function renderLxdDevice(input: GuestNetworkInput): { eth0: Record<string, string> } {
  const f = guestNetworkFacts(input);
  return { eth0: { type: 'nic', nictype: 'p2p', name: GUEST_IF, host_name: f.hostIf, hwaddr: f.guestMac } };
}

export interface NetworkConfigV2 {
  version: 2;
  ethernets: Record<
    string,
    {
      match: { macaddress: string };
      'set-name': string;
      dhcp4: false;
      dhcp6: false;
      'accept-ra'?: false;
      addresses: string[];
      routes: { to: string; via: string; 'on-link': true }[];
    }
  >;
}

/** cloud-init network-config version 2 (netplan syntax) as an object. */
export function guestNetworkConfig(input: GuestNetworkInput): NetworkConfigV2 {
  const f = guestNetworkFacts(input);
  const extras = (input.extraIps ?? []).map((x) => ({ address: `${canonicalIp(x)}/${isIp(x, 4) ? 32 : 128}`, family: isIp(x, 4) ? 4 : 6 }));
  // A default route per family the guest has an address of (the primary's first).
  const families = [...new Set([input.family, ...extras.map((e) => e.family)])];
  const route = (family: number) => ({
    to: family === 4 ? '0.0.0.0/0' : '::/0',
    via: family === 4 ? canonicalIp(input.gateway.ip) : GUEST_IPV6_GATEWAY,
    'on-link': true as const,
  });
  return {
    version: 2,
    ethernets: {
      [GUEST_IF]: {
        match: { macaddress: f.guestMac },
        'set-name': GUEST_IF,
        dhcp4: false,
        dhcp6: false,
        ...(families.includes(6) ? { 'accept-ra': false as const } : {}),
        addresses: [f.address, ...extras.map((e) => e.address)],
        routes: families.map(route),
      },
    },
  };
}

/** The same document as YAML, with a header naming what it was rendered for. */
export function renderNetworkConfig(input: GuestNetworkInput): string {
  const f = guestNetworkFacts(input);
  const header = [
    `# cloud-init network-config v2 for VM ${input.vmId}`,
    `# host side: ${f.hostIf}, gateway ${f.gateway} (MAC ${f.gatewayMac}, answered by the node)`,
  ].join('\n');
  return `${header}\n${stringify(guestNetworkConfig(input), { lineWidth: 0 })}`;
}
