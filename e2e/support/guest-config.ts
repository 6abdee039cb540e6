/**
 * A minimal cloud-init network-config v2 interpreter for lab guests: it applies exactly what the document says
 * (interfaces matched by MAC, set-name, addresses, routes with on-link, accept-ra) with `ip` argument arrays, and
 * refuses any key it does not understand, so a guest is configured only from the document.
 */
import { parse } from 'yaml';
import { runIn } from './net';

const ETHERNET_KEYS = new Set(['match', 'set-name', 'dhcp4', 'dhcp6', 'accept-ra', 'addresses', 'routes']);
const ROUTE_KEYS = new Set(['to', 'via', 'on-link']);

interface Ethernet {
  match?: { macaddress?: string };
  'set-name'?: string;
  dhcp4?: boolean;
  dhcp6?: boolean;
  'accept-ra'?: boolean;
  addresses?: string[];
  routes?: { to: string; via: string; 'on-link'?: boolean }[];
}

export async function applyNetworkConfig(namespace: string, yamlText: string): Promise<string[][]> {
  const doc = parse(yamlText) as { version?: number; ethernets?: Record<string, Ethernet>; [k: string]: unknown };
  if (doc?.version !== 2) throw new Error('not a network-config version 2 document');
  const extra = Object.keys(doc).filter((k) => k !== 'version' && k !== 'ethernets');
  if (extra.length) throw new Error(`unsupported top-level keys: ${extra.join(', ')}`);
  const links = JSON.parse(await runIn(namespace, 'ip', ['-j', 'link', 'show'])) as { ifname: string; address?: string }[];
  const applied: string[][] = [];
  const ip = async (...args: string[]) => {
    applied.push(['ip', ...args]);
    await runIn(namespace, 'ip', args);
  };
  for (const [id, eth] of Object.entries(doc.ethernets ?? {})) {
    const unknown = Object.keys(eth).filter((k) => !ETHERNET_KEYS.has(k));
    if (unknown.length) throw new Error(`${id}: unsupported keys ${unknown.join(', ')}`);
    if (eth.dhcp4 || eth.dhcp6) throw new Error(`${id}: DHCP is not interpreted`);
    const mac = eth.match?.macaddress?.toLowerCase();
    const matches = mac ? links.filter((l) => l.address?.toLowerCase() === mac) : links.filter((l) => l.ifname === id);
    if (matches.length !== 1) throw new Error(`${id}: ${matches.length} interfaces match ${mac ?? id}`);
    let dev = matches[0].ifname;
    const name = eth['set-name'];
    if (name && name !== dev) {
      await ip('link', 'set', 'dev', dev, 'down');
      await ip('link', 'set', 'dev', dev, 'name', name);
      dev = name;
    }
    if (eth['accept-ra'] === false) {
      applied.push(['sysctl', `net.ipv6.conf.${dev}.accept_ra=0`]);
      await runIn(namespace, 'sysctl', ['-q', '-w', `net.ipv6.conf.${dev}.accept_ra=0`]);
    }
    await ip('link', 'set', 'dev', dev, 'up');
    for (const a of eth.addresses ?? []) await ip(...(a.includes(':') ? ['-6'] : ['-4']), 'address', 'add', a, 'dev', dev);
    for (const r of eth.routes ?? []) {
      const bad = Object.keys(r).filter((k) => !ROUTE_KEYS.has(k));
      if (bad.length) throw new Error(`${id}: unsupported route keys ${bad.join(', ')}`);
      const v6 = r.to.includes(':');
      const to = r.to === '0.0.0.0/0' || r.to === '::/0' ? 'default' : r.to;
      await ip(v6 ? '-6' : '-4', 'route', 'add', to, 'via', r.via, 'dev', dev, ...(r['on-link'] ? ['onlink'] : []));
    }
  }
  return applied;
}
