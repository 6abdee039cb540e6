/**
 * Reading events back: upcasting of older schema versions and validation of every envelope against the
 * class-validator contracts. A reader never trusts what is on the stream: anything can publish there
 * (an older release, a compromised agent, a hand-made message).
 */
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync, type ValidationError } from 'class-validator';
import { EVENT_CLASSES, type EventEnvelope, type EventType } from './events';

/** Type of a message that carries all events of one decision (atomic multi-event append). */
export const EVENT_BATCH_TYPE = 'EventBatch';
export const EVENT_BATCH_VERSION = 1;

export type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

/** upcasters[type][v] turns data of schemaVersion v into v + 1. */
const upcasters = new Map<string, Map<number, Upcaster>>();

/** Registers how to turn `type` data of `fromVersion` into `fromVersion + 1` (readers chain them). */
export function registerUpcaster(type: EventType, fromVersion: number, fn: Upcaster): void {
  let m = upcasters.get(type);
  if (!m) upcasters.set(type, (m = new Map()));
  m.set(fromVersion, fn);
}

export function clearUpcasters(type?: EventType): void {
  if (type) upcasters.delete(type);
  else upcasters.clear();
}

export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

function flatten(errors: ValidationError[], prefix = ''): string[] {
  const out: string[] = [];
  for (const e of errors) {
    const path = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.constraints) out.push(...Object.values(e.constraints).map((c) => `${path}: ${c}`));
    if (e.children?.length) out.push(...flatten(e.children, path));
  }
  return out;
}

/** Classes with nested objects need class-transformer; flat ones are validated on a cheap instance. */
const nested = new Map<unknown, boolean>();
function instance(cls: new () => object, data: object): object {
  let n = nested.get(cls);
  if (n === undefined) {
    n = getMetadataStorage()
      .getTargetValidationMetadatas(cls, '', true, false)
      .some((m) => m.type === 'nestedValidation');
    nested.set(cls, n);
  }
  return n ? plainToInstance(cls, data) : Object.assign(Object.create(cls.prototype), data);
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Upcasts an envelope to the current schema version of its type and validates it; returns the (possibly
 * new) envelope or throws InvalidEventError with every reason.
 */
export function checkEnvelope<T extends EventEnvelope>(env: T): T {
  if (!env || typeof env !== 'object' || Array.isArray(env)) throw new InvalidEventError('envelope is not an object');
  const problems: string[] = [];
  if (typeof env.id !== 'string' || !env.id) problems.push('id must be a non-empty string');
  if (typeof env.occurredAt !== 'string' || !ISO.test(env.occurredAt)) problems.push('occurredAt must be an ISO 8601 time');
  if (!Number.isInteger(env.schemaVersion) || env.schemaVersion < 1) problems.push('schemaVersion must be a positive integer');
  const cls = Object.prototype.hasOwnProperty.call(EVENT_CLASSES, env.type) ? EVENT_CLASSES[env.type as EventType] : undefined;
  if (!cls) problems.push(`unknown event type ${JSON.stringify(String(env.type)).slice(0, 80)}`);
  if (!env.data || typeof env.data !== 'object' || Array.isArray(env.data)) problems.push('data must be an object');
  if (problems.length || !cls) throw new InvalidEventError(problems.join('; '));
  let out = env;
  if (env.schemaVersion > cls.version) throw new InvalidEventError(`${env.type} schemaVersion ${env.schemaVersion} is newer than this reader's ${cls.version}`);
  if (env.schemaVersion < cls.version) {
    let data: Record<string, unknown> = { ...env.data };
    for (let v = env.schemaVersion; v < cls.version; v++) {
      const up = upcasters.get(env.type)?.get(v);
      if (!up) throw new InvalidEventError(`no upcaster for ${env.type} from schemaVersion ${v}`);
      data = up(data);
    }
    out = { ...env, schemaVersion: cls.version, data } as T;
  }
  const errors = validateSync(instance(cls as never, out.data), { forbidUnknownValues: false });
  if (errors.length) throw new InvalidEventError(`invalid ${env.type}: ${flatten(errors).join('; ')}`.slice(0, 1500));
  return out;
}
