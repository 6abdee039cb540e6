import { cidrContains, cidrsOverlap, isReservedAddress, parseCidr, rangeContains, rangeSize, rangeWithinCidr, usableRange } from './cidr';
import { ipToBigInt } from './address';

describe('parseCidr', () => {
  it('parses IPv4', () => {
    expect(parseCidr('203.0.113.0/24')).toEqual({
      family: 4,
      first: ipToBigInt('203.0.113.0'),
      last: ipToBigInt('203.0.113.255'),
      prefixLength: 24,
      canonical: '203.0.113.0/24',
      hostBitsSet: false,
    });
  });
  it('parses IPv6 and canonicalises', () => {
    const c = parseCidr('2001:DB8:0::/64');
    expect(c.canonical).toBe('2001:db8::/64');
    expect(c.last - c.first + 1n).toBe(1n << 64n);
  });
  it('flags host bits', () => {
    const c = parseCidr('203.0.113.5/24');
    expect(c.hostBitsSet).toBe(true);
    expect(c.canonical).toBe('203.0.113.0/24');
  });
  it('handles /0 and /32, /128', () => {
    expect(parseCidr('0.0.0.0/0').last).toBe((1n << 32n) - 1n);
    expect(parseCidr('198.51.100.7/32').first).toBe(parseCidr('198.51.100.7/32').last);
    expect(parseCidr('::1/128').first).toBe(1n);
  });
  it.each(['203.0.113.0', '203.0.113.0/33', '2001:db8::/129', '10.1/8', 'x/8', '10.0.0.0/8/8', '10.0.0.0/-1', '10.0.0.0/', 'fe80::%1/64', '"{}"\n/8'])(
    'rejects %j',
    (bad) => expect(() => parseCidr(bad)).toThrow(/not/),
  );
});

describe('overlap and containment', () => {
  it('cidrsOverlap', () => {
    expect(cidrsOverlap('10.0.0.0/8', '10.1.0.0/16')).toBe(true);
    expect(cidrsOverlap('10.1.0.0/16', '10.0.0.0/8')).toBe(true);
    expect(cidrsOverlap('203.0.113.0/25', '203.0.113.128/25')).toBe(false);
    expect(cidrsOverlap('2001:db8::/64', '2001:db8::/48')).toBe(true);
    expect(cidrsOverlap('2001:db8::/64', '2001:db8:0:1::/64')).toBe(false);
    // ::/0 and 0.0.0.0/0 share numbers but not families
    expect(cidrsOverlap('::/0', '0.0.0.0/0')).toBe(false);
  });
  it('cidrContains', () => {
    expect(cidrContains('203.0.113.0/24', '203.0.113.255')).toBe(true);
    expect(cidrContains('203.0.113.0/24', '203.0.114.0')).toBe(false);
    expect(cidrContains('::/96', '0.0.0.1')).toBe(false);
  });
  it('rangeWithinCidr', () => {
    expect(rangeWithinCidr('203.0.113.10', '203.0.113.20', '203.0.113.0/24')).toBe(true);
    expect(rangeWithinCidr('203.0.113.10', '203.0.114.1', '203.0.113.0/24')).toBe(false);
    expect(rangeWithinCidr('203.0.113.20', '203.0.113.10', '203.0.113.0/24')).toBe(false);
    expect(rangeWithinCidr('2001:db8::1', '2001:db8::ffff:ffff', '2001:db8::/64')).toBe(true);
    expect(rangeWithinCidr('2001:db8::1', '2001:db8:1::', '2001:db8::/64')).toBe(false);
    expect(() => rangeWithinCidr('10.0.0.1', '2001:db8::1', '10.0.0.0/8')).toThrow(/mixes/);
  });
  it('rangeContains', () => {
    expect(rangeContains('10.0.0.10', '10.0.0.20', '10.0.0.10')).toBe(true);
    expect(rangeContains('10.0.0.10', '10.0.0.20', '10.0.0.21')).toBe(false);
    expect(rangeContains('10.0.0.10', '10.0.0.20', '::a0a:0a')).toBe(false);
  });
  it('rangeSize', () => {
    expect(rangeSize('10.0.0.0', '10.0.255.255')).toBe(65536n);
    expect(rangeSize('2001:db8::', '2001:db8::ffff:ffff:ffff:ffff')).toBe(1n << 64n);
    expect(rangeSize('10.0.0.2', '10.0.0.1')).toBe(0n);
  });
});

describe('usableRange (reserved network/broadcast)', () => {
  it('drops network and broadcast of IPv4 shorter than /31', () => {
    const u = usableRange('203.0.113.0/24');
    expect(u).toEqual({ first: ipToBigInt('203.0.113.1'), last: ipToBigInt('203.0.113.254') });
    expect(isReservedAddress('203.0.113.0/24', ipToBigInt('203.0.113.0'))).toBe(true);
    expect(isReservedAddress('203.0.113.0/24', ipToBigInt('203.0.113.255'))).toBe(true);
    expect(isReservedAddress('203.0.113.0/24', ipToBigInt('203.0.113.7'))).toBe(false);
  });
  it('keeps every address of /31 and /32', () => {
    expect(usableRange('198.51.100.0/31')).toEqual({ first: ipToBigInt('198.51.100.0'), last: ipToBigInt('198.51.100.1') });
    expect(usableRange('198.51.100.9/32')).toEqual({ first: ipToBigInt('198.51.100.9'), last: ipToBigInt('198.51.100.9') });
  });
  it('drops only the subnet-router anycast address in IPv6', () => {
    const c = parseCidr('2001:db8::/64');
    expect(usableRange(c)).toEqual({ first: c.first + 1n, last: c.last });
    expect(usableRange('2001:db8::/127').first).toBe(parseCidr('2001:db8::/127').first);
  });
});
