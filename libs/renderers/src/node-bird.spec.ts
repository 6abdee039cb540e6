import { renderNodeBird } from './node-bird';
import { ALL_OFF, ALL_ON, BAD_NAMES, MD5, block, nodeInput } from './fixtures';
import { birdCheck } from './test-support';

describe('renderNodeBird', () => {
  describe('given a direct cluster (lab only): no RR, the core router instead', () => {
    const core = { name: 'core', ip: '198.18.0.1', asn: 65001 };
    const config = renderNodeBird(nodeInput({ routeReflectors: [], core, bgp: ALL_ON }));

    it('then the only session is eBGP to the core with the cluster session options', () => {
      const b = block(config, 'protocol bgp core_core');
      expect(b).toContain('local 198.18.0.10 as 65000;');
      expect(b).toContain('neighbor 198.18.0.1 as 65001;');
      expect(b).toContain(`password "${MD5}";`);
      expect(b).toContain('bfd on;');
      expect(b).toContain('export filter fabric_out4;');
      expect(b).toContain('import none;');
      expect(config).not.toContain('protocol bgp rr_');
    });
    it('then the node adds the core community itself (no RR does) and prepends its ASN to a leaving route', () => {
      const f = block(config, 'filter fabric_out4');
      expect(f).toContain('bgp_community.add((65000,100));');
      expect(f).toContain('bgp_community.add((65535,65281));');
      expect(f).toContain('bgp_path.prepend(65000);');
    });
    it('then an RR cluster renders neither the core community nor the prepend', () => {
      const f = block(renderNodeBird(nodeInput()), 'filter fabric_out4');
      expect(f).not.toContain('65535,65281');
      expect(f).not.toContain('prepend');
    });
    it('then bird -p accepts it', () => {
      expect(birdCheck(config)).toEqual({ ok: true, output: '' });
    });
    it('when RRs are given too, or the core shares the fabric ASN, or its name or address is bad, then it throws', () => {
      expect(() => renderNodeBird(nodeInput({ core }))).toThrow(/routeReflectors must be empty/);
      expect(() => renderNodeBird(nodeInput({ routeReflectors: [], core: { ...core, asn: 65000 } }))).toThrow(/differ/);
      expect(() => renderNodeBird(nodeInput({ routeReflectors: [], core: { ...core, name: 'a"b' } }))).toThrow(/name/);
      expect(() => renderNodeBird(nodeInput({ routeReflectors: [], core: { ...core, ip: '198.18.0.1;' } }))).toThrow(/ip/);
    });
  });

  describe('given a node with two IPv4 route reflectors and default options', () => {
    const config = renderNodeBird(nodeInput());

    it('then it sets the router id and a device protocol', () => {
      expect(config).toContain('router id 198.18.0.10;');
      expect(config).toMatch(/protocol device \{/);
    });

    it('then one kernel protocol per family learns only our protocol number and host routes, exporting nothing', () => {
      const k4 = block(config, 'protocol kernel fabric_kernel4');
      const k6 = block(config, 'protocol kernel fabric_kernel6');
      expect(k4).toContain('import filter { if krt_source = 200 && net.len = 32 then accept; reject; };');
      expect(k6).toContain('import filter { if krt_source = 200 && net.len = 128 then accept; reject; };');
      for (const k of [k4, k6]) {
        expect(k).toContain('export none;');
        expect(k).toContain('learn;');
        expect(k).toContain('netlink rx buffer 8388608;');
      }
    });

    it('then there is one iBGP session per RR, sorted by name, with next hop self and no imports', () => {
      const names = [...config.matchAll(/protocol bgp (\w+) \{/g)].map((m) => m[1]);
      expect(names).toEqual(['rr_rr_1', 'rr_rr_2']);
      const s = block(config, 'protocol bgp rr_rr_1');
      expect(s).toContain('local 198.18.0.10 as 65000;');
      expect(s).toContain('neighbor 198.18.0.2 as 65000;');
      expect(s).toMatch(/ipv4 \{\n\s+import none;\n\s+export filter fabric_out4;\n\s+next hop self;/);
      expect(s).toMatch(/ipv6 \{\n\s+import none;\n\s+export filter fabric_out6;\n\s+extended next hop on;\n\s+next hop self;/);
    });

    it('then the export filters accept only our kernel host routes and add the cluster community', () => {
      const f4 = block(config, 'filter fabric_out4');
      expect(f4).toContain('if proto = "fabric_kernel4" && krt_source = 200 && net.len = 32 then {');
      expect(f4).toContain('bgp_community.add((65000,100));');
      expect(f4.trim().endsWith('reject;\n}')).toBe(true);
      expect(block(config, 'filter fabric_out6')).toContain('net.len = 128');
    });

    it('then md5, graceful restart and bfd are absent', () => {
      expect(config).not.toContain('password');
      expect(config).not.toContain('graceful restart');
      expect(config).not.toContain('bfd');
    });
  });

  describe('given md5, graceful restart and bfd enabled', () => {
    const config = renderNodeBird(nodeInput({ bgp: ALL_ON }));
    it('then every session carries them and a bfd protocol exists', () => {
      for (const p of ['rr_rr_1', 'rr_rr_2']) {
        const s = block(config, `protocol bgp ${p}`);
        expect(s).toContain(`password "${MD5}";`);
        expect(s).toContain('graceful restart on;');
        expect(s).toContain('bfd on;');
      }
      expect(config).toContain('protocol bfd fabric_bfd {');
    });
  });

  describe('given an IPv6 route reflector and an IPv6 underlay address', () => {
    const config = renderNodeBird(
      nodeInput({
        routeReflectors: [
          { name: 'rr-6', ip: '2001:DB8:FF::2' },
          { name: 'rr-1', ip: '198.18.0.2' },
        ],
        localIp6: '2001:db8:ff::10',
      }),
    );
    it('then the IPv6 session uses the IPv6 source and an IPv4 next hop address for IPv4 routes', () => {
      const s = block(config, 'protocol bgp rr_rr_6');
      expect(s).toContain('local 2001:db8:ff::10 as 65000;');
      expect(s).toContain('neighbor 2001:db8:ff::2 as 65000;');
      expect(s).toContain('next hop address 198.18.0.10;');
    });
    it('then the IPv4 session announces IPv6 routes with the IPv6 underlay next hop', () => {
      expect(block(config, 'protocol bgp rr_rr_1')).toContain('next hop address 2001:db8:ff::10;');
    });
  });

  describe('given the same input twice, RRs in another order', () => {
    it('then the output is identical', () => {
      const a = renderNodeBird(nodeInput());
      const b = renderNodeBird(nodeInput({ routeReflectors: [...nodeInput().routeReflectors].reverse() }));
      expect(a).toBe(b);
    });
  });

  describe('given invalid input', () => {
    it.each(BAD_NAMES)('when the node name is %j then it throws', (bad) => {
      expect(() => renderNodeBird(nodeInput({ nodeName: bad }))).toThrow(/nodeName/);
    });
    it.each(BAD_NAMES)('when an RR name is %j then it throws', (bad) => {
      expect(() => renderNodeBird(nodeInput({ routeReflectors: [{ name: bad, ip: '198.18.0.2' }] }))).toThrow(/name/);
    });
    it.each(['198.18.0.256', '198.18.0.2; }', '198.18.0.2/32', 'fe80::1%eth0', '', '01.2.3.4'])('when an RR ip is %j then it throws', (bad) => {
      expect(() => renderNodeBird(nodeInput({ routeReflectors: [{ name: 'rr-1', ip: bad }] }))).toThrow(/ip/);
    });
    it('when the router id is IPv6 then it throws', () => {
      expect(() => renderNodeBird(nodeInput({ routerId: '2001:db8::1' }))).toThrow(/routerId/);
    });
    it.each(['65000', '65000:100000', '65000:1;', '70000:1', 'a:b'])('when the community is %j then it throws', (bad) => {
      expect(() => renderNodeBird(nodeInput({ community: bad }))).toThrow(/community/);
    });
    it.each([0, 2, 12, 256, 1.5, NaN])('when the kernel protocol number is %p then it throws', (bad) => {
      expect(() => renderNodeBird(nodeInput({ kernelProtocolNumber: bad }))).toThrow(/kernelProtocolNumber/);
    });
    it.each([0, -1, 4294967296, 1.5])('when the ASN is %p then it throws', (bad) => {
      expect(() => renderNodeBird(nodeInput({ fabricAsn: bad }))).toThrow(/fabricAsn/);
    });
    it.each(['pa"ss', 'pa ss', 'pa\\ss', 'pa\nss', ''])('when the md5 password is %j then it throws without echoing it', (bad) => {
      expect(() => renderNodeBird(nodeInput({ bgp: { ...ALL_ON, md5Password: bad } }))).toThrow(/md5Password: "<redacted>"/);
    });
    it('when there are no RRs, or two RRs share a name or address, then it throws', () => {
      expect(() => renderNodeBird(nodeInput({ routeReflectors: [] }))).toThrow(/at least 1/);
      expect(() =>
        renderNodeBird(
          nodeInput({
            routeReflectors: [
              { name: 'rr-1', ip: '198.18.0.2' },
              { name: 'RR-1', ip: '198.18.0.3' },
            ],
          }),
        ),
      ).toThrow(/duplicate/);
      expect(() =>
        renderNodeBird(
          nodeInput({
            routeReflectors: [
              { name: 'rr-1', ip: '198.18.0.2' },
              { name: 'rr-2', ip: '198.18.0.2' },
            ],
          }),
        ),
      ).toThrow(/duplicate/);
    });
    it('when an RR is IPv6 but the node has no IPv6 underlay address then it throws', () => {
      expect(() => renderNodeBird(nodeInput({ routeReflectors: [{ name: 'rr-6', ip: '2001:db8:ff::2' }] }))).toThrow(/localIp6/);
    });
    it('when bgp flags are not booleans then it throws', () => {
      expect(() => renderNodeBird(nodeInput({ bgp: { gracefulRestart: 'yes', bfd: false } as never }))).toThrow(/gracefulRestart/);
    });
  });

  describe('given blackholed addresses (RTBH)', () => {
    const config = renderNodeBird(nodeInput({ blackholed: ['203.0.113.7', '2001:db8::7', '203.0.113.5'] }));
    it('then each export filter adds the blackhole community to those host routes only', () => {
      expect(block(config, 'filter fabric_out4')).toContain('    if net ~ [ 203.0.113.5/32, 203.0.113.7/32 ] then bgp_community.add((65535,666));\n');
      expect(block(config, 'filter fabric_out6')).toContain('    if net ~ [ 2001:db8::7/128 ] then bgp_community.add((65535,666));\n');
    });
    it('then without any the filters have no blackhole line, and the community is configurable', () => {
      expect(renderNodeBird(nodeInput())).not.toContain('65535,666');
      expect(renderNodeBird(nodeInput({ blackholed: ['203.0.113.5'], blackholeCommunity: '64512:666' }))).toContain('bgp_community.add((64512,666))');
    });
    it('then invalid addresses or communities throw', () => {
      for (const bad of ['203.0.113.5/32', '203.0.113.5 ]', 'x', '']) expect(() => renderNodeBird(nodeInput({ blackholed: [bad] }))).toThrow();
      expect(() => renderNodeBird(nodeInput({ blackholed: ['203.0.113.5'], blackholeCommunity: '65535:666;' }))).toThrow();
    });
  });

  describe('given the real BIRD 2 parser (bird -p)', () => {
    const cases: [string, Parameters<typeof renderNodeBird>[0]][] = [
      ['blackholed addresses', nodeInput({ blackholed: ['203.0.113.5', '2001:db8::7'] })],
      ['defaults', nodeInput()],
      ['md5 + gr + bfd', nodeInput({ bgp: ALL_ON })],
      ['only md5', nodeInput({ bgp: { md5Password: MD5, gracefulRestart: false, bfd: false } })],
      ['IPv6-only RR', nodeInput({ bgp: ALL_ON, localIp6: '2001:db8:ff::10', routeReflectors: [{ name: 'rr-6', ip: '2001:db8:ff::2' }] })],
      [
        'mixed RRs with IPv6 underlay',
        nodeInput({
          bgp: ALL_ON,
          localIp6: '2001:db8:ff::10',
          routeReflectors: [
            { name: 'rr-6', ip: '2001:db8:ff::2' },
            { name: 'rr-1', ip: '198.18.0.2' },
          ],
        }),
      ],
      ['a 63-character RR name', nodeInput({ routeReflectors: [{ name: 'r'.repeat(63), ip: '198.18.0.2' }] })],
    ];
    it.each(cases)('when the config is %s then bird accepts it', (_label, input) => {
      const r = birdCheck(renderNodeBird(input));
      expect(r.output).toBe('');
      expect(r.ok).toBe(true);
    });
    it('when the config is broken then the check fails (the check is not vacuous)', () => {
      const r = birdCheck(renderNodeBird(nodeInput()).replace('netlink rx buffer', 'netlink rx bufer'));
      expect(r.ok).toBe(false);
    });
  });

  describe('given timers the API bounds refuse (defense in depth)', () => {
    it.each([{ holdTime: 2 }, { holdTime: 9, keepaliveTime: 9 }, { bfdMultiplier: 1 }, { bfdMinRxMs: 1e6 }])('then %j is refused', (t) => {
      expect(() => renderNodeBird(nodeInput({ bgp: { ...ALL_OFF, ...t } }))).toThrow(/invalid bgp\./);
    });
  });

  describe('given BFD on (the RR renders its nodes as direct neighbours: single-hop BFD)', () => {
    const config = renderNodeBird(nodeInput({ bgp: { ...ALL_OFF, bfd: true, bfdMinRxMs: 100, bfdMinTxMs: 100, bfdMultiplier: 3 } }));
    it('then every RR session is direct too, so both ends ask BIRD for the same (single-hop) BFD session', () => {
      for (const p of ['rr_rr_1', 'rr_rr_2']) {
        const s = block(config, `protocol bgp ${p}`);
        expect(s).toContain('  bfd on;\n  direct;\n');
        expect(s).not.toContain('multihop');
      }
    });
    it('then bird -p accepts it', () => {
      expect(birdCheck(config)).toEqual({ ok: true, output: '' });
    });
    it("when BFD is off, then the RR sessions keep BIRD's iBGP default (no direct line)", () => {
      expect(renderNodeBird(nodeInput({ bgp: ALL_OFF }))).not.toContain('direct;');
    });
    it('when the node peers the core (direct topology, eBGP: direct by default), then no direct line is added', () => {
      const core = { name: 'core', ip: '198.18.0.1', asn: 65001 };
      expect(renderNodeBird(nodeInput({ routeReflectors: [], core, bgp: ALL_ON }))).not.toContain('direct;');
    });
  });

  describe('given BFD on without intervals', () => {
    it('then protocol bfd keeps BIRD defaults and no timer line appears', () => {
      const text = renderNodeBird(nodeInput({ bgp: { ...ALL_OFF, bfd: true } }));
      expect(text).toContain('protocol bfd fabric_bfd {\n}');
      expect(text).not.toMatch(/hold time|keepalive time|interval/);
    });
  });
});
