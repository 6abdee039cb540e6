/**
 * Floating addresses as the API shows them: the `floating_addresses` row with its route status from the observed
 * routes (`at-core`: the core holds it, `announced`: an RR does, `none`), and the next hops the core shows (two
 * during a move, once the new node announces).
 */
import { type DataSource, In } from 'typeorm';
import { FloatingAddressRow, ObservedRouteRow } from '@fabric/projections';

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

export interface FloatingAddressView {
  id: string;
  clusterId: string;
  ownerId: string;
  ip: string;
  family: number;
  status: FloatingAddressRow['status'];
  vmId: string | null;
  fromVmId: string | null;
  route: 'at-core' | 'announced' | 'none';
  coreNextHops: string[];
  allocatedAt: string | null;
  releaseAt: string | null;
}

export async function floatingAddresses(
  ds: DataSource,
  where: { id?: string; ownerId?: string; clusterId?: string; vmId?: string },
): Promise<FloatingAddressView[]> {
  const repo = ds.getRepository(FloatingAddressRow);
  const rows = where.vmId
    ? await repo.find({ where: [{ vmId: where.vmId }, { fromVmId: where.vmId }], order: { allocatedSeq: 'ASC' } })
    : await repo.find({
        where: {
          ...(where.id ? { id: where.id } : {}),
          ...(where.ownerId ? { ownerId: where.ownerId } : {}),
          ...(where.clusterId ? { clusterId: where.clusterId } : {}),
        },
        order: { allocatedSeq: 'ASC' },
      });
  const ips = rows.map((r) => r.ip);
  const routes = ips.length ? await ds.getRepository(ObservedRouteRow).find({ where: { ip: In(ips), stale: false } }) : [];
  return rows.map((r) => {
    const core = routes.filter((x) => x.ip === r.ip && (x.kind === 'router' || x.kind === 'router-bmp') && x.targetId === r.clusterId);
    const onRr = routes.some((x) => x.ip === r.ip && x.kind === 'rr' && x.targetId.startsWith(r.clusterId));
    return {
      id: r.id,
      clusterId: r.clusterId,
      ownerId: r.ownerId,
      ip: r.ip,
      family: r.family,
      status: r.status,
      vmId: r.vmId,
      fromVmId: r.fromVmId,
      route: core.length ? 'at-core' : onRr ? 'announced' : 'none',
      coreNextHops: [...new Set(core.map((x) => x.nextHop).filter(Boolean))].sort(),
      allocatedAt: iso(r.allocatedAt),
      releaseAt: iso(r.releaseAt),
    };
  });
}
