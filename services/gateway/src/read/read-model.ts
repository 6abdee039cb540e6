/** Queries on the Postgres read model, shaped as the API returns them. */
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, In, IsNull, Not } from 'typeorm';
import { BGP_TIMER_KEYS, DEFAULT_BLACKHOLE_COMMUNITY, DEFAULT_CORE_COMMUNITY, DEFAULT_PREFIX_LIMIT_ACTION, DIRECT_TOPOLOGY_WARNING } from '@fabric/contracts';
import {
  AgentTargetRow,
  BfdSessionRow,
  BgpSessionRow,
  ClusterRow,
  NetworkRow,
  NodeRow,
  PoolRow,
  PrivateAttachmentRow,
  PrivateNetworkRow,
  ObservedRouteRow,
  RouterConfigRow,
  VmAddressRow,
  VmHistoryRow,
  VmRow,
} from '@fabric/projections';
import { DATA_SOURCE } from '../tokens';
import { floatingAddresses } from './floating-read';

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);
/** `IN (…)` lists of a bounded size (Postgres takes at most 65,535 parameters per query). */
const chunks = <T>(xs: T[], size = 5000): T[][] => Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));

@Injectable()
export class ReadModel {
  constructor(@Inject(DATA_SOURCE) private readonly ds: DataSource) {}

  cluster = (c: ClusterRow) => ({
    id: c.id,
    name: c.name,
    fabricAsn: c.fabricAsn,
    coreAsn: c.coreAsn,
    community: c.community,
    gateway: c.gateway,
    routeReflectors: c.routeReflectors,
    coreRouter: c.coreRouter,
    rrClusterId: c.rrClusterId,
    bgp: {
      gracefulRestart: c.bgp.gracefulRestart,
      bfd: c.bgp.bfd,
      md5: !!c.bgp.md5Password,
      ...(c.bgp.md5OptOut ? { md5OptOut: c.bgp.md5OptOut } : {}),
      prefixLimitAction: c.bgp.prefixLimitAction ?? DEFAULT_PREFIX_LIMIT_ACTION,
      coreCommunity: c.bgp.coreCommunity ?? DEFAULT_CORE_COMMUNITY,
      // Timers only when set (absent: the daemons' defaults).
      ...Object.fromEntries(BGP_TIMER_KEYS.filter((k) => c.bgp[k] !== undefined && c.bgp[k] !== null).map((k) => [k, c.bgp[k]])),
      ...(c.bgp.bmpStation ? { bmpStation: { address: c.bgp.bmpStation.address, port: c.bgp.bmpStation.port } } : {}),
    },
    blackholeCommunity: c.blackholeCommunity ?? DEFAULT_BLACKHOLE_COMMUNITY,
    topology: c.topology === 'direct' ? ('direct' as const) : ('route-reflectors' as const),
    // Loud on every read of a direct cluster: the API, fabricctl and the dashboard show it as given.
    ...(c.topology === 'direct' ? { warning: DIRECT_TOPOLOGY_WARNING } : {}),
    createdAt: iso(c.createdAt),
  });

  async clusters() {
    return (await this.ds.getRepository(ClusterRow).find({ order: { createdAt: 'ASC' } })).map(this.cluster);
  }
  async clusterRow(id: string) {
    return this.ds.getRepository(ClusterRow).findOneBy({ id });
  }

  async networks(clusterId: string) {
    const nets = await this.ds.getRepository(NetworkRow).find({ where: { clusterId }, order: { createdAt: 'ASC' } });
    const pools = await this.ds.getRepository(PoolRow).find({ where: { clusterId } });
    return nets.map((n) => ({
      id: n.id,
      clusterId: n.clusterId,
      cidr: n.cidr,
      family: n.family,
      createdAt: iso(n.createdAt),
      pools: pools.filter((p) => p.networkId === n.id).map((p) => ({ id: p.id, start: p.startIp, end: p.endIp, size: p.size, used: p.used })),
    }));
  }

