/**
 * projector: feeds the Postgres read model from the event and observation streams, in its own process so the
 * gateway's CPU serves the API (bench/README.md, "Burst"). Each committed batch announces its checkpoint with
 * `pg_notify`; the gateway (`FABRIC_PROJECTOR=external`) follows it for read-your-writes. Two instances are safe:
 * a batch locks the checkpoint row and skips what is already projected (libs/projections/src/runner.ts).
 */
import { EventStore, Nats } from '@fabric/eventstore';
import { openMigratedDatabase, startReadModel } from '@fabric/projections';
import { setupTelemetry } from '@fabric/telemetry';
import { createLogger, logFn, runService } from '@fabric/service-kit';

export interface ProjectorOptions {
  ns?: string;
  databaseUrl?: string;
  schema?: string;
}

export async function startProjector(opts: ProjectorOptions = {}) {
  await setupTelemetry('projector');
  const log = createLogger('projector');
  const nats = await Nats.connect({ name: 'projector', ns: opts.ns });
  await nats.ensureStreams();
  const store = new EventStore(nats);
  // The gateway migrates the schema (one migrator at a time); the projector waits for it.
  const ds = await openMigratedDatabase({ url: opts.databaseUrl, schema: opts.schema });
  const readModel = await startReadModel(store, ds, { log: logFn(log), notify: true });
  return {
    runner: readModel.runner,
    observations: readModel.observations,
    async close() {
      await readModel.stop();
      if (ds.isInitialized) await ds.destroy();
      await nats.close();
    },
  };
}

if (require.main === module) {
  runService(
    'projector',
    () => startProjector(),
    (p) => createLogger('projector').info({ position: p.runner.currentPosition }, 'projector running'),
  );
}
