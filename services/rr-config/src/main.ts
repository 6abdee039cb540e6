/** rr-config: BIRD config of every route reflector (nodes as rr clients, per-node prefix filters, pools to the core). */
import 'reflect-metadata';
import { startDeriverService } from '@fabric/derivers';
import { runService } from '@fabric/service-kit';
import { RrConfig, type RrConfigOptions } from './app/rr-config';

export async function startRrConfig(opts: { ns?: string } & RrConfigOptions = {}) {
  const { ns, ...options } = opts;
  const s = await startDeriverService('rr-config', ns, RrConfig, (store, log) => new RrConfig(store, { log, ...options }));
  return { ...s, rrConfig: s.deriver };
}

if (require.main === module) runService('rr-config', () => startRrConfig());
