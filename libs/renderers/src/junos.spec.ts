import { renderJunos, renderJunosProcedure } from './junos';
import { ALL_ON, BAD_NAMES, MD5, junosInput } from './fixtures';

describe('renderJunos', () => {
  describe('given cluster par1 with two RRs and IPv4 + IPv6 pools', () => {
    const config = renderJunos(junosInput());
    const lines = config.trimEnd().split('\n');

    it('then every line is a set or delete statement', () => {
      for (const l of lines) expect(l).toMatch(/^(set|delete) /);
    });

    it('then it first deletes its own objects so the text is the whole desired state', () => {
      expect(lines.slice(0, 7)).toEqual([
        'delete policy-options prefix-list FABRIC-PAR1-POOLS',
        'delete policy-options community FABRIC-PAR1-BLACKHOLE',
        'delete policy-options community FABRIC-PAR1-NO-EXPORT',
        'delete policy-options policy-statement FABRIC-PAR1-IN',
        'delete policy-options policy-statement FABRIC-PAR1-OUT',
        'delete protocols bgp group FABRIC-PAR1',
        'delete policy-options community FABRIC-PAR1-COMM',
      ]);
    });

    it('then RTBH terms come first: pool host routes with the blackhole community get next-hop discard and NO_EXPORT', () => {
      const t = 'set policy-options policy-statement FABRIC-PAR1-IN term';
      expect(config).toContain('set policy-options community FABRIC-PAR1-BLACKHOLE members 65535:666\n');
      expect(config).toContain('set policy-options community FABRIC-PAR1-NO-EXPORT members no-export\n');
      for (const [term, filter] of [
        ['BLACKHOLE-V4', '203.0.113.0/24 prefix-length-range /32-/32'],
        ['BLACKHOLE-V6', '2001:db8::/32 prefix-length-range /128-/128'],
      ]) {
        expect(config).toContain(`${t} ${term} from community FABRIC-PAR1-BLACKHOLE\n`);
        expect(config).toContain(`${t} ${term} from route-filter ${filter}\n`);
        expect(config).toContain(`${t} ${term} then community add FABRIC-PAR1-NO-EXPORT\n${t} ${term} then next-hop discard\n${t} ${term} then accept\n`);
      }
      const firstTerm = lines.find((l) => l.startsWith(`${t} `))!;
      expect(firstTerm).toContain('term BLACKHOLE-V4');
      expect(renderJunos(junosInput({ blackholeCommunity: '64512:666' }))).toContain('community FABRIC-PAR1-BLACKHOLE members 64512:666\n');
      expect(() => renderJunos(junosInput({ blackholeCommunity: '65536:1' }))).toThrow();
    });

    it('then the prefix-list holds the pools and the import policy accepts only host routes inside them', () => {
      expect(config).toContain('set policy-options prefix-list FABRIC-PAR1-POOLS 203.0.113.0/24\n');
      expect(config).toContain('set policy-options prefix-list FABRIC-PAR1-POOLS 2001:db8::/32\n');
      expect(config).toContain(
        'set policy-options policy-statement FABRIC-PAR1-IN term HOSTS-V4 from route-filter 203.0.113.0/24 prefix-length-range /32-/32\n',
      );
      expect(config).toContain(
        'set policy-options policy-statement FABRIC-PAR1-IN term HOSTS-V6 from route-filter 2001:db8::/32 prefix-length-range /128-/128\n',
      );
      expect(config).toContain('set policy-options policy-statement FABRIC-PAR1-IN term HOSTS-V4 then accept\n');
      // the reject term comes last
      const terms = lines.filter((l) => l.includes('FABRIC-PAR1-IN term'));
      expect(terms[terms.length - 1]).toBe('set policy-options policy-statement FABRIC-PAR1-IN term REJECT then reject');
      expect(config).toContain('set policy-options policy-statement FABRIC-PAR1-OUT term REJECT then reject\n');
    });

    it('then each import term also requires the cluster community', () => {
      expect(config).toContain('set policy-options community FABRIC-PAR1-COMM members 65000:100\n');
      for (const t of ['HOSTS-V4', 'HOSTS-V6'])
        expect(lines).toContain(`set policy-options policy-statement FABRIC-PAR1-IN term ${t} from community FABRIC-PAR1-COMM`);
    });

    it('then each family has a prefix limit from the pools plus headroom that tears the session down', () => {
      // IPv4: a /24 = 256 addresses + 25 (10%); IPv6: a /32 is beyond the largest limit.
      for (const l of [
        'set protocols bgp group FABRIC-PAR1 family inet unicast prefix-limit maximum 281',
        'set protocols bgp group FABRIC-PAR1 family inet unicast prefix-limit teardown idle-timeout 5',
        'set protocols bgp group FABRIC-PAR1 family inet6 unicast prefix-limit maximum 4294967295',
        'set protocols bgp group FABRIC-PAR1 family inet6 unicast prefix-limit teardown idle-timeout 5',
      ])
        expect(lines).toContain(l);
    });

    it('then the BGP group is external to the fabric AS with both policies and one neighbor per RR', () => {
      for (const l of [
        'set protocols bgp group FABRIC-PAR1 type external',
        'set protocols bgp group FABRIC-PAR1 peer-as 65000',
        'set protocols bgp group FABRIC-PAR1 import FABRIC-PAR1-IN',
        'set protocols bgp group FABRIC-PAR1 export FABRIC-PAR1-OUT',
        'set protocols bgp group FABRIC-PAR1 family inet unicast',
        'set protocols bgp group FABRIC-PAR1 family inet6 unicast',
        'set protocols bgp group FABRIC-PAR1 neighbor 198.18.0.2 description "rr rr-1"',
        'set protocols bgp group FABRIC-PAR1 neighbor 198.18.0.3 description "rr rr-2"',
      ]) {
        expect(lines).toContain(l);
      }
      expect(config).not.toMatch(/authentication-key|bfd-liveness-detection|graceful-restart/);
    });
  });

  describe('given md5, bfd and graceful restart', () => {
    it('then the group carries them', () => {
      const config = renderJunos(junosInput({ bgp: ALL_ON }));
      expect(config).toContain(`set protocols bgp group FABRIC-PAR1 authentication-key "${MD5}"\n`);
      expect(config).toContain('set protocols bgp group FABRIC-PAR1 bfd-liveness-detection minimum-interval 300\n');
      expect(config).toContain('set protocols bgp group FABRIC-PAR1 graceful-restart\n');
    });
  });

  describe('given a /32 pool', () => {
    it('then the route-filter matches it exactly', () => {
      expect(renderJunos(junosInput({ exportPrefixes: ['192.0.2.77/32'] }))).toContain('route-filter 192.0.2.77/32 exact\n');
    });
  });

  describe('given the same content in another order', () => {
    it('then the output is identical', () => {
      const i = junosInput();
      expect(renderJunos({ ...i, routeReflectors: [...i.routeReflectors].reverse(), exportPrefixes: [...i.exportPrefixes].reverse() })).toBe(renderJunos(i));
    });
  });

  describe('given invalid input', () => {
    it.each(BAD_NAMES)('when the cluster or an RR name is %j then it throws', (bad) => {
      expect(() => renderJunos(junosInput({ clusterName: bad }))).toThrow(/clusterName/);
      expect(() => renderJunosProcedure(junosInput({ routeReflectors: [{ name: bad, ip: '198.18.0.2' }] }))).toThrow(/name/);
    });
    it('when an RR ip, a pool, the password or the ASNs are invalid then it throws', () => {
      expect(() => renderJunos(junosInput({ routeReflectors: [{ name: 'rr-1', ip: '198.18.0.2 ' }] }))).toThrow(/ip/);
      expect(() => renderJunos(junosInput({ exportPrefixes: ['203.0.113.0/24 orlonger'] }))).toThrow(/exportPrefixes/);
      expect(() => renderJunos(junosInput({ bgp: { ...ALL_ON, md5Password: 'x" ; delete' } }))).toThrow(/md5Password/);
      expect(() => renderJunos(junosInput({ coreAsn: 65000 }))).toThrow(/differ/);
    });
  });
});

