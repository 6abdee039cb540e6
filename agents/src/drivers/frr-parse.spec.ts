import { readFileSync } from 'fs';
import * as path from 'path';
import { parseBgpSummaryJson, parseIpRouteJson, parseRouteJson } from './frr-parse';

// Captured from FRR 8.4.4 (core of the lab) and iproute2 6.1.
const fixture = (name: string) => readFileSync(path.join(__dirname, '__fixtures__', name), 'utf8');

describe('FRR parsers', () => {
  it('parses show bgp summary json per address family', () => {
    const peers = parseBgpSummaryJson(fixture('vtysh-bgp-summary.json'));
    expect(peers.map((p) => [p.afi, p.peer, p.state, p.established, p.remoteAs])).toEqual([
      ['ipv4Unicast', '198.18.0.11', 'Established', true, 65000],
      ['ipv6Unicast', '198.18.0.11', 'Established', true, 65000],
    ]);
    expect(peers[0].prefixReceived).toBe(1);
  });

  it('parses a summary with a peer that is not up yet', () => {
    const peers = parseBgpSummaryJson(
      JSON.stringify({ ipv4Unicast: { routerId: '198.18.0.1', as: 65001, peers: { '198.18.0.12': { remoteAs: 65000, state: 'Active', pfxRcd: 0 } } } }),
    );
    expect(peers).toEqual([expect.objectContaining({ peer: '198.18.0.12', state: 'Active', established: false })]);
    expect(parseBgpSummaryJson('{}')).toEqual([]);
  });

  it('parses show ip route json: BGP route via the node underlay address', () => {
    const routes = parseRouteJson(fixture('vtysh-ip-route.json'));
    const vm = routes.find((r) => r.prefix === '203.0.113.10/32');
    expect(vm).toMatchObject({ protocol: 'bgp', selected: true, installed: true });
    expect(vm!.nexthops).toEqual([expect.objectContaining({ ip: '198.18.0.101', interfaceName: 'ul0', active: true, fib: true })]);
    expect(routes.find((r) => r.prefix === '198.18.0.0/24')).toMatchObject({ protocol: 'connected' });
  });

  it('parses show ipv6 route json with a global IPv6 next hop learned over an IPv4 session', () => {
    const vm = parseRouteJson(fixture('vtysh-ipv6-route.json')).find((r) => r.prefix === '2001:db8:1::11/128');
    expect(vm).toMatchObject({ protocol: 'bgp', installed: true });
    expect(vm!.nexthops[0].ip).toBe('2001:db8:ffff::101');
  });

  it('parses ip -j route and adds the host prefix length iproute2 omits', () => {
    expect(parseIpRouteJson(fixture('ip-route-4.json'), 4)).toEqual([
      { dst: '198.18.0.0/24', dev: 'ul0', protocol: 'kernel', gateway: undefined, family: 4 },
      { dst: '203.0.113.10/32', gateway: '198.18.0.101', dev: 'ul0', protocol: 'bgp', family: 4 },
    ]);
    expect(parseIpRouteJson(fixture('ip-route-6.json'), 6).find((r) => r.protocol === 'bgp')).toMatchObject({
      dst: '2001:db8:1::11/128',
      gateway: '2001:db8:ffff::101',
    });
  });
});
