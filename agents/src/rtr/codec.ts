/**
 * RPKI-to-Router protocol PDUs (RFC 8210 version 1, RFC 6810 version 0), cache side.
 * Hand-written: no maintained npm package implements the cache end of RTR. Router Key PDUs (v1, BGPsec)
 * are never sent: the fabric only needs prefix → origin records.
 */
import * as ipaddr from 'ipaddr.js';

export const PDU = {
  SerialNotify: 0,
  SerialQuery: 1,
  ResetQuery: 2,
  CacheResponse: 3,
  Ipv4Prefix: 4,
  Ipv6Prefix: 6,
  EndOfData: 7,
  CacheReset: 8,
  RouterKey: 9,
  ErrorReport: 10,
} as const;

export const ERR = {
  CorruptData: 0,
  InternalError: 1,
  NoDataAvailable: 2,
  InvalidRequest: 3,
  UnsupportedVersion: 4,
  UnsupportedPduType: 5,
  WithdrawalOfUnknown: 6,
  DuplicateAnnouncement: 7,
  UnexpectedVersion: 8,
} as const;

export type RtrVersion = 0 | 1;
export const MAX_VERSION: RtrVersion = 1;
/** Largest PDU a router sends us (an Error Report quoting a PDU); anything longer is corrupt. */
export const MAX_PDU = 64 * 1024;

/** One validated ROA payload: the prefix may be announced with a length up to maxLength by origin `asn`. */
export interface Roa {
  family: 4 | 6;
  /** Canonical network address (host bits zero). */
  address: string;
  prefixLength: number;
  maxLength: number;
  asn: number;
}

export interface Timers {
  refresh: number;
  retry: number;
  expire: number;
}

/** What a router sends to a cache (everything else is answered with an Error Report). */
export type RouterPdu =
  | { type: typeof PDU.SerialQuery; version: number; sessionId: number; serial: number }
  | { type: typeof PDU.ResetQuery; version: number }
  | { type: typeof PDU.ErrorReport; version: number; code: number; pdu: Buffer; text: string }
  | { type: 'other'; version: number; pduType: number; raw: Buffer };

export class RtrDecodeError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly raw: Buffer,
    readonly version: number,
  ) {
    super(message);
    this.name = 'RtrDecodeError';
  }
}

export function roaKey(r: Roa): string {
  return `${r.address}/${r.prefixLength}-${r.maxLength}-${r.asn}`;
}

/** Validates and canonicalises a ROA; throws on anything BIRD would refuse. */
export function roa(prefix: string, maxLength: number | undefined, asn: number): Roa {
  const [addr, lenText] = prefix.split('/');
  if (!ipaddr.isValid(addr ?? '') || !/^\d{1,3}$/.test(lenText ?? '')) throw new Error(`invalid prefix ${JSON.stringify(prefix)}`);
  const parsed = ipaddr.parse(addr);
  const family = parsed.kind() === 'ipv4' ? 4 : 6;
  const bits = family === 4 ? 32 : 128;
  const prefixLength = Number(lenText);
  const max = maxLength ?? prefixLength;
  if (prefixLength > bits || !Number.isInteger(max) || max < prefixLength || max > bits) throw new Error(`invalid prefix/max length ${prefix} ${max}`);
  if (!Number.isInteger(asn) || asn < 0 || asn > 0xffffffff) throw new Error(`invalid origin ${asn}`);
  const bytes = parsed.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLength - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  const address = ipaddr.fromByteArray(bytes).toString();
  return { family, address, prefixLength, maxLength: max, asn };
}

function header(version: number, type: number, field: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  b.writeUInt8(version, 0);
  b.writeUInt8(type, 1);
  b.writeUInt16BE(field, 2);
  b.writeUInt32BE(length, 4);
  return b;
}

export function serialNotify(version: RtrVersion, sessionId: number, serial: number): Buffer {
  const b = header(version, PDU.SerialNotify, sessionId, 12);
  b.writeUInt32BE(serial >>> 0, 8);
  return b;
}

export function cacheResponse(version: RtrVersion, sessionId: number): Buffer {
  return header(version, PDU.CacheResponse, sessionId, 8);
}

export function cacheReset(version: RtrVersion): Buffer {
  return header(version, PDU.CacheReset, 0, 8);
}

