/**
 * Starts the control plane in this process against real NATS and Postgres, in its own namespace and
 * database, and removes both afterwards.
 */
import { closeTestNats, createTestDatabase, dropTestDatabase, openTestNats, uniqueNs } from '@fabric/test-infra';
import { EventStore, Nats } from '@fabric/eventstore';
import { startInventory } from '../../services/inventory/src/main';
import { startIpam } from '../../services/ipam/src/main';
import { startGateway } from '../../services/gateway/src/main';

export type InventoryHandle = Awaited<ReturnType<typeof startInventory>>;
export type IpamHandle = Awaited<ReturnType<typeof startIpam>>;
export type GatewayHandle = Awaited<ReturnType<typeof startGateway>>;

export interface ControlPlane {
  ns: string;
  api: string;
  nats: Nats;
  /** An event store on the test's own connection (reads, stream positions). */
  store: EventStore;
  db: { name: string; url: string };
  inventory: InventoryHandle;
  /** In-process IPAM instances currently running (see startIpam / stopIpam). */
  ipams: IpamHandle[];
  gateway: GatewayHandle;
  /** Starts one more in-process IPAM on the same namespace (same durable). */
  startIpam(cooldownMs?: number): Promise<IpamHandle>;
  stopIpam(ipam: IpamHandle): Promise<void>;
  close(): Promise<void>;
}

export async function startControlPlane(opts: { ipamCooldownMs?: number; ipamProcesses?: number } = {}): Promise<ControlPlane> {
  const ns = uniqueNs();
  const nats = await openTestNats(ns);
  const db = await createTestDatabase();
  const closers: (() => Promise<void>)[] = [];
  // eslint-disable-next-line prefer-const
  let cp: ControlPlane;
  const ipams: IpamHandle[] = [];
  const cleanup = async () => {
    for (const i of ipams.splice(0)) await i.close().catch(() => undefined);
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await closeTestNats(nats);
    await dropTestDatabase(db.name);
  };
  try {
    const inventory = await startInventory({ ns });
    // Tests may swap in a restarted inventory: close whichever is current.
    closers.push(() => cp.inventory.close());
    const addIpam = async (cooldownMs = opts.ipamCooldownMs ?? 0) => {
      const ipam = await startIpam({ ns, cooldownMs });
      ipams.push(ipam);
      return ipam;
    };
    for (let i = 0; i < (opts.ipamProcesses ?? 1); i++) await addIpam();
    const gateway = await startGateway({ ns, databaseUrl: db.url, schema: 'fabric', port: 0 });
    closers.push(() => gateway.close());
    const cp: ControlPlane = {
      ns,
      api: `${gateway.url}/api/v1`,
      nats,
      store: new EventStore(nats),
      db,
      inventory,
      ipams,
      gateway,
      startIpam: addIpam,
      async stopIpam(ipam) {
        const i = ipams.indexOf(ipam);
        if (i >= 0) ipams.splice(i, 1);
        await ipam.close();
      },
      close: cleanup,
    };
    return cp;
  } catch (err) {
    await cleanup();
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
