/**
 * The one bootstrap of the three deriver services (route-announcer, rr-config, router-config): tracing, a NATS
 * connection with the streams ensured, the event store, and a Nest application context that starts the deriver on
 * init and stops it on shutdown. Each service's main.ts only says how to build its deriver.
 */
import { Logger, Module, type DynamicModule, type INestApplicationContext, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventStore, Nats } from '@fabric/eventstore';
import { PinoNestLogger } from '@fabric/service-kit';
import { setupTelemetry } from '@fabric/telemetry';
import type { LogFn } from './tailed-deriver';

export interface StartStop {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface DeriverService<T> {
  app: INestApplicationContext;
  nats: Nats;
  deriver: T;
  close(): Promise<void>;
}

@Module({})
export class DeriverModule {
  /** `token` is what `app.get()` returns the deriver by (its class). */
  static forDeriver<T extends StartStop>(token: abstract new (...args: never[]) => T, deriver: T): DynamicModule {
    class DeriverRuntime implements OnModuleInit, OnApplicationShutdown {
      onModuleInit() {
        return deriver.start();
      }
      onApplicationShutdown() {
        return deriver.stop();
      }
    }
    return {
      module: DeriverModule,
      providers: [
        { provide: token, useValue: deriver },
        { provide: DeriverRuntime, useFactory: () => new DeriverRuntime() },
      ],
      exports: [token],
    };
  }
}

export async function startDeriverService<T extends StartStop>(
  name: string,
  ns: string | undefined,
  token: abstract new (...args: never[]) => T,
  create: (store: EventStore, log: LogFn) => T,
): Promise<DeriverService<T>> {
  await setupTelemetry(name);
  const nats = await Nats.connect({ name, ns });
  await nats.ensureStreams();
  const store = new EventStore(nats);
  const logger = new Logger(name);
  const log: LogFn = (level, msg, x) => logger[level === 'info' ? 'log' : level](`${msg} ${JSON.stringify(x ?? {})}`);
  const deriver = create(store, log);
  const app = await NestFactory.createApplicationContext(DeriverModule.forDeriver(token, deriver), { logger: new PinoNestLogger(name) });
  const close = async () => {
    await app.close();
    await nats.close();
  };
  return { app, nats, deriver, close };
}
