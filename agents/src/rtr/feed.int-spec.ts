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
});
