/**
 * `npm run projections -- rebuild [--swap]`: replays the event stream from sequence 1 into a fresh
 * schema (`<DB_SCHEMA>_rebuild`) and reports whether it equals the live read model.
 * `--swap` then replaces the live schema with the rebuilt one (the old one is kept as `<schema>_old`);
 * stop the gateway and the projector first (`npm run stop`): they project into the live schema while they run.
 */
import { toolNatsOptions } from './nats-auth';
import { DataSource } from 'typeorm';
import { EventStore, Nats } from '@fabric/eventstore';
import { catchUpAll, databaseSchema, databaseUrl, rebuildAndCompare, swapSchemas } from '@fabric/projections';
import { pidOf } from './infra';

async function main() {
  const [cmd, ...flags] = process.argv.slice(2);
  if (cmd !== 'rebuild') {
    console.error('usage: projections.ts rebuild [--swap]');
    process.exit(2);
  }
  const swap = flags.includes('--swap');
  for (const p of ['gateway', 'projector'])
    if (swap && pidOf(p)) throw new Error(`the ${p} is running: stop it first (npm run stop), then rebuild with --swap`);
  const live = databaseSchema();
  const target = `${live}_rebuild`;
  const nats = await Nats.connect({ name: 'projections-rebuild', ...toolNatsOptions() });
  const store = new EventStore(nats);
  const liveDs = new DataSource({ type: 'postgres', url: databaseUrl() });
  await liveDs.initialize();
  // Compared with a consistent snapshot of the live read model, rebuilt to that snapshot's position,
  // so the check holds while the projector keeps projecting new events.
  const { ds, position, livePosition, differs } = await rebuildAndCompare(store, databaseUrl(), live, target, liveDs);
  console.log(`rebuilt ${target} from sequence 1 to ${position}`);
  try {
    if (differs === null) console.log(`no live read model in schema ${live}: nothing to compare`);
    else
      console.log(
        differs.length
          ? `differs from the live read model (snapshot at ${livePosition}) in: ${differs.join(', ')}`
          : `equal to the live read model (snapshot at ${livePosition})`,
      );
    if (swap) {
      // It was rebuilt to the live snapshot: bring it to the head before it takes the live one's place.
      const head = await catchUpAll(store, ds);
      console.log(`caught ${target} up to ${head.position} (observations ${head.observationPosition})`);
      await swapSchemas(liveDs, live, target);
      console.log(`swapped: ${target} is now ${live} (previous kept as ${live}_old)`);
    }
  } finally {
    await ds.destroy();
    await liveDs.destroy();
    await nats.close();
  }
}

void main().catch((err) => {
  console.error(String(err?.message ?? err));
  process.exit(1);
});
