import type * as net from 'node:net';
import { RtrCache, type SyncInfo } from './cache';
import { Router, resetQuery, serialQuery } from './test-router';
import { ERR, PDU, RtrDecodeError, RtrDecoder, cacheReset, endOfData, errorReport, parsePrefixPdu, prefixPdu, roa, roaKey, serialNotify } from './codec';

const A = roa('203.0.113.10/32', undefined, 4200000001);
const B = roa('203.0.113.11/32', 32, 4200000002);
const C6 = roa('2001:db8::1:5/128', undefined, 4200000001);

describe('RTR codec', () => {
  it('canonicalises a ROA (host bits cleared, max length defaults to the prefix length)', () => {
    expect(roa('203.0.113.77/24', undefined, 1)).toEqual({ family: 4, address: '203.0.113.0', prefixLength: 24, maxLength: 24, asn: 1 });
    expect(roa('2001:db8::1:5/128', 128, 4294967295)).toMatchObject({ family: 6, address: '2001:db8::1:5', prefixLength: 128 });
    expect(roaKey(A)).toBe('203.0.113.10/32-32-4200000001');
  });

  it('rejects malformed prefixes, lengths and origins', () => {
    expect(() => roa('203.0.113.300/32', undefined, 1)).toThrow(/prefix/);
    expect(() => roa('203.0.113.1/33', undefined, 1)).toThrow(/length/);
    expect(() => roa('203.0.113.1/24', 23, 1)).toThrow(/length/);
    expect(() => roa('203.0.113.1', undefined, 1)).toThrow(/prefix/);
    expect(() => roa('203.0.113.1/32', undefined, 2 ** 32)).toThrow(/origin/);
    expect(() => roa('203.0.113.1/32', undefined, -1)).toThrow(/origin/);
  });

  it('encodes an IPv4 prefix PDU as 20 bytes (RFC 8210 §5.6) and round-trips it', () => {
    const b = prefixPdu(1, A, true);
    expect(b.toString('hex')).toBe(['01', '04', '0000', '00000014', '01', '20', '20', '00', 'cb00710a', 'fa56ea01'].join(''));
    expect(parsePrefixPdu(b)).toEqual({ version: 1, announce: true, roa: A });
    expect(parsePrefixPdu(prefixPdu(0, A, false))).toEqual({ version: 0, announce: false, roa: A });
  });

  it('encodes an IPv6 prefix PDU as 32 bytes', () => {
    const b = prefixPdu(1, C6, true);
    expect(b.length).toBe(32);
    expect(b.readUInt8(1)).toBe(PDU.Ipv6Prefix);
    expect(b.subarray(12, 28).toString('hex')).toBe('20010db8000000000000000000010005');
    expect(parsePrefixPdu(b).roa).toEqual(C6);
  });

  it('End of Data is 24 bytes with timers in v1 and 12 bytes in v0', () => {
    const v1 = endOfData(1, 0x1234, 7, { refresh: 30, retry: 5, expire: 600 });
    expect(v1.toString('hex')).toBe('0107123400000018' + '00000007' + '0000001e' + '00000005' + '00000258');
    expect(endOfData(0, 0x1234, 7, { refresh: 30, retry: 5, expire: 600 }).toString('hex')).toBe('010712340000000c00000007'.replace(/^01/, '00'));
  });

  it('Serial Notify, Cache Reset and Error Report layouts', () => {
    expect(serialNotify(1, 9, 0xffffffff).toString('hex')).toBe('010000090000000cffffffff');
    expect(cacheReset(0).toString('hex')).toBe('0008000000000008');
    const e = errorReport(1, ERR.UnsupportedVersion, Buffer.from('0202000000000008', 'hex'), 'no');
    expect(e.readUInt16BE(2)).toBe(4);
    expect(e.readUInt32BE(4)).toBe(e.length);
    expect(e.readUInt32BE(8)).toBe(8);
    expect(e.subarray(e.length - 2).toString()).toBe('no');
  });

  describe('decoder', () => {
    it('splits PDUs across arbitrary chunk boundaries', () => {
      const d = new RtrDecoder();
      const bytes = Buffer.concat([Buffer.from('0101abcd0000000c00000005', 'hex'), Buffer.from('0102000000000008', 'hex')]);
      const out = [];
      for (const byte of bytes) out.push(...d.push(Buffer.from([byte])));
      expect(out).toEqual([
        { type: PDU.SerialQuery, version: 1, sessionId: 0xabcd, serial: 5 },
        { type: PDU.ResetQuery, version: 1 },
      ]);
    });

    it('decodes an Error Report from a router', () => {
      const [p] = new RtrDecoder().push(errorReport(1, ERR.NoDataAvailable, Buffer.alloc(0), 'later'));
      expect(p).toMatchObject({ type: PDU.ErrorReport, code: ERR.NoDataAvailable, text: 'later' });
    });

    it('refuses a length below the header, above the limit, or wrong for the type', () => {
      expect(() => new RtrDecoder().push(Buffer.from('0102000000000004', 'hex'))).toThrow(RtrDecodeError);
      expect(() => new RtrDecoder().push(Buffer.from('0102000000100000', 'hex'))).toThrow(/length/);
      expect(() => new RtrDecoder().push(Buffer.from('010200000000000c00000000', 'hex'))).toThrow(/expected 8/);
      expect(() => new RtrDecoder().push(Buffer.from('010a0000000000100000ffff00000000', 'hex'))).toThrow(/overflows/);
    });
  });
});

