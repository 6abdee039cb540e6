import { bfdLinkState, linkState } from './dashboard.controller';

describe('a link state from what both ends report', () => {
  it('given BGP sides, then Established only when every live end says so', () => {
    expect(linkState([{ state: 'Established' }, { state: 'Established' }])).toBe('Established');
    expect(linkState([{ state: 'Established' }, { state: 'Down' }])).toBe('Down');
    expect(linkState([{ state: 'Removed' }])).toBe('Unknown');
  });

  it('given no BFD side, then BFD is off (null)', () => {
    expect(bfdLinkState([])).toBeNull();
  });

  it('given BFD sides, then up only when every end says up, else the first other state', () => {
    expect(bfdLinkState([{ state: 'up' }, { state: 'up' }])).toBe('up');
    expect(bfdLinkState([{ state: 'up' }, { state: 'down' }])).toBe('down');
    expect(bfdLinkState([{ state: 'init' }])).toBe('init');
  });
});
