import { Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { IPAM_COMMANDS } from '@fabric/contracts';
import { EventStore, RpcServer } from '@fabric/eventstore';
import { IpamController } from './ipam.controller';
import { IpamService, IpamSettings } from './ipam-service';

class IpamRuntime implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('ipam');
  private rpc?: RpcServer<typeof IPAM_COMMANDS>;
  private timer?: NodeJS.Timeout;
  constructor(
    private readonly store: EventStore,
    private readonly ipam: IpamService,
  ) {}

  async onModuleInit() {
    await this.ipam.discoverClusters();
    this.rpc = new RpcServer(this.store.nats, 'ipam', IPAM_COMMANDS, this.ipam.handlers(), (m, x) => this.log.error(`${m} ${JSON.stringify(x)}`));
    this.rpc.start();
    const tick = Number(process.env.IPAM_RELEASE_TICK_MS ?? 1000);
    this.timer = setInterval(() => void this.ipam.releaseTick().catch((err) => this.log.warn(`release tick: ${err}`)), tick);
  }

  async onApplicationShutdown() {
    clearInterval(this.timer);
    await this.rpc?.stop();
  }
}

@Module({})
export class IpamModule {
  static forStore(store: EventStore, settings: IpamSettings) {
    const ipam = new IpamService(store, settings);
    return {
      module: IpamModule,
      controllers: [IpamController],
      providers: [
        { provide: IpamService, useValue: ipam },
        { provide: IpamRuntime, useFactory: () => new IpamRuntime(store, ipam) },
      ],
    };
  }
}
