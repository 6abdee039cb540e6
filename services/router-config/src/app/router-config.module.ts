import { Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { EventStore } from '@fabric/eventstore';
import { RouterConfigOptions, RouterConfigService } from './router-config';

class RouterConfigRuntime implements OnModuleInit, OnApplicationShutdown {
  constructor(private readonly app: RouterConfigService) {}
  onModuleInit() {
    return this.app.start();
  }
  onApplicationShutdown() {
    return this.app.stop();
  }
}

@Module({})
export class RouterConfigModule {
  static forStore(store: EventStore, opts: RouterConfigOptions = {}) {
    const log = new Logger('router-config');
    const app = new RouterConfigService(store, { log: (level, msg, x) => log[level === 'info' ? 'log' : level](`${msg} ${JSON.stringify(x ?? {})}`), ...opts });
    return {
      module: RouterConfigModule,
      providers: [
        { provide: RouterConfigService, useValue: app },
        { provide: RouterConfigRuntime, useFactory: () => new RouterConfigRuntime(app) },
      ],
      exports: [RouterConfigService],
    };
  }
}