  node = (n: NodeRow) => ({
    id: n.id,
    clusterId: n.clusterId,
    name: n.name,
    underlayIp: n.underlayIp,
    underlayIp6: n.underlayIp6 ?? undefined,
    status: n.status,
    joinedAt: iso(n.joinedAt),
  });

  async nodes(clusterId: string) {
    return (await this.ds.getRepository(NodeRow).find({ where: { clusterId }, order: { joinedAt: 'ASC' } })).map(this.node);
  }
  async nodeRow(id: string) {
    return this.ds.getRepository(NodeRow).findOneBy({ id });
  }

  async nodeStatus(n: NodeRow) {
    const target = await this.ds.getRepository(AgentTargetRow).findOneBy({ kind: 'node', targetId: n.id });
    const sessions = await this.ds.getRepository(BgpSessionRow).find({ where: { kind: 'node', targetId: n.id }, order: { protocol: 'ASC' } });
    const bfd = await this.ds.getRepository(BfdSessionRow).find({ where: { kind: 'node', targetId: n.id }, order: { peerIp: 'ASC', interface: 'ASC' } });
    const vmRepo = this.ds.getRepository(VmRow);
    const vms = await vmRepo.count({ where: { nodeId: n.id, status: Not('deleted') } });
    // While evacuating: VMs still waiting on the node, and those migrating away (placed on their target already).
    const evacuation =
      n.status === 'evacuating'
        ? {
            waiting: await vmRepo.count({ where: { nodeId: n.id, status: Not('deleted'), previousNodeId: IsNull() } }),
            migrating: await vmRepo.count({ where: { previousNodeId: n.id, status: 'migrating' } }),
          }
        : null;
    return {
      ...this.node(n),
      desiredGeneration: target?.desiredGeneration ?? 0,
      appliedGeneration: target?.appliedGeneration ?? 0,
      drift: (target?.desiredGeneration ?? 0) !== (target?.appliedGeneration ?? 0) || !!target?.renderError,
      renderError: target?.renderError ?? null,
      lastApply: target?.appliedAt
        ? { at: iso(target.appliedAt), changes: target.lastChanges, durationMs: target.lastDurationMs, hash: target.appliedHash }
        : null,
      lastError: target?.lastError ?? null,
      bgpSessions: sessions.map((s) => ({ protocol: s.protocol, peerIp: s.peerIp, state: s.state, info: s.info, since: iso(s.since) })),
      bfdSessions: bfd.map((b) => ({
        peerIp: b.peerIp,
        interface: b.interface || null,
        state: b.state,
        intervalMs: b.intervalMs,
        timeoutMs: b.timeoutMs,
        info: b.info,
        since: iso(b.since),
      })),
      vmCount: vms,
      evacuation,
    };
  }

  vm = (v: VmRow, history?: VmHistoryRow[]) => ({
    id: v.id,
    clusterId: v.clusterId,
    nodeId: v.nodeId,
    previousNodeId: v.previousNodeId ?? undefined,
    name: v.name,
    ownerId: v.ownerId,
    ip: v.ip,
    family: v.family,
    driver: v.driver,
    status: v.status,
    reason: v.reason ?? undefined,
    createdAt: iso(v.createdAt),
    updatedAt: iso(v.updatedAt),
    blackhole: v.blackhole ? { reason: v.blackhole.reason, actor: v.blackhole.actor, since: iso(new Date(v.blackhole.since)) } : null,
    ...(history ? { history: history.map((h) => ({ seq: h.seq, status: h.status, event: h.event, at: iso(h.at), detail: h.detail ?? undefined })) } : {}),
  });

  async vmWithHistory(id: string) {
    const v = await this.ds.getRepository(VmRow).findOneBy({ id });
    if (!v) return null;
    // Route statuses come from the observations stream, whose sequences are not comparable with the events': by time.
    const history = await this.ds.getRepository(VmHistoryRow).find({ where: { vmId: id }, order: { at: 'ASC', seq: 'ASC' } });
    return { ...this.vm(v, history), addresses: await this.vmAddresses(v), floatingAddresses: await floatingAddresses(this.ds, { vmId: id }) };
  }

