/**
 * Starts the control plane in this process against real NATS and Postgres, in its own namespace and
 * database, and removes both afterwards.
 */
import { closeTestNats, createTestDatabase, dropTestDatabase, openTestNats, uniqueNs } from '@fabric/test-infra';
import { Nats } from '@fabric/eventstore';
import { startInventory } from '../../services/inventory/src/main';
import { startIpam } from '../../services/ipam/src/main';
import { startGateway } from '../../services/gateway/src/main';

export interface ControlPlane {
  ns: string;
  api: string;
  nats: Nats;
  db: { name: string; url: string };
  close(): Promise<void>;
}

export async function startControlPlane(opts: { ipamCooldownMs?: number; ipamProcesses?: number } = {}): Promise<ControlPlane> {
  const ns = uniqueNs();
  const nats = await openTestNats(ns);
  const db = await createTestDatabase();
  const closers: (() => Promise<void>)[] = [];
  try {
    const inv = await startInventory({ ns });
    closers.push(() => inv.close());
    for (let i = 0; i < (opts.ipamProcesses ?? 1); i++) {
      const ipam = await startIpam({ ns, cooldownMs: opts.ipamCooldownMs ?? 0 });
      closers.push(() => ipam.close());
    }
    const gw = await startGateway({ ns, databaseUrl: db.url, schema: 'fabric', port: 0 });
    closers.push(() => gw.close());
    return {
      ns,
      api: `${gw.url}/api/v1`,
      nats,
      db,
      async close() {
        for (const c of closers.reverse()) await c().catch(() => undefined);
        await closeTestNats(nats);
        await dropTestDatabase(db.name);
      },
    };
  } catch (err) {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await closeTestNats(nats);
    await dropTestDatabase(db.name);
    throw err;
  }
}

export async function http<T = any>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* text/plain */
  }
  return { status: res.status, body: parsed as T };
}

export const clusterBody = (name = 'lab') => ({
  name,
  fabricAsn: 65000,
  coreAsn: 65001,
  community: '65000:100',
  routeReflectors: [
    { name: 'rr1', ip: '198.18.0.11' },
    { name: 'rr2', ip: '198.18.0.12' },
  ],
  coreRouter: { name: 'core', ip: '198.18.0.1', vendor: 'frr' },
});
