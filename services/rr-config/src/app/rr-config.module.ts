import { Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { EventStore } from '@fabric/eventstore';
import { RrConfig, RrConfigOptions } from './rr-config';

class RrConfigRuntime implements OnModuleInit, OnApplicationShutdown {
  constructor(private readonly app: RrConfig) {}
  onModuleInit() {
    return this.app.start();
  }
  onApplicationShutdown() {
    return this.app.stop();
  }
}

@Module({})
export class RrConfigModule {
  static forStore(store: EventStore, opts: RrConfigOptions = {}) {
    const log = new Logger('rr-config');
    const app = new RrConfig(store, { log: (level, msg, x) => log[level === 'info' ? 'log' : level](`${msg} ${JSON.stringify(x ?? {})}`), ...opts });
    return {
      module: RrConfigModule,
      providers: [
        { provide: RrConfig, useValue: app },
        { provide: RrConfigRuntime, useFactory: () => new RrConfigRuntime(app) },
      ],
      exports: [RrConfig],
    };
  }
}
