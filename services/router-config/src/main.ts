/** router-config: versioned Junos/FRR core router config per cluster; FRR cores get it as a desired state. */
import 'reflect-metadata';
import { startDeriverService } from '@fabric/derivers';
import { runService } from '@fabric/service-kit';
import { type RouterConfigOptions, RouterConfigService } from './app/router-config';

export async function startRouterConfig(opts: { ns?: string } & RouterConfigOptions = {}) {
  const { ns, ...options } = opts;
  const s = await startDeriverService('router-config', ns, RouterConfigService, (store, log) => new RouterConfigService(store, { log, ...options }));
  return { ...s, routerConfig: s.deriver };
}

if (require.main === module) runService('router-config', () => startRouterConfig());
