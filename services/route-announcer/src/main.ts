/** route-announcer: per-node desired state (VM routes, BIRD config) and make-before-break completion. */
import 'reflect-metadata';
import { startDeriverService } from '@fabric/derivers';
import { runService } from '@fabric/service-kit';
import { RouteAnnouncer, type RouteAnnouncerOptions, nodeFlushIntervalFromEnv, protocolNumberFromEnv } from './app/route-announcer';

export async function startRouteAnnouncer(opts: { ns?: string } & RouteAnnouncerOptions = {}) {
  const { ns, ...options } = opts;
  const s = await startDeriverService('route-announcer', ns, RouteAnnouncer, (store, log) => {
    const minIntervalMs = nodeFlushIntervalFromEnv();
    return new RouteAnnouncer(store, { log, protocolNumber: protocolNumberFromEnv(), ...(minIntervalMs ? { flush: { minIntervalMs } } : {}), ...options });
  });
  return { ...s, announcer: s.deriver };
}

if (require.main === module) runService('route-announcer', () => startRouteAnnouncer());
