/**
 * rr-config: desired BIRD config of every route reflector on `cmd.rr.<clusterId>_<rrName>`.
 * Input: an EventTail from sequence 1 at every start (see TailedDeriver: the model is rebuilt in memory
 * and outputs are idempotent by content hash, so no durable consumer is needed).
 * A removed RR gets no further state: its last command stays in the stream for the record.
 */
import { EventStore } from '@fabric/eventstore';
import { RrConfigModel } from '../domain';
// Shared deriver plumbing lives in route-announcer until it moves to a lib.
import { DesiredPublisher } from '@fabric/derivers';
import { LogFn, TailedDeriver, TailedDeriverOptions } from '@fabric/derivers';

export type RrConfigOptions = TailedDeriverOptions;

export class RrConfig {
  readonly model = new RrConfigModel();
  readonly publisher: DesiredPublisher;
  private readonly deriver: TailedDeriver;
  private readonly log: LogFn;

  constructor(store: EventStore, opts: RrConfigOptions = {}) {
    this.publisher = new DesiredPublisher(store, 'rr-config');
    this.log = opts.log ?? (() => undefined);
    this.deriver = new TailedDeriver(store, {
      apply: (e) => this.model.apply(e),
      allTargets: () => this.model.targetIds(),
      flushTarget: (id, sourceSeq) => this.flushRr(id, sourceSeq),
    }, { name: 'rr-config', ...opts });
  }

  start(): Promise<void> {
    return this.deriver.start();
  }

  stop(): Promise<void> {
    return this.deriver.stop();
  }

  get position(): number {
    return this.deriver.position;
  }

  private async flushRr(targetId: string, sourceSeq: number): Promise<void> {
    let payload;
    try {
      payload = this.model.desired(targetId);
    } catch (err) {
      // Keep the previous command rather than publish a broken config.
      this.log('warn', 'RR state not renderable', { targetId, err: (err as Error).message });
      return;
    }
    if (!payload) return;
    const r = await this.publisher.publish(payload, sourceSeq);
    if (r.published) this.log('info', 'RR desired state', { targetId, generation: r.generation });
  }
}
