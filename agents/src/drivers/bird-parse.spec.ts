import { readFileSync } from 'fs';
import * as path from 'path';
import { parseBirdProtocols, parseBirdRoutes } from './bird-parse';

// Captured from BIRD 2.0.12 in the lab (node → RR → FRR core).
const fixture = (name: string) => readFileSync(path.join(__dirname, '__fixtures__', name), 'utf8');

describe('parseBirdProtocols', () => {
  it('parses an established iBGP session and kernel protocols', () => {
    const p = parseBirdProtocols(fixture('birdc-show-protocols-node.txt'));
    expect(p.map((x) => x.name)).toEqual(['device1', 'k4', 'k6', 'rr1']);
    expect(p.find((x) => x.name === 'rr1')).toEqual({ name: 'rr1', proto: 'BGP', table: '---', state: 'up', since: '04:01:43.043', info: 'Established' });
    expect(p.find((x) => x.name === 'k4')).toMatchObject({ proto: 'Kernel', table: 'master4', state: 'up', info: '' });
  });

  it('parses sessions that are down, connecting, and names wider than the column', () => {
    const p = parseBirdProtocols(fixture('birdc-show-protocols-mixed.txt'));
    expect(p.find((x) => x.name === 'rr1')).toMatchObject({ state: 'start', info: 'Active        Socket: Connection reset by peer' });
    expect(p.find((x) => x.name === 'disabled_one')).toMatchObject({ proto: 'BGP', state: 'down', info: '' });
    expect(p.filter((x) => x.proto === 'Static').map((x) => x.table)).toEqual(['master4', 'master4', 'master6']);
  });

  it('accepts iso long timestamps with a space', () => {
    const p = parseBirdProtocols('rr1        BGP        ---        up     2026-11-26 04:01:43  Established\n');
    expect(p[0]).toMatchObject({ since: '2026-11-26 04:01:43', info: 'Established' });
  });

  it('ignores banners and empty output', () => {
    expect(parseBirdProtocols('BIRD 2.0.12 ready.\n')).toEqual([]);
  });
});

describe('parseBirdRoutes', () => {
  it('parses routes reflected on the RR with BGP next hops for both families', () => {
    const r = parseBirdRoutes(fixture('birdc-show-route-all-rr.txt'));
    expect(r).toHaveLength(2);
    expect(r[0]).toMatchObject({
      table: 'master4',
      prefix: '203.0.113.10/32',
      type: 'unicast',
      fromProtocol: 'node1',
      primary: true,
      preference: 100,
      nextHop: '198.18.0.101',
      dev: 'ul0',
    });
    expect(r[0].attributes['BGP.next_hop']).toBe('198.18.0.101');
    expect(r[1]).toMatchObject({ table: 'master6', prefix: '2001:db8:1::11/128', from: '198.18.0.101', nextHop: '2001:db8:ffff::101' });
  });

  it('parses kernel-learned device routes on the node', () => {
    const r = parseBirdRoutes(fixture('birdc-show-route-all-node.txt'));
    expect(r.map((x) => [x.prefix, x.fromProtocol, x.dev, x.nextHop])).toEqual([
      ['203.0.113.10/32', 'k4', 'vm10', undefined],
      ['2001:db8:1::11/128', 'k6', 'vm11', undefined],
    ]);
    expect(r[0].attributes['Kernel.source']).toBe('200');
  });

  it('keeps alternative routes of a prefix and marks only the best one primary', () => {
    const r = parseBirdRoutes(fixture('birdc-show-route-all-mixed.txt'));
    const alt = r.filter((x) => x.prefix === '198.51.100.0/24');
    expect(alt.map((x) => [x.type, x.fromProtocol, x.primary, x.preference])).toEqual([
      ['blackhole', 's1', true, 200],
      ['unreachable', 's2', false, 50],
    ]);
    expect(r.find((x) => x.prefix === '198.51.100.7/32')).toMatchObject({ nextHop: '198.18.0.1', dev: 'ul0' });
    expect(r.find((x) => x.table === 'master6')).toMatchObject({ prefix: '2001:db8:2::/64', nextHop: '2001:db8:ffff::1' });
  });
});
