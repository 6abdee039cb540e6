/**
 * Identities on the product's bus and what each may publish and subscribe (nats-server 2.9 nkey users with
 * per-user permissions). Pure: the enrollment command turns this into the server's authorization block.
 *
 * Reading a stream in JetStream is creating a consumer on it, so read rights are the JS API subjects of
 * consumer creation; an agent gets only its own named consumer with its own filter (the server checks
 * that the filter in the request subject matches the consumer's config), and the direct read of its own
 * subject's last message. Replies come to an inbox prefix bound to the identity's public key.
 */
import { DERIVER_SERVICES, Subjects, type TargetKind, assertToken } from '@fabric/contracts';

export const SERVICE_ROLES = ['inventory', 'ipam', 'route-announcer', 'rr-config', 'router-config', 'gateway', 'projector'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

export type Identity =
  | { role: 'admin' }
  | { role: ServiceRole }
  | { role: 'agent'; kind: TargetKind; target: string }
  /** A BMP collector of one cluster's core router (docs/adr/bmp-collector.md). */
  | { role: 'bmp'; cluster: string };

export interface Permissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
  allow_responses?: boolean;
}

/** Stable name of an identity (file names, the registry). */
export function identityName(id: Identity): string {
  if (id.role === 'bmp') return `bmp-${assertToken(id.cluster, 'cluster id')}`;
  return id.role === 'agent' ? `agent-${id.kind}-${assertToken(id.target, 'target id')}` : id.role;
}

/** Every identity's replies arrive under this prefix (nats.js `inboxPrefix`), so nobody reads others' replies. */
export const inboxPrefix = (publicKey: string) => `_INBOX.${assertToken(publicKey, 'public key')}`;

/** The secrets KV bucket (BGP MD5 passwords): written by inventory, read by the derivers only. */
export const secretsBucket = (s: Subjects) => `${s.ns.toUpperCase()}_SECRETS`;

/** Active-standby leases of the single-writer services (libs/eventstore/src/leader.ts), one key per service. */
export const serviceLeaseBucket = (ns: string) => `${ns}_service_leases`;
/** TTL of a service's leader lease (the bucket's max age; FABRIC_LEADER_TTL_MS). */
export const SERVICE_LEASE_TTL_MS = Number(process.env.FABRIC_LEADER_TTL_MS ?? 6_000);
/** Services that run active-standby: one leader writes, the others wait for its lease to expire. */
export const LEADER_ROLES: readonly ServiceRole[] = ['inventory', 'route-announcer', 'rr-config', 'router-config'];
/** The lease key of the IPAM instance that writes IPAM's snapshots. */
export const IPAM_SNAPSHOT_LEASE = 'ipam-snapshots';
/** Services that keep a model in memory and snapshot it (snapshot-store.ts). */
export const SNAPSHOT_ROLES: readonly ServiceRole[] = ['inventory', 'ipam', 'route-announcer', 'rr-config', 'router-config'];
/**
 * Placements of VMs, the RRs' ROA feed (docs/adr/rr-origin-validation.md): key `<clusterId>.<address>.<tag>`,
 * written by rr-config; each RR agent watches its own cluster's keys only.
 */
export const placementsBucket = (s: Subjects) => `${s.ns.toUpperCase()}_PLACEMENTS`;
/**
 * The node parts of the RRs' BIRD configs (docs/adr/rr-split-desired-state.md): key `<clusterId>.<nodeId>`,
 * value one node's `protocol bgp` block (no secret, the same for every RR of the cluster), written by
 * rr-config; each RR agent watches its own cluster's keys only.
 */
export const rrNodesBucket = (s: Subjects) => `${s.ns.toUpperCase()}_RR_NODES`;

/**
 * Snapshots of the services' in-memory models (snapshot-store.ts): head `<service>.<model>`, chunks
 * `<service>.<model>.<slot>.<n>`; each service reads and writes its own keys only, agents none.
 */
export const snapshotsBucket = (s: Subjects) => `${s.ns.toUpperCase()}_SNAPSHOTS`;

/** The named consumer an agent reads its commands through (one per target, created by the agent itself). */
export const agentConsumerName = (s: Subjects, kind: TargetKind, target: string) => s.durable(`agent_${kind}_${assertToken(target, 'target id')}`);

/** The claims (`<ns>.fence.<aggregate>.<id…>.<seq>`) matching the aggregate subjects of an event filter. */
function fenceFilter(ns: string, rest: string): string {
  return `${ns}.fence.${rest.endsWith('>') ? rest : `${rest}.*`}`;
}

