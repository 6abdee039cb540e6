/** ipam: networks, pools and one address per VM; allocates on VmCreated, releases after a cool-down. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { EventStore, JetStreamServer, Nats } from '@fabric/eventstore';
import { setupTelemetry } from '@fabric/telemetry';
import { PinoNestLogger, runService } from '@fabric/service-kit';
import { IpamModule } from './app/ipam.module';

export async function startIpam(opts: { ns?: string; cooldownMs?: number } = {}) {
  await setupTelemetry('ipam');
  const nats = await Nats.connect({ name: 'ipam', ns: opts.ns });
  await nats.ensureStreams();
  const store = new EventStore(nats);
  const app = await NestFactory.createMicroservice(
    IpamModule.forStore(store, { releaseCooldownMs: opts.cooldownMs ?? Number(process.env.IPAM_RELEASE_COOLDOWN_MS ?? 60_000) }),
    {
      strategy: new JetStreamServer(store, { durable: 'ipam', filterSubject: store.subjects.evtAll('vm'), maxDeliver: 10, ackWaitMs: 30_000 }),
      logger: new PinoNestLogger('ipam'),
    },
  );
  await app.listen();
  return {
    app,
    nats,
    async close() {
      await app.close();
      await nats.close();
    },
  };
}

if (require.main === module) runService('ipam', () => startIpam());
