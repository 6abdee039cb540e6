/** The BMP RIB on the real FRR capture (see bmp-parse.spec.ts) and on peers going down. */
import { readFileSync } from 'fs';
import * as path from 'path';
import { BmpFramer, type BmpMessage } from './bmp-parse';
import { BmpRib } from './bmp-rib';
import { parseBmpFlags } from './cli';

const msgs = new BmpFramer().push(readFileSync(path.join(__dirname, '__fixtures__', 'frr-8.4-session.bin')));
const upTo = (pred: (m: BmpMessage, i: number) => boolean) => msgs.slice(0, msgs.findIndex(pred));

describe('BMP RIB', () => {
  it('given the initial dump up to the last End-of-RIB, when folded, then complete with the three host routes and their next hops', () => {
    const rib = new BmpRib();
    const dump = upTo((m) => m.type === 'route-monitoring' && m.update.withdrawn.length > 0);
    for (const m of dump) rib.apply(m);
    expect(rib.complete).toBe(true);
    expect(rib.routes()).toEqual([
      { prefix: '2001:db8:77::7/128', nextHop: 'fd00:b::2' },
      { prefix: '203.0.113.7/32', nextHop: '198.18.251.2' },
      { prefix: '203.0.113.8/32', nextHop: '198.18.251.2' },
    ]);
  });

  it('given only Initiation and Peer Up, when folded, then not complete (the table has not come yet)', () => {
    const rib = new BmpRib();
    rib.apply(msgs[0]);
    rib.apply(msgs[1]);
    expect(rib.complete).toBe(false);
    expect(rib.routes()).toEqual([]);
  });

  it('given the withdrawals, when folded, then one route is left; given Peer Down, then none', () => {
    const rib = new BmpRib();
    const beforeDown = upTo((m) => m.type === 'peer-down');
    for (const m of beforeDown) rib.apply(m);
    expect(rib.routes()).toEqual([{ prefix: '203.0.113.7/32', nextHop: '198.18.251.2' }]);
    expect(rib.apply(msgs[msgs.length - 1])).toBe(true);
    expect(rib.routes()).toEqual([]);
  });

  it('given a pre-policy or non-host route, when folded, then it is not held', () => {
    const rib = new BmpRib();
    const peer = { peerType: 0, postPolicy: false, distinguisher: '0'.repeat(16), address: '192.0.2.1', asn: 1, bgpId: '192.0.2.1', timestamp: 0 };
    expect(rib.apply({ type: 'route-monitoring', peer, update: { announced: [{ prefix: '192.0.2.9/32' }], withdrawn: [], endOfRib: false } })).toBe(false);
    const post = { ...peer, postPolicy: true };
    expect(rib.apply({ type: 'route-monitoring', peer: post, update: { announced: [{ prefix: '192.0.2.0/24' }], withdrawn: [], endOfRib: false } })).toBe(
      false,
    );
    expect(rib.routes()).toEqual([]);
  });
});

describe('BMP collector flags', () => {
  const cluster = '0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c01';
  it('given cluster and router, then defaults to 127.0.0.1:11019 and a 30 s hold', () => {
    expect(parseBmpFlags(['--cluster', cluster, '--router', '198.18.0.1'])).toEqual({
      help: false,
      clusterId: cluster,
      router: '198.18.0.1',
      host: '127.0.0.1',
      port: 11019,
      holdMs: 30000,
    });
  });
  it.each([
    [['--cluster', 'x', '--router', '198.18.0.1']],
    [['--cluster', cluster, '--router', '198.18.0.1;rm']],
    [['--cluster', cluster, '--router', '198.18.0.1', '--port', '70000']],
    [['--cluster', cluster, '--router', '198.18.0.1', '--listen', 'example.org']],
    [['--cluster', cluster, '--router']],
    [['--bogus', '1']],
  ])('given %j, then refused', (argv) => {
    expect(() => parseBmpFlags(argv)).toThrow();
  });
});
