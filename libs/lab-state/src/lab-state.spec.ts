import { memberAddresses, readLabState, validatePrefix, labStateFile } from './index';

describe('lab state', () => {
  it('given prefixes, when validated, then only lower-case letters/digits with one trailing dash pass', () => {
    expect(() => validatePrefix('fab-')).not.toThrow();
    for (const bad of ['fab', 'Fab-', 'fa-b-', '-', '1fab-', 'abcdefghijk-', 'fab-;rm']) expect(() => validatePrefix(bad)).toThrow(/invalid lab prefix/);
  });

  it('given a member kind and index, then its underlay addresses follow the addressing plan', () => {
    expect(memberAddresses('core')).toEqual({ ipv4: '198.18.0.1', ipv6: '2001:db8:ffff::1' });
    expect(memberAddresses('rr', 2)).toEqual({ ipv4: '198.18.0.12', ipv6: '2001:db8:ffff::12' });
    expect(memberAddresses('node', 1)).toEqual({ ipv4: '198.18.0.101', ipv6: '2001:db8:ffff::101' });
  });

  it('given no lab with that prefix, when its state is read, then there is none', async () => {
    expect(labStateFile('zz9-')).toBe('/run/ip-fabric-lab/zz9-/state.json');
    await expect(readLabState('zz9-')).resolves.toBeUndefined();
  });
});
