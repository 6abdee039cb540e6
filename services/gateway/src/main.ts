/** gateway: the HTTP API (commands → inventory/IPAM over NATS, reads from the Postgres read model it projects). */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { EventStore, Nats } from '@fabric/eventstore';
import { openDatabase, ProjectionRunner } from '@fabric/projections';
import { setupTelemetry } from '@fabric/telemetry';
import { GatewayModule } from './gateway.module';
import { ApiErrorFilter } from './http/errors';
import { apiValidationPipe } from './http/validation';
import { HttpTracingInterceptor } from './http/tracing.interceptor';

export interface GatewayOptions {
  ns?: string;
  databaseUrl?: string;
  schema?: string;
  port?: number;
  host?: string;
}

export async function startGateway(opts: GatewayOptions = {}) {
  await setupTelemetry('gateway');
  const nats = await Nats.connect({ name: 'gateway', ns: opts.ns });
  await nats.ensureStreams();
  const store = new EventStore(nats);
  const ds = await openDatabase({ url: opts.databaseUrl, schema: opts.schema });
  const runner = new ProjectionRunner(store, ds, { log: (m, x) => console.warn(m, x) });
  await runner.start();
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule.with({ store, ds, runner }), { logger: ['error', 'warn'] });
  app.setGlobalPrefix('api/v1');
  app.useGlobalPipes(apiValidationPipe());
  app.useGlobalFilters(new ApiErrorFilter());
  app.useGlobalInterceptors(new HttpTracingInterceptor());
  app.enableShutdownHooks();
  const port = opts.port ?? Number(process.env.GATEWAY_PORT ?? process.env.PORT ?? 8080);
  await app.listen(port, opts.host ?? process.env.GATEWAY_HOST ?? '127.0.0.1');
  const url = await app.getUrl();
  return {
    app,
    url: url.replace('[::1]', '127.0.0.1'),
    runner,
    store,
    async close() {
      await app.close();
      await ds.destroy();
      await nats.close();
    },
  };
}

if (require.main === module) {
  void startGateway()
    .then((g) => {
      console.log(JSON.stringify({ msg: 'gateway listening', url: `${g.url}/api/v1` }));
      process.on('SIGTERM', () => void g.close().then(() => process.exit(0)));
    })
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
