import { PoolAllocator } from './allocator';
import { bigIntToIp, ipToBigInt } from './address';
import { usableRange } from './cidr';

function harness(first: bigint, last: bigint) {
  const taken = new Set<bigint>();
  const isTaken = (v: bigint) => taken.has(v);
  const a = new PoolAllocator(first, last);
  return {
    a,
    taken,
    alloc(): bigint | undefined {
      const v = a.lowestFree(isTaken);
      if (v !== undefined) this.take(v);
      return v;
    },
    take(v: bigint) {
      taken.add(v);
      a.markTaken(v, isTaken);
    },
    free(v: bigint) {
      taken.delete(v);
      a.markFree(v);
    },
  };
}

describe('PoolAllocator', () => {
  it('hands out the lowest free address, in order', () => {
    const h = harness(10n, 14n);
    expect([h.alloc(), h.alloc(), h.alloc()]).toEqual([10n, 11n, 12n]);
    expect(h.a.size).toBe(5n);
  });

  it('reuses the lowest released address first', () => {
    const h = harness(0n, 100n);
    for (let i = 0; i < 10; i++) h.alloc();
    h.free(7n);
    h.free(3n);
    expect(h.alloc()).toBe(3n);
    expect(h.alloc()).toBe(7n);
    expect(h.alloc()).toBe(10n);
  });

  it('skips addresses taken out of order (requested addresses)', () => {
    const h = harness(0n, 10n);
    h.take(1n);
    h.take(2n);
    h.take(5n);
    expect([h.alloc(), h.alloc(), h.alloc(), h.alloc()]).toEqual([0n, 3n, 4n, 6n]);
  });

  it('handles a released address that was requested again before reuse', () => {
    const h = harness(0n, 10n);
    for (let i = 0; i < 5; i++) h.alloc();
    h.free(2n);
    h.take(2n); // someone asked for exactly 2
    h.free(1n);
    expect(h.alloc()).toBe(1n);
    expect(h.alloc()).toBe(5n);
  });

  it('reports exhaustion and recovers after a release', () => {
    const h = harness(0n, 2n);
    h.alloc();
    h.alloc();
    h.alloc();
    expect(h.alloc()).toBeUndefined();
    h.free(1n);
    expect(h.alloc()).toBe(1n);
    expect(h.alloc()).toBeUndefined();
  });

  it('works on a 2^64 IPv6 range without materialising it', () => {
    const u = usableRange('2001:db8::/64');
    const h = harness(u.first, u.last);
    expect(bigIntToIp(h.alloc()!, 6)).toBe('2001:db8::1');
    expect(h.a.size).toBe((1n << 64n) - 1n);
    h.take(ipToBigInt('2001:db8::2'));
    expect(bigIntToIp(h.alloc()!, 6)).toBe('2001:db8::3');
  });

  it('ignores addresses outside its range', () => {
    const h = harness(10n, 20n);
    h.take(5n);
    h.free(30n);
    expect(h.alloc()).toBe(10n);
  });

  it('stays fast with 20,000 allocations and heavy churn', () => {
    const h = harness(0n, 65535n);
    const got = new Set<bigint>();
    for (let i = 0; i < 20000; i++) got.add(h.alloc()!);
    expect(got.size).toBe(20000);
    for (let i = 0; i < 20000; i += 2) h.free(BigInt(i));
    for (let i = 0; i < 10000; i++) expect(h.alloc()).toBe(BigInt(2 * i));
    expect(h.alloc()).toBe(20000n);
  });
});
