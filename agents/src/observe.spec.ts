import { readFileSync } from 'fs';
import * as path from 'path';
import { parseBirdRoutes } from './drivers/bird-parse';
import { parseBgpSummaryJson, parseRouteJson } from './drivers/frr-parse';
import { ROUTES_CHANGED_MAX } from '@fabric/contracts';
import { parseBirdBfdSessions, parseFrrBfdPeersJson } from './drivers/bfd-parse';
import {
  BfdTracker,
  birdHostRoutes,
  birdRouteVersions,
  canonicalRoutes,
  frrHostRoutes,
  frrSessions,
  parseBirdBgpSessions,
  type RouteBatch,
  RouteDeltaTracker,
  SessionTracker,
} from './observe';

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
  const at = (t: { now: number }) => () => t.now;
  const active = { protocol: 'rr_rr1', peerIp: '198.18.0.11', state: 'Active', info: 'Socket: Connection refused' };
  const connect = { protocol: 'rr_rr1', peerIp: '198.18.0.11', state: 'Connect' };
  const up = { protocol: 'rr_rr1', peerIp: '198.18.0.11', state: 'Established' };

  it('given a peer that never comes up, when it cycles Active ↔ Connect, then only the first down is reported', () => {
    const clock = { now: 0 };
    const t = new SessionTracker(5000, at(clock));
    expect(t.update([active])).toEqual([{ protocol: 'rr_rr1', peerIp: '198.18.0.11', state: 'Down', info: 'Active: Socket: Connection refused' }]);
    for (let i = 0; i < 100; i++) {
      clock.now += 1000;
      expect(t.update([i % 2 ? active : connect])).toEqual([]);
    }
  });

  it('given a down session, when it comes up, then up is reported at once (the initial report holds nothing)', () => {
    const clock = { now: 0 };
    const t = new SessionTracker(5000, at(clock));
    t.update([connect]);
    clock.now = 100;
    expect(t.update([up])).toEqual([up]);
  });

  it('given a session that flaps, then transitions are at least the hold apart and a flap inside the hold is not reported', () => {
    const clock = { now: 0 };
    const t = new SessionTracker(5000, at(clock));
    t.update([up]);
    clock.now = 1000;
    expect(t.update([active])).toEqual([{ ...up, state: 'Down', info: 'Active: Socket: Connection refused' }]);
    clock.now = 2000;
    expect(t.update([up])).toEqual([]); // held
    clock.now = 3000;
    expect(t.update([connect])).toEqual([]); // down again: nothing changed for consumers
    clock.now = 6500;
    expect(t.update([up])).toEqual([up]); // the hold passed and it is still up
  });

  it('reports removed sessions and an unreadable daemon once', () => {
    const t = new SessionTracker(5000, () => 0);
    t.update([up]);
    expect(t.markAll('Unknown', 'birdc: no socket')).toEqual([{ ...up, state: 'Unknown', info: 'birdc: no socket' }]);
    expect(t.markAll('Unknown', 'again')).toEqual([]);
    expect(t.update([up])).toEqual([up]); // readable again: stated at once
    expect(t.update([])).toEqual([{ protocol: 'rr_rr1', peerIp: '198.18.0.11', state: 'Removed' }]);
    expect(t.update([])).toEqual([]);
  });

  it('given a resync request, then every session is stated as last reported (a held transition is not)', () => {
    const clock = { now: 0 };
    const t = new SessionTracker(5000, at(clock));
    const other = { protocol: 'rr_rr2', peerIp: '198.18.0.12', state: 'Active', info: 'Socket: Connection refused' };
    t.update([up, other]);
    clock.now = 1000;
    t.update([active, other]); // reported down
    clock.now = 2000;
    t.update([up, other]); // held: consumers still know it down
    expect(t.current()).toEqual([
      { protocol: 'rr_rr1', peerIp: '198.18.0.11', state: 'Down', info: 'Down' },
      { protocol: 'rr_rr2', peerIp: '198.18.0.12', state: 'Down', info: 'Active: Socket: Connection refused' },
    ]);
    clock.now = 7000;
    t.update([up, other]);
    expect(t.current()[0]).toEqual(up);
  });
});