describe('RTR cache state', () => {
  it('counts one serial per effective change set; duplicates and unknown withdrawals are no-ops', () => {
    const c = new RtrCache({ sessionId: 1 });
    expect(
      c.apply([
        { announce: true, roa: A },
        { announce: true, roa: A },
      ]),
    ).toHaveLength(1);
    expect(c.serial).toBe(1);
    expect(
      c.apply([
        { announce: true, roa: A },
        { announce: false, roa: B },
      ]),
    ).toEqual([]);
    expect(c.serial).toBe(1);
    expect(c.has(A)).toBe(true);
  });

  it('diffs from any kept serial are the net change (add then remove cancels out)', () => {
    const c = new RtrCache({ sessionId: 1 });
    c.apply([{ announce: true, roa: A }]); // 1
    c.apply([{ announce: true, roa: B }]); // 2
    c.apply([
      { announce: false, roa: B },
      { announce: true, roa: C6 },
    ]); // 3
    c.apply([{ announce: false, roa: A }]); // 4
    expect(c.diffSince(4)).toEqual([]);
    expect(c.diffSince(1)).toEqual([
      { announce: true, roa: C6 },
      { announce: false, roa: A },
    ]);
    expect(c.diffSince(0)).toEqual([{ announce: true, roa: C6 }]);
    expect(c.diffSince(17)).toBeUndefined();
  });

  it('forgets diffs beyond maxLogSerials (the router then gets a Cache Reset)', () => {
    const c = new RtrCache({ sessionId: 1, maxLogSerials: 2 });
    c.apply([{ announce: true, roa: A }]);
    c.apply([{ announce: true, roa: B }]);
    c.apply([{ announce: true, roa: C6 }]);
    expect(c.diffSince(0)).toBeUndefined();
    expect(c.diffSince(1)).toEqual([
      { announce: true, roa: B },
      { announce: true, roa: C6 },
    ]);
  });

  it('replaceAll announces what is new and withdraws what is gone, as one serial', () => {
    const c = new RtrCache({ sessionId: 1 });
    c.apply([
      { announce: true, roa: A },
      { announce: true, roa: B },
    ]);
    const changes = c.replaceAll([B, C6]);
    expect(changes).toEqual([
      { announce: false, roa: A },
      { announce: true, roa: C6 },
    ]);
    expect(c.serial).toBe(2);
    expect(c.all().map(roaKey).sort()).toEqual([roaKey(B), roaKey(C6)].sort());
  });
});

