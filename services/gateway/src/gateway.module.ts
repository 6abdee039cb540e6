import { Module, OnApplicationShutdown, Inject } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { EventStore, RpcClient } from '@fabric/eventstore';
import type { ReadModelPosition } from '@fabric/projections';
import { CommandBus } from './http/command-bus';
import { DryRun } from './http/dry-run';
import { ClustersController, NodesController } from './http/clusters.controller';
import { VmsController } from './http/vms.controller';
import { HealthController } from './http/health.controller';
import { DashboardController } from './http/dashboard.controller';
import { ReadModel } from './read/read-model';
import { BillingController } from './billing/billing.controller';
import { BMP_GRACE_MS, DATA_SOURCE, EVENT_STORE, PROJECTION_RUNNER, RPC_CLIENT } from './tokens';
import { BmpDisagreementMonitor } from './read/bmp-monitor';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { AuthGuard } from './auth/auth.guard';
import { TokenStore } from './auth/tokens';
import { TokensController } from './auth/tokens.controller';
import { EventsController } from './http/events.controller';
import { GuestNetworkController } from './http/guest-network.controller';
import { AuditController } from './http/audit.controller';
import { PrivateNetworksController, VmPrivateNetworksController } from './http/private-networks.controller';
import { FloatingAddressesController } from './http/floating-addresses.controller';
import { MinPositionInterceptor } from './http/min-position.interceptor';
import { HTTP_LIMITS, HttpLimits } from './http/limits';

export interface GatewayDeps {
  store: EventStore;
  ds: DataSource;
  runner: ReadModelPosition;
  limits: HttpLimits;
  bmpGraceMs: number;
  tokenCacheMs?: number;
}

class Shutdown implements OnApplicationShutdown {
  constructor(@Inject(PROJECTION_RUNNER) private readonly runner: ReadModelPosition) {}
  async onApplicationShutdown() {
    await this.runner.stop();
  }
}

@Module({})
export class GatewayModule {
  static with(deps: GatewayDeps) {
    return {
      module: GatewayModule,
      controllers: [
        ClustersController,
        NodesController,
        VmsController,
        HealthController,
        DashboardController,
        BillingController,
        TokensController,
        EventsController,
        GuestNetworkController,
        AuditController,
        PrivateNetworksController,
        VmPrivateNetworksController,
        FloatingAddressesController,
      ],
      providers: [
        { provide: EVENT_STORE, useValue: deps.store },
        { provide: DATA_SOURCE, useValue: deps.ds },
        { provide: PROJECTION_RUNNER, useValue: deps.runner },
        { provide: HTTP_LIMITS, useValue: deps.limits },
        { provide: RPC_CLIENT, useValue: new RpcClient(deps.store.nats) },
        CommandBus,
        DryRun,
        ReadModel,
        { provide: BMP_GRACE_MS, useValue: deps.bmpGraceMs },
        BmpDisagreementMonitor,
        Shutdown,
        { provide: TokenStore, useValue: new TokenStore(deps.ds, { cacheMs: deps.tokenCacheMs }) },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_INTERCEPTOR, useClass: MinPositionInterceptor },
      ],
    };
  }
}
