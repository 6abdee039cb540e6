/**
 * rr-config: desired BIRD config of every route reflector on `cmd.rr.<clusterId>_<rrName>`.
 * Input: an EventTail from sequence 1 at every start (see TailedDeriver: the model is rebuilt in memory
 * and outputs are idempotent by content hash, so no durable consumer is needed).
 * A removed RR gets no further state: its last command stays in the stream for the record.
 */
import { EventStore } from '@fabric/eventstore';
import { RrConfigModel } from '../domain';
import { DeriverApp, DesiredPublisher, TailedDeriverOptions } from '@fabric/derivers';

export type RrConfigOptions = TailedDeriverOptions;

export class RrConfig extends DeriverApp {
  readonly model = new RrConfigModel();
  readonly publisher: DesiredPublisher;

  constructor(store: EventStore, opts: RrConfigOptions = {}) {
    super(store, 'rr-config', {
      apply: (e) => this.model.apply(e),
      allTargets: () => this.model.targetIds(),
      flushTarget: (id, sourceSeq) => this.flushRr(id, sourceSeq),
    }, opts);
    this.publisher = new DesiredPublisher(store, 'rr-config');
  }

  private async flushRr(targetId: string, sourceSeq: number): Promise<void> {
    const payload = this.renderOrKeep('RR state', targetId, () => this.model.desired(targetId));
    if (!payload) return;
    const r = await this.publisher.publish(payload, sourceSeq);
    if (r.published) this.log('info', 'RR desired state', { targetId, generation: r.generation });
  }
}
