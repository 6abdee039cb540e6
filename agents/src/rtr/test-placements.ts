/** Test helper: writes placements the way rr-config does (key `<clusterId>.<address>.<tag>` in `<NS>_PLACEMENTS`). */
import { Kvm } from '@nats-io/kv';
import { placementKey } from '@fabric/contracts';
import { type Nats, placementsBucket } from '@fabric/eventstore';

export async function setPlacements(
  nats: Nats,
  clusterId: string,
  place: { ip: string; tag: number }[],
  remove: { ip: string; tag: number }[] = [],
): Promise<void> {
  const kv = await new Kvm(nats.nc).open(placementsBucket(nats.subjects));
  for (const p of place) {
    const len = p.ip.includes(':') ? 128 : 32;
    await kv.put(placementKey(clusterId, p.ip, p.tag), JSON.stringify({ prefix: `${p.ip}/${len}`, maxLen: len, originTag: p.tag }));
  }
  // As rr-config does: a delete marker (a purge is a rollup, see services/rr-config/src/app/rr-config.ts).
  for (const p of remove) await kv.delete(placementKey(clusterId, p.ip, p.tag));
}
