import { rangeToCidrs } from './range-cidrs';
import { parseCidr } from './cidr';

describe('rangeToCidrs', () => {
  it('an aligned range is one block', () => {
    expect(rangeToCidrs('203.0.113.0', '203.0.113.255')).toEqual(['203.0.113.0/24']);
    expect(rangeToCidrs('2001:db8::', '2001:db8::ffff:ffff:ffff:ffff')).toEqual(['2001:db8::/64']);
  });
  it('a single address is a host route', () => {
    expect(rangeToCidrs('203.0.113.7', '203.0.113.7')).toEqual(['203.0.113.7/32']);
    expect(rangeToCidrs('2001:db8::7', '2001:db8::7')).toEqual(['2001:db8::7/128']);
  });
  it('an unaligned range is the minimal exact cover, in order', () => {
    expect(rangeToCidrs('203.0.113.10', '203.0.113.100')).toEqual([
      '203.0.113.10/31',
      '203.0.113.12/30',
      '203.0.113.16/28',
      '203.0.113.32/27',
      '203.0.113.64/27',
      '203.0.113.96/30',
      '203.0.113.100/32',
    ]);
    expect(rangeToCidrs('203.0.113.1', '203.0.113.254')).toHaveLength(14);
  });
  it('covers exactly the range (sizes add up, blocks are contiguous)', () => {
    const blocks = rangeToCidrs('198.51.100.3', '198.51.101.200').map((c) => parseCidr(c));
    expect(blocks[0].first).toBe(parseCidr('198.51.100.3/32').first);
    expect(blocks[blocks.length - 1].last).toBe(parseCidr('198.51.101.200/32').first);
    for (let i = 1; i < blocks.length; i++) expect(blocks[i].first).toBe(blocks[i - 1].last + 1n);
  });
  it('handles the whole address space and its ends', () => {
    expect(rangeToCidrs('0.0.0.0', '255.255.255.255')).toEqual(['0.0.0.0/0']);
    expect(rangeToCidrs('255.255.255.254', '255.255.255.255')).toEqual(['255.255.255.254/31']);
    expect(rangeToCidrs('::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toEqual(['::/0']);
  });
  it('refuses empty, mixed-family and invalid ranges', () => {
    expect(() => rangeToCidrs('203.0.113.9', '203.0.113.1')).toThrow(/empty/);
    expect(() => rangeToCidrs('203.0.113.1', '2001:db8::1')).toThrow(/mixes/);
    expect(() => rangeToCidrs('10.1', '10.0.0.2')).toThrow(/not/);
  });
});
