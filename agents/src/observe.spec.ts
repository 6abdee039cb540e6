import { readFileSync } from 'fs';
import * as path from 'path';
import { parseBirdRoutes } from './drivers/bird-parse';
import { parseBgpSummaryJson, parseRouteJson } from './drivers/frr-parse';
import { birdHostRoutes, canonicalRoutes, frrHostRoutes, frrSessions, parseBirdBgpSessions, RouteSetTracker, SessionTracker } from './observe';

const fixture = (dir: string, name: string) => readFileSync(path.join(__dirname, dir, '__fixtures__', name), 'utf8');

describe('parseBirdBgpSessions', () => {
  it('reads BGP sessions with their neighbor address from `show protocols all` (BIRD 2.0.12, lab RR)', () => {
    expect(parseBirdBgpSessions(fixture('.', 'birdc-show-protocols-all-rr.txt'))).toEqual([
      { protocol: 'core_core', peerIp: '198.18.0.1', state: 'Established' },
      { protocol: 'node_node1', peerIp: '198.18.0.101', state: 'Established' },
    ]);
  });

  it('uses the FSM state from Info, keeps the detail, and reports disabled protocols as Down', () => {
    const text = [
      'BIRD 2.0.12 ready.',
      'Name       Proto      Table      State  Since         Info',
      'rr_rr1     BGP        ---        start  04:01:43.043  Active        Socket: Connection refused',
      '  BGP state:          Active',
      '    Neighbor address: 2001:db8:ffff::11',
      'rr_rr2     BGP        ---        down   04:01:43.043  ',
      'k4         Kernel     master4    up     04:01:43.043  ',
    ].join('\n');
    expect(parseBirdBgpSessions(text)).toEqual([
      { protocol: 'rr_rr1', peerIp: '2001:db8:ffff::11', state: 'Active', info: 'Socket: Connection refused' },
      { protocol: 'rr_rr2', state: 'Down' },
    ]);
  });
});

describe('frrSessions', () => {
  it('one session per peer across address families', () => {
    expect(frrSessions(parseBgpSummaryJson(fixture('drivers', 'vtysh-bgp-summary.json')))).toEqual([
      { protocol: 'bgp 198.18.0.11', peerIp: '198.18.0.11', state: 'Established', info: 'remote AS 65000' },
    ]);
  });
});

describe('SessionTracker', () => {
  it('reports the initial state, then only FSM or peer changes, and removed sessions', () => {
    const t = new SessionTracker();
    const a = { protocol: 'rr_rr1', peerIp: '198.18.0.11', state: 'Active', info: 'Socket: Connection refused' };
    expect(t.update([a])).toEqual([a]);
    expect(t.update([{ ...a, info: 'Socket: Connection reset' }])).toEqual([]);
    const up = { protocol: 'rr_rr1', peerIp: '198.18.0.11', state: 'Established' };
    expect(t.update([up])).toEqual([up]);
    expect(t.markAll('Unknown', 'birdc: no socket')).toEqual([{ ...up, state: 'Unknown', info: 'birdc: no socket' }]);
    expect(t.markAll('Unknown', 'again')).toEqual([]);
    expect(t.update([])).toEqual([{ protocol: 'rr_rr1', peerIp: '198.18.0.11', state: 'Removed' }]);
    expect(t.update([])).toEqual([]);
  });
});

describe('route sets', () => {
  it('RR: host routes learnt over BGP with the node as next hop, both families', () => {
    const routes = parseBirdRoutes(fixture('drivers', 'birdc-show-route-all-rr.txt'));
    expect(birdHostRoutes(routes, new Set(['node1']))).toEqual([
      { prefix: '2001:db8:1::11/128', nextHop: '2001:db8:ffff::101' },
      { prefix: '203.0.113.10/32', nextHop: '198.18.0.101' },
    ]);
    expect(birdHostRoutes(routes, new Set(['other']))).toEqual([]);
  });

  it('core: installed BGP host routes only', () => {
    const routes = parseRouteJson(fixture('drivers', 'vtysh-ip-route.json'));
    expect(frrHostRoutes(routes)).toEqual([{ prefix: '203.0.113.10/32', nextHop: '198.18.0.101' }]);
    expect(frrHostRoutes(routes.map((r) => ({ ...r, installed: false })))).toEqual([]);
  });

  it('canonical: sorted, de-duplicated, canonical addresses, no non-host prefixes', () => {
    expect(
      canonicalRoutes([
        { prefix: '2001:DB8:0::11/128', nextHop: '2001:db8:ffff:0::101' },
        { prefix: '203.0.113.10/32', nextHop: '198.18.0.101' },
        { prefix: '203.0.113.10/32', nextHop: '198.18.0.101' },
        { prefix: '203.0.113.0/24', nextHop: '198.18.0.101' },
      ]),
    ).toEqual([
      { prefix: '2001:db8::11/128', nextHop: '2001:db8:ffff::101' },
      { prefix: '203.0.113.10/32', nextHop: '198.18.0.101' },
    ]);
  });

  it('publishes a set once it is stable for two polls, never the same set twice', () => {
    const t = new RouteSetTracker();
    const a = [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.101' }];
    const b = [...a, { prefix: '203.0.113.11/32', nextHop: '198.18.0.102' }];
    expect(t.observe([])).toBeUndefined();
    expect(t.observe([])).toEqual([]);
    expect(t.observe(a)).toBeUndefined();
    expect(t.observe(b)).toBeUndefined(); // still converging
    expect(t.observe([...b].reverse())).toEqual(b);
    expect(t.observe(b)).toBeUndefined();
    expect(t.observe(b)).toBeUndefined();
    t.forget();
    expect(t.observe(b)).toBeUndefined();
    expect(t.observe(b)).toEqual(b);
  });
});
