import { randomBytes } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { closeTestNats, openTestNats } from '@fabric/testing/infra';
import type { Nats } from './connection';
import { snapshotsBucket } from './nats-auth';
import { SNAPSHOT_CHUNK_BYTES, SnapshotStore } from './snapshot-store';

describe('SnapshotStore (real NATS)', () => {
  let nats: Nats;
  const kv = () => new Kvm(nats.nc).open(snapshotsBucket(nats.subjects));
  const keys = async () => {
    const out: string[] = [];
    for await (const k of await (await kv()).keys()) out.push(k);
    return out.sort();
  };

  beforeAll(async () => {
    nats = await openTestNats();
  });
  afterAll(() => closeTestNats(nats));

  it('given a model larger than one message, when saved and loaded, then it comes back whole (Maps, Sets, bigints), in chunks under 64 kB', async () => {
    const store = new SnapshotStore(nats.nc, nats.subjects, 'svc-a');
    // Random bytes do not compress: several chunks.
    const blob = randomBytes(SNAPSHOT_CHUNK_BYTES * 3).toString('base64');
    const data = { m: new Map([['k', { v: 1n, s: new Set(['x']) }]]), blob };
    const head = await store.save('model', 1, 42, data, { observations: 7 });
    expect(head.chunks).toBeGreaterThan(3);
    const r = await new SnapshotStore(nats.nc, nats.subjects, 'svc-a').load<typeof data>('model', 1);
    expect(r.outcome).toBe('loaded');
    if (r.outcome !== 'loaded') return;
    expect(r.snapshot.head).toMatchObject({ seq: 42, positions: { observations: 7 }, schema: 1 });
    expect(r.snapshot.data.blob).toBe(blob);
    expect(r.snapshot.data.m.get('k')!.v).toBe(1n);
    expect([...r.snapshot.data.m.get('k')!.s]).toEqual(['x']);
    for (const e of await Promise.all((await keys()).map(async (k) => (await (await kv()).get(k))!))) expect(e.value.length).toBeLessThan(64 * 1024);
  });

  it('given a smaller snapshot after a larger one, then the slots alternate and the stale chunks are purged', async () => {
    const store = new SnapshotStore(nats.nc, nats.subjects, 'svc-b');
    const big = await store.save('m', 1, 1, randomBytes(SNAPSHOT_CHUNK_BYTES * 2).toString('hex'));
    const second = await store.save('m', 1, 2, 'small');
    expect(second.slot).not.toBe(big.slot);
    const third = await store.save('m', 1, 3, 'small again');
    expect(third.slot).toBe(big.slot);
    // Only the head, slot b's one chunk and slot a's one chunk remain.
    expect((await keys()).filter((k) => k.startsWith('svc-b.'))).toEqual(['svc-b.m', 'svc-b.m.a.0', 'svc-b.m.b.0']);
    const r = await store.load<string>('m', 1);
    expect(r.outcome === 'loaded' && r.snapshot.data).toBe('small again');
  });

  it('given a corrupt chunk, another schema version or no snapshot, then load refuses (or reports missing) and never throws', async () => {
    const store = new SnapshotStore(nats.nc, nats.subjects, 'svc-c');
    expect(await store.load('m', 1)).toEqual({ outcome: 'missing' });
    const head = await store.save('m', 1, 5, { a: 1 });
    expect(await store.load('m', 2)).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/schema version 1/) });
    await (await kv()).put(`svc-c.m.${head.slot}.0`, new TextEncoder().encode('garbage'));
    expect(await store.load('m', 1)).toMatchObject({ outcome: 'refused', reason: expect.stringMatching(/size|digest/) });
    await (await kv()).put('svc-c.m', new TextEncoder().encode('{not json'));
    expect(await store.load('m', 1)).toMatchObject({ outcome: 'refused', reason: 'head is not JSON' });
  });
});
