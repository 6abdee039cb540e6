/**
 * The RR agent's ROA feed over a real NATS KV bucket and a real TCP router end: the first pass of the
 * cluster's placements, deltas as one serial each, other clusters never seen, and the reload of only the
 * sessions whose origin tags a change touched.
 */
import { randomUUID } from 'node:crypto';
import { type Nats } from '@fabric/eventstore';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { RoaFeed } from './feed';
import { PDU, parsePrefixPdu, roa } from './codec';
import { Router, resetQuery, serialQuery } from './test-router';
import { setPlacements } from './test-placements';

const cluster = randomUUID();
const other = randomUUID();
const T1 = 4200000001;
const T2 = 4200000002;

describe('RoaFeed (real NATS KV, RTR over TCP)', () => {
  let nats: Nats;
  let feed: RoaFeed | undefined;
  let router: Router | undefined;
  const reloads: (string[] | 'all')[] = [];

  beforeAll(async () => {
    nats = await openTestNats();
    await setPlacements(nats, cluster, [
      { ip: '203.0.113.10', tag: T1 },
      { ip: '2001:db8::1:5', tag: T2 },
    ]);
    await setPlacements(nats, other, [{ ip: '203.0.113.99', tag: T1 }]);
    feed = new RoaFeed({
      nats,
      clusterId: cluster,
      socketDir: '/tmp',
      port: 0,
      protocolOf: (t) => ({ [T1]: 'node_a', [T2]: 'node_b' })[t],
      reload: async (p) => void reloads.push(p),
    });
    await feed.start();
  });

  afterAll(async () => {
    router?.sock.destroy();
    await feed?.stop();
    await closeTestNats(nats);
  });

  it("serves its cluster's placements on a Reset Query (nothing of another cluster) and reloads every session", async () => {
    router = await Router.connect(feed!.port!);
    router.send(resetQuery(1));
    const got = await router.until(PDU.EndOfData);
    const roas = got.filter((p) => p.readUInt8(1) === PDU.Ipv4Prefix || p.readUInt8(1) === PDU.Ipv6Prefix).map((p) => parsePrefixPdu(p).roa);
    expect(roas).toEqual(expect.arrayContaining([roa('203.0.113.10/32', 32, T1), roa('2001:db8::1:5/128', 128, T2)]));
    expect(roas).toHaveLength(2);
    await eventually(() => reloads.includes('all'), 5000, 10, 'full reload');
  });

  it('a placement and a removal reach the router as a Serial Notify and a diff; only the touched session reloads', async () => {
    reloads.length = 0;
    const session = feed!.cache.sessionId;
    await setPlacements(nats, cluster, [{ ip: '203.0.113.11', tag: T1 }], [{ ip: '2001:db8::1:5', tag: T2 }]);
    await router!.until(PDU.SerialNotify);
    // The put and the purge may land as two serials: ask for the diff once the cache holds both.
    await eventually(
      () => feed!.cache.has(roa('203.0.113.11/32', 32, T1)) && !feed!.cache.has(roa('2001:db8::1:5/128', 128, T2)),
      5000,
      10,
      'both changes applied',
    );
    router!.send(serialQuery(1, session, 1));
    let got = await router!.until(PDU.EndOfData);
    const diff = got.filter((p) => p.readUInt8(1) === PDU.Ipv4Prefix || p.readUInt8(1) === PDU.Ipv6Prefix).map((p) => parsePrefixPdu(p));
    // Batched or not, the net change since serial 1: one announce, one withdraw.
    expect(diff).toEqual(
      expect.arrayContaining([
        { version: 1, announce: true, roa: roa('203.0.113.11/32', 32, T1) },
        { version: 1, announce: false, roa: roa('2001:db8::1:5/128', 128, T2) },
      ]),
    );
    await eventually(() => reloads.flat().includes('node_a') && reloads.flat().includes('node_b'), 5000, 10, 'reloads');
    expect(reloads.every((r) => r !== 'all')).toBe(true);

    // Another cluster's change is never seen: no notify, no reload.
    reloads.length = 0;
    const serial = feed!.cache.serial;
    await setPlacements(nats, other, [{ ip: '203.0.113.98', tag: T2 }]);
    await setPlacements(nats, cluster, [{ ip: '203.0.113.12', tag: T2 }]);
    await eventually(() => feed!.cache.serial > serial, 5000, 10, 'next serial');
    router!.send(serialQuery(1, session, serial));
    got = await router!.until(PDU.EndOfData);
    expect(got.filter((p) => p.readUInt8(1) === PDU.Ipv4Prefix).map((p) => parsePrefixPdu(p).roa)).toEqual([roa('203.0.113.12/32', 32, T2)]);
    expect(feed!.cache.all().some((r) => r.address === '203.0.113.98')).toBe(false);
  });

  it('the periodic re-read repairs a cache that lost a placement or kept a stale one, and the router gets the diff', async () => {
    const lost = roa('203.0.113.12/32', 32, T2);
    const stale = roa('203.0.113.77/32', 32, T1);
    // What a lost delta leaves behind: a placement of the bucket missing from the cache, and one too many.
    feed!.cache.apply([
      { announce: false, roa: lost },
      { announce: true, roa: stale },
    ]);
    const serial = feed!.cache.serial;
    reloads.length = 0;
    feed!.resync();
    await eventually(() => feed!.cache.has(lost) && !feed!.cache.has(stale), 10000, 20, 'cache equal to the bucket again');
    expect(feed!.resyncRepairs).toBe(1);
    router!.send(serialQuery(1, feed!.cache.sessionId, serial));
    const got = await router!.until(PDU.EndOfData);
    expect(got.filter((p) => p.readUInt8(1) === PDU.Ipv4Prefix).map((p) => parsePrefixPdu(p))).toEqual(
      expect.arrayContaining([
        { version: 1, announce: true, roa: lost },
        { version: 1, announce: false, roa: stale },
      ]),
    );
    await eventually(() => reloads.flat().includes('node_a') && reloads.flat().includes('node_b'), 5000, 10, 'both sessions reloaded');
    // A re-read that finds nothing different changes nothing.
    const now = feed!.cache.serial;
    const rereads = feed!.rereads;
    feed!.resync();
    await eventually(() => feed!.rereads > rereads, 10000, 20, 'second re-read done');
    expect(feed!.cache.serial).toBe(now);
    expect(feed!.resyncRepairs).toBe(1);
  });
});

