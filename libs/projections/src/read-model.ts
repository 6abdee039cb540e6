import { type DataSource } from 'typeorm';
import { type EventStore } from '@fabric/eventstore';
import { projectionHooks } from './hooks';
import { ProjectionRunner } from './runner';

export interface ReadModelRunners {
  /** The events' runner: the position reads wait for. */
  runner: ProjectionRunner;
  /** The agents' observations, their own checkpoint (docs/adr/observations-stream.md). */
  observations: ProjectionRunner;
  stop(): Promise<void>;
}

/** Starts the read model's two runners (events, observations), with their metrics. */
export async function startReadModel(
  store: EventStore,
  ds: DataSource,
  opts: { log?: (msg: string, extra?: Record<string, unknown>) => void; notify?: boolean } = {},
): Promise<ReadModelRunners> {
  const runner = new ProjectionRunner(store, ds, { log: opts.log, notify: opts.notify, ...projectionHooks('projection:read-model') });
  await runner.start();
  const observations = new ProjectionRunner(store, ds, {
    stream: 'observations',
    log: opts.log,
    notify: opts.notify,
    ...projectionHooks('projection:read-model:observations'),
  });
  await observations.start();
  return {
    runner,
    observations,
    async stop() {
      await observations.stop();
      await runner.stop();
    },
  };
}
