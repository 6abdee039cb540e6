/**
 * `npm run projections -- rebuild [--swap]`: replays the event stream from sequence 1 into a fresh
 * schema (`<DB_SCHEMA>_rebuild`) and reports whether it equals the live read model.
 * `--swap` then replaces the live schema with the rebuilt one (the old one is kept as `<schema>_old`);
 * stop the gateway first (`npm run stop`), since it projects into the live schema while it runs.
 */
import { toolNatsOptions } from './nats-auth';
import { DataSource } from 'typeorm';
import { EventStore, Nats } from '@fabric/eventstore';
import { databaseSchema, databaseUrl, dumpSchema, rebuildInto, swapSchemas } from '@fabric/projections';
import { pidOf } from './infra';

async function main() {
  const [cmd, ...flags] = process.argv.slice(2);
  if (cmd !== 'rebuild') {
    console.error('usage: projections.ts rebuild [--swap]');
    process.exit(2);
  }
  const swap = flags.includes('--swap');
  if (swap && pidOf('gateway')) throw new Error('the gateway is running: stop it first (npm run stop), then rebuild with --swap');
  const live = databaseSchema();
  const target = `${live}_rebuild`;
  const nats = await Nats.connect({ name: 'projections-rebuild', ...toolNatsOptions() });
  const store = new EventStore(nats);
  const { ds, position } = await rebuildInto(store, databaseUrl(), target);
  console.log(`rebuilt ${target} from sequence 1 to ${position}`);
  const liveDs = new DataSource({ type: 'postgres', url: databaseUrl() });
  await liveDs.initialize();
  try {
    const [cp] = await liveDs.query(`SELECT position FROM "${live}"."projection_checkpoints" WHERE name = 'read-model'`).catch(() => [undefined]);
    if (cp && Number(cp.position) === position) {
      const [a, b] = [await dumpSchema(liveDs, live), await dumpSchema(ds, target)];
      const diff = Object.keys(a).filter((t) => JSON.stringify(a[t]) !== JSON.stringify(b[t]));
      console.log(diff.length ? `differs from the live read model in: ${diff.join(', ')}` : 'equal to the live read model');
    } else {
      console.log(`live read model is at ${cp ? Number(cp.position) : 'none'}: not compared`);
    }
    if (swap) {
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
