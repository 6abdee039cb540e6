/** route-announcer: per-node desired state (VM routes, BIRD config) and make-before-break completion. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { EventStore, Nats } from '@fabric/eventstore';
import { setupTelemetry } from '@fabric/telemetry';
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
    { logger: ['error', 'warn', 'log'] },
  );
  const close = async () => {
    await app.close();
    await nats.close();
  };
  return { app, nats, announcer: app.get(RouteAnnouncer), close };
}

if (require.main === module) {
  void startRouteAnnouncer()
    .then(({ close }) => {
      process.on('SIGTERM', () => void close());
    })
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
