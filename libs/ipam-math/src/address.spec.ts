import { bigIntToIp, canonical, ipFamilyOf, ipToBigInt, isValidIp, parseIp } from './address';

describe('address conversions', () => {
  it.each([
    ['0.0.0.0', 0n],
    ['10.0.0.1', 167772161n],
    ['203.0.113.7', 3405803783n],
    ['255.255.255.255', 4294967295n],
  ])('IPv4 %s <-> %s', (ip, value) => {
    expect(ipToBigInt(ip)).toBe(value);
    expect(bigIntToIp(value, 4)).toBe(ip);
  });

  it.each([
    ['::', 0n],
    ['::1', 1n],
    ['2001:db8::', 0x20010db8n << 96n],
    ['2001:db8::ffff', (0x20010db8n << 96n) + 0xffffn],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', (1n << 128n) - 1n],
  ])('IPv6 %s <-> %s', (ip, value) => {
    expect(ipToBigInt(ip)).toBe(value);
    expect(bigIntToIp(value, 6)).toBe(ip);
  });

  it('canonicalises IPv6 to RFC 5952 form', () => {
    expect(canonical('2001:DB8:0:0:0::1')).toBe('2001:db8::1');
    expect(canonical('203.0.113.9')).toBe('203.0.113.9');
  });

  it('knows the family', () => {
    expect(parseIp('198.51.100.1').family).toBe(4);
    expect(ipFamilyOf('2001:db8::1')).toBe(6);
    // IPv4-mapped IPv6 would be a second spelling of an IPv4 address: refused.
    expect(() => ipFamilyOf('::ffff:1.2.3.4')).toThrow(/IPv4-mapped/);
  });

  it.each(['1.2.3', '0x0a.0.0.1', '10.0.0.256', '10.0.0.1/32', 'fe80::1%eth0', '', 'a"b', '{}', 'x\ny', '::g'])('rejects %j', (bad) => {
    expect(isValidIp(bad)).toBe(false);
    expect(() => parseIp(bad)).toThrow(/not/);
  });

  it('rejects non-strings and out-of-range values', () => {
    expect(isValidIp(undefined)).toBe(false);
    expect(isValidIp(42)).toBe(false);
    expect(() => bigIntToIp(1n << 32n, 4)).toThrow(/out of range/);
    expect(() => bigIntToIp(-1n, 6)).toThrow(/out of range/);
  });

  it('checks the family when asked', () => {
    expect(isValidIp('10.0.0.1', 4)).toBe(true);
    expect(isValidIp('10.0.0.1', 6)).toBe(false);
  });
});
