import type { StoredEvent } from '@fabric/contracts';
import { eventsHandled, vmAtCoreLatency } from '@fabric/service-kit';
import type { VmAtCore } from './projector';

/** Metrics of a read-model runner (events projected by type, VM create → at-core latency), wherever it runs. */
export function projectionHooks(consumer: string) {
  return {
    onCommit: (events: StoredEvent[]) => {
      for (const e of events) eventsHandled.inc({ consumer, type: e.type });
    },
    onVmAtCore: (vms: VmAtCore[]) => {
      for (const v of vms) vmAtCoreLatency.observe(Math.max(0, (v.at.getTime() - v.createdAt.getTime()) / 1000));
    },
  };
}
