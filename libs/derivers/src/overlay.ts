/**
 * Copy-on-write views of a deriver's model for dry runs (PreviewEvents): hypothetical events are folded into a
 * view whose collections read through to the live model and copy an entry only when it is first read, so the
 * live model is never changed and the work is proportional to the entries the events touch, not to the model.
 * Pure: no framework, no I/O.
 */
import type { FabricEvent } from '@fabric/contracts';

const isPlain = (v: object) => {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
};

/** A private copy of `v` for the view: collections as overlays, plain objects and arrays copied one level at a time. */
export function cow<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof OverlayMap || v instanceof OverlaySet) return v.fork() as T;
  if (v instanceof Map) return new OverlayMap(v) as T;
  if (v instanceof Set) return new OverlaySet(v) as T;
  if (Array.isArray(v)) return v.map(cow) as T;
  if (v instanceof Date) return new Date(v.getTime()) as T;
  if (isPlain(v)) {
    const out: Record<string, unknown> = Object.create(Object.getPrototypeOf(v));
    for (const [k, x] of Object.entries(v)) out[k] = cow(x);
    return out as T;
  }
  return overlayModel(v);
}

/**
 * A view of a model object (class instance): same prototype (same methods), every field a copy-on-write view
 * of the live one. Folding events into the view leaves `model` as it was.
 */
export function overlayModel<T extends object>(model: T): T {
  const view = Object.create(Object.getPrototypeOf(model)) as Record<string, unknown>;
  for (const [k, v] of Object.entries(model)) view[k] = cow(v);
  return view as T;
}

/** A Map that reads through to `base` and keeps every write (and a copy of every entry read) to itself. */
export class OverlayMap<K, V> extends Map<K, V> {
  private readonly base: ReadonlyMap<K, V>;
  /** Keys of `base` that this view holds itself or removed: the base's entry is hidden. */
  private readonly shadowed = new Set<K>();
  private readonly removed = new Set<K>();

  constructor(base: ReadonlyMap<K, V>) {
    super();
    this.base = base;
  }

  /** Entries copied from the base or written: what the view cost. */
  get touched(): number {
    return super.size + this.removed.size;
  }

  /** An independent view with this one's content (a view of a view). */
  fork(): OverlayMap<K, V> {
    return new OverlayMap<K, V>(this);
  }

  override get(k: K): V | undefined {
    if (super.has(k)) return super.get(k);
    if (this.removed.has(k) || !this.base.has(k)) return undefined;
    const v = cow(this.base.get(k) as V);
    super.set(k, v);
    this.shadowed.add(k);
    return v;
  }

  override has(k: K): boolean {
    return super.has(k) || (!this.removed.has(k) && this.base.has(k));
  }

  override set(k: K, v: V): this {
    // Called by Map's constructor before the fields exist (never with entries: super() gets none).
    if (!this.removed) return super.set(k, v);
    this.removed.delete(k);
    if (this.base.has(k)) this.shadowed.add(k);
    return super.set(k, v);
  }

  override delete(k: K): boolean {
    const had = this.has(k);
    super.delete(k);
    if (this.base.has(k)) {
      this.removed.add(k);
      this.shadowed.add(k);
    }
    return had;
  }

  override clear(): void {
    for (const k of this.base.keys()) {
      this.removed.add(k);
      this.shadowed.add(k);
    }
    super.clear();
  }

  override get size(): number {
    return super.size + this.base.size - this.shadowed.size;
  }

  override *keys(): MapIterator<K> {
    const own = [...super.keys()];
    yield* own;
    for (const k of this.base.keys()) if (!this.shadowed.has(k)) yield k;
  }

  override *entries(): MapIterator<[K, V]> {
    for (const k of [...this.keys()]) yield [k, this.get(k) as V];
  }

  override *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  override [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  override forEach(fn: (v: V, k: K, m: Map<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }
}

/** A Set that reads through to `base` and keeps its additions and removals to itself (members are values). */
export class OverlaySet<T> extends Set<T> {
  private readonly base: ReadonlySet<T>;
  private readonly removed = new Set<T>();

  constructor(base: ReadonlySet<T>) {
    super();
    this.base = base;
  }

  get touched(): number {
    return super.size + this.removed.size;
  }

  fork(): OverlaySet<T> {
    return new OverlaySet<T>(this);
  }

  override has(v: T): boolean {
    return super.has(v) || (!this.removed.has(v) && this.base.has(v));
  }

  override add(v: T): this {
    if (!this.removed) return super.add(v);
    if (this.base.has(v)) {
      this.removed.delete(v);
      return this;
    }
    return super.add(v);
  }

  override delete(v: T): boolean {
    if (super.delete(v)) return true;
    if (this.removed.has(v) || !this.base.has(v)) return false;
    this.removed.add(v);
    return true;
  }

  override clear(): void {
    for (const v of this.base) this.removed.add(v);
    super.clear();
  }

  override get size(): number {
    return super.size + this.base.size - this.removed.size;
  }

  override *values(): SetIterator<T> {
    const own = [...super.values()];
    for (const v of this.base) if (!this.removed.has(v)) yield v;
    yield* own;
  }

  override keys(): SetIterator<T> {
    return this.values();
  }

  override *entries(): SetIterator<[T, T]> {
    for (const v of this.values()) yield [v, v];
  }

  override [Symbol.iterator](): SetIterator<T> {
    return this.values();
  }

  override forEach(fn: (v: T, k: T, s: Set<T>) => void, thisArg?: unknown): void {
    for (const v of this.values()) fn.call(thisArg, v, v, this);
  }
}

/** A model that folds events and names the targets each one touched (the derivers' pure models). */
export interface FoldingModel {
  apply(event: FabricEvent, seq?: number): string[];
}

/**
 * Folds hypothetical events into a copy-on-write view of `model`; the view is read at once (synchronously): it is
 * not valid once the model folds further events. Returns the view (render the touched targets
 * from it) and the targets the events touched, in order, once each. `model` is not changed.
 */
export function previewFold<M extends FoldingModel>(model: M, events: readonly FabricEvent[]): { view: M; touched: string[] } {
  const view = overlayModel(model);
  const touched = new Set<string>();
  for (const e of events) for (const id of view.apply(e, 0)) touched.add(id);
  return { view, touched: [...touched] };
}
