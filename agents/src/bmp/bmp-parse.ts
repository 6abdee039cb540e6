/**
 * BMP (RFC 7854) as bytes from a router: framing of the TCP stream, the messages a collector needs
 * (Initiation, Termination, Peer Up/Down, Route Monitoring with the BGP UPDATE it carries, IPv4 NLRI and
 * MP_REACH/MP_UNREACH for IPv6 unicast). Pure: no sockets. Anything malformed is a BmpParseError (the
 * connection is then closed); nothing else is thrown, whatever the bytes.
 */

export type BmpErrorCode = 'version' | 'length' | 'truncated' | 'malformed';

export class BmpParseError extends Error {
  constructor(
    readonly code: BmpErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BmpParseError';
  }
}

/** RFC 7854 common header: version 3, 4-byte length (header included), type. */
export const BMP_HEADER = 6;
/** Per-peer header length. */
export const BMP_PEER_HEADER = 42;
/** Largest message accepted: an extended BGP message (65535, RFC 8654) plus the BMP headers. */
export const BMP_MAX_MESSAGE = 65535 + BMP_HEADER + BMP_PEER_HEADER + 1024;

export const BMP_TYPES = {
  0: 'route-monitoring',
  1: 'stats-report',
  2: 'peer-down',
  3: 'peer-up',
  4: 'initiation',
  5: 'termination',
  6: 'route-mirroring',
} as const;

export interface BmpPeer {
  /** 0 global, 1 RD instance, 2 local instance (RFC 7854 4.2). */
  peerType: number;
  /** L flag: post-policy Adj-RIB-In. */
  postPolicy: boolean;
  /** Route distinguisher as 16 hex digits (all zero for a global peer). */
  distinguisher: string;
  address: string;
  asn: number;
  bgpId: string;
  /** Seconds since the epoch (0 when the router does not say). */
  timestamp: number;
}

export interface BmpRoute {
  prefix: string;
  nextHop?: string;
}

export interface BgpUpdate {
  announced: BmpRoute[];
  withdrawn: string[];
  /** An UPDATE without routes or attributes (IPv4) or an empty MP_UNREACH (others): the end of the initial table. */
  endOfRib: boolean;
}

export interface BmpInfo {
  type: number;
  value: string;
}

export type BmpMessage =
  | { type: 'initiation'; info: BmpInfo[] }
  | { type: 'termination'; info: BmpInfo[] }
  | { type: 'peer-up'; peer: BmpPeer; localAddress: string; localPort: number; remotePort: number }
  | { type: 'peer-down'; peer: BmpPeer; reason: number }
  | { type: 'route-monitoring'; peer: BmpPeer; update: BgpUpdate }
  /** Stats reports, route mirroring and unknown types: framed and skipped. */
  | { type: 'other'; msgType: number };

const fail = (code: BmpErrorCode, msg: string): never => {
  throw new BmpParseError(code, msg);
};

function need(buf: Buffer, off: number, n: number, what: string): void {
  if (off + n > buf.length) fail('truncated', `${what}: ${n} bytes needed at ${off}, ${buf.length - off} left`);
}

function ipv4(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** Canonical (compressed, lower-case) IPv6 text of 16 bytes. */
function ipv6(buf: Buffer, off: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(off + 2 * i));
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((w) => w.toString(16)).join(':');
  if (bestAt < 0) return hex(words);
  return `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`;
}

/** One NLRI prefix (length byte, then the significant bytes); `afi` 1 = IPv4, 2 = IPv6. */
function prefixAt(buf: Buffer, off: number, end: number, afi: 1 | 2): { prefix: string; next: number } {
  if (off >= end) fail('truncated', 'NLRI prefix length');
  const len = buf[off];
  const max = afi === 1 ? 32 : 128;
  if (len > max) fail('malformed', `prefix length ${len} > ${max}`);
  const bytes = Math.ceil(len / 8);
  if (off + 1 + bytes > end) fail('truncated', `NLRI prefix of /${len}`);
  const full = Buffer.alloc(afi === 1 ? 4 : 16);
  buf.copy(full, 0, off + 1, off + 1 + bytes);
  return { prefix: `${afi === 1 ? ipv4(full, 0) : ipv6(full, 0)}/${len}`, next: off + 1 + bytes };
}

