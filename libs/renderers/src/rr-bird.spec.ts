import { ORIGIN_TAG_MAX, ORIGIN_TAG_MIN, originTag, renderRrBird, renderRrBirdMain, renderRrNode } from './rr-bird';
import { nodePrefixLimit } from './common';
import { ALL_OFF, ALL_ON, BAD_NAMES, MD5, block, rrInput } from './fixtures';
import { birdCheck } from './test-support';

/** A node session as BIRD sees it: its own part followed by the template it inherits from. */
function session(config: string, protocol: string): string {
  const m = new RegExp(`protocol bgp ${protocol} from (\\w+)`).exec(config);
  if (!m) throw new Error(`no node session ${protocol}`);
  return block(config, m[0]) + '\n' + block(config, `template bgp ${m[1]}`);
}

describe('renderRrBird', () => {
  describe('given two nodes, a core and IPv4 + IPv6 pools', () => {
    const config = renderRrBird(rrInput());

    it('then it has the router id, a device protocol and no kernel protocol', () => {
      expect(config).toContain('router id 198.18.0.2;');
      expect(config).toMatch(/protocol device \{/);
      expect(config).not.toMatch(/protocol kernel/);
    });

    it('then every node is an rr client with the shared cluster id, sorted by name', () => {
      const names = [...config.matchAll(/protocol bgp (\w+)( from fabric_node_v4)? \{/g)].map((m) => m[1]);
      expect(names).toEqual(['core_core', 'node_node_1', 'node_node_2']);
      for (const [p, ip] of [
        ['node_node_1', '198.18.0.10'],
        ['node_node_2', '198.18.0.11'],
      ]) {
        const s = session(config, p);
        expect(s).toContain(`neighbor ${ip} as 65000;`);
        expect(s).toContain('local 198.18.0.2 as 65000;');
        expect(s).toContain('rr client;');
        expect(s).toContain('rr cluster id 198.18.0.254;');
        expect(s).toContain('direct;');
        expect(s.match(/export none;/g)).toHaveLength(2);
      }
    });

    it("then a node's imports accept only routes whose ROA names the node's origin tag, with the community", () => {
      expect(config).toContain('function fabric_node4(int origin) { return roa_check(fabric_roa4, net, origin) = ROA_VALID && (65000,100) ~ bgp_community; }');
      expect(config).toContain('function fabric_node6(int origin) { return roa_check(fabric_roa6, net, origin) = ROA_VALID && (65000,100) ~ bgp_community; }');
      const s = session(config, 'node_node_1');
      expect(s).toContain('import where fabric_node4(4200000001);');
      expect(s).toContain('import where fabric_node6(4200000001);');
      expect(session(config, 'node_node_2')).toContain('import where fabric_node4(4200000002);');
      // Re-evaluated by the agent (reload in) from the adj-RIB-in, not by BIRD a second later.
      expect(s.match(/import table on;/g)).toHaveLength(2);
      expect(s.match(/rpki reload off;/g)).toHaveLength(2);
      expect(s.match(/import keep filtered on;/g)).toHaveLength(2);
    });

    it('then the ROA tables are fed over RTR from the agent on the loopback, and no placed address is in the text', () => {
      expect(config).toContain('roa4 table fabric_roa4;');
      expect(config).toContain('roa6 table fabric_roa6;');
      const r = block(config, 'protocol rpki fabric_rtr');
      expect(r).toContain('remote 127.0.0.1 port 8323;');
      expect(r).toContain('roa4 { table fabric_roa4; };');
      expect(r).toContain('roa6 { table fabric_roa6; };');
      expect(renderRrBird(rrInput({ rtrPort: 18323 }))).toContain('remote 127.0.0.1 port 18323;');
      expect(config).not.toMatch(/203\.0\.113\.\d+\/32[^{]/);
    });

    it('then the core session is eBGP, imports nothing and exports only host routes inside the pools with next hop keep', () => {
      const s = block(config, 'protocol bgp core_core');
      expect(s).toContain('neighbor 198.18.0.1 as 65001;');
      expect(s).toContain('local 198.18.0.2 as 65000;');
      expect(s.match(/import none;/g)).toHaveLength(2);
      expect(s.match(/next hop keep;/g)).toHaveLength(2);
      expect(block(config, 'filter fabric_core_out4')).toContain('[ 198.51.100.0/24{32,32}, 203.0.113.0/24{32,32} ]');
      expect(block(config, 'filter fabric_core_out6')).toContain('[ 2001:db8::/32{128,128} ]');
    });

    it('then every node session has a receive limit per family, sized from its placed prefixes, action restart by default', () => {
      for (const p of ['node_node_1', 'node_node_2']) {
        expect(session(config, p).match(/receive limit 256 action restart;/g)).toHaveLength(2);
      }
    });

    it('then routes to the core get no-export added, only after the pool and community match', () => {
      expect(block(config, 'filter fabric_core_out4')).toBe(
        'filter fabric_core_out4 {\n' +
          '  if net ~ [ 198.51.100.0/24{32,32}, 203.0.113.0/24{32,32} ] && (65000,100) ~ bgp_community then {\n' +
          '    bgp_community.add((65535,65281));\n    accept;\n  }\n  reject;\n}',
      );
    });

    it('then md5, graceful restart and bfd are absent', () => {
      expect(config).not.toMatch(/password|graceful restart|bfd/);
    });
  });

  describe('given the split into a cluster-wide part and one part per node', () => {
    const input = rrInput({ bgp: { ...ALL_ON, prefixLimitAction: 'disable' } });
    const main = renderRrBirdMain(input);
    const parts = input.nodes.map((n) => renderRrNode({ fabricAsn: input.fabricAsn, bgp: input.bgp }, n));

    it('then the cluster-wide part has no node session and the same size whatever the nodes', () => {
      expect(main).not.toMatch(/^protocol bgp node_/m);
      expect(main).toContain('template bgp fabric_node_v4 {');
      expect(main).not.toContain('template bgp fabric_node_v6');
      expect(renderRrBirdMain({ ...input, nodes: [] } as never)).toBe(main);
    });

    it("then a node's part is its session exactly as in the whole config, and names its protocol and origin tag", () => {
      const whole = renderRrBird(input);
      expect(whole).toBe([main, ...[...parts].sort((a, b) => a.protocol.localeCompare(b.protocol)).map((p) => p.bird)].join('\n'));
      const p1 = parts.find((p) => p.protocol === 'node_node_1')!;
      expect(p1).toMatchObject({ nodeId: '0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c01', originTag: 4200000001 });
      expect(p1.bird.startsWith('# node node-1')).toBe(true);
      expect(p1.bird).toContain('protocol bgp node_node_1 from fabric_node_v4 {');
    });

    it("then a node's part holds no secret and nothing of one RR: the same part serves every RR of the cluster", () => {
      for (const p of parts) {
        expect(p.bird).not.toContain(MD5);
        expect(p.bird).not.toContain('password');
        expect(p.bird).not.toContain(input.localIp);
      }
      const other = renderRrNode({ fabricAsn: 65000, bgp: input.bgp }, input.nodes[0]);
      expect(other).toEqual(parts[0]);
      expect(block(main, 'template bgp fabric_node_v4')).toContain(`password "${MD5}";`);
    });

    it('then bird accepts the cluster-wide part including the node parts from another file', () => {
      const r = birdCheck(`${main}\n${parts.map((p) => p.bird).join('\n')}`);
      expect(r.output).toBe('');
      expect(r.ok).toBe(true);
    });

    it('then a malformed node is refused by the node renderer too', () => {
      expect(() => renderRrNode({ fabricAsn: 65000, bgp: ALL_OFF }, { ...input.nodes[0], name: 'a"b' })).toThrow(/node\.name/);
      expect(() => renderRrNode({ fabricAsn: 65000, bgp: ALL_OFF }, { ...input.nodes[0], originTag: 1 })).toThrow(/originTag/);
      expect(() => renderRrNode({ fabricAsn: 0, bgp: ALL_OFF }, input.nodes[0])).toThrow(/fabricAsn/);
    });
  });

  describe('given origin tags', () => {
    it('then a tag is derived from the node id, stable, private 32-bit, and probes past tags already given', () => {
      const t = originTag('0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c01');
      expect(t).toBe(originTag('0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c01'));
      expect(t).toBeGreaterThanOrEqual(ORIGIN_TAG_MIN);
      expect(t).toBeLessThanOrEqual(ORIGIN_TAG_MAX);
      expect(originTag('0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c01', new Set([t]))).toBe(t + 1);
      expect(originTag('0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c02')).not.toBe(t);
    });
    it("then a node tag change alters only that node's session", () => {
      const before = renderRrBird(rrInput());
      const nodes = rrInput().nodes.map((n) => (n.name === 'node-2' ? { ...n, originTag: 4200000009 } : n));
      const after = renderRrBird(rrInput({ nodes }));
      expect(session(after, 'node_node_2')).toContain('fabric_node4(4200000009)');
      expect(session(after, 'node_node_1')).toBe(session(before, 'node_node_1'));
    });
  });

  describe('given md5, graceful restart and bfd', () => {
    const config = renderRrBird(rrInput({ bgp: ALL_ON }));
    it('then the core and every node session carry them, with a bfd protocol', () => {
      for (const p of ['core_core', 'node_node_1', 'node_node_2']) {
        const s = p === 'core_core' ? block(config, `protocol bgp ${p}`) : session(config, p);
        expect(s).toContain(`password "${MD5}";`);
        expect(s).toContain('graceful restart on;');
        expect(s).toContain('bfd on;');
      }
      expect(config).toContain('protocol bfd fabric_bfd {');
    });
  });

  describe('given the same content in another order (nodes, pools)', () => {
    it('then the output is identical', () => {
      const a = renderRrBird(rrInput());
      const shuffled = rrInput();
      shuffled.nodes = [...shuffled.nodes].reverse();
      shuffled.exportPrefixes = [...shuffled.exportPrefixes].reverse();
      expect(renderRrBird(shuffled)).toBe(a);
    });
  });

  describe('given IPv6 node and core addresses', () => {
    const config = renderRrBird(
      rrInput({
        localIp6: '2001:db8:ff::2',
        core: { name: 'core', ip: '2001:db8:ff::1' },
        nodes: [{ id: 'node-6', name: 'node-6', underlayIp: '2001:db8:ff::16', originTag: 4200000006 }],
      }),
    );
    it('then those sessions use the IPv6 source and allow IPv4 routes with extended next hop', () => {
      const n = session(config, 'node_node_6');
      expect(n).toContain('local 2001:db8:ff::2 as 65000;');
      expect(n).toMatch(/ipv4 \{[^}]*extended next hop on;/);
      expect(block(config, 'protocol bgp core_core')).toContain('neighbor 2001:db8:ff::1 as 65001;');
    });
  });

  describe('given invalid input', () => {
    it.each(BAD_NAMES)('when a node name is %j then it throws', (bad) => {
      const nodes = [{ id: 'n1', name: bad, underlayIp: '198.18.0.10', originTag: 4200000001 }];
      expect(() => renderRrBird(rrInput({ nodes }))).toThrow(/nodes\[0\]\.name/);
    });
    it.each(BAD_NAMES)('when the rr or core name is %j then it throws', (bad) => {
      expect(() => renderRrBird(rrInput({ rrName: bad }))).toThrow(/rrName/);
      expect(() => renderRrBird(rrInput({ core: { name: bad, ip: '198.18.0.1' } }))).toThrow(/core\.name/);
    });
    it.each(['a"b', 'x;y', 'a\nb'])('when a node id is %j then it throws', (bad) => {
      expect(() => renderRrBird(rrInput({ nodes: [{ id: bad, name: 'n', underlayIp: '198.18.0.10', originTag: 4200000001 }] }))).toThrow(/id/);
    });
    it.each([0, 65000, 4199999999, 4294967295, 2 ** 32, 4200000000.5, '4200000001' as unknown as number, NaN])(
      'when a node origin tag is %p (not a private 32-bit ASN) then it throws',
      (bad) => {
        expect(() => renderRrBird(rrInput({ nodes: [{ id: 'n1', name: 'n1', underlayIp: '198.18.0.10', originTag: bad }] }))).toThrow(/originTag/);
      },
    );
    it.each([0, 65536, 1.5])('when the RTR port is %p then it throws', (bad) => {
      expect(() => renderRrBird(rrInput({ rtrPort: bad }))).toThrow(/rtrPort/);
    });
    it('when two nodes share an origin tag then it throws', () => {
      const nodes = rrInput().nodes.map((n) => ({ ...n, originTag: 4200000001 }));
      expect(() => renderRrBird(rrInput({ nodes }))).toThrow(/origin tag/);
    });
    it.each(['203.0.113.1/24', 'x/24', '203.0.113.0/33', '203.0.113.0'])('when an export prefix is %j then it throws', (bad) => {
      expect(() => renderRrBird(rrInput({ exportPrefixes: [bad] }))).toThrow(/exportPrefixes/);
    });
    it.each(['198.18.0.1.1', '1.2.3.4; }', ''])('when an underlay ip is %j then it throws', (bad) => {
      expect(() => renderRrBird(rrInput({ nodes: [{ id: 'n1', name: 'n1', underlayIp: bad, originTag: 4200000001 }] }))).toThrow(/underlayIp/);
    });
    it('when the cluster id is not a dotted quad then it throws', () => {
      expect(() => renderRrBird(rrInput({ rrClusterId: '1' }))).toThrow(/rrClusterId/);
    });
    it('when the community is invalid then it throws', () => {
      expect(() => renderRrBird(rrInput({ community: '65000:100)); accept; #' }))).toThrow(/community/);
    });
    it('when core and fabric ASN are equal then it throws', () => {
      expect(() => renderRrBird(rrInput({ coreAsn: 65000 }))).toThrow(/differ/);
    });
    it('when two nodes share a name or an address then it throws', () => {
      const n = { id: 'n1', name: 'n1', underlayIp: '198.18.0.10', originTag: 4200000001 };
      expect(() => renderRrBird(rrInput({ nodes: [n, { ...n, id: 'n2', underlayIp: '198.18.0.11', originTag: 4200000002 }] }))).toThrow(/duplicate/);
      expect(() => renderRrBird(rrInput({ nodes: [n, { ...n, id: 'n2', name: 'n2', originTag: 4200000002 }] }))).toThrow(/duplicate/);
    });
    it('when a node is IPv6 but the RR has no IPv6 address then it throws', () => {
      expect(() => renderRrBird(rrInput({ nodes: [{ id: 'n6', name: 'n6', underlayIp: '2001:db8:ff::16', originTag: 4200000006 }] }))).toThrow(/localIp6/);
    });
  });

  describe('given the prefix limit sizing', () => {
    it('then it is at least 256 and the next power of two of twice the placed count (changes only at bucket edges), written per family', () => {
      expect([0, 1, 128, 129, 256, 257, 1000, 5000].map(nodePrefixLimit)).toEqual([256, 256, 256, 512, 512, 1024, 2048, 16384]);
      const n = rrInput().nodes[1];
      // The model passes the bucketed limit per family; the renderer writes it (the floor when absent).
      const limits = (prefixLimit?: { v4: number; v6: number }) =>
        [
          ...session(renderRrBird(rrInput({ nodes: [{ ...n, ...(prefixLimit ? { prefixLimit } : {}) }] })), 'node_node_1').matchAll(
            /receive limit (\d+) action/g,
          ),
        ].map((m) => m[1]);
      expect(limits()).toEqual(['256', '256']);
      expect(limits({ v4: nodePrefixLimit(257), v6: nodePrefixLimit(3) })).toEqual(['1024', '256']);
      for (const bad of [0, -1, 1.5, 2 ** 33])
        expect(() => renderRrBird(rrInput({ nodes: [{ ...n, prefixLimit: { v4: bad, v6: 256 } }] }))).toThrow(/prefixLimit/);
    });
  });

  describe('given another action and core community', () => {
    it('then the limits use the action and the core filter adds that community', () => {
      const c = renderRrBird(rrInput({ bgp: { ...ALL_ON, prefixLimitAction: 'disable', coreCommunity: '65001:666' } }));
      expect(session(c, 'node_node_1').match(/receive limit \d+ action disable;/g)).toHaveLength(2);
      expect(block(c, 'filter fabric_core_out6')).toContain('bgp_community.add((65001,666));');
    });
    it("then with core community 'none' nothing is added", () => {
      const c = renderRrBird(rrInput({ bgp: { ...ALL_OFF, coreCommunity: 'none' } }));
      expect(c).not.toContain('bgp_community.add');
      expect(block(c, 'filter fabric_core_out4')).toContain('&& (65000,100) ~ bgp_community then accept;');
    });
    it('then a bad action or community is refused', () => {
      expect(() => renderRrBird(rrInput({ bgp: { ...ALL_OFF, prefixLimitAction: 'shutdown' as never } }))).toThrow(/prefixLimitAction/);
      expect(() => renderRrBird(rrInput({ bgp: { ...ALL_OFF, coreCommunity: 'no-export; }' } }))).toThrow(/coreCommunity/);
    });
  });

  describe('given the real BIRD 2 parser (bird -p)', () => {
    const v6 = {
      localIp6: '2001:db8:ff::2',
      core: { name: 'core', ip: '2001:db8:ff::1' },
      nodes: [...rrInput().nodes, { id: 'node-6', name: 'node-6', underlayIp: '2001:db8:ff::16', originTag: 4200000006 }],
    };
    const cases: [string, Parameters<typeof renderRrBird>[0]][] = [
      ['defaults', rrInput()],
      ['md5 + gr + bfd', rrInput({ bgp: ALL_ON })],
      ['only gr', rrInput({ bgp: { gracefulRestart: true, bfd: false } })],
      ['IPv6 core and nodes with md5 + gr + bfd', rrInput({ ...v6, bgp: ALL_ON })],
      ['no nodes and no pools', rrInput({ nodes: [], exportPrefixes: [] })],
      ...(['disable', 'block', 'warn'] as const).map((a): [string, Parameters<typeof renderRrBird>[0]] => [
        `action ${a}, core community none`,
        rrInput({ bgp: { ...ALL_ON, prefixLimitAction: a, coreCommunity: 'none' } }),
      ]),
      ['core community 65001:666', rrInput({ bgp: { ...ALL_OFF, coreCommunity: '65001:666' } })],
      [
        'a /32 pool and 63-character node name',
        rrInput({
          exportPrefixes: ['192.0.2.77/32', '2001:db8::1/128'],
          nodes: [{ id: 'n', name: 'n'.repeat(63), underlayIp: '198.18.0.99', originTag: 4294967294 }],
        }),
      ],
    ];
    it.each(cases)('when the config is %s then bird accepts it', (_label, input) => {
      const r = birdCheck(renderRrBird(input));
      expect(r.output).toBe('');
      expect(r.ok).toBe(true);
    });
    it('when the config has 500 nodes then bird accepts it', () => {
      const nodes = Array.from({ length: 500 }, (_, i) => ({
        id: `n${i}`,
        name: `node-${i}`,
        underlayIp: `198.18.${2 + (i >> 8)}.${i & 255}`,
        originTag: 4200000000 + i,
      }));
      expect(birdCheck(renderRrBird(rrInput({ nodes, bgp: ALL_ON }))).ok).toBe(true);
    });
    it('when the config is broken then the check fails (the check is not vacuous)', () => {
      expect(birdCheck(renderRrBird(rrInput()).replace('rr client;', 'rr clientx;')).ok).toBe(false);
    });
  });
});
