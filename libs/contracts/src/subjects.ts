/**
 * Every NATS subject and stream name lives here. A namespace (default `fabric`) prefixes them all so
 * that test runs get their own streams without overlapping subjects (JetStream forbids overlaps).
 */
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
  /** An agent's observations of its target (OBSERVATION_TYPES only). */
  obs(kind: TargetKind, id: string): string {
    return `${this.ns}.obs.agent.${kind}.${assertToken(id, 'target id')}`;
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
  /** Durable consumer names are per namespace too (they live inside the namespaced stream). */
  durable(name: string): string {
    return assertToken(`${this.ns}_${name}`, 'durable name');
  }
}

export const HEADER_EVENT_TYPE = 'Fabric-Event-Type';

/**
 * Agent reports that re-derive from the daemons (a resync states them again): they go to the observations
 * stream, which has retention. ConfigApplied / ConfigApplyFailed stay facts in the events stream.
 */
export const OBSERVATION_TYPES: ReadonlySet<string> = new Set(['RoutesChanged', 'RoutesObserved', 'BgpSessionStateChanged']);

/**
 * Who published an event is its subject (NATS permissions bind each identity to its subjects), never a
 * field of the payload. Returns why an event may not be trusted, or undefined: its type must belong to
 * the aggregate of its subject (an agent may only publish agent reports on its own subject).
 */
export function untrustedEventReason(subject: string, type: string, aggregateOfType: (type: string) => string | undefined): string | undefined {
  const parts = subject.split('.');
  if (parts[1] === 'obs') {
    if (parts.length !== 5 || parts[2] !== 'agent' || !['node', 'rr', 'router'].includes(parts[3])) return `malformed observation subject ${subject}`;
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
 * `<ns>.evt.<agent|desired>.<kind>.<id>` or `<ns>.obs.agent.<kind>.<id>`.
 */
export function subjectTarget(subject: string): { kind: TargetKind; id: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 5 || (parts[1] === 'obs' ? parts[2] !== 'agent' : parts[1] !== 'evt' || (parts[2] !== 'agent' && parts[2] !== 'desired')))
    return undefined;
  if (!['node', 'rr', 'router'].includes(parts[3])) return undefined;
  return { kind: parts[3] as TargetKind, id: parts[4] };
}
