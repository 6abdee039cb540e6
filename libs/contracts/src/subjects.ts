/**
 * Every NATS subject and stream name lives here. A namespace (default `fabric`) prefixes them all so
 * that test runs get their own streams without overlapping subjects (JetStream forbids overlaps).
 */
import type { FabricEvent } from './events';

export type AggregateKind = 'cluster' | 'node' | 'vm' | 'ipam' | 'agent' | 'desired' | 'router' | 'deadletter';

export type TargetKind = 'node' | 'rr' | 'router';

const TOKEN = /^[A-Za-z0-9_-]+$/;

export function assertToken(value: string, what = 'subject token'): string {
  if (!TOKEN.test(value)) throw new Error(`invalid ${what}: ${JSON.stringify(value)}`);
  return value;
}

export class Subjects {
  constructor(readonly ns: string = 'fabric') {
    assertToken(ns, 'namespace');
  }
  /** Stream holding every event (the source of truth). */
  get eventsStream(): string {
    return `${this.ns.toUpperCase()}_EVENTS`;
  }
  /** Stream holding the latest desired state per target (max one message per subject). */
  get commandsStream(): string {
    return `${this.ns.toUpperCase()}_COMMANDS`;
  }
  /** Stream of agent observations (route deltas, session states): bounded by age and size, not a fact store. */
  get observationsStream(): string {
    return `${this.ns.toUpperCase()}_OBSERVATIONS`;
  }
  /**
   * Short-lived claims that serialise appends on a replicated events stream (libs/eventstore/src/append-fence.ts):
   * nats-server 2.9 checks a non-zero expected subject sequence only against what it has applied, so two
   * concurrent appends with the same expectation both succeed on an R3 stream.
   */
  get fencesStream(): string {
    return `${this.ns.toUpperCase()}_FENCES`;
  }
  /** The claim to append after `expectedSeq` on an aggregate subject: `<ns>.fence.<aggregate>.<id…>.<seq>`. */
  fence(aggregateSubject: string, expectedSeq: number): string {
    const prefix = `${this.ns}.evt.`;
    if (!aggregateSubject.startsWith(prefix)) throw new Error(`not an event subject: ${JSON.stringify(aggregateSubject)}`);
    if (!Number.isSafeInteger(expectedSeq) || expectedSeq < 1) throw new Error(`invalid expected sequence ${expectedSeq}`);
    return `${this.ns}.fence.${aggregateSubject.slice(prefix.length)}.${expectedSeq}`;
  }
  fenceAll(): string {
    return `${this.ns}.fence.>`;
  }
  /** An agent's observations of its target (OBSERVATION_TYPES only). */
  obs(kind: TargetKind, id: string): string {
    return `${this.ns}.obs.agent.${kind}.${assertToken(id, 'target id')}`;
  }
  /** A BMP collector's observations of a cluster's core router (docs/adr/bmp-collector.md): same types, its own source. */
  obsBmp(clusterId: string): string {
    return `${this.ns}.obs.bmp.router.${assertToken(clusterId, 'cluster id')}`;
  }
  obsAll(): string {
    return `${this.ns}.obs.>`;
  }
  /**
   * Core NATS (no stream): a consumer whose observations were trimmed asks every agent to state its
   * whole table and sessions again.
   */
  get resyncRequests(): string {
    return `${this.ns}.ctl.agent.resync`;
  }
  evt(aggregate: AggregateKind, ...ids: string[]): string {
    return [this.ns, 'evt', aggregate, ...ids.map((i) => assertToken(i, 'aggregate id'))].join('.');
  }
  evtAll(aggregate?: AggregateKind): string {
    return aggregate ? `${this.ns}.evt.${aggregate}.>` : `${this.ns}.evt.>`;
  }
  /** Declarative config-apply command for one target (node, route reflector, router). */
  cmd(kind: TargetKind, id: string): string {
    return `${this.ns}.cmd.${kind}.${assertToken(id, 'target id')}`;
  }
  cmdAll(kind?: TargetKind): string {
    return kind ? `${this.ns}.cmd.${kind}.*` : `${this.ns}.cmd.>`;
  }
  /** Request/reply subject of a write service (inventory, ipam). */
  rpc(service: 'inventory' | 'ipam', command: string): string {
    return `${this.ns}.rpc.${service}.${assertToken(command, 'command')}`;
  }
  rpcAll(service: 'inventory' | 'ipam'): string {
    return `${this.ns}.rpc.${service}.*`;
  }
  /**
   * Core NATS request/reply: the leading instance of a deriver answers what its targets' configs would be with
   * other BGP settings (a dry run of PATCH /clusters/:id/bgp; nothing is written). Only the gateway asks.
   */
  bgpPreview(service: DeriverService): string {
    return `${this.ns}.rpc.${service}.PreviewBgpSettings`;
  }
  /**
   * Core NATS request/reply: the leading instance of a deriver renders the targets that hypothetical events would
   * change (the dry run of any write, `?dryRun=true`; nothing is written). Only the gateway asks.
   */
  eventsPreview(service: DeriverService): string {
    return `${this.ns}.rpc.${service}.PreviewEvents`;
  }
  /** Durable consumer names are per namespace too (they live inside the namespaced stream). */
  durable(name: string): string {
    return assertToken(`${this.ns}_${name}`, 'durable name');
  }
}

