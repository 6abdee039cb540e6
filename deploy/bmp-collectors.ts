/**
 * One supervised BMP collector per cluster whose core has a BMP station (PATCH /clusters/:id/bgp bmpStation),
 * each with its own `bmp` NATS identity: the collector listens on the station's address and port and accepts the
 * core router's address only. Synced by `npm start` and `npm run bmp-sync` (the setting takes effect on the next
 * of either: docs/operations/bmp.md).
 */
import path from 'node:path';
import { isIp, UUID_PATTERN } from '@fabric/contracts';

export const BMP_PROGRAM_PREFIX = 'bmp-';

/** What the collectors need of GET /clusters. */
export interface BmpClusterView {
  id: string;
  coreRouter: { ip: string };
  bgp: { bmpStation?: { address: string; port: number } };
}
export interface BmpCollectorSpec {
  name: string;
  clusterId: string;
  args: string[];
}

/** The collectors the clusters ask for; a cluster whose values are not what the API validates is skipped (reason in `skipped`). */
export function bmpCollectorPlan(clusters: BmpClusterView[], root: string): { collectors: BmpCollectorSpec[]; skipped: string[] } {
  const collectors: BmpCollectorSpec[] = [];
  const skipped: string[] = [];
  for (const c of clusters) {
    const st = c.bgp?.bmpStation;
    if (!st) continue;
    if (!UUID_PATTERN.test(String(c.id)) || !isIp(st.address) || !isIp(c.coreRouter?.ip) || !Number.isInteger(st.port) || st.port < 1 || st.port > 65535) {
      skipped.push(`cluster ${String(c.id)}: invalid BMP station or core address`);
      continue;
    }
    collectors.push({
      name: `${BMP_PROGRAM_PREFIX}${c.id}`,
      clusterId: c.id,
      args: [
        path.join(root, 'agents', 'src', 'bmp', 'main.ts'),
        '--cluster',
        c.id,
        '--router',
        c.coreRouter.ip,
        '--listen',
        st.address,
        '--port',
        String(st.port),
      ],
    });
  }
  return { collectors, skipped };
}

/** Supervised programs to stop: collectors no cluster asks for any more. */
export function staleCollectors(running: string[], wanted: BmpCollectorSpec[]): string[] {
  const keep = new Set(wanted.map((w) => w.name));
  return running.filter((n) => n.startsWith(BMP_PROGRAM_PREFIX) && !keep.has(n));
}
