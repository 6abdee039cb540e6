/** router-config: versioned Junos/FRR core router config per cluster; FRR cores get it as a desired state. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { EventStore, Nats } from '@fabric/eventstore';
import { setupTelemetry } from '@fabric/telemetry';
import { PinoNestLogger, runService } from '@fabric/service-kit';
import { RouterConfigModule } from './app/router-config.module';
import { RouterConfigOptions, RouterConfigService } from './app/router-config';

export async function startRouterConfig(opts: { ns?: string } & RouterConfigOptions = {}) {
  await setupTelemetry('router-config');
  const { ns, ...options } = opts;
  const nats = await Nats.connect({ name: 'router-config', ns });
  await nats.ensureStreams();
  const store = new EventStore(nats);
  const app = await NestFactory.createApplicationContext(RouterConfigModule.forStore(store, options), { logger: new PinoNestLogger('router-config') });
  const close = async () => {
    await app.close();
    await nats.close();
  };
  return { app, nats, routerConfig: app.get(RouterConfigService), close };
}

if (require.main === module) runService('router-config', () => startRouterConfig());