describe('renderJunos, direct cluster (lab only)', () => {
  const input = junosInput({ routeReflectors: [], nodes: [{ name: 'node-1', ip: '198.18.0.10' }] });
  it('given nodes instead of RRs, then the group peers each node with the same policies, and the procedure warns', () => {
    const set = renderJunos(input);
    expect(set).toContain('set protocols bgp group FABRIC-PAR1 neighbor 198.18.0.10 description "node node-1"');
    expect(set).toContain('set protocols bgp group FABRIC-PAR1 import FABRIC-PAR1-IN');
    expect(set).toMatch(/group FABRIC-PAR1 family inet unicast prefix-limit maximum \d+/);
    expect(renderJunosProcedure(input)).toMatch(/^WARNING: lab\/test stand only/m);
    expect(renderJunosProcedure(junosInput())).not.toContain('WARNING');
  });
  it('given no node yet, then the procedure has no per-neighbor check', () => {
    expect(renderJunosProcedure(junosInput({ routeReflectors: [], nodes: [] }))).not.toContain('receive-protocol');
  });
});

describe('renderJunosProcedure', () => {
  describe('given cluster par1 with two RRs', () => {
    const text = renderJunosProcedure(junosInput());
    it('then the steps come in the safe order with the config pasted under load set terminal', () => {
      const order = [
        'configure',
        'load set terminal',
        'delete policy-options prefix-list FABRIC-PAR1-POOLS',
        'show | compare',
        'commit check',
        'commit confirmed 5',
        'run show bgp neighbor 198.18.0.2 | match Accepted',
        '     commit\n',
      ];
      const idx = order.map((s) => text.indexOf(s));
      expect(idx.every((i) => i >= 0)).toBe(true);
      expect([...idx].sort((a, b) => a - b)).toEqual(idx);
    });
    it('then it verifies every RR and contains the whole config', () => {
      expect(text).toContain('run show bgp neighbor 198.18.0.3 | match Accepted');
      for (const l of renderJunos(junosInput()).trimEnd().split('\n')) expect(text).toContain(`     ${l}\n`);
    });
  });
});

describe('Junos: BMP station', () => {
  it('given no station, then only the delete of a previous one; given one, then an active post-policy station', () => {
    const none = renderJunos(junosInput());
    expect(none).toContain('delete routing-options bmp station FABRIC-PAR1-BMP\n');
    expect(none).not.toContain('set routing-options bmp');
    const text = renderJunos(junosInput({ bmpStation: { address: '198.18.254.1', port: 11019 } }));
    expect(text).toContain(
      [
        'set routing-options bmp station FABRIC-PAR1-BMP station-address 198.18.254.1',
        'set routing-options bmp station FABRIC-PAR1-BMP station-port 11019',
        'set routing-options bmp station FABRIC-PAR1-BMP connection-mode active',
        'set routing-options bmp station FABRIC-PAR1-BMP route-monitoring post-policy',
      ].join('\n'),
    );
  });

  it('given a station address that is not an IP, then the render is refused', () => {
    expect(() => renderJunos(junosInput({ bmpStation: { address: '1.2.3.4"; delete', port: 1 } }))).toThrow(/bmpStation/);
  });
});
