import { Inject, Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { INVENTORY_COMMANDS } from '@fabric/contracts';
import { EventStore, EventTail, RpcServer } from '@fabric/eventstore';
import { InventoryCommands } from './inventory-commands';

export const EVENT_STORE = Symbol('EVENT_STORE');

/** Thin shell: wires the command handlers to NATS request/reply and keeps the index fed. */
@Module({})
export class InventoryModule implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('inventory');
  private rpc?: RpcServer<typeof INVENTORY_COMMANDS>;
  private tail?: EventTail;
  readonly commands: InventoryCommands;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {
    this.commands = new InventoryCommands(store);
  }

  static forStore(store: EventStore) {
    return { module: InventoryModule, providers: [{ provide: EVENT_STORE, useValue: store }], exports: [] };
  }

  async onModuleInit(): Promise<void> {
    const s = this.store.subjects;
    this.tail = new EventTail(this.store, s.evtAll(), (e) => this.commands.index.apply(e), 0, (m, x) => this.log.error(`${m} ${JSON.stringify(x)}`), 'inventory-index');
    await this.tail.start();
    await this.tail.ready;
    this.rpc = new RpcServer(this.store.nats, 'inventory', INVENTORY_COMMANDS, this.commands.handlers(), (m, x) => this.log.error(`${m} ${JSON.stringify(x)}`));
    this.rpc.start();
    this.log.log(`inventory ready at position ${this.tail.position}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.rpc?.stop();
    await this.tail?.stop();
  }
}
