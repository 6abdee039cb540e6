import { Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { EventStore } from '@fabric/eventstore';
import { RouteAnnouncer, RouteAnnouncerOptions } from './route-announcer';

class RouteAnnouncerRuntime implements OnModuleInit, OnApplicationShutdown {
  constructor(private readonly app: RouteAnnouncer) {}
  onModuleInit() {
    return this.app.start();
  }
  onApplicationShutdown() {
    return this.app.stop();
  }
}

@Module({})
export class RouteAnnouncerModule {
  static forStore(store: EventStore, opts: RouteAnnouncerOptions = {}) {
    const log = new Logger('route-announcer');
    const app = new RouteAnnouncer(store, { log: (level, msg, x) => log[level === 'info' ? 'log' : level](`${msg} ${JSON.stringify(x ?? {})}`), ...opts });
    return {
      module: RouteAnnouncerModule,
      providers: [
        { provide: RouteAnnouncer, useValue: app },
        { provide: RouteAnnouncerRuntime, useFactory: () => new RouteAnnouncerRuntime(app) },
      ],
      exports: [RouteAnnouncer],
    };
  }
}
