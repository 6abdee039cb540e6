/**
 * Starts the control plane in this process against real NATS and Postgres, in its own namespace and
 * database, and removes both afterwards.
 */
import { randomBytes } from 'node:crypto';
import { closeTestNats, createTestDatabase, dropTestDatabase, openTestNats, uniqueNs } from '@fabric/testing/infra';
import { EventStore, type Nats } from '@fabric/eventstore';
import { startInventory } from '../../services/inventory/src/main';
import { startIpam } from '../../services/ipam/src/main';
import { type GatewayOptions, startGateway } from '../../services/gateway/src/main';
import { startProjector } from '../../services/projector/src/main';

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
  /** Admin API token of this control plane; `http()` sends it by default. */
  adminToken: string;
  /** Starts one more in-process IPAM on the same namespace (same durable). */
  startIpam(cooldownMs?: number): Promise<IpamHandle>;
  stopIpam(ipam: IpamHandle): Promise<void>;
  close(): Promise<void>;
}

export async function startControlPlane(
  opts: {
    ipamCooldownMs?: number;
    ipamProcesses?: number;
    gateway?: Partial<GatewayOptions>;
    /** `external`: the projector service projects (as npm start runs it), the gateway follows its checkpoint. */
    projector?: 'in-process' | 'external';
  } = {},
): Promise<ControlPlane> {
  const ns = uniqueNs();
  const nats = await openTestNats(ns);
  const db = await createTestDatabase();
  const closers: (() => Promise<void>)[] = [];
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
    const adminToken = `fab_test_${randomBytes(24).toString('hex')}`;
    const external = opts.projector === 'external';
    const gateway = await startGateway({ ns, databaseUrl: db.url, schema: 'fabric', port: 0, adminToken, projector: opts.projector, ...opts.gateway });
    closers.push(() => gateway.close());
    if (external) {
      const projector = await startProjector({ ns, databaseUrl: db.url, schema: 'fabric' });
      closers.push(() => projector.close());
    }
    const cp: ControlPlane = {
      ns,
      api: `${gateway.url}/api/v1`,
      nats,
      store: new EventStore(nats),
      db,
      inventory,
      ipams,
      gateway,
      adminToken,
      startIpam: addIpam,
      async stopIpam(ipam) {
        const i = ipams.indexOf(ipam);
        if (i >= 0) ipams.splice(i, 1);
        await ipam.close();
      },
      close: async () => {
        if (defaultAuth === adminToken) defaultAuth = undefined;
        await cleanup();
      },
    };
    defaultAuth = adminToken;
    return cp;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Token `http()` sends when the call names none: the admin token of the control plane started last. */
let defaultAuth: string | undefined;

/**
 * `opts.auth`: a token to send instead of the default, or false to send none. An `Authorization` header
 * in `headers` also wins over the default.
 */
export async function http<T = any>(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  opts: { auth?: string | false } = {},
): Promise<{ status: number; body: T }> {
  const token = opts.auth === false ? undefined : (opts.auth ?? defaultAuth);
  const explicit = Object.keys(headers).some((h) => h.toLowerCase() === 'authorization');
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(token && !explicit ? { authorization: `Bearer ${token}` } : {}), ...headers },
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
