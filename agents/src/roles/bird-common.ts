import { BirdDriver } from '../drivers/bird';
import { parseBirdProtocols, parseBirdRoutes } from '../drivers/bird-parse';
import { birdHostRoutes, parseBirdBgpSessions, RouteObservation, SessionObservation } from '../observe';

/** Writes the config (checked first) and makes sure BIRD runs it; counts what changed. */
export async function applyBird(bird: BirdDriver, text: string): Promise<{ changes: number; operations: string[] }> {
  const operations: string[] = [];
  const r = await bird.applyConfig(text);
  if (r.changed) operations.push(r.reconfigured ? `bird: wrote ${bird.configPath} and reconfigured` : `bird: wrote ${bird.configPath}`);
  if (!(await bird.running())) {
    await bird.start();
    operations.push(`bird: started with ${bird.configPath}`);
  }
  return { changes: operations.length, operations };
}

export async function birdSessions(bird: BirdDriver): Promise<SessionObservation[]> {
  return parseBirdBgpSessions(await bird.birdc('show', 'protocols', 'all'));
}

/** Host routes learnt over BGP, all tables, best and alternatives (no `all`: keeps the output small). */
export async function birdBgpHostRoutes(bird: BirdDriver): Promise<RouteObservation[]> {
  const protos = parseBirdProtocols(await bird.birdc('show', 'protocols'));
  const bgp = new Set(protos.filter((p) => p.proto === 'BGP').map((p) => p.name));
  return birdHostRoutes(parseBirdRoutes(await bird.birdc('show', 'route', 'table', 'all')), bgp);
}