/** IPv4 Prefix (20 bytes) or IPv6 Prefix (32 bytes); flags bit 0: 1 announce, 0 withdraw. */
export function prefixPdu(version: RtrVersion, r: Roa, announce: boolean): Buffer {
  const v4 = r.family === 4;
  const b = header(version, v4 ? PDU.Ipv4Prefix : PDU.Ipv6Prefix, 0, v4 ? 20 : 32);
  b.writeUInt8(announce ? 1 : 0, 8);
  b.writeUInt8(r.prefixLength, 9);
  b.writeUInt8(r.maxLength, 10);
  b.writeUInt8(0, 11);
  Buffer.from(ipaddr.parse(r.address).toByteArray()).copy(b, 12);
  b.writeUInt32BE(r.asn >>> 0, v4 ? 16 : 28);
  return b;
}

/** End of Data: v1 carries the timers (24 bytes), v0 only the serial (12 bytes). */
export function endOfData(version: RtrVersion, sessionId: number, serial: number, t: Timers): Buffer {
  const b = header(version, PDU.EndOfData, sessionId, version === 0 ? 12 : 24);
  b.writeUInt32BE(serial >>> 0, 8);
  if (version >= 1) {
    b.writeUInt32BE(t.refresh, 12);
    b.writeUInt32BE(t.retry, 16);
    b.writeUInt32BE(t.expire, 20);
  }
  return b;
}

export function errorReport(version: number, code: number, pdu: Buffer = Buffer.alloc(0), text = ''): Buffer {
  const t = Buffer.from(text, 'utf8');
  const quoted = pdu.subarray(0, Math.min(pdu.length, MAX_PDU - 16 - t.length));
  const b = header(version, PDU.ErrorReport, code, 16 + quoted.length + t.length);
  b.writeUInt32BE(quoted.length, 8);
  quoted.copy(b, 12);
  b.writeUInt32BE(t.length, 12 + quoted.length);
  t.copy(b, 16 + quoted.length);
  return b;
}

/** Parses one prefix PDU (for tests and tools; a cache never receives one). */
export function parsePrefixPdu(b: Buffer): { announce: boolean; roa: Roa; version: number } {
  const type = b.readUInt8(1);
  if (type !== PDU.Ipv4Prefix && type !== PDU.Ipv6Prefix) throw new Error(`not a prefix PDU: type ${type}`);
  const v4 = type === PDU.Ipv4Prefix;
  const addr = ipaddr.fromByteArray([...b.subarray(12, v4 ? 16 : 28)]).toString();
  return {
    version: b.readUInt8(0),
    announce: (b.readUInt8(8) & 1) === 1,
    roa: { family: v4 ? 4 : 6, address: addr, prefixLength: b.readUInt8(9), maxLength: b.readUInt8(10), asn: b.readUInt32BE(v4 ? 16 : 28) },
  };
}

/**
 * Splits a TCP byte stream into router PDUs. Throws RtrDecodeError on a malformed PDU (the session is
 * then answered with an Error Report and closed, as RFC 8210 §5.10 asks for fatal errors).
 */
export class RtrDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): RouterPdu[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: RouterPdu[] = [];
    while (this.buf.length >= 8) {
      const length = this.buf.readUInt32BE(4);
      const version = this.buf.readUInt8(0);
      if (length < 8 || length > MAX_PDU) throw new RtrDecodeError(`bad PDU length ${length}`, ERR.CorruptData, this.buf.subarray(0, 8), version);
      if (this.buf.length < length) break;
      const raw = Buffer.from(this.buf.subarray(0, length));
      this.buf = this.buf.subarray(length);
      out.push(decodeOne(raw));
    }
    return out;
  }
}

function decodeOne(raw: Buffer): RouterPdu {
  const version = raw.readUInt8(0);
  const type = raw.readUInt8(1);
  const field = raw.readUInt16BE(2);
  const expect = (len: number) => {
    if (raw.length !== len) throw new RtrDecodeError(`PDU type ${type} has length ${raw.length}, expected ${len}`, ERR.CorruptData, raw, version);
  };
  switch (type) {
    case PDU.SerialQuery:
      expect(12);
      return { type, version, sessionId: field, serial: raw.readUInt32BE(8) };
    case PDU.ResetQuery:
      expect(8);
      return { type, version };
    case PDU.ErrorReport: {
      if (raw.length < 16) throw new RtrDecodeError('short Error Report', ERR.CorruptData, raw, version);
      const plen = raw.readUInt32BE(8);
      if (12 + plen + 4 > raw.length) throw new RtrDecodeError('Error Report PDU length overflows', ERR.CorruptData, raw, version);
      const tlen = raw.readUInt32BE(12 + plen);
      if (16 + plen + tlen !== raw.length) throw new RtrDecodeError('Error Report text length mismatch', ERR.CorruptData, raw, version);
      return { type, version, code: field, pdu: raw.subarray(12, 12 + plen), text: raw.subarray(16 + plen).toString('utf8') };
    }
    default:
      return { type: 'other', version, pduType: type, raw };
  }
}