/** Consumer-based read access to one stream (services only: any filter). */
function readStream(stream: string): string[] {
  const api = '$JS.API';
  return [
    `${api}.STREAM.INFO.${stream}`,
    `${api}.STREAM.MSG.GET.${stream}`,
    `${api}.DIRECT.GET.${stream}`,
    `${api}.DIRECT.GET.${stream}.>`,
    `${api}.CONSUMER.CREATE.${stream}`,
    `${api}.CONSUMER.CREATE.${stream}.>`,
    `${api}.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `${api}.CONSUMER.INFO.${stream}.>`,
    `${api}.CONSUMER.DELETE.${stream}.>`,
    `${api}.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.ACK.${stream}.>`,
  ];
}

/** Permissions of an identity; undefined = unrestricted (admin: stream management, tools on the control host). */
export function permissionsFor(id: Identity, s: Subjects, publicKey: string): Permissions | undefined {
  if (id.role === 'admin') return undefined;
  const ns = s.ns;
  const events = s.eventsStream;
  const observations = s.observationsStream;
  const commands = s.commandsStream;
  const secrets = `KV_${secretsBucket(s)}`;
  const placements = placementsBucket(s);
  const snapshots = snapshotsBucket(s);
  const rrNodes = rrNodesBucket(s);
  const pub = ['$JS.API.INFO'];
  const sub = [`${inboxPrefix(publicKey)}.>`];
  let responses = false;
  // A BMP collector publishes its core's routes, nothing else (no stream reads, no commands).
  if (id.role === 'bmp') {
    pub.push(s.obsBmp(id.cluster));
    sub.push(s.resyncRequests);
    return { publish: { allow: pub }, subscribe: { allow: sub } };
  }
  // Services check the streams at start (ensureStreams): metadata only, no messages.
  if (id.role !== 'agent') {
    pub.push(
      ...[
        events,
        observations,
        commands,
        s.fencesStream,
        secrets,
        `KV_${ns}_agent_leases`,
        `KV_${serviceLeaseBucket(ns)}`,
        `KV_${placements}`,
        `KV_${snapshots}`,
        `KV_${rrNodes}`,
      ].map((x) => `$JS.API.STREAM.INFO.${x}`),
    );
    // Every service's readers report their loops (the gateway's /health) and dead-letter poison events.
    pub.push(`${ns}.health.loop.>`, `${ns}.evt.deadletter.>`);
  }
  // Its own model snapshots only (put, purge, direct get): never another service's.
  if (id.role !== 'agent' && SNAPSHOT_ROLES.includes(id.role)) {
    const own = `$KV.${snapshots}.${id.role}`;
    pub.push(own, `${own}.>`, `$JS.API.DIRECT.GET.KV_${snapshots}.${own}`, `$JS.API.DIRECT.GET.KV_${snapshots}.${own}.>`);
  }
  // Its own leader lease only: a service cannot take over another service's lease.
  if (id.role !== 'agent' && LEADER_ROLES.includes(id.role)) {
    const leases = serviceLeaseBucket(ns);
    const key = `$KV.${leases}.${id.role}`;
    pub.push(key, `$JS.API.DIRECT.GET.KV_${leases}.${key}`);
  }
  // IPAM runs several instances that all serve; one of them (a lease of its own) writes the snapshots.
  if (id.role === 'ipam') {
    const key = `$KV.${serviceLeaseBucket(ns)}.${IPAM_SNAPSHOT_LEASE}`;
    pub.push(key, `$JS.API.DIRECT.GET.KV_${serviceLeaseBucket(ns)}.${key}`);
  }
  switch (id.role) {
    case 'agent': {
      const subject = s.cmd(id.kind, id.target);
      const consumer = agentConsumerName(s, id.kind, id.target);
      const leases = `${ns}_agent_leases`;
      const leaseKey = `$KV.${leases}.${id.kind}.${id.target}`;
      pub.push(
        s.evt('agent', id.kind, id.target),
        // Its own observations only (routes, sessions: the observations stream).
        s.obs(id.kind, id.target),
        // Whether the commands stream was recreated (its creation time), and its own lease (agents/src/lease.ts).
        `$JS.API.STREAM.INFO.${commands}`,
        `$JS.API.STREAM.INFO.KV_${leases}`,
        leaseKey,
        `$JS.API.DIRECT.GET.KV_${leases}.${leaseKey}`,
        `$JS.API.DIRECT.GET.${commands}.${subject}`,
        `$JS.API.CONSUMER.CREATE.${commands}.${consumer}.${subject}`,
        `$JS.API.CONSUMER.INFO.${commands}.${consumer}`,
        `$JS.API.CONSUMER.DELETE.${commands}.${consumer}`,
        `$JS.API.CONSUMER.MSG.NEXT.${commands}.${consumer}`,
        `$JS.ACK.${commands}.${consumer}.>`,
      );
      // Consumers that lost observations to retention ask for them again (core NATS, no payload used).
      sub.push(s.resyncRequests);
      if (id.kind === 'rr') {
        // The RR agent watches its cluster's placements (a KV watch: an ordered push consumer with a
        // generated name; the server checks that the filter in the subject is the consumer's filter).
        const clusterId = assertToken(id.target.slice(0, 36), 'cluster id');
        pub.push(
          `$JS.API.STREAM.INFO.KV_${placements}`,
          `$JS.API.CONSUMER.CREATE.KV_${placements}.*.$KV.${placements}.${clusterId}.>`,
          `$JS.FC.KV_${placements}.>`,
          // The node parts of its BIRD config, watched the same way (its own cluster's keys only).
          `$JS.API.STREAM.INFO.KV_${rrNodes}`,
          `$JS.API.CONSUMER.CREATE.KV_${rrNodes}.*.$KV.${rrNodes}.${clusterId}.>`,
          `$JS.FC.KV_${rrNodes}.>`,
        );
      }
      break;
    }
    case 'inventory':
      pub.push(`${ns}.evt.cluster.>`, `${ns}.evt.node.>`, `${ns}.evt.vm.>`, `$KV.${secretsBucket(s)}.>`, ...readStream(events), ...readStream(secrets));
      sub.push(s.rpcAll('inventory'));
      responses = true;
      break;
    case 'ipam':
      pub.push(`${ns}.evt.ipam.>`, ...readStream(events));
      sub.push(s.rpcAll('ipam'));
      responses = true;
      break;
    case 'route-announcer':
    case 'rr-config':
    case 'router-config': {
      const kind: TargetKind = id.role === 'route-announcer' ? 'node' : id.role === 'rr-config' ? 'rr' : 'router';
      pub.push(s.cmdAll(kind), `${ns}.evt.desired.${kind}.*`, ...readStream(events), ...readStream(commands), ...readStream(secrets));
      // Dry runs (BGP settings changes, any write's events): the gateway asks, the leader answers (nothing is written).
      sub.push(s.bgpPreview(id.role), s.eventsPreview(id.role));
      responses = true;
      // route-announcer completes a migration (inventory) and a floating address move (IPAM) once the new node's
      // route is seen (the RRs' observations): those two commands, nothing else.
      if (kind === 'node')
        pub.push(s.rpc('inventory', 'CompleteMigration'), s.rpc('ipam', 'CompleteFloatingMove'), ...readStream(observations), s.resyncRequests);
      if (kind === 'router') pub.push(`${ns}.evt.router.*`);
      if (kind === 'rr')
        pub.push(
          `$KV.${placements}.>`,
          `$JS.FC.KV_${placements}.>`,
          ...readStream(`KV_${placements}`),
          `$KV.${rrNodes}.>`,
          `$JS.FC.KV_${rrNodes}.>`,
          ...readStream(`KV_${rrNodes}`),
        );
      break;
    }
    case 'gateway':
      pub.push(
        s.rpcAll('inventory'),
        s.rpcAll('ipam'),
        ...DERIVER_SERVICES.flatMap((d) => [s.bgpPreview(d), s.eventsPreview(d)]),
        ...readStream(events),
        ...readStream(observations),
        ...readStream(commands),
        s.resyncRequests,
      );
      sub.push(`${ns}.health.loop.>`);
      break;
    case 'projector':
      // Reads both streams into Postgres; asks the agents to resync observations lost to retention. Nothing else.
      pub.push(...readStream(events), ...readStream(observations), s.resyncRequests);
      break;
  }
  // A service that appends aggregates claims their positions first on a replicated stream (append-fence.ts):
  // the claims of its own aggregates only, and a read of one claim (a retry finding its own).
  if (id.role !== 'agent') {
    const evt = `${ns}.evt.`;
    const claims = pub.filter((x) => x.startsWith(evt) && x !== `${ns}.evt.deadletter.>`).map((x) => fenceFilter(ns, x.slice(evt.length)));
    if (claims.length) pub.push(...claims, `$JS.API.STREAM.MSG.GET.${s.fencesStream}`);
  }
  return { publish: { allow: pub }, subscribe: { allow: sub }, ...(responses ? { allow_responses: true } : {}) };
}

export interface EnrolledIdentity {
  identity: Identity;
  publicKey: string;
  enrolledAt: string;
}

/** One member of a NATS cluster: its name, its route listener and the other members' route URLs. */
export interface NatsClusterMember {
  /** Cluster name, the same on every member. */
  name: string;
  /** This server's unique name (JetStream's Raft groups know servers by it). */
  serverName: string;
  host: string;
  /** Route port (other servers connect here; clients never do). */
  port: number;
  /** host:port of every member's route listener (this one's included: the server skips itself). */
  routes: string[];
  /** Credentials of the route connections (the same on every member); no routes without them. */
  routeUser: string;
  routePassword: string;
  /** TLS of the routes (cross-host clusters): every member's certificate signed by `ca`, verified both ways. */
  tls?: { cert: string; key: string; ca: string };
}

const ROUTE_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
const HOST = /^[A-Za-z0-9.:\[\]-]{1,253}$/;

/**
 * A nats-server configuration object (JSON is valid nats-server config syntax; checked with nats-server
 * 2.9.10): client listener, JetStream, optional monitoring port, client authorization and TLS, and the cluster
 * block of one member. Pure.
 */
export function natsServerConfig(opts: {
  host: string;
  port: number;
  storeDir: string;
  httpPort?: number;
  authorization?: { users: unknown[] };
  tls?: { cert: string; key: string; ca?: string };
  cluster?: NatsClusterMember;
}): Record<string, unknown> {
  const c = opts.cluster;
  if (c) {
    for (const [what, v] of [
      ['cluster name', c.name],
      ['server name', c.serverName],
      ['route user', c.routeUser],
      ['route password', c.routePassword],
    ] as const) {
      if (!ROUTE_TOKEN.test(v)) throw new Error(`${what} must match ${ROUTE_TOKEN}, got ${JSON.stringify(v)}`);
    }
    for (const r of [c.host, ...c.routes]) {
      const host = r.includes(':') && !r.startsWith('[') ? r.slice(0, r.lastIndexOf(':')) : r;
      if (!HOST.test(host)) throw new Error(`invalid route host ${JSON.stringify(r)}`);
    }
  }
  return {
    ...(c ? { server_name: c.serverName } : {}),
    host: opts.host,
    port: opts.port,
    ...(opts.httpPort ? { http: `${opts.host}:${opts.httpPort}` } : {}),
    jetstream: { store_dir: opts.storeDir },
    ...(opts.authorization ? { authorization: opts.authorization } : {}),
    ...(opts.tls ? { tls: { cert_file: opts.tls.cert, key_file: opts.tls.key, ...(opts.tls.ca ? { ca_file: opts.tls.ca, verify: true } : {}) } } : {}),
    ...(c
      ? {
          cluster: {
            name: c.name,
            host: c.host,
            port: c.port,
            authorization: { user: c.routeUser, password: c.routePassword, timeout: 2 },
            routes: c.routes.map((r) => `nats-route://${c.routeUser}:${c.routePassword}@${r}`),
            ...(c.tls ? { tls: { cert_file: c.tls.cert, key_file: c.tls.key, ca_file: c.tls.ca, verify: true, timeout: 2 } } : {}),
          },
        }
      : {}),
  };
}

/**
 * The nats-server configuration of the product's own server (or of one member of its cluster): JetStream,
 * and one nkey user per enrolled identity. No user without a key: anonymous clients are refused.
 */
export function renderServerConfig(opts: {
  host: string;
  port: number;
  storeDir: string;
  ns: string;
  identities: EnrolledIdentity[];
  tls?: { cert: string; key: string; ca?: string };
  cluster?: NatsClusterMember;
  httpPort?: number;
}): string {
  const s = new Subjects(opts.ns);
  const users = opts.identities.map((e) => {
    const perms = permissionsFor(e.identity, s, e.publicKey);
    return { nkey: e.publicKey, ...(perms ? { permissions: perms } : {}) };
  });
  const { ns: _ns, identities: _ids, ...server } = opts;
  return JSON.stringify(natsServerConfig({ ...server, authorization: { users } }), null, 2) + '\n';
}
