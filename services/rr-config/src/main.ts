/** rr-config: BIRD config of every route reflector (nodes as rr clients, per-node prefix filters, pools to the core). */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { EventStore, Nats } from '@fabric/eventstore';
import { setupTelemetry } from '@fabric/telemetry';
import { PinoNestLogger, runService } from '@fabric/service-kit';
import { RrConfigModule } from './app/rr-config.module';
import { RrConfig, RrConfigOptions } from './app/rr-config';

export async function startRrConfig(opts: { ns?: string } & RrConfigOptions = {}) {
  await setupTelemetry('rr-config');
  const { ns, ...options } = opts;
  const nats = await Nats.connect({ name: 'rr-config', ns });
  await nats.ensureStreams();
  const store = new EventStore(nats);
  const app = await NestFactory.createApplicationContext(RrConfigModule.forStore(store, options), { logger: new PinoNestLogger('rr-config') });
  const close = async () => {
    await app.close();
    await nats.close();
  };
  return { app, nats, rrConfig: app.get(RrConfig), close };
}

if (require.main === module) runService('rr-config', () => startRrConfig());
