/**
 * gateway: the HTTP API (commands → inventory/IPAM over NATS, reads from the Postgres read model). The read model
 * is projected by the projector service (`FABRIC_PROJECTOR=external`, as npm start and systemd run it: the gateway
 * follows its checkpoint) or, by default, in this process (tests, a single-process setup).
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { EventStore, Nats } from '@fabric/eventstore';
import { CheckpointFollower, openDatabase, type ReadModelPosition, type ReadModelRunners, startReadModel } from '@fabric/projections';
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
import { mountMetrics, registerGatewayMetrics } from './metrics';
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
  /**
   * `external`: the projector service projects the read model and this gateway follows its checkpoint (reads
   * wait for it). Default env FABRIC_PROJECTOR, else `in-process`.
   */
  projector?: 'in-process' | 'external';
}

export const projectorMode = (env: NodeJS.ProcessEnv = process.env): 'in-process' | 'external' =>
  env.FABRIC_PROJECTOR === 'external' ? 'external' : 'in-process';

export async function startGateway(opts: GatewayOptions = {}) {
  await setupTelemetry('gateway');
  const log = createLogger('gateway');
  const nats = await Nats.connect({ name: 'gateway', ns: opts.ns });
  await nats.ensureStreams();
  const store = new EventStore(nats);
  const ds = await openDatabase({ url: opts.databaseUrl, schema: opts.schema });
  let readModel: ReadModelRunners | undefined;
  let runner: ReadModelPosition;
  if ((opts.projector ?? projectorMode()) === 'external') {
    const follower = new CheckpointFollower(ds, { log: logFn(log) });
    await follower.start();
    runner = follower;
  } else {
    readModel = await startReadModel(store, ds, { log: logFn(log) });
    runner = readModel.runner;
  }
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
    /** The observations' runner when this gateway projects (in-process). */
    observations: readModel?.observations,
    store,
    async close() {
      unregisterMetrics();
      await readModel?.observations.stop();
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
