import { Inject, Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { INVENTORY_COMMANDS } from '@fabric/contracts';
import { EventStore, EventTail, RpcServer } from '@fabric/eventstore';
import { Evacuator } from './evacuator';
import { InventoryCommands } from './inventory-commands';

export const EVENT_STORE = Symbol('EVENT_STORE');

/** Thin shell: wires the command handlers to NATS request/reply and keeps the index fed. */
@Module({})
export class InventoryModule implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('inventory');
  private rpc?: RpcServer;
  private tail?: EventTail;
  readonly commands: InventoryCommands;
  readonly evacuator: Evacuator;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {
    this.commands = new InventoryCommands(store);
    // How many migrations away from one evacuated node run at once (each is a make-before-break move).
    const limit = Number(process.env.EVACUATION_CONCURRENCY ?? 4);
    this.evacuator = new Evacuator(this.commands.index, this.commands.evacuationActions(), Number.isInteger(limit) && limit > 0 ? limit : 4, (m, x) => this.log.warn(`${m} ${JSON.stringify(x)}`));
  }

  static forStore(store: EventStore) {
    return { module: InventoryModule, providers: [{ provide: EVENT_STORE, useValue: store }], exports: [] };
  }

  async onModuleInit(): Promise<void> {
    const s = this.store.subjects;
    this.tail = new EventTail(this.store, s.evtAll(), (e) => this.commands.index.apply(e), 0, (m, x) => this.log.error(`${m} ${JSON.stringify(x)}`), 'inventory-index');
    await this.tail.start();
    await this.tail.ready;
    this.rpc = new RpcServer(this.store.nats, 'inventory', INVENTORY_COMMANDS as never, this.commands.handlers(), (m, x) => this.log.error(`${m} ${JSON.stringify(x)}`));
    this.rpc.start();
    this.evacuator.start();
    this.log.log(`inventory ready at position ${this.tail.position}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.evacuator.stop();
    await this.rpc?.stop();
    await this.tail?.stop();
  }
}
