/** ipam: networks, pools and one address per VM; allocates on VmCreated, releases after a cool-down. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { EventStore, JetStreamServer, Nats } from '@fabric/eventstore';
import { setupTelemetry } from '@fabric/telemetry';
import { PinoNestLogger, runService } from '@fabric/service-kit';
import { DEFAULT_NETWORK_POLICY, type NetworkPolicy } from '@fabric/ipam-math';
import { IpamModule } from './app/ipam.module';

/** IPAM_MIN_PREFIX_V4 / _V6: the widest network accepted (defaults /16 and /32). */
export function networkPolicyFromEnv(env = process.env): NetworkPolicy {
  const int = (v: string | undefined, max: number, fallback: number) =>
    v !== undefined && /^\d{1,3}$/.test(v) && Number(v) >= 1 && Number(v) <= max ? Number(v) : fallback;
  return {
    minPrefixLength: {
      4: int(env.IPAM_MIN_PREFIX_V4, 32, DEFAULT_NETWORK_POLICY.minPrefixLength[4]),
      6: int(env.IPAM_MIN_PREFIX_V6, 128, DEFAULT_NETWORK_POLICY.minPrefixLength[6]),
    },
  };
}

export async function startIpam(opts: { ns?: string; cooldownMs?: number; networkPolicy?: NetworkPolicy } = {}) {
  await setupTelemetry('ipam');
  const nats = await Nats.connect({ name: 'ipam', ns: opts.ns });
  await nats.ensureStreams();
  const store = new EventStore(nats);
  const app = await NestFactory.createMicroservice(
    IpamModule.forStore(store, {
      releaseCooldownMs: opts.cooldownMs ?? Number(process.env.IPAM_RELEASE_COOLDOWN_MS ?? 60_000),
      networkPolicy: opts.networkPolicy ?? networkPolicyFromEnv(),
    }),
    {
      // Ack wait 10 s and 16 messages taken at a time: what a killed IPAM had taken but not acknowledged is
      // redelivered to the next instance within seconds (a slow handler reports progress, stream-reader.ts).
      strategy: new JetStreamServer(store, { durable: 'ipam', filterSubject: store.subjects.evtAll('vm'), maxDeliver: 10, ackWaitMs: 10_000, batch: 16 }),
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
