/** Shared payload checks: a command comes from the network and must match this agent's target. */
import type { TargetKind } from '@fabric/contracts';

export class InvalidDesiredState extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidDesiredState';
  }
}

export function fail(msg: string): never {
  throw new InvalidDesiredState(msg);
}

export function asObject(v: unknown, what = 'payload'): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) fail(`${what} is not an object`);
  return v as Record<string, unknown>;
}

export function str(o: Record<string, unknown>, key: string, max = 1_000_000): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length > max) fail(`${key} must be a string`);
  return v;
}

export function int(o: Record<string, unknown>, key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`${key} must be an integer in ${min}..${max}`);
  return v;
}

/** kind/targetId/generation/hash common to every desired state. */
export function checkBase(o: Record<string, unknown>, kind: TargetKind, targetId: string): void {
  if (o.kind !== kind) fail(`kind ${JSON.stringify(o.kind)} is not ${kind}`);
  if (o.targetId !== targetId) fail(`targetId ${JSON.stringify(o.targetId)} is not this agent's (${targetId})`);
  int(o, 'generation');
  str(o, 'hash', 200);
}

/** Best effort, for ConfigApplyFailed on a payload that failed validation. */
export function peekBase(v: unknown): { generation: number; hash: string } {
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const generation = typeof o.generation === 'number' && Number.isInteger(o.generation) && o.generation >= 0 ? o.generation : 0;
  const hash = typeof o.hash === 'string' ? o.hash.slice(0, 200) : '';
  return { generation, hash };
}

export const kindOfRole = (role: 'node' | 'rr' | 'frr-router'): TargetKind => (role === 'frr-router' ? 'router' : role);
