/** route-announcer: per-node desired state (VM routes, BIRD config) and make-before-break completion. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { EventStore, Nats } from '@fabric/eventstore';
import { setupTelemetry } from '@fabric/telemetry';
import { PinoNestLogger, runService } from '@fabric/service-kit';
import { RouteAnnouncerModule } from './app/route-announcer.module';
import { RouteAnnouncer, RouteAnnouncerOptions, protocolNumberFromEnv } from './app/route-announcer';

export async function startRouteAnnouncer(opts: { ns?: string } & RouteAnnouncerOptions = {}) {
  await setupTelemetry('route-announcer');
  const { ns, ...options } = opts;
  const nats = await Nats.connect({ name: 'route-announcer', ns });
  await nats.ensureStreams();
  const store = new EventStore(nats);
  const app = await NestFactory.createApplicationContext(
    RouteAnnouncerModule.forStore(store, { protocolNumber: protocolNumberFromEnv(), ...options }),
    { logger: new PinoNestLogger('route-announcer') },
  );
  const close = async () => {
    await app.close();
    await nats.close();
  };
  return { app, nats, announcer: app.get(RouteAnnouncer), close };
}

if (require.main === module) runService('route-announcer', () => startRouteAnnouncer());
