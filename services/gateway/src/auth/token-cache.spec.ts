import { DEFAULT_TOKEN_CACHE_MS, TokenCache, tokenCacheMsFromEnv } from './token-cache';

const alice = { id: 'a', name: 'alice' };
const bob = { id: 'b', name: 'bob' };

function cache(ttlMs = 1000, maxEntries = 100) {
  let t = 0;
  const c = new TokenCache<typeof alice>({ ttlMs, maxEntries, now: () => t });
  return { c, at: (ms: number) => (t = ms) };
}

describe('TokenCache', () => {
  it('given a verified token, when asked within the TTL, then it answers without a lookup; after the TTL it does not', () => {
    const { c, at } = cache(1000);
    c.put('h1', alice, c.ticket());
    at(999);
    expect(c.get('h1')).toBe(alice);
    at(1000);
    expect(c.get('h1')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('keeps the TTL from the lookup, not from the last use', () => {
    const { c, at } = cache(1000);
    c.put('h1', alice, c.ticket());
    for (const t of [200, 400, 600, 800]) {
      at(t);
      expect(c.get('h1')).toBe(alice);
    }
    at(1000);
    expect(c.get('h1')).toBeUndefined();
  });

  it('given a revocation on this instance, then every entry of that token id is gone at once, others stay', () => {
    const { c } = cache();
    c.put('h1', alice, c.ticket());
    c.put('h2', bob, c.ticket());
    c.revoked('a');
    expect(c.get('h1')).toBeUndefined();
    expect(c.get('h2')).toBe(bob);
  });

  it('does not cache a lookup that overlapped a revocation (it may have read the row before the revoke)', () => {
    const { c } = cache();
    const ticket = c.ticket(); // lookup starts
    c.revoked('a'); // revoke commits meanwhile
    c.put('h1', alice, ticket); // lookup answers what it read before
    expect(c.get('h1')).toBeUndefined();
    c.put('h2', bob, c.ticket()); // lookups started after it are cached again
    expect(c.get('h2')).toBe(bob);
  });

  it('holds at most maxEntries, dropping the oldest lookup first', () => {
    const { c } = cache(1000, 2);
    c.put('h1', alice, c.ticket());
    c.put('h2', bob, c.ticket());
    c.put('h3', { id: 'c', name: 'carol' }, c.ticket());
    expect(c.size).toBe(2);
    expect(c.get('h1')).toBeUndefined();
    expect(c.get('h2')).toBe(bob);
  });

  it('caches nothing with a TTL of 0', () => {
    const { c } = cache(0);
    c.put('h1', alice, c.ticket());
    expect(c.get('h1')).toBeUndefined();
  });

  it('reads FABRIC_TOKEN_CACHE_MS, falling back to the default on a malformed value', () => {
    expect(tokenCacheMsFromEnv({})).toBe(DEFAULT_TOKEN_CACHE_MS);
    expect(tokenCacheMsFromEnv({ FABRIC_TOKEN_CACHE_MS: '0' })).toBe(0);
    expect(tokenCacheMsFromEnv({ FABRIC_TOKEN_CACHE_MS: '250' })).toBe(250);
    expect(tokenCacheMsFromEnv({ FABRIC_TOKEN_CACHE_MS: '-1' })).toBe(DEFAULT_TOKEN_CACHE_MS);
    expect(tokenCacheMsFromEnv({ FABRIC_TOKEN_CACHE_MS: '5s' })).toBe(DEFAULT_TOKEN_CACHE_MS);
  });
});
