import { renderFrrCore } from './frr-core';
import { ALL_ON, BAD_NAMES, MD5, frrInput } from './fixtures';
import { frrCheck } from './test-support';

describe('renderFrrCore', () => {
  describe('given two RRs and IPv4 + IPv6 pools', () => {
    const config = renderFrrCore(frrInput());

    it('then it declares the BGP instance and router id', () => {
      expect(config).toContain('hostname core');
      expect(config).toContain('router bgp 65001\n bgp router-id 198.18.0.1');
    });

    it('then the prefix-lists allow only host routes inside the pools', () => {
      expect(config).toContain('ip prefix-list FABRIC-POOLS seq 10 permit 198.51.100.0/24 ge 32 le 32');
      expect(config).toContain('ip prefix-list FABRIC-POOLS seq 20 permit 203.0.113.0/24 ge 32 le 32');
      expect(config).toContain('ipv6 prefix-list FABRIC-POOLS-V6 seq 10 permit 2001:db8::/32 ge 128 le 128');
    });

    it('then route-maps accept the pools in and deny everything out', () => {
      expect(config).toContain('route-map FABRIC-IN permit 10\n match ip address prefix-list FABRIC-POOLS\n match community FABRIC-CLUSTER\n');
      expect(config).toContain('route-map FABRIC-IN-V6 permit 10\n match ipv6 address prefix-list FABRIC-POOLS-V6\n');
      expect(config).toContain('route-map FABRIC-OUT deny 10\n');
    });

    it('then RTBH: pool host routes with the blackhole community get a discard next hop (a static blackhole) and NO_EXPORT', () => {
      expect(config).toContain('bgp community-list standard FABRIC-BLACKHOLE seq 5 permit 65535:666\n');
      expect(config).toContain('ip route 192.0.2.1/32 blackhole\nipv6 route 100::1/128 blackhole\n');
      expect(config).toContain(
        'route-map FABRIC-IN permit 5\n match ip address prefix-list FABRIC-POOLS\n match community FABRIC-BLACKHOLE\n set ip next-hop 192.0.2.1\n set community no-export additive\nexit\n',
      );
      expect(config).toContain(
        'route-map FABRIC-IN-V6 permit 5\n match ipv6 address prefix-list FABRIC-POOLS-V6\n match community FABRIC-BLACKHOLE\n set ipv6 next-hop global 100::1\n set community no-export additive\nexit\n',
      );
      expect(renderFrrCore(frrInput({ blackholeCommunity: '64512:666' }))).toContain('permit 64512:666\n');
      // the discard next hop is not on a connected network: each RR neighbor skips that eBGP check
      for (const rr of frrInput().routeReflectors) expect(config).toContain(` neighbor ${rr.ip} disable-connected-check\n`);
      expect(() => renderFrrCore(frrInput({ blackholeCommunity: '1:2:3' }))).toThrow();
    });

    it('then each RR is an eBGP neighbor activated in both families with the policies', () => {
      for (const ip of ['198.18.0.2', '198.18.0.3']) {
        expect(config).toContain(` neighbor ${ip} remote-as 65000\n`);
        expect(config.match(new RegExp(`  neighbor ${ip.replace(/\./g, '\\.')} activate`, 'g'))).toHaveLength(2);
        expect(config).toContain(`  neighbor ${ip} route-map FABRIC-IN in`);
        expect(config).toContain(`  neighbor ${ip} route-map FABRIC-IN-V6 in`);
        expect(config.match(new RegExp(`neighbor ${ip.replace(/\./g, '\\.')} route-map FABRIC-OUT out`, 'g'))).toHaveLength(2);
      }
      expect(config.indexOf('description rr rr-1')).toBeLessThan(config.indexOf('description rr rr-2'));
    });

    it('then both route-maps also require the cluster community', () => {
      expect(config).toContain('bgp community-list standard FABRIC-CLUSTER seq 5 permit 65000:100\n');
      expect(config.match(/\n match community FABRIC-CLUSTER\n/g)).toHaveLength(2);
    });

    it('then every RR session has a maximum-prefix per family from the pools plus headroom, counting filtered routes', () => {
      // IPv4: 2 x /24 = 512 addresses + 51 (10%); IPv6: a /32 is beyond the largest limit.
      for (const ip of ['198.18.0.2', '198.18.0.3']) {
        expect(config).toContain(`  neighbor ${ip} maximum-prefix 563 restart 5 force\n`);
        expect(config).toContain(`  neighbor ${ip} maximum-prefix 4294967295 restart 5 force\n`);
      }
      expect(renderFrrCore(frrInput({ exportPrefixes: ['192.0.2.77/32'] }))).toContain('maximum-prefix 17 restart 5 force');
    });

    it('then md5, graceful restart and bfd are absent', () => {
      expect(config).not.toMatch(/password|graceful-restart| bfd/);
    });
  });

  describe('given md5, graceful restart and bfd', () => {
    const config = renderFrrCore(frrInput({ bgp: ALL_ON }));
    it('then they are set per neighbor (and globally for graceful restart)', () => {
      expect(config).toContain(' bgp graceful-restart\n');
      for (const ip of ['198.18.0.2', '198.18.0.3']) {
        expect(config).toContain(` neighbor ${ip} password ${MD5}\n`);
        expect(config).toContain(` neighbor ${ip} bfd\n`);
      }
    });
  });

  describe('given no pools of a family', () => {
    it('then that prefix-list denies everything', () => {
      const config = renderFrrCore(frrInput({ exportPrefixes: ['203.0.113.0/24'] }));
      expect(config).toContain('ipv6 prefix-list FABRIC-POOLS-V6 seq 10 deny any');
    });
  });

  describe('given the same content in another order', () => {
    it('then the output is identical', () => {
      const a = renderFrrCore(frrInput());
      const i = frrInput();
      expect(renderFrrCore({ ...i, routeReflectors: [...i.routeReflectors].reverse(), exportPrefixes: [...i.exportPrefixes].reverse() })).toBe(a);
    });
  });

  describe('given a direct cluster (lab only): nodes instead of RRs', () => {
    const nodes = [
      { name: 'node-2', ip: '198.18.0.11' },
      { name: 'node-1', ip: '198.18.0.10' },
    ];
    const config = renderFrrCore(frrInput({ routeReflectors: [], nodes }));

    it('then every node is an eBGP neighbor with the same policies and prefix limits an RR session gets', () => {
      const rrConfig = renderFrrCore(frrInput());
      for (const n of nodes) {
        expect(config).toContain(` neighbor ${n.ip} remote-as 65000`);
        expect(config).toContain(` neighbor ${n.ip} description node ${n.name}`);
        expect(config).toContain(`  neighbor ${n.ip} route-map FABRIC-IN in`);
        expect(config).toContain(`  neighbor ${n.ip} route-map FABRIC-IN-V6 in`);
        expect(config).toContain(`  neighbor ${n.ip} route-map FABRIC-OUT out`);
      }
      const limit = (text: string, ip: string) => text.match(new RegExp(`neighbor ${ip.replace(/\./g, '\\.')} maximum-prefix (\\d+)`))?.[1];
      expect(limit(config, '198.18.0.10')).toBe(limit(rrConfig, '198.18.0.2'));
      expect(config).not.toMatch(/description rr /);
    });
    it('then it carries the lab-only warning', () => {
      expect(config).toMatch(/^! WARNING: lab\/test stand only/m);
    });
    it('then no node yet is a config with no neighbor', () => {
      expect(renderFrrCore(frrInput({ routeReflectors: [], nodes: [] }))).not.toContain('remote-as');
    });
    it('when RRs are given too, or two nodes share an address, then it throws', () => {
      expect(() => renderFrrCore(frrInput({ nodes }))).toThrow(/routeReflectors must be empty/);
      expect(() => renderFrrCore(frrInput({ routeReflectors: [], nodes: [nodes[0], { name: 'node-3', ip: nodes[0].ip }] }))).toThrow(/duplicate/);
    });
  });

  describe('given invalid input', () => {
    it.each(BAD_NAMES)('when the hostname, an RR name or a node name is %j then it throws', (bad) => {
      expect(() => renderFrrCore(frrInput({ hostname: bad }))).toThrow(/hostname/);
      expect(() => renderFrrCore(frrInput({ routeReflectors: [{ name: bad, ip: '198.18.0.2' }] }))).toThrow(/name/);
      expect(() => renderFrrCore(frrInput({ routeReflectors: [], nodes: [{ name: bad, ip: '198.18.0.10' }] }))).toThrow(/name/);
    });
    it.each(['198.18.0', '198.18.0.2\n!', '::g'])('when an RR ip is %j then it throws', (bad) => {
      expect(() => renderFrrCore(frrInput({ routeReflectors: [{ name: 'rr-1', ip: bad }] }))).toThrow(/ip/);
    });
    it.each(['203.0.113.0/24 le 32', '203.0.113.1/24', ''])('when an export prefix is %j then it throws', (bad) => {
      expect(() => renderFrrCore(frrInput({ exportPrefixes: [bad] }))).toThrow(/exportPrefixes/);
    });
    it('when the md5 password contains a space then it throws', () => {
      expect(() => renderFrrCore(frrInput({ bgp: { ...ALL_ON, md5Password: 'a b' } }))).toThrow(/md5Password/);
    });
    it('when core and fabric ASN are equal then it throws', () => {
      expect(() => renderFrrCore(frrInput({ fabricAsn: 65001 }))).toThrow(/differ/);
    });
  });

  describe('given the real FRR 8.4 parsers (vtysh -C, bgpd -C)', () => {
    const cases: [string, Parameters<typeof renderFrrCore>[0]][] = [
      ['defaults', frrInput()],
      ['md5 + gr + bfd', frrInput({ bgp: ALL_ON })],
      [
        'IPv6 RR, /32 and /128 pools',
        frrInput({ bgp: ALL_ON, routeReflectors: [{ name: 'rr-6', ip: '2001:db8:ff::2' }], exportPrefixes: ['192.0.2.77/32', '2001:db8::1/128'] }),
      ],
      ['no pools', frrInput({ exportPrefixes: [] })],
    ];
    it.each(cases)('when the config is %s then FRR accepts it', (_label, input) => {
      const r = frrCheck(renderFrrCore(input));
      expect(r.output).toMatch(/^vtysh exit 0: \nbgpd: $/);
      expect(r.ok).toBe(true);
    });
    it('when the config has a custom blackhole community then FRR accepts it', () => {
      const r = frrCheck(renderFrrCore(frrInput({ blackholeCommunity: '64512:666' })));
      expect(r.output).toMatch(/^vtysh exit 0: \nbgpd: $/);
      expect(r.ok).toBe(true);
    });
    it('when a static route is invalid then the check fails (staticd validation)', () => {
      expect(frrCheck(renderFrrCore(frrInput()).replace('192.0.2.1/32 blackhole', '192.0.2.1/33 blackhole')).ok).toBe(false);
    });
    it('when the config has an unknown command then the check fails', () => {
      expect(frrCheck(renderFrrCore(frrInput()).replace('remote-as', 'remot-as')).ok).toBe(false);
    });
    it('when the config has an invalid value then the check fails (bgpd validation)', () => {
      expect(frrCheck(renderFrrCore(frrInput()).replace('ge 32 le 32', 'ge 8 le 32')).ok).toBe(false);
    });
  });
});

