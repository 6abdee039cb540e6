/**
 * NestJS custom transport: a service declares `@EventPattern('VmCreated')` handlers and this server feeds
 * them from a durable JetStream consumer. The handler's result (Nest wraps it in an Observable) is awaited
 * before the message is acked, so a failing handler is never acked: it is nak'ed for redelivery or, when
 * poison / out of attempts, dead-lettered.
 */
import { type CustomTransportStrategy, Server } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { type StoredEvent } from '@fabric/contracts';
import { DurableConsumer, type DurableConsumerOptions } from './durable-consumer';
import { type EventStore } from './event-store';

export class JetStreamServer extends Server implements CustomTransportStrategy {
  private consumer?: DurableConsumer;

  constructor(
    private readonly store: EventStore,
    private readonly options: DurableConsumerOptions,
  ) {
    super();
  }

  async listen(callback: (...optionalParams: unknown[]) => void): Promise<void> {
    try {
      this.consumer = new DurableConsumer(this.store, { log: (m, x) => this.logger.warn(`${m} ${JSON.stringify(x ?? {})}`), ...this.options }, (event) =>
        this.dispatch(event),
      );
      await this.consumer.start();
      callback();
    } catch (err) {
      callback(err);
    }
  }

  /** Exposed for tests: runs the matching handler and resolves only when it has finished. */
  async dispatch(event: StoredEvent): Promise<void> {
    const handler = this.getHandlerByPattern(event.type);
    if (!handler) return; // not interested: ack and move on
    const result = await handler(event);
    await lastValueFrom(this.transformToObservable(result), { defaultValue: undefined });
  }

  async close(): Promise<void> {
    await this.consumer?.stop();
  }

  on(): void {
    // no transport-level events to subscribe to
  }

  unwrap<T>(): T {
    return this.store as T;
  }
}
