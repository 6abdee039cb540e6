import { type BirdConfigPart, type BirdDriver } from '../drivers/bird';
import { parseBirdProtocols, parseBirdRoutes } from '../drivers/bird-parse';
import { birdHostRoutes, parseBirdBgpSessions, type RouteObservation, type SessionObservation } from '../observe';

/**
 * Makes BIRD run `text` (transactional, see BirdDriver.applyConfig) and starts BIRD when no BIRD of this
 * config is alive; a live BIRD that does not answer is an error, never killed (its routes stay).
 */
export async function applyBird(bird: BirdDriver, text: string, parts: BirdConfigPart[] = []): Promise<{ changes: number; operations: string[] }> {
  const operations: string[] = [];
  const r = await bird.applyConfig(text, parts);
  if (r.changed) operations.push(r.reconfigured ? `bird: reconfigured and wrote ${bird.configPath}` : `bird: wrote ${bird.configPath}`);
  if (!(await bird.pid())) {
    await bird.start();
    operations.push(`bird: started with ${bird.configPath}`);
  }
  return { changes: operations.length, operations };
}

export async function birdSessions(bird: BirdDriver): Promise<SessionObservation[]> {
  return parseBirdBgpSessions(await bird.birdc('show', 'protocols', 'all'));
}

/**
 * Host routes learnt over BGP, best and alternatives (no `all`: keeps the output small); all tables, or
 * the named ones (an RR names its master tables: its ROA tables hold an entry per placed address).
 */
export async function birdBgpHostRoutes(bird: BirdDriver, tables: string[] = ['all']): Promise<RouteObservation[]> {
  const protos = parseBirdProtocols(await bird.birdc('show', 'protocols'));
  const bgp = new Set(protos.filter((p) => p.proto === 'BGP').map((p) => p.name));
  const routes = [];
  for (const t of tables) routes.push(...parseBirdRoutes(await bird.birdc('show', 'route', 'table', t)));
  return birdHostRoutes(routes, bgp);
}
