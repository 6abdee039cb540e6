/**
 * Read endpoints for the operator dashboard: the cluster's topology with BGP and BFD session states, desired vs applied
 * generation of every agent target, and the router config versions. Read model only, no commands.
 */
import { Controller, Get, Inject, NotFoundException, Param } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import { rrTargetId } from '@fabric/contracts';
import { AgentTargetRow, BfdSessionRow, BgpSessionRow, ClusterRow, NodeRow, RouterConfigRow } from '@fabric/projections';
import { ReadModel } from '../read/read-model';
import { DATA_SOURCE } from '../tokens';
import { uuidParam } from './validation';

const uuid = uuidParam;
const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);
/** BIRD protocol names are `<prefix><name>` lowercased with '-' → '_' (see birdIdent in the renderers). */
const birdName = (prefix: string, name: string) => prefix + name.toLowerCase().replace(/-/g, '_');

type Kind = 'router' | 'rr' | 'node';
interface Member {
  kind: Kind;
  targetId: string;
  name: string;
  ips: string[];
}
interface SessionSide {
  kind: Kind;
  targetId: string;
  protocol: string;
  peerIp: string | null;
  state: string;
  info: string | null;
  since: string | null;
}

interface BfdSide {
  kind: Kind;
  targetId: string;
  peerIp: string;
  interface: string | null;
  state: string;
  intervalMs: number | null;
  timeoutMs: number | null;
  info: string | null;
  since: string | null;
}

/** One link's BFD state from what both ends report: null when no end runs BFD toward the other, 'up' only when every end says so. */
export function bfdLinkState(sides: { state: string }[]): string | null {
  if (!sides.length) return null;
  return sides.find((s) => s.state !== 'up')?.state ?? 'up';
}

/** BFD sessions of one target, as topology sides. */
export function bfdSides(rows: BfdSessionRow[], kind: Kind, targetId: string): BfdSide[] {
  return rows
    .filter((r) => r.kind === kind && r.targetId === targetId)
    .map((r) => ({
      kind,
      targetId,
      peerIp: r.peerIp,
      interface: r.interface || null,
      state: r.state,
      intervalMs: r.intervalMs,
      timeoutMs: r.timeoutMs,
      info: r.info,
      since: iso(r.since),
    }));
}

/** One link's state from what both ends report: Established only when every reporting end says so. */
export function linkState(sides: { state: string }[]): string {
  const live = sides.filter((s) => s.state !== 'Removed');
  if (!live.length) return 'Unknown';
  return live.find((s) => s.state !== 'Established')?.state ?? 'Established';
}

@Controller('clusters')
export class DashboardController {
  constructor(
    private readonly read: ReadModel,
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
  ) {}

  private async members(id: string) {
    const c = await this.ds.getRepository(ClusterRow).findOneBy({ id });
    if (!c) throw new NotFoundException({ status: 404, code: 'cluster-not-found', message: `cluster ${id} not found` });
    const nodes = await this.ds.getRepository(NodeRow).find({ where: { clusterId: id }, order: { joinedAt: 'ASC' } });
    const core: Member = { kind: 'router', targetId: id, name: c.coreRouter.name, ips: [c.coreRouter.ip] };
    const rrs: Member[] = c.routeReflectors.map((r) => ({ kind: 'rr', targetId: rrTargetId(id, r.name), name: r.name, ips: [r.ip] }));
    const nodeMembers: Member[] = nodes
      .filter((n) => n.status !== 'left')
      .map((n) => ({ kind: 'node', targetId: n.id, name: n.name, ips: [n.underlayIp, ...(n.underlayIp6 ? [n.underlayIp6] : [])] }));
    return { cluster: c, nodes, core, rrs, nodeMembers };
  }

