import { ConcurrencyError, EventStore, Nats, fenceMode } from '@fabric/eventstore';
import { eventually, startNatsCluster, type TestNatsCluster, uniqueNs } from '@fabric/testing/infra';
import type { FabricEvent } from '@fabric/contracts';

/**
 * Appends with an expected subject sequence on an events stream with three replicas (a 3-server NATS cluster),
 * where nats-server 2.9 does not check the expectation exactly by itself (append-fence.ts).
 */
describe('expected-sequence appends on a replicated events stream (3-server NATS cluster)', () => {
  let cluster: TestNatsCluster | undefined;
  const conns: Nats[] = [];
  const ttl = process.env.FABRIC_FENCE_TTL_MS;
  const event = (n: number): FabricEvent => ({ type: 'IpReleased', data: { clusterId: 'c', vmId: `vm-${n}` } }) as never;

  beforeAll(async () => {
    process.env.FABRIC_FENCE_TTL_MS = '2000'; // the abandoned-claim case waits for one TTL
    cluster = await startNatsCluster(3);
    const ns = uniqueNs('fence');
    const urls = cluster.urls;
    for (let k = 0; k < 4; k++) conns.push(await Nats.connect({ servers: [...urls.slice(k % 3), ...urls.slice(0, k % 3)].join(','), ns }));
    await conns[0].ensureStreams(3);
  }, 60_000);
  afterAll(async () => {
    if (ttl === undefined) delete process.env.FABRIC_FENCE_TTL_MS;
    else process.env.FABRIC_FENCE_TTL_MS = ttl;
    await conns[0]?.destroyStreams().catch(() => undefined);
    for (const c of conns) await c.close();
    await cluster?.stop();
  });

  it('given four writers racing on one aggregate, then each stored append follows the very event its writer expected', async () => {
    const stores = conns.map((c) => new EventStore(c));
    const subject = stores[0].subjects.evt('ipam', 'race');
    let conflicts = 0;
    let stored = 0;
    // Each writer reads the aggregate's last sequence and appends after it, as a decider would; the expectation is kept
    // in the event id to check the chain afterwards.
    await Promise.all(
      stores.map(async (store, w) => {
        for (let i = 0; stored < 400; i++) {
          const expected = await store.lastSeq(subject);
          try {
            await store.append(subject, [{ id: `w${w}-${i}-after-${expected}`, event: event(i) }], expected);
            stored++;
          } catch (err) {
            if (!(err instanceof ConcurrencyError)) throw err;
            conflicts++;
          }
        }
      }),
    );
    const events = await stores[0].read(subject);
    const broken: string[] = [];
    let previous = 0;
    for (const e of events) {
      const after = Number(e.id.slice(e.id.lastIndexOf('-') + 1));
      if (after !== previous) broken.push(`seq ${e.seq} was appended after ${after}, but ${previous} came before it`);
      previous = e.seq;
    }
    expect(conflicts).toBeGreaterThan(0); // the writers did race
    expect(broken).toEqual([]);
  }, 120_000);

  it('given a claim whose writer died before appending, then the position is refused until the claim expires, and free after', async () => {
    if (fenceMode() === 'off') return;
    const [a, b] = [new EventStore(conns[0]), new EventStore(conns[1])];
    const subject = a.subjects.evt('ipam', 'abandoned');
    const first = await a.append(subject, [{ id: 'abandoned-1', event: event(1) }], 0);
    const pos = first.seqs[0];
    await a.fence.claim(subject, pos, 'never-appended'); // the writer dies here
    await expect(b.append(subject, [{ id: 'abandoned-2', event: event(2) }], pos)).rejects.toBeInstanceOf(ConcurrencyError);
    // The same writer retrying the same message (its answer was lost) finds its own claim.
    await expect(a.fence.claim(subject, pos, 'never-appended')).resolves.toEqual(expect.any(Number));
    const t0 = Date.now();
    await eventually(
      () =>
        b.append(subject, [{ id: 'abandoned-2', event: event(2) }], pos).then(
          () => true,
          (err) => (err instanceof ConcurrencyError ? false : Promise.reject(err)),
        ),
      30_000,
      100,
      'the position is free again',
    );
    expect(Date.now() - t0).toBeLessThan(2000 + 5000); // one TTL, plus the server's expiry tick
    expect((await b.read(subject)).map((e) => e.id)).toEqual(['abandoned-1', 'abandoned-2']);
  }, 60_000);
});
