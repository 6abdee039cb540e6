/**
 * Saving and restoring the collections (Maps, Sets) that make up a pure in-memory model, for its snapshot
 * (docs/adr/model-snapshots.md). Pure: the serialisation itself (v8 structured data, gzip, chunks) is
 * libs/eventstore/src/snapshot-store.ts. A model names its collection fields once; `saveCollections` returns
 * them by reference (the snapshot is serialised synchronously), `restoreCollections` checks every field has
 * the right kind before replacing any, so a snapshot it does not recognise leaves the model untouched.
 */
export type ModelCollection = Map<unknown, unknown> | Set<unknown>;

export function saveCollections(model: object, fields: readonly string[]): Record<string, ModelCollection> {
  const m = model as Record<string, unknown>;
  const out: Record<string, ModelCollection> = {};
  for (const f of fields) out[f] = m[f] as ModelCollection;
  return out;
}

export function restoreCollections(model: object, fields: readonly string[], data: unknown): void {
  const m = model as Record<string, unknown>;
  if (!data || typeof data !== 'object') throw new Error('snapshot is not an object');
  const d = data as Record<string, unknown>;
  for (const f of fields) {
    const target = m[f];
    const src = d[f];
    // By tag, not instanceof: deserialised data may come from another realm (a vm context, a test runner).
    const ok = kindOf(target) !== undefined && kindOf(target) === kindOf(src);
    if (!ok) throw new Error(`snapshot field ${f} is missing or of another kind`);
  }
  for (const f of fields) {
    const target = m[f] as ModelCollection;
    target.clear();
    if (target instanceof Map) for (const [k, v] of d[f] as Map<unknown, unknown>) target.set(k, v);
    else for (const v of d[f] as Set<unknown>) target.add(v);
  }
}

const kindOf = (x: unknown): 'Map' | 'Set' | undefined => {
  const tag = Object.prototype.toString.call(x);
  return tag === '[object Map]' ? 'Map' : tag === '[object Set]' ? 'Set' : undefined;
};
