import { bmpCollectorPlan, staleCollectors } from './bmp-collectors';

const ID = '0b6f3c1e-2d4a-4f5b-8c7d-9e0f1a2b3c4d';
const cluster = (bmpStation?: { address: string; port: number }, id = ID, core = '198.18.0.1') => ({
  id,
  coreRouter: { ip: core },
  bgp: { ...(bmpStation ? { bmpStation } : {}) },
});

describe('BMP collectors the launcher supervises', () => {
  it('given a cluster with a station, then one collector listening there that accepts the core only', () => {
    const { collectors, skipped } = bmpCollectorPlan(
      [cluster({ address: '198.18.254.1', port: 11019 }), cluster(undefined, '1b6f3c1e-2d4a-4f5b-8c7d-9e0f1a2b3c4d')],
      '/repo',
    );
    expect(skipped).toEqual([]);
    expect(collectors).toEqual([
      {
        name: `bmp-${ID}`,
        clusterId: ID,
        args: ['/repo/agents/src/bmp/main.ts', '--cluster', ID, '--router', '198.18.0.1', '--listen', '198.18.254.1', '--port', '11019'],
      },
    ]);
  });

  it.each([
    ['a bad address', cluster({ address: '1.2.3.4 --nats x', port: 11019 })],
    ['a bad port', cluster({ address: '198.18.254.1', port: 0 })],
    ['a bad core address', cluster({ address: '198.18.254.1', port: 11019 }, ID, 'core')],
    ['a bad id', cluster({ address: '198.18.254.1', port: 11019 }, '../x')],
  ])('given %s, then no collector and the reason', (_what, c) => {
    const { collectors, skipped } = bmpCollectorPlan([c], '/repo');
    expect(collectors).toEqual([]);
    expect(skipped).toHaveLength(1);
  });

  it('given running programs, then only collectors no cluster asks for are stale', () => {
    const { collectors } = bmpCollectorPlan([cluster({ address: '198.18.254.1', port: 11019 })], '/repo');
    expect(staleCollectors(['gateway', `bmp-${ID}`, 'bmp-old', 'nats'], collectors)).toEqual(['bmp-old']);
  });
});
