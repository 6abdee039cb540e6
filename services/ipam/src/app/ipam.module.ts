import { Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { IPAM_COMMANDS } from '@fabric/contracts';
import { EventStore, IPAM_SNAPSHOT_LEASE, LeaderElection, RpcServer, SnapshotStore, Snapshotter } from '@fabric/eventstore';
import { snapshotReplayed } from '@fabric/service-kit';
import { IpamController } from './ipam.controller';
import { IpamService, IpamSettings } from './ipam-service';

export class IpamRuntime implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('ipam');
  private rpc?: RpcServer<typeof IPAM_COMMANDS>;
  private timer?: NodeJS.Timeout;
  private snapshotTimer?: NodeJS.Timeout;
  /** IPAM serves from every instance; the holder of this lease writes the snapshots. */
  private election?: LeaderElection;
  readonly snapshots: Snapshotter;
  /** IPAM events folded at start (after the snapshot, or all). */
  replayed = 0;

  constructor(
    private readonly store: EventStore,
    private readonly ipam: IpamService,
  ) {
    const slog = (level: 'info' | 'warn' | 'error', m: string, x?: Record<string, unknown>) =>
      this.log[level === 'info' ? 'log' : level](`${m} ${JSON.stringify(x ?? {})}`);
    this.snapshots = new Snapshotter(
      new SnapshotStore(store.nats.nc, store.subjects, 'ipam', slog),
      'aggregates',
      IpamService.SNAPSHOT_SCHEMA,
      () => this.ipam.snapshotSeq,
      () => ({ seq: this.ipam.snapshotSeq, data: this.ipam.snapshot() }),
      undefined,
      slog,
    );
  }

  /** Catches the known clusters up, then writes a snapshot when due (the lease holder only). */
  private async snapshotIfDue(force = false): Promise<void> {
    if (!this.election?.leader) return;
    await this.ipam.discoverClusters();
    await (force ? this.snapshots.write() : this.snapshots.maybe());
  }

  async onModuleInit() {
    const loaded = await this.snapshots.load(await this.store.headSeq());
    if (loaded) {
      try {
        this.ipam.restore(loaded.data);
      } catch (err) {
        this.log.error(`snapshot not restorable, replaying from sequence 1: ${err}`);
      }
    }
    await this.ipam.discoverClusters();
    this.replayed = this.ipam.lastDiscovered;
    snapshotReplayed.set({ service: 'ipam', model: 'aggregates' }, this.replayed);
    this.log.log(`ready: ${this.replayed} IPAM events folded after position ${loaded?.head.seq ?? 0}`);
    this.rpc = new RpcServer(this.store.nats, 'ipam', IPAM_COMMANDS, this.ipam.handlers(), (m, x) => this.log.error(`${m} ${JSON.stringify(x)}`));
    this.rpc.start();
    const tick = Number(process.env.IPAM_RELEASE_TICK_MS ?? 1000);
    this.timer = setInterval(() => void this.ipam.releaseTick().catch((err) => this.log.warn(`release tick: ${err}`)), tick);
    if (this.snapshots.policy.enabled) {
      this.election = new LeaderElection(this.store.nats.nc, this.store.subjects.ns, IPAM_SNAPSHOT_LEASE, {
        elected: async () => undefined,
        deposed: async () => undefined,
        log: (level, m, x) => this.log[level === 'info' ? 'log' : 'warn'](`${m} ${JSON.stringify(x ?? {})}`),
      });
      await this.election.start();
      const every = Math.max(1000, Math.min(this.snapshots.policy.everyMs, 10_000));
      this.snapshotTimer = setInterval(() => void this.snapshotIfDue().catch((err) => this.log.warn(`snapshot: ${err}`)), every);
    }
  }

  /** Writes a snapshot now if this instance holds the snapshot lease (tests, graceful stop). */
  writeSnapshot(): Promise<void> {
    return this.snapshotIfDue(true);
  }

  async onApplicationShutdown() {
    clearInterval(this.timer);
    clearInterval(this.snapshotTimer);
    await this.rpc?.stop();
    await this.snapshotIfDue(true).catch((err) => this.log.warn(`snapshot at stop: ${err}`));
    await this.election?.stop();
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
