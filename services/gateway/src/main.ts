/** gateway: the HTTP API (commands → inventory/IPAM over NATS, reads from the Postgres read model it projects). */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { EventStore, Nats } from '@fabric/eventstore';
import { openDatabase, ProjectionRunner } from '@fabric/projections';
import { setupTelemetry } from '@fabric/telemetry';
import { GatewayModule } from './gateway.module';
import { ApiErrorFilter } from './http/errors';
import { apiValidationPipe, StrictRequestInterceptor } from './http/validation';
import { Reflector } from '@nestjs/core';
import { httpLimits, type HttpLimits, securityHeaders } from './http/limits';
import { HttpTracingInterceptor } from './http/tracing.interceptor';
import { serveDashboard } from './http/dashboard-static';
import path from 'node:path';
import { createLogger, logFn, PinoNestLogger, runService } from '@fabric/service-kit';
import { TokenStore } from './auth/tokens';
import { setupApiDocs } from './http/api-docs';
import { mountMetrics, projectionHooks, registerGatewayMetrics } from './metrics';
import { bmpGraceMsFromEnv } from './read/bmp-monitor';

export interface GatewayOptions {
  ns?: string;
  databaseUrl?: string;
  schema?: string;
  port?: number;
  host?: string;
  /** Admin API token to register at start (tests); default env FABRIC_ADMIN_TOKEN, else one is generated once. */
  adminToken?: string;
  /** Where a generated first admin token is written (default env FABRIC_DATA_DIR or <repo>/.data). */
  dataDir?: string;
  /** Built dashboard to serve at `/` (default env DASHBOARD_DIST or dashboard/dist). */
  dashboardDir?: string;
  /** Limits on abuse (tests lower them); defaults from the environment, see README. */
  limits?: Partial<HttpLimits>;
  /** Grace before a BMP/agent disagreement is reported (default env FABRIC_BMP_DISAGREEMENT_GRACE_MS, else 30 s). */
  bmpGraceMs?: number;
  /** How long a verified API token is trusted without a lookup (default env FABRIC_TOKEN_CACHE_MS, else 5 s). */
  tokenCacheMs?: number;
}

export async function startGateway(opts: GatewayOptions = {}) {
  await setupTelemetry('gateway');
  const log = createLogger('gateway');
  const nats = await Nats.connect({ name: 'gateway', ns: opts.ns });
  await nats.ensureStreams();
  const store = new EventStore(nats);
  const ds = await openDatabase({ url: opts.databaseUrl, schema: opts.schema });
  const runner = new ProjectionRunner(store, ds, { log: logFn(log), ...projectionHooks('projection:read-model') });
  await runner.start();
  // The agents' observations (routes, sessions) have their own stream and checkpoint (docs/adr/observations-stream.md).
  const observations = new ProjectionRunner(store, ds, { stream: 'observations', log: logFn(log), ...projectionHooks('projection:read-model:observations') });
  await observations.start();
  const limits = httpLimits(opts.limits);
  const app = await NestFactory.create<NestExpressApplication>(
    GatewayModule.with({ store, ds, runner, limits, bmpGraceMs: opts.bmpGraceMs ?? bmpGraceMsFromEnv(), tokenCacheMs: opts.tokenCacheMs }),
    {
      logger: new PinoNestLogger(log, ['fatal', 'error', 'warn']),
      bodyParser: false,
    },
  );
  securityHeaders(app);
  // JSON only; a larger body is a 413 before anything parses it.
  app.useBodyParser('json', { limit: limits.bodyBytes });
  app.setGlobalPrefix('api/v1');
  app.useGlobalPipes(apiValidationPipe());
  app.useGlobalFilters(new ApiErrorFilter(log));
  app.useGlobalInterceptors(new HttpTracingInterceptor(), new StrictRequestInterceptor(app.get(Reflector)));
  app.enableShutdownHooks();
  await app.get(TokenStore).bootstrapAdmin({
    token: opts.adminToken ?? process.env.FABRIC_ADMIN_TOKEN,
    dataDir: opts.dataDir ?? process.env.FABRIC_DATA_DIR ?? path.resolve(__dirname, '../../..', '.data'),
    log,
  });
  const unregisterMetrics = registerGatewayMetrics(ds, store, runner);
  mountMetrics(app.getHttpAdapter().getInstance());
  setupApiDocs(app);
  serveDashboard(app, opts.dashboardDir);
  const port = opts.port ?? Number(process.env.GATEWAY_PORT ?? process.env.PORT ?? 8080);
  await app.listen(port, opts.host ?? process.env.GATEWAY_HOST ?? '127.0.0.1');
  const url = await app.getUrl();
  return {
    app,
    url: url.replace('[::1]', '127.0.0.1'),
    runner,
    observations,
    store,
    async close() {
      unregisterMetrics();
      await observations.stop();
      await app.close();
      // A second SIGTERM (or a test closing twice) must not throw.
      if (ds.isInitialized) await ds.destroy();
      await nats.close();
    },
  };
}

if (require.main === module) {
  runService(
    'gateway',
    () => startGateway(),
    (g) => createLogger('gateway').info({ url: `${g.url}/api/v1`, docs: `${g.url}/api/docs`, metrics: `${g.url}/metrics` }, 'gateway listening'),
  );
}
