/**
 * Per node, the private networks (VNIs) it must carry and the VM interfaces attached there, folded from
 * the events: IPAM's private-network events and the VM placements (a migrating VM is on both nodes until
 * VmMigrationCompleted, like its public route). Pure; the data plane puts `forNode()` into the node state.
 */
import { type DesiredPrivateInterface, type DesiredPrivateNetwork, type FabricEvent, restoreCollections, saveCollections } from '@fabric/contracts';

interface Net {
  networkId: string;
  vni: number;
  cidr: string;
  family: 4 | 6;
  prefixLength: number;
  /** vmId → the VM's interface. */
  attached: Map<string, DesiredPrivateInterface>;
}

export class PrivateNetworksModel {
  private readonly nets = new Map<string, Net>();
  /**
   * vmId → the nodes it is placed on (two during a migration). An array, not a Set: one per VM of the cluster,
   * and a Set of one costs ~300 bytes more (~30 MB at 100,000 VMs). Replaced, never changed in place.
   */
  private readonly placements = new Map<string, readonly string[]>();

  /** `nodeKey`: the node id string the caller already holds (one copy per node, not per VM). */
  constructor(private readonly nodeKey: (id: string) => string = (id) => id) {}

  private static readonly SNAPSHOT_FIELDS = ['nets', 'placements'];

  /** State for the route-announcer's snapshot (by reference). */
  snapshot(): Record<string, unknown> {
    return saveCollections(this, PrivateNetworksModel.SNAPSHOT_FIELDS);
  }

  restore(data: unknown): void {
    restoreCollections(this, PrivateNetworksModel.SNAPSHOT_FIELDS, data);
    // Structured deserialisation gives every string its own copy: share the node ids again, as the fold does.
    for (const [vmId, at] of this.placements) this.placements.set(vmId, at.map(this.nodeKey));
  }

  /** Applies one event; returns the nodes whose private networks changed. */
  apply(event: FabricEvent): string[] {
    switch (event.type) {
      case 'PrivateNetworkCreated': {
        const d = event.data;
        this.nets.set(d.networkId, {
          networkId: d.networkId,
          vni: d.vni,
          cidr: d.cidr,
          family: d.family,
          prefixLength: Number(d.cidr.split('/')[1]),
          attached: new Map(),
        });
        return [];
      }
      case 'PrivateNetworkDeleted':
        this.nets.delete(event.data.networkId);
        return [];
      case 'PrivateNetworkAttached': {
        const d = event.data;
        const n = this.nets.get(d.networkId);
        if (!n) return [];
        n.attached.set(d.vmId, { vmId: d.vmId, ip: d.ip, prefixLength: n.prefixLength, mac: d.mac });
        return this.nodesOf(d.vmId);
      }
      case 'PrivateNetworkDetached': {
        const n = this.nets.get(event.data.networkId);
        if (!n?.attached.delete(event.data.vmId)) return [];
        return this.nodesOf(event.data.vmId);
      }
      case 'VmCreated':
        this.placements.set(event.data.vmId, [this.nodeKey(event.data.nodeId)]);
        return [];
      case 'VmMigrationRequested': {
        const d = event.data;
        const at = this.placements.get(d.vmId);
        if (!at) return [];
        if (!at.includes(d.toNodeId)) this.placements.set(d.vmId, [...at, this.nodeKey(d.toNodeId)]);
        return this.hasNetworks(d.vmId) ? [d.toNodeId] : [];
      }
      case 'VmMigrationCompleted': {
        const d = event.data;
        const at = this.placements.get(d.vmId);
        if (!at || d.fromNodeId === d.toNodeId || !at.includes(d.fromNodeId)) return [];
        this.placements.set(
          d.vmId,
          at.filter((id) => id !== d.fromNodeId),
        );
        return this.hasNetworks(d.vmId) ? [d.fromNodeId] : [];
      }
      case 'VmDeleted': {
        // IPAM detaches the VM's networks in the same step; the placement goes now.
        const nodes = this.hasNetworks(event.data.vmId) ? this.nodesOf(event.data.vmId) : [];
        this.placements.delete(event.data.vmId);
        return nodes;
      }
      default:
        return [];
    }
  }

  /** The private networks `nodeId` must carry, by VNI, each with the interfaces of the VMs placed there. */
  forNode(nodeId: string): DesiredPrivateNetwork[] {
    const out: DesiredPrivateNetwork[] = [];
    for (const n of this.nets.values()) {
      const interfaces = [...n.attached.values()].filter((i) => this.placements.get(i.vmId)?.includes(nodeId)).sort((a, b) => a.vmId.localeCompare(b.vmId));
      if (interfaces.length) out.push({ networkId: n.networkId, vni: n.vni, cidr: n.cidr, family: n.family, interfaces });
    }
    return out.sort((a, b) => a.vni - b.vni);
  }

  private nodesOf(vmId: string): string[] {
    return [...(this.placements.get(vmId) ?? [])];
  }

  private hasNetworks(vmId: string): boolean {
    for (const n of this.nets.values()) if (n.attached.has(vmId)) return true;
    return false;
  }
}
