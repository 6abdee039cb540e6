/**
 * Lowest-free-address allocation over an inclusive bigint range, without materialising the range.
 *
 * Invariant: every address in [first, cursor) is either taken or sitting in `freed` (a min-heap of
 * addresses released below the cursor). The cursor only moves forward past taken addresses, and each
 * freed address is pushed once per release, so n allocations with churn cost O(n log n), not O(n²).
 *
 * "Taken" is owned by the caller (e.g. IPAM's ip→vm map) and passed as a predicate to each call, so the
 * allocator holds plain data only (cloneable, comparable in tests). Call `markTaken` after recording an
 * address as taken and `markFree` after forgetting it.
 */
export type TakenPredicate = (value: bigint) => boolean;

export class PoolAllocator {
  private cursor: bigint;
  private readonly freed: bigint[] = [];

  constructor(
    readonly first: bigint,
    readonly last: bigint,
  ) {
    this.cursor = first;
  }

  /**
   * An allocator from its plain fields (a snapshot: structured serialisation keeps the data, not the class).
   * Throws on anything that is not one.
   */
  static revive(plain: unknown): PoolAllocator {
    const p = plain as { first?: unknown; last?: unknown; cursor?: unknown; freed?: unknown } | null;
    if (!p || typeof p.first !== 'bigint' || typeof p.last !== 'bigint' || typeof p.cursor !== 'bigint' || !Array.isArray(p.freed))
      throw new Error('not a pool allocator');
    if (!p.freed.every((v) => typeof v === 'bigint')) throw new Error('not a pool allocator');
    const a = new PoolAllocator(p.first, p.last);
    a.cursor = p.cursor;
    a.freed.push(...(p.freed as bigint[]));
    return a;
  }

  get size(): bigint {
    return this.last >= this.first ? this.last - this.first + 1n : 0n;
  }

  contains(value: bigint): boolean {
    return value >= this.first && value <= this.last;
  }

  /**
   * Lowest address not taken, or undefined when the range is full. Only drops stale hints (taken heap
   * entries, taken addresses at the cursor); after `markTaken` has run this touches nothing.
   */
  lowestFree(isTaken: TakenPredicate): bigint | undefined {
    this.normalize(isTaken);
    if (this.freed.length) return this.freed[0];
    return this.cursor <= this.last ? this.cursor : undefined;
  }

  markTaken(value: bigint, isTaken: TakenPredicate): void {
    if (!this.contains(value)) return;
    this.normalize(isTaken);
  }

  markFree(value: bigint): void {
    if (this.contains(value) && value < this.cursor) heapPush(this.freed, value);
  }

  private normalize(isTaken: TakenPredicate): void {
    while (this.freed.length && isTaken(this.freed[0])) heapPop(this.freed);
    while (this.cursor <= this.last && isTaken(this.cursor)) this.cursor++;
  }
}

function heapPush(h: bigint[], v: bigint): void {
  h.push(v);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p] <= h[i]) break;
    [h[p], h[i]] = [h[i], h[p]];
    i = p;
  }
}

function heapPop(h: bigint[]): bigint | undefined {
  const top = h[0];
  const end = h.pop();
  if (h.length && end !== undefined) {
    h[0] = end;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l] < h[m]) m = l;
      if (r < h.length && h[r] < h[m]) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }
  return top;
}
