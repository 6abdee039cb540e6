import { UsageError } from './args';
import { bmpStationArg } from './commands';

describe('fabricctl cluster set-bgp --bmp', () => {
  it('given ADDRESS:PORT or [IPv6]:PORT, then the station body', () => {
    expect(bmpStationArg('198.18.254.1:11019')).toEqual({ address: '198.18.254.1', port: 11019 });
    expect(bmpStationArg('[2001:db8::9]:5000')).toEqual({ address: '2001:db8::9', port: 5000 });
  });
  it.each(['198.18.254.1', '2001:db8::9:5000', 'collector:11019', '198.18.254.1:'])('given %s, then a usage error', (v) => {
    expect(() => bmpStationArg(v)).toThrow(UsageError);
  });
});