describe('RoaFeed under a burst of placements and removals (real NATS KV)', () => {
  it("never loses a placement written together with another key's removal (delete markers, as rr-config writes them)", async () => {
    const nats = await openTestNats();
    const c = randomUUID();
    // No periodic re-read: the live deltas alone must be complete.
    const feed = new RoaFeed({ nats, clusterId: c, socketDir: '/tmp', port: 0, resyncMs: 0, protocolOf: () => undefined, reload: async () => undefined });
    try {
      await feed.start();
      const ip = (i: number) => `2001:db8:2::${i.toString(16)}`;
      await setPlacements(nats, c, [{ ip: ip(0), tag: T1 }]);
      for (let i = 1; i < 200; i++) {
        // rr-config flushes several keys at once: a new placement and a removal are in flight together.
        await Promise.all([setPlacements(nats, c, [{ ip: ip(i), tag: T1 }]), setPlacements(nats, c, [], [{ ip: ip(i - 1), tag: T1 }])]);
      }
      const last = roa(`${ip(199)}/128`, 128, T1);
      await eventually(() => feed.cache.has(last) && feed.cache.size === 1, 10000, 20, 'only the last placement served');
      expect(feed.resyncRepairs).toBe(0);
    } finally {
      await feed.stop();
      await closeTestNats(nats);
    }
  });
});

describe('RoaFeed reloads during a burst (real NATS KV, RTR over TCP)', () => {
  const c = randomUUID();
  let nats: Nats;
  let feed: RoaFeed | undefined;
  let router: Router | undefined;
  const calls: { protocols: string[] | 'all'; serial: number }[] = [];
  let gate: Promise<void> | undefined;
  let open = () => undefined as void;

  beforeAll(async () => {
    nats = await openTestNats();
    feed = new RoaFeed({
      nats,
      clusterId: c,
      socketDir: '/tmp',
      port: 0,
      protocolOf: (t) => ({ [T1]: 'node_a', [T2]: 'node_b' })[t],
      reload: async (protocols, serial) => {
        calls.push({ protocols, serial });
        await gate;
      },
    });
    await feed.start();
  });

  afterAll(async () => {
    open();
    router?.sock.destroy();
    await feed?.stop();
    await closeTestNats(nats);
  });

  /** One placement, the router's Serial Notify → Serial Query → End of Data: one RTR update (one onSynced). */
  async function update(ip: string, tag: number): Promise<number> {
    const serial = feed!.cache.serial;
    await setPlacements(nats, c, [{ ip, tag }]);
    await router!.until(PDU.SerialNotify);
    await eventually(() => feed!.cache.serial > serial, 5000, 10, 'next serial');
    router!.send(serialQuery(1, feed!.cache.sessionId, serial));
    await router!.until(PDU.EndOfData);
    return feed!.cache.serial;
  }

  it('updates arriving while a reload runs merge into one next reload: union of the sessions, newest serial', async () => {
    router = await Router.connect(feed!.port!);
    router.send(resetQuery(1));
    await router.until(PDU.EndOfData);
    await eventually(() => calls.some((x) => x.protocols === 'all'), 5000, 10, 'full reload');
    calls.length = 0;

    gate = new Promise<void>((r) => (open = r));
    await update('203.0.113.21', T1);
    await eventually(() => calls.length === 1, 5000, 10, 'first reload running');
    await update('203.0.113.22', T2);
    const last = await update('203.0.113.23', T1);
    // Two updates while the first reload still runs: nothing more has started.
    expect(calls).toHaveLength(1);
    open();
    await eventually(() => calls.length === 2, 5000, 10, 'the merged reload');
    expect(calls[0].protocols).toEqual(['node_a']);
    expect(calls[1]).toEqual({ protocols: ['node_a', 'node_b'], serial: last });
  });
});
