import { Inject, Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { INVENTORY_COMMANDS } from '@fabric/contracts';
import { EventStore, EventTail, LeaderElection, RpcServer } from '@fabric/eventstore';
import { pollUntil } from '@fabric/service-kit';
import { Evacuator } from './evacuator';
import { InventoryCommands } from './inventory-commands';

export const EVENT_STORE = Symbol('EVENT_STORE');

/**
 * Thin shell: keeps the index fed, and while this instance is the leader (active-standby, one writer per
 * cluster of instances: libs/eventstore/src/leader.ts) answers commands over NATS and runs the evacuations.
 */
@Module({})
export class InventoryModule implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('inventory');
  private rpc?: RpcServer<typeof INVENTORY_COMMANDS>;
  private tail?: EventTail;
  private election?: LeaderElection;
  readonly commands: InventoryCommands;
  readonly evacuator: Evacuator;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {
    this.commands = new InventoryCommands(store);
    // How many migrations away from one evacuated node run at once (each is a make-before-break move).
    const limit = Number(process.env.EVACUATION_CONCURRENCY ?? 4);
    this.evacuator = new Evacuator(this.commands.index, this.commands.evacuationActions(), Number.isInteger(limit) && limit > 0 ? limit : 4, (m, x) =>
      this.log.warn(`${m} ${JSON.stringify(x)}`),
    );
  }

  static forStore(store: EventStore) {
    return { module: InventoryModule, providers: [{ provide: EVENT_STORE, useValue: store }], exports: [] };
  }

  async onModuleInit(): Promise<void> {
    const s = this.store.subjects;
    this.tail = new EventTail(
      this.store,
      s.evtAll(),
      (e) => this.commands.index.apply(e),
      0,
      (m, x) => this.log.error(`${m} ${JSON.stringify(x)}`),
      'inventory-index',
    );
    await this.tail.start();
    await this.tail.ready;
    this.election = new LeaderElection(this.store.nats.nc, s.ns, 'inventory', {
      elected: () => this.lead(),
      deposed: () => this.standBy(),
      log: (level, m, x) => this.log[level === 'info' ? 'log' : 'warn'](`${m} ${JSON.stringify(x ?? {})}`),
    });
    await this.election.start();
    this.log.log(`inventory ready at position ${this.tail.position} (${this.election.leader ? 'leader' : 'standby'})`);
  }

  /** Leader: catch up with everything the previous leader wrote, then answer commands. */
  private async lead(): Promise<void> {
    const head = await this.store.headSeq();
    await pollUntil(() => this.tail!.position >= head, 60_000, `the index to reach position ${head}`, 20);
    this.rpc = new RpcServer(this.store.nats, 'inventory', INVENTORY_COMMANDS, this.commands.handlers(), (m, x) => this.log.error(`${m} ${JSON.stringify(x)}`));
    this.rpc.start();
    this.evacuator.start();
  }

  private async standBy(): Promise<void> {
    await this.evacuator.stop();
    await this.rpc?.stop();
    this.rpc = undefined;
  }

  /** Whether this instance answers commands now. */
  get leader(): boolean {
    return !!this.election?.leader;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.election?.stop();
    await this.standBy();
    await this.tail?.stop();
  }
}
