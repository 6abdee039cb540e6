/** Test-only inputs shared by the renderer specs. */
import type { FrrCoreInput, JunosInput, NodeBirdInput, NodeEvpnInput, RrBirdInput, RrEvpnInput } from './index';

export const MD5 = 'ab!#$%&()*+,-./:<=>?@[]^_{|}~';
export const ALL_ON = { md5Password: MD5, gracefulRestart: true, bfd: true };
export const ALL_OFF = { gracefulRestart: false, bfd: false };
/** Changed timers: hold/keepalive, graceful-restart time, BFD intervals (PATCH /clusters/:id/bgp). */
export const TIMERS_BFD = {
  ...ALL_ON,
  holdTime: 9,
  keepaliveTime: 3,
  gracefulRestartTime: 90,
  bfdMinRxMs: 100,
  bfdMinTxMs: 150,
  bfdMultiplier: 4,
};

export function nodeInput(over: Partial<NodeBirdInput> = {}): NodeBirdInput {
  return {
    nodeName: 'node-1',
    routerId: '198.18.0.10',
    fabricAsn: 65000,
    community: '65000:100',
    kernelProtocolNumber: 200,
    routeReflectors: [
      { name: 'rr-2', ip: '198.18.0.3' },
      { name: 'rr-1', ip: '198.18.0.2' },
    ],
    bgp: ALL_OFF,
    localIp: '198.18.0.10',
    ...over,
  };
}

export function rrInput(over: Partial<RrBirdInput> = {}): RrBirdInput {
  return {
    rrName: 'rr-1',
    routerId: '198.18.0.2',
    fabricAsn: 65000,
    coreAsn: 65001,
    community: '65000:100',
    rrClusterId: '198.18.0.254',
    localIp: '198.18.0.2',
    core: { name: 'core', ip: '198.18.0.1' },
    nodes: [
      { id: 'b2f5e7a4-4a4f-4d2c-9a53-0c1f5a2d6e11', name: 'node-2', underlayIp: '198.18.0.11', originTag: 4200000002 },
      { id: '0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c01', name: 'node-1', underlayIp: '198.18.0.10', originTag: 4200000001 },
    ],
    exportPrefixes: ['203.0.113.0/24', '198.51.100.0/24', '2001:db8::/32'],
    bgp: ALL_OFF,
    ...over,
  };
}

export function frrInput(over: Partial<FrrCoreInput> = {}): FrrCoreInput {
  return {
    hostname: 'core',
    routerId: '198.18.0.1',
    coreAsn: 65001,
    fabricAsn: 65000,
    community: '65000:100',
    routeReflectors: [
      { name: 'rr-2', ip: '198.18.0.3' },
      { name: 'rr-1', ip: '198.18.0.2' },
    ],
    exportPrefixes: ['203.0.113.0/24', '198.51.100.0/24', '2001:db8::/32'],
    bgp: ALL_OFF,
    ...over,
  };
}

export function junosInput(over: Partial<JunosInput> = {}): JunosInput {
  return {
    clusterName: 'par1',
    coreAsn: 65001,
    fabricAsn: 65000,
    community: '65000:100',
    routeReflectors: [
      { name: 'rr-2', ip: '198.18.0.3' },
      { name: 'rr-1', ip: '198.18.0.2' },
    ],
    exportPrefixes: ['203.0.113.0/24', '2001:db8::/32'],
    bgp: ALL_OFF,
    ...over,
  };
}

/** Strings that must never reach a config. */
export const BAD_NAMES = ['a"b', 'a{b', 'a}b', 'a\nb', 'a;b', 'a b', '', '-a', 'a'.repeat(64)];
/** Extract the body of a `filter <name> { … }` or `protocol bgp <name> { … }` block. */
export function block(config: string, header: string): string {
  const start = config.indexOf(header + ' {');
  if (start < 0) throw new Error(`no block ${header}`);
  const end = config.indexOf('\n}', start);
  return config.slice(start, end + 2);
}

export function nodeEvpnInput(over: Partial<NodeEvpnInput> = {}): NodeEvpnInput {
  return {
    hostname: 'node-1',
    localIp: '198.18.0.10',
    fabricAsn: 65000,
    routeReflectors: [
      { name: 'rr-2', ip: '198.18.0.3' },
      { name: 'rr-1', ip: '198.18.0.2' },
    ],
    bgp: ALL_OFF,
    ...over,
  };
}

export function rrEvpnInput(over: Partial<RrEvpnInput> = {}): RrEvpnInput {
  return {
    hostname: 'rr-1',
    localIp: '198.18.0.2',
    fabricAsn: 65000,
    rrClusterId: '198.18.0.254',
    nodes: [
      { name: 'node-2', underlayIp: '198.18.0.11' },
      { name: 'node-1', underlayIp: '198.18.0.10' },
    ],
    bgp: ALL_OFF,
    ...over,
  };
}
