/** inventory: owns clusters, nodes and VMs (deciders), answers commands over NATS. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { EventStore, Nats } from '@fabric/eventstore';
import { setupTelemetry } from '@fabric/telemetry';
import { PinoNestLogger, runService } from '@fabric/service-kit';
import { InventoryModule } from './app/inventory.module';

export async function startInventory(opts: { ns?: string } = {}) {
  await setupTelemetry('inventory');
  const nats = await Nats.connect({ name: 'inventory', ns: opts.ns });
  await nats.ensureStreams();
  const app = await NestFactory.createApplicationContext(InventoryModule.forStore(new EventStore(nats)), { logger: new PinoNestLogger('inventory') });
  app.enableShutdownHooks();
  return {
    app,
    async close() {
      await app.close();
      await nats.close();
    },
  };
}

if (require.main === module) runService('inventory', () => startInventory());
