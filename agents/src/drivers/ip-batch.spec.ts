import { IpBatchError, ipLine } from './ip-batch';

describe('ipLine: only safe tokens reach an ip -batch', () => {
  it('given names, addresses, prefixes and MACs, when joined, then one line', () => {
    expect(ipLine(['route', 'replace', '100.64.0.7/32', 'dev', 'vm7', 'scope', 'link', 'proto', '200', 'metric', '0'])).toBe(
      'route replace 100.64.0.7/32 dev vm7 scope link proto 200 metric 0',
    );
    expect(ipLine(['address', 'add', 'fe80::1/64', 'dev', 'vm-a1', 'nodad'])).toBe('address add fe80::1/64 dev vm-a1 nodad');
    expect(ipLine(['route', 'del', '::1/128'])).toBe('route del ::1/128');
    expect(ipLine(['link', 'set', 'dev', 'vm1', 'address', '02:00:5e:00:00:01', 'up'])).toBe('link set dev vm1 address 02:00:5e:00:00:01 up');
  });

  it.each([
    ['a newline (a second command)', 'vm1\nlink del dev lo'],
    ['a carriage return', 'vm1\r'],
    ['a blank (another argument)', 'vm1 up'],
    ['a tab', 'vm1\tup'],
    ['a double quote', 'vm"1'],
    ['a single quote', "vm'1"],
    ['a comment', 'vm1#x'],
    ['a line continuation', 'vm1\\'],
    ['a semicolon', 'vm1;x'],
    ['a leading dash (an option)', '-force'],
    ['an empty token', ''],
    ['a NUL', 'vm\u00001'],
    ['a non-ASCII letter', 'vmé'],
    ['a 65-character token', 'a'.repeat(65)],
  ])('given %s, when a line is built, then it is refused', (_what, bad) => {
    expect(() => ipLine(['link', 'set', 'dev', bad, 'up'])).toThrow(IpBatchError);
  });

  it('given the sentinel object or no token, then refused', () => {
    expect(() => ipLine(['fabric-sync'])).toThrow(IpBatchError);
    expect(() => ipLine([])).toThrow(IpBatchError);
    expect(() => ipLine([42 as unknown as string])).toThrow(IpBatchError);
  });
});
