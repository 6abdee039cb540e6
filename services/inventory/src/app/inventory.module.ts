import { Inject, Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { INVENTORY_COMMANDS } from '@fabric/contracts';
import { EventStore, EventTail, LeaderElection, RpcServer, SnapshotStore, Snapshotter } from '@fabric/eventstore';
import { pollUntil, snapshotReplayed } from '@fabric/service-kit';
import { InventoryIndex } from './inventory-index';
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
  /** The index's snapshots (docs/adr/model-snapshots.md): loaded at start, written by the leader. */
  readonly snapshots: Snapshotter;
  /** Sequence of the last event the tail applied (what a snapshot covers at least). */
  private applied = 0;
  /** Events the tail applied at the last start before it was ready (after the snapshot, or all). */
  replayed = 0;
  private ready = false;

  constructor(@Inject(EVENT_STORE) private readonly store: EventStore) {
    this.commands = new InventoryCommands(store);
    // How many migrations away from one evacuated node run at once (each is a make-before-break move).
    const limit = Number(process.env.EVACUATION_CONCURRENCY ?? 4);
    this.evacuator = new Evacuator(this.commands.index, this.commands.evacuationActions(), Number.isInteger(limit) && limit > 0 ? limit : 4, (m, x) =>
      this.log.warn(`${m} ${JSON.stringify(x)}`),
    );
    const slog = (level: 'info' | 'warn' | 'error', m: string, x?: Record<string, unknown>) =>
      this.log[level === 'info' ? 'log' : level](`${m} ${JSON.stringify(x ?? {})}`);
    this.snapshots = new Snapshotter(
      new SnapshotStore(store.nats.nc, store.subjects, 'inventory', slog),
      'index',
      InventoryIndex.SNAPSHOT_SCHEMA,
      () => this.applied,
      () => ({ seq: this.applied, data: this.commands.index.snapshot() }),
      undefined,
      slog,
    );
  }

  static forStore(store: EventStore) {
    return { module: InventoryModule, providers: [{ provide: EVENT_STORE, useValue: store }], exports: [] };
  }

  async onModuleInit(): Promise<void> {
    const s = this.store.subjects;
    const from = await this.restore();
    this.tail = new EventTail(
      this.store,
      s.evtAll(),
      (e) => {
        this.applied = e.seq;
        if (!this.ready) this.replayed++;
        this.commands.index.apply(e, true);
      },
      from,
      (m, x) => this.log.error(`${m} ${JSON.stringify(x)}`),
      'inventory-index',
    );
    await this.tail.start();
    await this.tail.ready;
    this.ready = true;
    snapshotReplayed.set({ service: 'inventory', model: 'index' }, this.replayed);
    this.log.log(`index ready: ${this.replayed} events folded after position ${from}`);
    this.snapshots.startTimer(() => this.leader && this.ready);
    this.election = new LeaderElection(this.store.nats.nc, s.ns, 'inventory', {
      elected: () => this.lead(),
      deposed: () => this.standBy(),
      log: (level, m, x) => this.log[level === 'info' ? 'log' : 'warn'](`${m} ${JSON.stringify(x ?? {})}`),
    });
    await this.election.start();
    this.log.log(`inventory ready at position ${this.tail.position} (${this.election.leader ? 'leader' : 'standby'})`);
  }

  /** The newest valid snapshot into the index; returns the position to tail from (0: replay everything). */
  private async restore(): Promise<number> {
    const loaded = await this.snapshots.load(await this.store.headSeq());
    if (!loaded) return 0;
    try {
      this.commands.index.restore(loaded.data);
    } catch (err) {
      this.log.error(`snapshot not restorable, replaying from sequence 1: ${err}`);
      return 0;
    }
    this.applied = loaded.head.seq;
    return loaded.head.seq;
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
    this.snapshots.stopTimer();
    // A graceful stop of the leader leaves a snapshot for the next start (only the leader writes them).
    if (this.leader && this.ready) await this.snapshots.write();
    await this.election?.stop();
    await this.standBy();
    await this.tail?.stop();
  }
}