function prefixes(buf: Buffer, off: number, end: number, afi: 1 | 2): string[] {
  const out: string[] = [];
  while (off < end) {
    const p = prefixAt(buf, off, end, afi);
    out.push(p.prefix);
    off = p.next;
  }
  return out;
}

const MARKER = Buffer.alloc(16, 0xff);

/** A BGP UPDATE message (marker included), as a post-policy Adj-RIB-In change. Only unicast IPv4/IPv6 is decoded. */
export function parseBgpUpdate(buf: Buffer): BgpUpdate {
  need(buf, 0, 19, 'BGP header');
  if (!buf.subarray(0, 16).equals(MARKER)) fail('malformed', 'BGP marker');
  const len = buf.readUInt16BE(16);
  if (len < 23 || len > buf.length) fail('length', `BGP message length ${len} (have ${buf.length})`);
  if (buf[18] !== 2) fail('malformed', `BGP message type ${buf[18]} is not an UPDATE`);
  const end = len;
  let off = 19;
  const wlen = buf.readUInt16BE(off);
  off += 2;
  if (off + wlen > end) fail('truncated', 'withdrawn routes');
  const withdrawn = prefixes(buf, off, off + wlen, 1);
  off += wlen;
  need(buf, off, 2, 'path attributes length');
  const alen = buf.readUInt16BE(off);
  off += 2;
  const attrEnd = off + alen;
  if (attrEnd > end) fail('truncated', 'path attributes');
  let nextHop4: string | undefined;
  const announced: BmpRoute[] = [];
  let mpUnreachEmpty = false;
  while (off < attrEnd) {
    if (off + 3 > attrEnd) fail('truncated', 'path attribute header');
    const flags = buf[off];
    const code = buf[off + 1];
    const ext = (flags & 0x10) !== 0;
    if (ext && off + 4 > attrEnd) fail('truncated', 'path attribute header');
    const vlen = ext ? buf.readUInt16BE(off + 2) : buf[off + 2];
    const v = off + (ext ? 4 : 3);
    if (v + vlen > attrEnd) fail('truncated', `path attribute ${code}`);
    if (code === 3) {
      if (vlen !== 4) fail('malformed', `NEXT_HOP of ${vlen} bytes`);
      nextHop4 = ipv4(buf, v);
    } else if (code === 14 || code === 15) {
      if (vlen < 3) fail('malformed', `MP attribute ${code} of ${vlen} bytes`);
      const afi = buf.readUInt16BE(v);
      const safi = buf[v + 2];
      const unicast = (afi === 1 || afi === 2) && safi === 1;
      if (code === 15) {
        if (unicast) {
          const w = prefixes(buf, v + 3, v + vlen, afi as 1 | 2);
          withdrawn.push(...w);
          if (!w.length) mpUnreachEmpty = true;
        }
      } else {
        if (vlen < 5) fail('malformed', `MP_REACH of ${vlen} bytes`);
        const nhLen = buf[v + 3];
        const nlri = v + 4 + nhLen + 1; // + reserved byte
        if (nlri > v + vlen) fail('truncated', 'MP_REACH next hop');
        if (unicast) {
          let nh: string | undefined;
          // IPv6: global (16) or global + link-local (32); IPv4 over MP: 4 bytes.
          if (nhLen === 4) nh = ipv4(buf, v + 4);
          else if (nhLen === 16 || nhLen === 32) nh = ipv6(buf, v + 4);
          else fail('malformed', `MP_REACH next hop of ${nhLen} bytes`);
          for (const p of prefixes(buf, nlri, v + vlen, afi as 1 | 2)) announced.push({ prefix: p, nextHop: nh });
        }
      }
    }
    off = v + vlen;
  }
  for (const p of prefixes(buf, attrEnd, end, 1)) announced.push(nextHop4 ? { prefix: p, nextHop: nextHop4 } : { prefix: p });
  const endOfRib = (wlen === 0 && alen === 0 && attrEnd === end) || (mpUnreachEmpty && !announced.length && !withdrawn.length);
  return { announced, withdrawn, endOfRib };
}