  /**
   * Every address of a VM: the primary (its status the VM's route status) and the extra ones, each with the status
   * its own route has reached: `requested` → `allocated` → `applied` (the node applied a generation containing it)
   * → `announced` (an RR holds it) → `at-core` (the core holds it); `failed` (with `reason`), `releasing` (removed
   * or the VM deleted: withdrawn, held by IPAM for the cool-down until `releaseAt`).
   */
  async vmAddresses(v: VmRow) {
    return (await this.addressesOf([v])).get(v.id) ?? [];
  }

  /** vmAddresses for many VMs (the list): a few queries per page, not per VM. */
  private async addressesOf(vms: VmRow[]) {
    type Address = { ip: string | null; family: number; primary: boolean; status: string; requestId?: string; reason?: string; releaseAt?: string | null };
    const out = new Map<string, Address[]>();
    if (!vms.length) return out;
    const rows = (
      await Promise.all(
        chunks(vms.map((v) => v.id)).map((ids) =>
          this.ds.getRepository(VmAddressRow).find({ where: { vmId: In(ids) }, order: { requestedAt: 'ASC', requestId: 'ASC' } }),
        ),
      )
    ).flat();
    const held = rows.filter((r) => r.status === 'allocated' && r.ip).map((r) => r.ip!);
    const routes = held.length
      ? (await Promise.all(chunks(held).map((ips) => this.ds.getRepository(ObservedRouteRow).find({ where: { ip: In(ips), stale: false } })))).flat()
      : [];
    const withRows = new Set(rows.map((r) => r.vmId));
    const nodeIds = [...new Set(vms.filter((v) => withRows.has(v.id)).map((v) => v.nodeId))];
    const nodes = nodeIds.length ? await this.ds.getRepository(AgentTargetRow).find({ where: { kind: 'node', targetId: In(nodeIds) } }) : [];
    const byVm = new Map<string, VmAddressRow[]>();
    for (const r of rows) byVm.set(r.vmId, [...(byVm.get(r.vmId) ?? []), r]);
    const byIp = new Map<string, ObservedRouteRow[]>();
    for (const r of routes) byIp.set(r.ip, [...(byIp.get(r.ip) ?? []), r]);
    const nodeById = new Map(nodes.map((n) => [n.targetId, n]));
    for (const v of vms) {
      const list: Address[] = [];
      if (v.ip) list.push({ ip: v.ip, family: v.family, primary: true, status: v.status === 'ip-allocated' ? 'allocated' : v.status });
      const seen = (ip: string, where: 'core' | 'rr') =>
        (byIp.get(ip) ?? []).some((r) =>
          where === 'core'
            ? (r.kind === 'router' || r.kind === 'router-bmp') && r.targetId === v.clusterId
            : r.kind === 'rr' && r.targetId.startsWith(v.clusterId),
        );
      const node = nodeById.get(v.nodeId);
      // The node applied the generation it was last given: everything up to that generation's source position is in place.
      const appliedTo = node && node.appliedGeneration === node.desiredGeneration ? node.desiredSourceSeq : 0;
      for (const r of byVm.get(v.id) ?? []) {
        let status: string = r.status;
        if (r.status === 'allocated' && r.ip) {
          if (seen(r.ip, 'core')) status = 'at-core';
          else if (seen(r.ip, 'rr')) status = 'announced';
          else if (r.allocatedSeq !== null && appliedTo >= r.allocatedSeq) status = 'applied';
        }
        list.push({
          ip: r.ip ?? r.requestedIp,
          family: r.family,
          primary: false,
          status,
          requestId: r.requestId,
          ...(r.reason ? { reason: r.reason } : {}),
          ...(r.status === 'releasing' ? { releaseAt: iso(r.releaseAt) } : {}),
        });
      }
      out.set(v.id, list);
    }
    return out;
  }
  async vmRow(id: string) {
    return this.ds.getRepository(VmRow).findOneBy({ id });
  }