describe('birdRouteVersions', () => {
  it("gives each BGP protocol its state and channels' route counters, nothing else", () => {
    const text = fixture('.', 'birdc-show-protocols-all-rr.txt');
    const v = birdRouteVersions(text);
    expect([...v.keys()]).toEqual(['core_core', 'node_node1']);
    expect(v.get('node_node1')).toContain('Import updates:');
    expect(birdRouteVersions(text.replace(/Hold timer:\s+\S+/g, 'Hold timer: 12.000/180'))).toEqual(v);
    const moved = birdRouteVersions(text.replace('Routes:         0 imported, 1 exported', 'Routes:         1 imported, 1 exported'));
    expect([...moved].filter(([p, x]) => v.get(p) !== x).length).toBe(1);
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
});

describe('canonicalRoutes, IPv4 written canonically (no parse)', () => {
  it('given canonical dotted quads, then they are kept as they are; otherwise parsed as before', () => {
    expect(
      canonicalRoutes([
        { prefix: '203.0.113.10/32', nextHop: '198.18.0.101%eth0' },
        { prefix: '203.0.113.0/24', nextHop: '198.18.0.101' },
        { prefix: '203.0.113.11/32', nextHop: 'not-an-ip' },
        { prefix: '203.0.113.256/32', nextHop: '198.18.0.101' },
        { prefix: '0.0.0.0/32', nextHop: '255.255.255.255' },
      ]),
    ).toEqual([{ prefix: '0.0.0.0/32', nextHop: '255.255.255.255' }, { prefix: '203.0.113.10/32', nextHop: '198.18.0.101' }, { prefix: '203.0.113.11/32' }]);
  });
});

describe('RouteDeltaTracker', () => {
  const r = (i: number, nh = '198.18.0.101') => ({ prefix: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`, nextHop: nh });
  const publishAll = (t: RouteDeltaTracker) => {
    const out: RouteBatch[] = [];
    for (let b = t.nextBatch(ROUTES_CHANGED_MAX); b; b = t.nextBatch(ROUTES_CHANGED_MAX)) {
      out.push(b);
      t.ack(b);
    }
    return out;
  };

  it('given nothing read yet, then there is nothing to report', () => {
    const t = new RouteDeltaTracker();
    expect(t.pending).toBe(false);
    expect(t.nextBatch(10)).toBeUndefined();
  });

  it('given the first read, then the table is a resync in bounded batches (start, parts, end)', () => {
    const t = new RouteDeltaTracker();
    t.observe(Array.from({ length: 600 }, (_, i) => r(i)));
    const batches = publishAll(t);
    expect(batches.map((b) => [b.resync, b.added.length, b.total])).toEqual([
      ['start', 250, 600],
      ['part', 250, 600],
      ['end', 100, 600],
    ]);
    expect(t.pending).toBe(false);
    const empty = new RouteDeltaTracker();
    empty.observe([]);
    expect(publishAll(empty).map((b) => [b.resync, b.added.length])).toEqual([['full', 0]]);
  });

  it('given 100,000 routes, then every message stays far below 64 kB', () => {
    const t = new RouteDeltaTracker();
    t.observe(
      Array.from({ length: 100_000 }, (_, i) => ({
        prefix: `2001:db8:ffff:ffff:ffff:ffff:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}/128`,
        nextHop: '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff',
      })),
    );
    const sizes = publishAll(t).map((b) => JSON.stringify({ added: b.added, withdrawn: b.withdrawn, resync: b.resync, total: b.total }).length);
    expect(sizes.length).toBe(400);
    expect(Math.max(...sizes)).toBeLessThan(32 * 1024);
  });

  it('reports an add at the first read and a withdrawal only after two reads without the route', () => {
    const t = new RouteDeltaTracker();
    t.observe([r(1)]);
    publishAll(t);
    t.observe([r(1), r(2)]);
    expect(publishAll(t)).toEqual([{ added: [r(2)], withdrawn: [], total: 2, keys: ['10.0.0.2/32 198.18.0.101'] }]);
    t.observe([r(2)]);
    expect(t.awaitingConfirmation).toBe(true);
    expect(publishAll(t)).toEqual([]);
    t.observe([r(2)]);
    expect(publishAll(t)).toEqual([{ added: [], withdrawn: [r(1)], total: 1, keys: ['10.0.0.1/32 198.18.0.101'] }]);
  });

  it('a route that flaps out for one read is never reported', () => {
    const t = new RouteDeltaTracker();
    t.observe([r(1)]);
    publishAll(t);
    t.observe([]);
    t.observe([r(1)]);
    expect(t.pending).toBe(false);
    expect(publishAll(t)).toEqual([]);
  });

  it('given a failed publish, then the next batch states its routes explicitly, coalesced with what changed meanwhile', () => {
    const t = new RouteDeltaTracker();
    t.observe([]);
    publishAll(t);
    t.observe([r(1), r(2)]);
    const b = t.nextBatch(10)!;
    expect(b.added).toEqual([r(1), r(2)]);
    t.fail(b);
    // r(2) goes away meanwhile: stated as withdrawn (it may have been stored), r(1) added again.
    t.observe([r(1)]);
    t.observe([r(1)]);
    const next = publishAll(t);
    expect(next).toEqual([{ added: [r(1)], withdrawn: [r(2)], total: 1, keys: ['10.0.0.1/32 198.18.0.101', '10.0.0.2/32 198.18.0.101'] }]);
    expect(t.pending).toBe(false);
  });

  it('given a failed resync batch, then the resync starts over from the table as it is', () => {
    const t = new RouteDeltaTracker();
    t.observe(Array.from({ length: 300 }, (_, i) => r(i)));
    const first = t.nextBatch(ROUTES_CHANGED_MAX)!;
    t.ack(first);
    const second = t.nextBatch(ROUTES_CHANGED_MAX)!;
    expect(second.resync).toBe('end');
    t.fail(second);
    t.observe(Array.from({ length: 301 }, (_, i) => r(i)));
    expect(publishAll(t).map((b) => [b.resync, b.added.length, b.total])).toEqual([
      ['start', 250, 301],
      ['end', 51, 301],
    ]);
  });

  it('changes during a resync are deltas after it', () => {
    const t = new RouteDeltaTracker();
    t.observe(Array.from({ length: 300 }, (_, i) => r(i)));
    const first = t.nextBatch(ROUTES_CHANGED_MAX)!;
    t.ack(first);
    t.observe([...Array.from({ length: 300 }, (_, i) => r(i)), r(1000)]);
    const rest = publishAll(t);
    expect(rest.map((b) => [b.resync, b.added.length])).toEqual([
      ['end', 50],
      [undefined, 1],
    ]);
    expect(rest[1].added).toEqual([r(1000)]);
  });
});

describe('BfdTracker', () => {
  const up = [{ peer: '198.18.0.11', interface: 'ul0', state: 'up', up: true, intervalMs: 100, timeoutMs: 300, since: '12:00:00' }];

  it('given a first read, then every session is reported once; the same read again reports nothing', () => {
    const t = new BfdTracker();
    expect(t.update(up)).toEqual([{ peerIp: '198.18.0.11', interface: 'ul0', state: 'up', intervalMs: 100, timeoutMs: 300 }]);
    expect(t.update(up)).toEqual([]);
  });

  it('given only the uptime moved, then nothing is reported; given a new state or new timers, then the change is', () => {
    const t = new BfdTracker();
    t.update(up);
    expect(t.update([{ ...up[0], since: '12:00:05' }])).toEqual([]);
    expect(t.update([{ ...up[0], state: 'down' }])).toEqual([expect.objectContaining({ peerIp: '198.18.0.11', state: 'down' })]);
    expect(t.update([{ ...up[0], state: 'down' }])).toEqual([]);
    expect(t.update([{ ...up[0], timeoutMs: 900 }])).toEqual([expect.objectContaining({ state: 'up', timeoutMs: 900 })]);
  });

  it('given a session gone from the daemon, then it is reported removed once', () => {
    const t = new BfdTracker();
    t.update(up);
    expect(t.update([])).toEqual([{ peerIp: '198.18.0.11', interface: 'ul0', state: 'removed' }]);
    expect(t.update([])).toEqual([]);
    expect(t.current()).toEqual([]);
  });

  it('given the daemon unreadable, then known sessions turn unknown once and the next read reports them again', () => {
    const t = new BfdTracker();
    t.update(up);
    expect(t.markAll('cannot read')).toEqual([expect.objectContaining({ state: 'unknown', info: 'cannot read' })]);
    expect(t.markAll('cannot read')).toEqual([]);
    expect(t.update(up)).toEqual([expect.objectContaining({ state: 'up' })]);
  });

  it('given a peer that is not an address or an IPv6 peer with a zone, then the first is skipped and the second canonical', () => {
    const t = new BfdTracker();
    expect(
      t.update([
        { peer: 'nope', state: 'up', up: true },
        { peer: '2001:DB8::0001%ul0', state: 'init', up: false },
      ]),
    ).toEqual([{ peerIp: '2001:db8::1', state: 'init' }]);
  });

  it('given the captured BIRD and FRR outputs, then up then down as the daemons said', () => {
    const fx = (f: string) => readFileSync(path.join(__dirname, 'drivers', '__fixtures__', f), 'utf8');
    const bird = new BfdTracker();
    expect(bird.update(parseBirdBfdSessions(fx('birdc-show-bfd-sessions-up.txt')))).toEqual([expect.objectContaining({ peerIp: '10.99.0.2', state: 'up' })]);
    expect(bird.update(parseBirdBfdSessions(fx('birdc-show-bfd-sessions-down.txt')))).toEqual([
      expect.objectContaining({ peerIp: '10.99.0.2', state: 'down' }),
    ]);
    const frr = new BfdTracker();
    expect(frr.update(parseFrrBfdPeersJson(fx('vtysh-bfd-peers-up.json')))).toEqual([expect.objectContaining({ peerIp: '10.99.0.1', state: 'up' })]);
    expect(frr.update(parseFrrBfdPeersJson(fx('vtysh-bfd-peers-down.json')))).toEqual([expect.objectContaining({ peerIp: '10.99.0.1', state: 'down' })]);
  });
});
