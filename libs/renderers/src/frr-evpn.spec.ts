import { EVPN_BGP_PORT, renderNodeEvpn, renderRrEvpn } from './index';
import { ALL_ON, nodeEvpnInput, rrEvpnInput } from './fixtures';
import { frrCheck } from './test-support';

describe('renderNodeEvpn', () => {
  it('given two IPv4 RRs, then one EVPN session per RR on the EVPN port, advertise-all-vni, no unicast family', () => {
    const text = renderNodeEvpn(nodeEvpnInput());
    expect(text).toContain(' neighbor 198.18.0.2 port ' + EVPN_BGP_PORT);
    expect(text).toContain(' neighbor 198.18.0.3 update-source 198.18.0.10');
    expect(text).toContain('  advertise-all-vni');
    expect(text).toContain(' no bgp default ipv4-unicast');
    expect(text).not.toMatch(/address-family ipv[46]/);
  });

  it('given an IPv6 RR, then it gets no EVPN session; given only IPv6 RRs, then it throws', () => {
    const text = renderNodeEvpn(
      nodeEvpnInput({
        routeReflectors: [
          { name: 'rr-6', ip: '2001:db8::6' },
          { name: 'rr-1', ip: '198.18.0.2' },
        ],
      }),
    );
    expect(text).not.toContain('2001:db8::6');
    expect(() => renderNodeEvpn(nodeEvpnInput({ routeReflectors: [{ name: 'rr-6', ip: '2001:db8::6' }] }))).toThrow(/IPv4 route reflector/);
  });

  it.each([
    ['hostname', { hostname: 'node-1\n router bgp 1' }],
    ['localIp', { localIp: '198.18.0.10 ' }],
    ['localIp v6', { localIp: '2001:db8::1' }],
    ['rr ip', { routeReflectors: [{ name: 'rr-1', ip: '198.18.0.2\n!' }] }],
    ['rr name', { routeReflectors: [{ name: 'rr 1', ip: '198.18.0.2' }] }],
    ['asn', { fabricAsn: -1 }],
    ['password', { bgp: { gracefulRestart: false, bfd: false, md5Password: 'a b\nc' } }],
  ])('given a bad %s, then it throws before rendering', (_what, over) => {
    expect(() => renderNodeEvpn(nodeEvpnInput(over as never))).toThrow(/invalid|required/);
  });
});

describe('renderRrEvpn', () => {
  it('given two nodes, then passive route-reflector clients sorted by name under the RR cluster id', () => {
    const text = renderRrEvpn(rrEvpnInput());
    expect(text).toContain(' bgp cluster-id 198.18.0.254');
    expect(text.indexOf('neighbor 198.18.0.10 remote-as')).toBeLessThan(text.indexOf('neighbor 198.18.0.11 remote-as'));
    expect(text).toContain(' neighbor 198.18.0.11 passive');
    expect(text).toContain('  neighbor 198.18.0.10 route-reflector-client');
  });

  it('given no node, then an RR config without neighbors (still valid)', () => {
    const r = frrCheck(renderRrEvpn(rrEvpnInput({ nodes: [] })));
    expect(r).toEqual({ ok: true, output: expect.any(String) });
  });

  it.each([
    ['node ip', { nodes: [{ name: 'node-1', underlayIp: '198.18.0.10; x' }] }],
    ['node ip v6', { nodes: [{ name: 'node-1', underlayIp: '2001:db8::1' }] }],
    [
      'duplicate node ip',
      {
        nodes: [
          { name: 'a', underlayIp: '198.18.0.10' },
          { name: 'b', underlayIp: '198.18.0.10' },
        ],
      },
    ],
    ['cluster id', { rrClusterId: 'x' }],
  ])('given a bad %s, then it throws', (_what, over) => {
    expect(() => renderRrEvpn(rrEvpnInput(over as never))).toThrow(/invalid|duplicate/);
  });

  it('given MD5, then FRR (vtysh -C, bgpd -C) accepts both configs', () => {
    for (const text of [renderRrEvpn(rrEvpnInput({ bgp: ALL_ON })), renderNodeEvpn(nodeEvpnInput({ bgp: ALL_ON }))]) {
      const r = frrCheck(text);
      expect({ ok: r.ok, output: r.ok ? '' : r.output }).toEqual({ ok: true, output: '' });
    }
  });
});
