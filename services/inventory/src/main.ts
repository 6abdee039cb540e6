/** inventory: owns clusters, nodes and VMs (deciders), answers commands over NATS. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { EventStore, Nats } from '@fabric/eventstore';
import { setupTelemetry } from '@fabric/telemetry';
import { InventoryModule } from './app/inventory.module';

async function main() {
  await setupTelemetry('inventory');
  const nats = await Nats.connect({ name: 'inventory' });
  await nats.ensureStreams();
  const app = await NestFactory.createApplicationContext(InventoryModule.forStore(new EventStore(nats)));
  app.enableShutdownHooks();
  process.on('SIGTERM', () => void app.close().then(() => nats.close()));
}
void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
