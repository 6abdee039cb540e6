/** The shared KV lease (leader election and agent target leases) over real NATS. */
import { randomBytes } from 'node:crypto';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import type { Nats } from './connection';
import { KvLease } from './kv-lease';

interface Holder {
  instance: string;
  host: string;
}

describe('KvLease', () => {
  let nats: Nats;
  const buckets: string[] = [];
  const lease = (instance: string, key = 'k', ttlMs = 5_000, bucket = buckets[0]) => new KvLease<Holder>(nats.nc, bucket, key, { instance, host: 'h1' }, ttlMs);

  beforeAll(async () => {
    nats = await openTestNats();
    buckets.push(`lease_${randomBytes(4).toString('hex')}`);
  });
  afterAll(async () => {
    for (const b of buckets) await nats?.jsm.streams.delete(`KV_${b}`).catch(() => undefined);
    await closeTestNats(nats);
  });

  it('given a missing bucket, when the first lease claims, then the bucket is created and the key held', async () => {
    const a = lease('a', 'first');
    expect(await a.claim()).toEqual({ held: true });
    expect(a.held).toBe(true);
    expect((await a.current())?.holder).toEqual({ instance: 'a', host: 'h1' });
    await a.release();
  });

  it('given a held key, when another instance claims, then it is refused and told the holder; the holder renews', async () => {
    const a = lease('a', 'busy');
    const b = lease('b', 'busy');
    expect((await a.claim()).held).toBe(true);
    const r = await b.claim();
    expect(r).toMatchObject({ held: false, current: { holder: { instance: 'a' } } });
    expect(await a.renew()).toEqual({ held: true });
    await a.release();
  });

  it('given a holder, when another instance takes over, then the holder’s next renewal reports the loss and the new holder', async () => {
    const a = lease('a', 'fence');
    const b = lease('b', 'fence');
    await a.claim();
    expect(await b.claim((h) => h?.instance === 'a')).toEqual({ held: true });
    expect(await a.renew()).toEqual({ held: false, holder: { instance: 'b', host: 'h1' } });
    expect(a.held).toBe(false);
    await a.release(); // not ours any more: untouched
    expect((await b.current())?.holder?.instance).toBe('b');
    await b.release();
  });

  it('given a key held by the same instance (a restart in the same slot), when it claims, then it takes it back at once', async () => {
    await lease('slot', 'restart').claim();
    const again = lease('slot', 'restart');
    expect(await again.claim()).toEqual({ held: true });
    expect(await again.renew()).toEqual({ held: true });
    await again.release();
  });

  it('given a released lease, when another instance claims, then it gets it at once', async () => {
    const a = lease('a', 'handover');
    const b = lease('b', 'handover');
    await a.claim();
    await a.release();
    expect(await a.current()).toBeUndefined();
    expect(await b.claim()).toEqual({ held: true });
    await b.release();
  });

  it('given an entry that expired (a late renewal), when the holder renews, then it takes the free key again', async () => {
    buckets.push(`lease_${randomBytes(4).toString('hex')}`);
    const a = lease('a', 'late', 1_000, buckets[1]);
    await a.claim();
    await eventually(async () => (await a.current()) === undefined, 10_000);
    expect(await a.renew()).toEqual({ held: true });
    expect((await a.current())?.holder?.instance).toBe('a');
    await a.release();
  });
});
