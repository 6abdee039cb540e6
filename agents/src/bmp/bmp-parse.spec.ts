/**
 * The BMP parser on real bytes (FRR 8.4 bgpd_bmp, `bmp monitor ipv4|ipv6 unicast post-policy`, captured in
 * two namespaces: a peer announcing 203.0.113.7/32, 203.0.113.8/32 and 2001:db8:77::7/128, then withdrawing
 * two of them, then shut down) and on hand-made malformed messages.
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import { BMP_MAX_MESSAGE, BmpFramer, BmpParseError, parseBgpUpdate, parseBmpMessage, type BmpMessage } from './bmp-parse';

const session = readFileSync(path.join(__dirname, '__fixtures__', 'frr-8.4-session.bin'));

/** Offsets of the messages in a well-formed stream (from the common headers). */
function messageBounds(buf: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let o = 0; o < buf.length; o += buf.readUInt32BE(o + 1)) out.push([o, o + buf.readUInt32BE(o + 1)]);
  return out;
}

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof BmpParseError) return e.code;
    throw e;
  }
  return 'ok';
};

describe('BMP parser', () => {
  it('given the FRR capture, when framed in one chunk, then Initiation, Peer Up, post-policy routes (v4 and v6), End-of-RIBs, withdrawals and Peer Down', () => {
    const msgs = new BmpFramer().push(session);
    expect(msgs.map((m) => m.type)).toEqual(['initiation', 'peer-up', ...Array(8).fill('route-monitoring'), 'route-monitoring', 'peer-down']);
    expect(msgs[0]).toEqual({
      type: 'initiation',
      info: [
        { type: 1, value: 'FRRouting 8.4.4' },
        { type: 2, value: expect.any(String) },
      ],
    });
    const up = msgs[1] as Extract<BmpMessage, { type: 'peer-up' }>;
    expect(up.peer).toMatchObject({ peerType: 0, address: '198.18.251.2', asn: 65000, bgpId: '198.18.251.2' });
    expect(up).toMatchObject({ localAddress: '198.18.251.1', localPort: 179 });
    const rm = msgs.filter((m): m is Extract<BmpMessage, { type: 'route-monitoring' }> => m.type === 'route-monitoring');
    expect(rm.flatMap((m) => m.update.announced)).toEqual([
      { prefix: '203.0.113.7/32', nextHop: '198.18.251.2' },
      { prefix: '203.0.113.8/32', nextHop: '198.18.251.2' },
      { prefix: '2001:db8:77::7/128', nextHop: 'fd00:b::2' },
    ]);
    expect(rm.filter((m) => m.update.announced.length).every((m) => m.peer.postPolicy)).toBe(true);
    expect(rm.flatMap((m) => m.update.withdrawn)).toEqual(['203.0.113.8/32', '2001:db8:77::7/128']);
    expect(rm.filter((m) => m.update.endOfRib).length).toBe(4);
    expect(msgs[msgs.length - 1]).toMatchObject({ type: 'peer-down', reason: 2, peer: { address: '198.18.251.2' } });
  });

  it('given the capture, when it arrives byte by byte, then the same messages and nothing pending', () => {
    const f = new BmpFramer();
    const msgs: BmpMessage[] = [];
    for (let i = 0; i < session.length; i++) msgs.push(...f.push(session.subarray(i, i + 1)));
    expect(msgs).toEqual(new BmpFramer().push(session));
    expect(f.pending).toBe(0);
  });

  it('given a bad version or an impossible length in a header, when framed, then a typed error (the stream cannot resync)', () => {
    const bad = Buffer.from(session);
    bad[0] = 1;
    expect(code(() => new BmpFramer().push(bad))).toBe('version');
    const huge = Buffer.from([3, 0, 0x10, 0, 0, 4]);
    expect(BMP_MAX_MESSAGE).toBeLessThan(0x100000);
    expect(code(() => new BmpFramer().push(huge))).toBe('length');
    expect(code(() => new BmpFramer().push(Buffer.from([3, 0, 0, 0, 2, 4])))).toBe('length');
  });

  it('given every message of the capture cut short, when parsed, then truncated or length errors, never another exception', () => {
    for (const [a, b] of messageBounds(session)) {
      const m = Buffer.from(session.subarray(a, b));
      for (let n = 6; n < m.length; n++) {
        const cut = Buffer.from(m.subarray(0, n));
        cut.writeUInt32BE(n, 1);
        expect(['ok', 'truncated', 'length', 'malformed']).toContain(code(() => parseBmpMessage(cut)));
      }
    }
  });

  it('given an UPDATE with a /33 IPv4 prefix or a bad marker, when parsed, then malformed', () => {
    const update = (nlri: number[]) => {
      const body = [0, 0, 0, 0, ...nlri];
      return Buffer.from([...Array(16).fill(0xff), 0, 19 + body.length, 2, ...body]);
    };
    expect(parseBgpUpdate(update([32, 10, 0, 0, 1])).announced).toEqual([{ prefix: '10.0.0.1/32' }]);
    expect(code(() => parseBgpUpdate(update([33, 10, 0, 0, 1, 0])))).toBe('malformed');
    const marker = update([32, 10, 0, 0, 1]);
    marker[3] = 0;
    expect(code(() => parseBgpUpdate(marker))).toBe('malformed');
    expect(code(() => parseBgpUpdate(update([32, 10, 0])))).toBe('truncated');
  });

  it('given an empty UPDATE, when parsed, then it is the IPv4 End-of-RIB', () => {
    expect(parseBgpUpdate(Buffer.from([...Array(16).fill(0xff), 0, 23, 2, 0, 0, 0, 0]))).toEqual({ announced: [], withdrawn: [], endOfRib: true });
  });

  it('given an unknown message type, when framed, then it is skipped as other', () => {
    expect(new BmpFramer().push(Buffer.from([3, 0, 0, 0, 7, 9, 1]))).toEqual([{ type: 'other', msgType: 9 }]);
  });
});