describe('FRR core: BMP station', () => {
  it('given no station, then no bmp lines; given one, then a post-policy target for both families inside router bgp', () => {
    expect(renderFrrCore(frrInput())).not.toContain('bmp');
    const text = renderFrrCore(frrInput({ bmpStation: { address: '2001:DB8::0:9', port: 5000 } }));
    expect(text).toContain(' bmp targets FABRIC-BMP\n  bmp monitor ipv4 unicast post-policy\n  bmp monitor ipv6 unicast post-policy\n');
    expect(text).toContain('  bmp connect 2001:db8::9 port 5000 min-retry 1000 max-retry 10000\n exit\nexit\n');
  });

  it.each([
    [{ address: '198.18.0.1; shutdown', port: 5000 }],
    [{ address: '198.18.0.1\n', port: 5000 }],
    [{ address: 'collector.example', port: 5000 }],
    [{ address: '198.18.0.1', port: 0 }],
    [{ address: '198.18.0.1', port: 65536 }],
    [{ address: '198.18.0.1', port: 1.5 }],
    [{ address: '198.18.0.1', port: '5000' }],
    ['198.18.0.1:5000'],
  ])('given the station %j, then the render is refused', (bmpStation) => {
    expect(() => renderFrrCore(frrInput({ bmpStation: bmpStation as never }))).toThrow(/bmpStation/);
  });
});