  async vms(filter: { clusterId?: string; nodeId?: string; ownerId?: string; status?: string }, limit = 1000, offset = 0) {
    const where: Record<string, string> = {};
    for (const k of ['clusterId', 'nodeId', 'ownerId', 'status'] as const) if (filter[k]) where[k] = filter[k] as string;
    const vms = await this.ds.getRepository(VmRow).find({ where, order: { createdSeq: 'ASC' }, take: limit, skip: offset });
    const addresses = await this.addressesOf(vms);
    return vms.map((v) => ({ ...this.vm(v), addresses: addresses.get(v.id) ?? [] }));
  }

  /** How many host routes each source says the core holds now: the FRR agent's read and the BMP feed. */
  async coreRouteCounts(clusterId: string): Promise<{ agent: number; bmp: number }> {
    const rows: { kind: string; n: string }[] = await this.ds
      .getRepository(ObservedRouteRow)
      .createQueryBuilder('r')
      .select('r.kind', 'kind')
      .addSelect('COUNT(DISTINCT r.prefix)', 'n')
      .where('r.kind IN (:...kinds) AND r.targetId = :clusterId AND NOT r.stale', { kinds: ['router', 'router-bmp'], clusterId })
      .groupBy('r.kind')
      .getRawMany();
    const n = (kind: string) => Number(rows.find((r) => r.kind === kind)?.n ?? 0);
    return { agent: n('router'), bmp: n('router-bmp') };
  }

  async routerConfig(clusterId: string, version?: number) {
    const repo = this.ds.getRepository(RouterConfigRow);
    return version ? repo.findOneBy({ clusterId, version }) : repo.findOne({ where: { clusterId }, order: { version: 'DESC' } });
  }

  attachment = (a: PrivateAttachmentRow) => ({
    networkId: a.networkId,
    vmId: a.vmId,
    ownerId: a.ownerId,
    vni: a.vni,
    ip: a.ip,
    family: a.family,
    mac: a.mac,
    status: a.status,
    attachedAt: iso(a.attachedAt),
    releaseAt: iso(a.releaseAt),
  });

  privateNetwork = (n: PrivateNetworkRow, attachments: PrivateAttachmentRow[]) => ({
    id: n.id,
    clusterId: n.clusterId,
    ownerId: n.ownerId,
    name: n.name,
    cidr: n.cidr,
    family: n.family,
    vni: n.vni,
    createdAt: iso(n.createdAt),
    attachedVms: attachments.filter((a) => a.networkId === n.id && a.status === 'attached').length,
    attachments: attachments.filter((a) => a.networkId === n.id).map(this.attachment),
  });

  async privateNetworkRow(id: string) {
    return this.ds.getRepository(PrivateNetworkRow).findOneBy({ id });
  }

  async privateNetworks(clusterId: string, ownerId?: string) {
    const nets = await this.ds.getRepository(PrivateNetworkRow).find({ where: { clusterId, ...(ownerId ? { ownerId } : {}) }, order: { vni: 'ASC' } });
    const atts = await this.ds.getRepository(PrivateAttachmentRow).find({ where: { clusterId }, order: { attachedAt: 'ASC' } });
    return nets.map((n) => this.privateNetwork(n, atts));
  }

  async privateNetworkWithAttachments(n: PrivateNetworkRow) {
    const atts = await this.ds.getRepository(PrivateAttachmentRow).find({ where: { networkId: n.id }, order: { attachedAt: 'ASC' } });
    return this.privateNetwork(n, atts);
  }

  /** A VM's private addresses (attached and cooling down), with each network's name and CIDR. */
  async vmPrivateNetworks(vmId: string) {
    const atts = await this.ds.getRepository(PrivateAttachmentRow).find({ where: { vmId }, order: { attachedAt: 'ASC' } });
    const nets = atts.length ? await this.ds.getRepository(PrivateNetworkRow).findBy(atts.map((a) => ({ id: a.networkId }))) : [];
    return atts.map((a) => {
      const n = nets.find((x) => x.id === a.networkId);
      return { ...this.attachment(a), name: n?.name ?? null, cidr: n?.cidr ?? null };
    });
  }
}