export const HEADER_EVENT_TYPE = 'Fabric-Event-Type';

/**
 * Body of a resync request: empty = every agent and collector; `{"targets":["rr:<id>","router:<id>"]}` = only those
 * agents (a consumer that found one target's routes out of step with its reports).
 */
export function resyncRequestBody(targets: { kind: string; id: string }[]): string {
  return JSON.stringify({ targets: targets.map((t) => `${t.kind}:${t.id}`) });
}

/** Whether a resync request (its body) is addressed to the agent of `kind`/`id`; anything unreadable counts as "all". */
export function resyncAddressedTo(body: string, kind: string, id: string): boolean {
  if (!body) return true;
  try {
    const targets = (JSON.parse(body) as { targets?: unknown }).targets;
    if (!Array.isArray(targets)) return true;
    return targets.includes(`${kind}:${id}`);
  } catch {
    return true;
  }
}

/**
 * Agent reports that re-derive from the daemons (a resync states them again): they go to the observations
 * stream, which has retention. ConfigApplied / ConfigApplyFailed stay facts in the events stream.
 */
export type DeriverService = 'route-announcer' | 'rr-config' | 'router-config';
export const DERIVER_SERVICES: readonly DeriverService[] = ['route-announcer', 'rr-config', 'router-config'];

/** PreviewBgpSettings request: the settings after the change (no secret), as the inventory's dry run answers them. */
export interface BgpPreviewRequest {
  clusterId: string;
  community: string;
  /** BgpOptions without md5Password. */
  bgp: Record<string, unknown>;
  /** A new MD5 secret would be set (rendered as a placeholder, redacted in any answer). */
  md5Rotated: boolean;
}
/** Its reply: each target's whole config text as it would be rendered (secrets as references), or why not. */
export interface BgpPreviewReply {
  targets?: { kind: TargetKind; targetId: string; config: string }[];
  error?: string;
}

/** PreviewEvents request: the events a write would append (its dry run's decision). */
export interface EventsPreviewRequest {
  events: FabricEvent[];
}
/**
 * Its reply: each target the events touch with its config text as it would be rendered (secrets as references),
 * or why not. An RR's text is its command's BIRD config followed by the node parts the events touch
 * (`currentParts`: those parts as the node-parts bucket holds them now, which only rr-config reads). A target the
 * events make unrenderable has `error` (the reason) and an empty `config`.
 */
export interface EventsPreviewReply {
  targets?: { kind: TargetKind; targetId: string; name: string; config: string; currentParts?: string; error?: string }[];
  error?: string;
}

export const OBSERVATION_TYPES: ReadonlySet<string> = new Set(['RoutesChanged', 'RoutesObserved', 'BgpSessionStateChanged', 'BfdSessionStateChanged']);

/**
 * Who published an event is its subject (NATS permissions bind each identity to its subjects), never a
 * field of the payload. Returns why an event may not be trusted, or undefined: its type must belong to
 * the aggregate of its subject (an agent may only publish agent reports on its own subject).
 */
export function untrustedEventReason(subject: string, type: string, aggregateOfType: (type: string) => string | undefined): string | undefined {
  const parts = subject.split('.');
  if (parts[1] === 'obs') {
    const bmp = parts[2] === 'bmp' && parts[3] === 'router';
    if (parts.length !== 5 || !(bmp || (parts[2] === 'agent' && ['node', 'rr', 'router'].includes(parts[3]))))
      return `malformed observation subject ${subject}`;
    if (bmp && type !== 'RoutesChanged') return `${type} is not a BMP observation (subject ${subject})`;
    if (!OBSERVATION_TYPES.has(type)) return `${type} is not an observation (subject ${subject})`;
    return undefined;
  }
  if (parts.length < 4 || parts[1] !== 'evt') return `not an event subject: ${subject}`;
  const expected = aggregateOfType(type);
  if (!expected) return `unknown event type ${JSON.stringify(type)} on ${subject}`;
  if (parts[2] !== expected) return `${type} is not a ${parts[2]} event (subject ${subject})`;
  if ((expected === 'agent' || expected === 'desired') && (parts.length !== 5 || !['node', 'rr', 'router'].includes(parts[3])))
    return `malformed target subject ${subject}`;
  return undefined;
}

/**
 * The target (node, RR, router) an agent report or desired-state event is about: from its subject
 * `<ns>.evt.<agent|desired>.<kind>.<id>` or `<ns>.obs.agent.<kind>.<id>`; a BMP collector's `<ns>.obs.bmp.router.<clusterId>`
 * is the cluster's router with `source: 'bmp'`.
 */
export function subjectTarget(subject: string): { kind: TargetKind; id: string; source?: 'bmp' } | undefined {
  const parts = subject.split('.');
  if (parts.length === 5 && parts[1] === 'obs' && parts[2] === 'bmp' && parts[3] === 'router') return { kind: 'router', id: parts[4], source: 'bmp' };
  if (parts.length !== 5 || (parts[1] === 'obs' ? parts[2] !== 'agent' : parts[1] !== 'evt' || (parts[2] !== 'agent' && parts[2] !== 'desired')))
    return undefined;
  if (!['node', 'rr', 'router'].includes(parts[3])) return undefined;
  return { kind: parts[3] as TargetKind, id: parts[4] };
}