describe('RTR cache over TCP', () => {
  let cache: RtrCache;
  let port: number;
  const synced: SyncInfo[] = [];
  const routers: Router[] = [];
  const connect = async () => {
    const r = await Router.connect(port);
    routers.push(r);
    return r;
  };

  beforeEach(async () => {
    synced.length = 0;
    cache = new RtrCache({ sessionId: 0x4242, timers: { refresh: 30, retry: 5, expire: 600 }, onSynced: (i) => synced.push(i) });
    cache.apply([
      { announce: true, roa: A },
      { announce: true, roa: C6 },
    ]);
    port = ((await cache.listen({ host: '127.0.0.1', port: 0 })) as net.AddressInfo).port;
  });
  afterEach(async () => {
    routers.splice(0).forEach((r) => r.sock.destroy());
    await cache.close();
  });

  it('answers a v1 Reset Query with Cache Response, every record and a 24-byte End of Data', async () => {
    const r = await connect();
    r.send(resetQuery(1));
    const got = await r.until(PDU.EndOfData);
    expect(got[0].toString('hex')).toBe('0103424200000008');
    expect(got.slice(1, -1).map((p) => parsePrefixPdu(p))).toEqual([
      { version: 1, announce: true, roa: A },
      { version: 1, announce: true, roa: C6 },
    ]);
    const eod = got[got.length - 1];
    expect(eod.length).toBe(24);
    expect(eod.readUInt32BE(8)).toBe(1);
    expect(eod.readUInt32BE(12)).toBe(30);
    expect(synced).toEqual([
      {
        full: true,
        serial: 1,
        version: 1,
        changes: [
          { announce: true, roa: A },
          { announce: true, roa: C6 },
        ],
      },
    ]);
  });

  it('speaks v0 to a v0 router (12-byte End of Data, every PDU version 0)', async () => {
    const r = await connect();
    r.send(resetQuery(0));
    const got = await r.until(PDU.EndOfData);
    expect(got.every((p) => p.readUInt8(0) === 0)).toBe(true);
    expect(got[got.length - 1].length).toBe(12);
  });

  it('refuses a version above 1 with Error Report "unsupported version" naming version 1, and closes', async () => {
    const r = await connect();
    r.send(resetQuery(2));
    const [e] = await r.until(PDU.ErrorReport);
    expect(e.readUInt8(0)).toBe(1);
    expect(e.readUInt16BE(2)).toBe(ERR.UnsupportedVersion);
    await r.closedNow();
  });

  it('notifies a synchronised router of a new serial and answers its Serial Query with the diff only', async () => {
    const r = await connect();
    r.send(resetQuery(1));
    await r.until(PDU.EndOfData);
    cache.apply([
      { announce: true, roa: B },
      { announce: false, roa: A },
    ]);
    const [notify] = await r.until(PDU.SerialNotify);
    expect(notify.readUInt16BE(2)).toBe(0x4242);
    expect(notify.readUInt32BE(8)).toBe(2);
    r.send(serialQuery(1, 0x4242, 1));
    const got = await r.until(PDU.EndOfData);
    expect(got.slice(1, -1).map((p) => parsePrefixPdu(p))).toEqual([
      { version: 1, announce: true, roa: B },
      { version: 1, announce: false, roa: A },
    ]);
    expect(synced[1]).toMatchObject({ full: false, serial: 2 });
  });

  it('answers a Serial Query for the current serial with an empty response', async () => {
    const r = await connect();
    r.send(serialQuery(1, 0x4242, 1));
    const got = await r.until(PDU.EndOfData);
    expect(got.map((p) => p.readUInt8(1))).toEqual([PDU.CacheResponse, PDU.EndOfData]);
  });

  it('answers a Serial Query with another session id or an unknown serial with Cache Reset', async () => {
    const r = await connect();
    r.send(serialQuery(1, 0x1111, 1));
    expect((await r.until(PDU.CacheReset)).pop()!.length).toBe(8);
    r.send(serialQuery(1, 0x4242, 99));
    await r.until(PDU.CacheReset);
  });

  it('a version change within a session is an Error Report "unexpected version" and a close', async () => {
    const r = await connect();
    r.send(resetQuery(1));
    await r.until(PDU.EndOfData);
    r.send(resetQuery(0));
    const [e] = (await r.until(PDU.ErrorReport)).slice(-1);
    expect(e.readUInt16BE(2)).toBe(ERR.UnexpectedVersion);
    await r.closedNow();
  });

  it('a corrupt PDU is an Error Report "corrupt data" and a close; other routers are unaffected', async () => {
    const good = await connect();
    const bad = await connect();
    bad.send('0102000000000003');
    const [e] = (await bad.until(PDU.ErrorReport)).slice(-1);
    expect(e.readUInt16BE(2)).toBe(ERR.CorruptData);
    await bad.closedNow();
    good.send(resetQuery(1));
    await good.until(PDU.EndOfData);
  });

  it('a PDU type a router must not send is refused with "unsupported PDU type"', async () => {
    const r = await connect();
    r.send(prefixPdu(1, A, true));
    const [e] = (await r.until(PDU.ErrorReport)).slice(-1);
    expect(e.readUInt16BE(2)).toBe(ERR.UnsupportedPduType);
  });

  it('an Error Report from the router ends the session', async () => {
    const r = await connect();
    r.send(errorReport(1, ERR.InternalError, Buffer.alloc(0), 'bye'));
    await r.closedNow();
  });
});