function peerHeader(buf: Buffer, off: number): BmpPeer {
  need(buf, off, BMP_PEER_HEADER, 'per-peer header');
  const flags = buf[off + 1];
  const v6 = (flags & 0x80) !== 0;
  return {
    peerType: buf[off],
    postPolicy: (flags & 0x40) !== 0,
    distinguisher: buf.subarray(off + 2, off + 10).toString('hex'),
    address: v6 ? ipv6(buf, off + 10) : ipv4(buf, off + 22),
    asn: buf.readUInt32BE(off + 26),
    bgpId: ipv4(buf, off + 30),
    timestamp: buf.readUInt32BE(off + 34),
  };
}

/** Information TLVs (Initiation, Termination): type, length, UTF-8 value; each value clipped to 1 kB. */
function infoTlvs(buf: Buffer, off: number, end: number): BmpInfo[] {
  const out: BmpInfo[] = [];
  while (off < end) {
    if (off + 4 > end) fail('truncated', 'information TLV header');
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    if (off + 4 + len > end) fail('truncated', `information TLV ${type}`);
    // Termination reasons (type 1) are a 2-byte code, not text.
    const value = buf.subarray(off + 4, off + 4 + Math.min(len, 1024));
    out.push({ type, value: value.toString('utf8') });
    off += 4 + len;
  }
  return out;
}

/** One whole BMP message (common header included, exactly its length). */
export function parseBmpMessage(msg: Buffer): BmpMessage {
  need(msg, 0, BMP_HEADER, 'common header');
  if (msg[0] !== 3) fail('version', `BMP version ${msg[0]} (only 3)`);
  const len = msg.readUInt32BE(1);
  if (len !== msg.length) fail('length', `BMP length ${len} for a message of ${msg.length} bytes`);
  const type = msg[5];
  switch (type) {
    case 4:
      return { type: 'initiation', info: infoTlvs(msg, BMP_HEADER, len) };
    case 5:
      return { type: 'termination', info: infoTlvs(msg, BMP_HEADER, len) };
    case 0: {
      const peer = peerHeader(msg, BMP_HEADER);
      return { type: 'route-monitoring', peer, update: parseBgpUpdate(msg.subarray(BMP_HEADER + BMP_PEER_HEADER)) };
    }
    case 2: {
      const peer = peerHeader(msg, BMP_HEADER);
      need(msg, BMP_HEADER + BMP_PEER_HEADER, 1, 'peer down reason');
      return { type: 'peer-down', peer, reason: msg[BMP_HEADER + BMP_PEER_HEADER] };
    }
    case 3: {
      const peer = peerHeader(msg, BMP_HEADER);
      const o = BMP_HEADER + BMP_PEER_HEADER;
      need(msg, o, 20, 'peer up');
      const v6 = msg.subarray(o, o + 12).some((b) => b !== 0);
      return {
        type: 'peer-up',
        peer,
        localAddress: v6 ? ipv6(msg, o) : ipv4(msg, o + 12),
        localPort: msg.readUInt16BE(o + 16),
        remotePort: msg.readUInt16BE(o + 18),
      };
    }
    default:
      return { type: 'other', msgType: type };
  }
}

/**
 * Splits a TCP byte stream into BMP messages. Holds at most one partial message (≤ BMP_MAX_MESSAGE); a bad
 * header (version, length) throws BmpParseError: the stream cannot be resynchronised, close it.
 */
export class BmpFramer {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): BmpMessage[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: BmpMessage[] = [];
    for (;;) {
      if (this.buf.length < BMP_HEADER) break;
      if (this.buf[0] !== 3) fail('version', `BMP version ${this.buf[0]} (only 3)`);
      const len = this.buf.readUInt32BE(1);
      if (len < BMP_HEADER || len > BMP_MAX_MESSAGE) fail('length', `BMP message length ${len}`);
      if (this.buf.length < len) break;
      out.push(parseBmpMessage(this.buf.subarray(0, len)));
      this.buf = this.buf.subarray(len);
    }
    return out;
  }

  /** Bytes of an incomplete message held. */
  get pending(): number {
    return this.buf.length;
  }
}
