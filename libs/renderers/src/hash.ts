import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every depth; array order is kept (it is meaningful). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (v && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    return sortKeys((v as { toJSON: () => unknown }).toJSON());
  }
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** sha256 hex of the canonical JSON: equal content ⇒ equal hash, whatever the key order. */
export function contentHash(obj: unknown): string {
  return createHash('sha256').update(canonicalJson(obj)).digest('hex');
}
