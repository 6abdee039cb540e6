/** Test-only event builders shared by the specs of route-announcer, rr-config and router-config. */
import type { FabricEvent } from '@fabric/contracts';

export const CLUSTER = '11111111-1111-4111-8111-111111111111';
export const NODE1 = '22222222-2222-4222-8222-222222222221';
export const NODE2 = '22222222-2222-4222-8222-222222222222';
export const NODE3 = '22222222-2222-4222-8222-222222222223';
export const NET4 = '44444444-4444-4444-8444-444444444441';
export const NET6 = '44444444-4444-4444-8444-444444444446';
export const POOL4 = '55555555-5555-4555-8555-555555555541';
export const POOL4B = '55555555-5555-4555-8555-555555555542';
export const POOL6 = '55555555-5555-4555-8555-555555555546';
/** VM ids: vm(1) … vm(9999). */
export const vm = (n: number) => `33333333-3333-4333-8333-${String(n).padStart(12, '0')}`;

export const ev = {
  clusterCreated: (over: Record<string, unknown> = {}, clusterId = CLUSTER): FabricEvent => ({
    type: 'ClusterCreated',
    data: {
      clusterId,
      name: 'par1',
      fabricAsn: 65000,
      coreAsn: 65001,
      community: '65000:100',
      gateway: { ip: '10.0.0.1', mac: 'fe:ff:ff:ff:ff:ff' },
      coreRouter: { name: 'core', ip: '198.18.0.1', vendor: 'frr' },
      rrClusterId: '198.18.0.254',
      bgp: { gracefulRestart: false, bfd: false },
      ...over,
    } as never,
  }),
  rrAdded: (name: string, ip: string, clusterId = CLUSTER): FabricEvent => ({ type: 'RouteReflectorAdded', data: { clusterId, name, ip } }),
  rrRemoved: (name: string, clusterId = CLUSTER): FabricEvent => ({ type: 'RouteReflectorRemoved', data: { clusterId, name } }),
  nodeJoined: (nodeId: string, name: string, underlayIp: string, underlayIp6?: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'NodeJoined',
    data: { nodeId, clusterId, name, underlayIp, ...(underlayIp6 ? { underlayIp6 } : {}) },
  }),
  nodeDrained: (nodeId: string, clusterId = CLUSTER): FabricEvent => ({ type: 'NodeDrained', data: { nodeId, clusterId } }),
  nodeLeft: (nodeId: string, clusterId = CLUSTER): FabricEvent => ({ type: 'NodeLeft', data: { nodeId, clusterId } }),
  networkAdded: (networkId: string, cidr: string, family: 4 | 6, clusterId = CLUSTER): FabricEvent => ({
    type: 'NetworkAdded',
    data: { clusterId, networkId, cidr, family },
  }),
  poolAdded: (networkId: string, poolId: string, start: string, end: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'PoolAdded',
    data: { clusterId, networkId, poolId, start, end },
  }),
  vmCreated: (vmId: string, nodeId: string, family: 4 | 6 = 4, clusterId = CLUSTER): FabricEvent => ({
    type: 'VmCreated',
    data: { vmId, clusterId, nodeId, name: `vm-${vmId.slice(-4)}`, ownerId: 'cust-42', family, driver: 'netns' },
  }),
  ipAllocated: (vmId: string, ip: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'IpAllocated',
    data: {
      clusterId,
      vmId,
      ownerId: 'cust-42',
      ip,
      family: ip.includes(':') ? 6 : 4,
      networkId: ip.includes(':') ? NET6 : NET4,
      poolId: ip.includes(':') ? POOL6 : POOL4,
    },
  }),
  /** An extra address of the VM (request id derived from the address, deterministic). */
  addressAllocated: (vmId: string, ip: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'VmAddressAllocated',
    data: {
      clusterId,
      vmId,
      ownerId: 'cust-42',
      requestId: `77777777-7777-4777-8777-${Buffer.from(ip).toString('hex').slice(-12).padStart(12, '0')}`,
      ip,
      family: ip.includes(':') ? 6 : 4,
      networkId: ip.includes(':') ? NET6 : NET4,
      poolId: ip.includes(':') ? POOL6 : POOL4,
    },
  }),
  addressRemoved: (vmId: string, ip: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'VmAddressRemoved',
    data: { vmId, clusterId, ownerId: 'cust-42', ip },
  }),
  ipAllocationFailed: (vmId: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'IpAllocationFailed',
    data: { clusterId, vmId, reason: 'pool-exhausted', message: 'no free address' },
  }),
  vmDeleted: (vmId: string, nodeId: string, clusterId = CLUSTER): FabricEvent => ({ type: 'VmDeleted', data: { vmId, clusterId, nodeId, ownerId: 'cust-42' } }),
  migrationRequested: (vmId: string, fromNodeId: string, toNodeId: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'VmMigrationRequested',
    data: { vmId, clusterId, fromNodeId, toNodeId },
  }),
  migrationCompleted: (vmId: string, fromNodeId: string, toNodeId: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'VmMigrationCompleted',
    data: { vmId, clusterId, fromNodeId, toNodeId },
  }),
  routesObserved: (kind: 'rr' | 'router', id: string, routes: { prefix: string; nextHop?: string }[]): FabricEvent => ({
    type: 'RoutesObserved',
    data: { target: { kind, id }, routes },
  }),
  /** A floating address (owner cust-42) attached to `vmId`; with `fromVmId` a move. */
  floatingAttached: (floatingId: string, ip: string, vmId: string, fromVmId?: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'FloatingAddressAttached',
    data: { clusterId, floatingId, ownerId: 'cust-42', ip, vmId, ...(fromVmId ? { fromVmId } : {}) },
  }),
  floatingMoveCompleted: (floatingId: string, ip: string, vmId: string, fromVmId: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'FloatingAddressMoveCompleted',
    data: { clusterId, floatingId, ownerId: 'cust-42', ip, vmId, fromVmId },
  }),
  floatingDetached: (floatingId: string, ip: string, vmId: string, fromVmId?: string, clusterId = CLUSTER): FabricEvent => ({
    type: 'FloatingAddressDetached',
    data: { clusterId, floatingId, ownerId: 'cust-42', ip, vmId, ...(fromVmId ? { fromVmId } : {}), reason: 'detached' },
  }),
  routesChanged: (
    kind: 'rr' | 'router',
    id: string,
    added: { prefix: string; nextHop?: string }[],
    withdrawn: { prefix: string; nextHop?: string }[] = [],
    resync?: 'start' | 'part' | 'end' | 'full',
    total = 0,
  ): FabricEvent => ({
    type: 'RoutesChanged',
    data: { target: { kind, id }, added, withdrawn, ...(resync ? { resync } : {}), total },
  }),
};

/** A cluster with two RRs, three nodes (node-3 with an IPv6 underlay), an IPv4 and an IPv6 pool. */
export const baseFabric = (): FabricEvent[] => [
  ev.clusterCreated(),
  ev.rrAdded('rr-1', '198.18.0.2'),
  ev.rrAdded('rr-2', '198.18.0.3'),
  ev.nodeJoined(NODE1, 'node-1', '198.18.0.10'),
  ev.nodeJoined(NODE2, 'node-2', '198.18.0.11'),
  ev.nodeJoined(NODE3, 'node-3', '198.18.0.12', '2001:db8:ffff::12'),
  ev.networkAdded(NET4, '203.0.113.0/24', 4),
  ev.poolAdded(NET4, POOL4, '203.0.113.10', '203.0.113.100'),
  ev.networkAdded(NET6, '2001:db8::/64', 6),
  ev.poolAdded(NET6, POOL6, '2001:db8::1:0', '2001:db8::1:ffff'),
];