  /** Core, route reflectors and nodes, and each BGP session (core–RR, RR–node) with the state both ends report. */
  @Get(':id/topology')
  async topology(@Param('id', uuid) id: string) {
    const { cluster, nodes, core, rrs, nodeMembers } = await this.members(id);
    const all = [core, ...rrs, ...nodeMembers];
    const rows = await this.ds.getRepository(BgpSessionRow).find({ where: { targetId: In(all.map((m) => m.targetId)) } });
    const bfdRows = await this.ds.getRepository(BfdSessionRow).find({ where: { targetId: In(all.map((m) => m.targetId)) } });
    // The BFD sessions of both ends of a link toward each other (by the peer's address).
    const bfdOf = (x: Member, y: Member) => {
      const sides = [
        ...bfdSides(bfdRows, x.kind, x.targetId).filter((b) => y.ips.includes(b.peerIp)),
        ...bfdSides(bfdRows, y.kind, y.targetId).filter((b) => x.ips.includes(b.peerIp)),
      ];
      return { state: bfdLinkState(sides), sides };
    };
    const sidesOf = (m: Member) =>
      rows
        .filter((r) => r.kind === m.kind && r.targetId === m.targetId)
        .map((r): SessionSide => ({
          kind: m.kind,
          targetId: m.targetId,
          protocol: r.protocol,
          peerIp: r.peerIp,
          state: r.state,
          info: r.info,
          since: iso(r.since),
        }));
    // A side belongs to a link when its neighbor address is the peer's, or (no address reported) by protocol name.
    const toward = (sides: SessionSide[], peer: Member, prefix: string) =>
      sides.filter((s) => (s.peerIp ? peer.ips.includes(s.peerIp) : s.protocol === birdName(prefix, peer.name)));
    const sessions = [];
    for (const rr of rrs) {
      const sides = [...toward(sidesOf(core), rr, 'bgp '), ...toward(sidesOf(rr), core, 'core_')];
      sessions.push({
        a: { kind: core.kind, id: core.targetId, name: core.name },
        b: { kind: rr.kind, id: rr.targetId, name: rr.name },
        state: linkState(sides),
        sides,
        bfd: bfdOf(core, rr),
      });
    }
    for (const rr of rrs) {
      for (const n of nodeMembers) {
        const sides = [...toward(sidesOf(rr), n, 'node_'), ...toward(sidesOf(n), rr, 'rr_')];
        sessions.push({
          a: { kind: rr.kind, id: rr.targetId, name: rr.name },
          b: { kind: n.kind, id: n.targetId, name: n.name },
          state: linkState(sides),
          sides,
          bfd: bfdOf(rr, n),
        });
      }
    }
    return {
      clusterId: id,
      core: { id: core.targetId, name: core.name, ip: cluster.coreRouter.ip, vendor: cluster.coreRouter.vendor, asn: cluster.coreAsn },
      routeReflectors: cluster.routeReflectors.map((r) => ({ id: rrTargetId(id, r.name), name: r.name, ip: r.ip, asn: cluster.fabricAsn })),
      nodes: nodes.filter((n) => n.status !== 'left').map(this.read.node),
      sessions,
    };
  }

  /** Desired vs applied generation per router, RR and node; `drift` when they differ or the last apply failed. */
  @Get(':id/targets')
  async targets(@Param('id', uuid) id: string) {
    const { core, rrs, nodeMembers } = await this.members(id);
    const all = [core, ...rrs, ...nodeMembers];
    const rows = await this.ds.getRepository(AgentTargetRow).find({ where: { targetId: In(all.map((m) => m.targetId)) } });
    return all.map((m) => {
      const t = rows.find((r) => r.kind === m.kind && r.targetId === m.targetId);
      const desired = t?.desiredGeneration ?? 0;
      const applied = t?.appliedGeneration ?? 0;
      return {
        kind: m.kind,
        targetId: m.targetId,
        name: m.name,
        desiredGeneration: desired,
        appliedGeneration: applied,
        drift: desired !== applied || !!t?.lastError || !!t?.renderError,
        renderError: t?.renderError ?? null,
        desiredHash: t?.desiredHash ?? null,
        appliedHash: t?.appliedHash ?? null,
        appliedAt: iso(t?.appliedAt),
        lastChanges: t?.lastChanges ?? null,
        lastDurationMs: t?.lastDurationMs ?? null,
        lastError: t?.lastError ?? null,
        routes: t?.routeCount ?? 0,
      };
    });
  }

  /** Versions of the core router config, newest first (fetch one with GET :id/router/config?version=). */
  @Get(':id/router/configs')
  async routerConfigs(@Param('id', uuid) id: string) {
    await this.members(id);
    const rows = await this.ds.getRepository(RouterConfigRow).find({ where: { clusterId: id }, order: { version: 'DESC' } });
    return rows.map((r) => ({
      version: r.version,
      hash: r.hash,
      formats: Object.keys(r.configs).sort(),
      createdAt: iso(r.createdAt),
      ...(r.rollbackOf !== null ? { rollbackOf: r.rollbackOf } : {}),
    }));
  }
}
