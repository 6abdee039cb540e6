/**
 * Properties over every renderer, 10,000 seeded cases each (FUZZ_SEED reproduces a run): any input made of
 * values the API accepts renders; the config names no address the input did not give (besides the
 * template's own); every statement has a shape the template produces for some option setting (an input
 * can never add a statement); the per-node import filters of a route reflector hold exactly the node's
 * prefixes; the output does not depend on the order of peers. The real parsers run on a sample in
 * renderers.daemons.int-spec.ts.
 */
import fc from 'fast-check';
import { PREFIX_LIMIT_ACTIONS } from '@fabric/contracts';
import { birdIdent, nodePrefixLimit } from './common';
import { renderFrrCore, renderJunos, renderNodeBird, renderRrBird } from './index';
import type { FrrCoreInput, JunosInput, NodeBirdInput, RrBirdInput } from './index';
import {
  FUZZ_SEED,
  addressesIn,
  addressesOf,
  frrCoreInput,
  junosInput,
  markerName,
  maskPassword,
  nodeBirdInput,
  rrBirdInput,
  shapes,
} from './fuzz-arbitraries';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const params = { seed: FUZZ_SEED, numRuns: RUNS };

const BGP_VARIANTS = [false, true].flatMap((md5) =>
  [false, true].flatMap((gracefulRestart) =>
    [false, true].flatMap((bfd) =>
      PREFIX_LIMIT_ACTIONS.flatMap((prefixLimitAction) =>
        ['no-export', 'none'].map((coreCommunity) => ({
          ...(md5 ? { md5Password: 'zqpw' } : {}),
          gracefulRestart,
          bfd,
          prefixLimitAction,
          coreCommunity,
        })),
      ),
    ),
  ),
);
const EXPORTS = [['203.0.113.0/24', '2001:db8::/32'], ['203.0.113.0/24'], ['2001:db8::/32'], [], ['198.51.100.9/32', '2001:db8:1::9/128']];
const RRS = [
  { name: 'zqrr-1', ip: '198.18.0.2' },
  { name: 'zqrr-2', ip: '198.18.0.3' },
];

/** Everything the template can say, for every option setting, from fixed inputs with marker names. */
function reference<T>(variants: T[], render: (i: T) => string, password = 'zqpw') {
  const all = new Set<string>();
  const addresses = new Set<string>();
  for (const v of variants) {
    const out = render(v);
    shapes(out, password).forEach((s) => all.add(s));
    const given = addressesOf(v);
    addressesIn(maskPassword(out, password)).forEach((a) => given.has(a) || addresses.add(a));
  }
  return { shapes: all, constants: addresses };
}

const nodeRef = reference<NodeBirdInput>(
  BGP_VARIANTS.flatMap((bgp) =>
    [undefined, '2001:db8:ffff::10'].map((localIp6) => ({
      nodeName: 'zqnode',
      routerId: '198.18.0.10',
      fabricAsn: 65000,
      community: '65000:100',
      kernelProtocolNumber: 200,
      routeReflectors: RRS,
      bgp,
      localIp: '198.18.0.10',
      ...(localIp6 ? { localIp6 } : {}),
    })),
  ),
  renderNodeBird,
);
const rrRef = reference<RrBirdInput>(
  BGP_VARIANTS.flatMap((bgp) =>
    EXPORTS.map((exportPrefixes) => ({
      rrName: 'zqrr',
      routerId: '198.18.0.2',
      fabricAsn: 65000,
      coreAsn: 65001,
      community: '65000:100',
      rrClusterId: '198.18.0.254',
      localIp: '198.18.0.2',
      core: { name: 'zqcore', ip: '198.18.0.1' },
      exportPrefixes,
      bgp,
      nodes: [
        { id: '0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c01', name: 'zqn1', underlayIp: '198.18.0.10', originTag: 4200000001 },
        { id: '0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c02', name: 'zqn2', underlayIp: '198.18.0.11', originTag: 4200000002 },
        { id: '0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c03', name: 'zqn3', underlayIp: '198.18.0.12', originTag: 4200000003 },
        { id: '0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c04', name: 'zqn4', underlayIp: '198.18.0.13', originTag: 4200000004 },
      ],
    })),
  ),
  renderRrBird,
);
const frrRef = reference<FrrCoreInput>(
  BGP_VARIANTS.flatMap((bgp) =>
    EXPORTS.map((exportPrefixes) => ({
      hostname: 'zqcore',
      routerId: '198.18.0.1',
      coreAsn: 65001,
      fabricAsn: 65000,
      community: '65000:100',
      routeReflectors: RRS,
      exportPrefixes,
      bgp,
    })),
  ),
  renderFrrCore,
);
const junosRef = reference<JunosInput>(
  BGP_VARIANTS.flatMap((bgp) =>
    EXPORTS.map((exportPrefixes) => ({
      clusterName: 'zqpar',
      coreAsn: 65001,
      fabricAsn: 65000,
      community: '65000:100',
      routeReflectors: RRS,
      exportPrefixes,
      bgp,
    })),
  ),
  renderJunos,
);

function expectNoUnintendedStatement(out: string, input: { bgp: { md5Password?: string } }, ref: { shapes: Set<string>; constants: Set<string> }) {
  const extra = [...shapes(out, input.bgp.md5Password)].filter((s) => !ref.shapes.has(s));
  expect(extra).toEqual([]);
  const given = addressesOf(input);
  const foreign = [...addressesIn(maskPassword(out, input.bgp.md5Password))].filter((a) => !given.has(a) && !ref.constants.has(a));
  expect(foreign).toEqual([]);
}

/** Lines outside comments and quoted strings: braces balance, statements end with `;`, `{` or `}`. */
function expectBirdStructure(out: string) {
  let depth = 0;
  let negative = false;
  const unterminated: string[] = [];
  for (const raw of out.split('\n')) {
    const line = raw.replace(/"[^"]*"/g, '""').trim();
    if (!line || line.startsWith('#')) continue;
    if (!/[;{}]$/.test(line)) unterminated.push(line);
    for (const ch of line) {
      if (ch === '{') depth++;
      if (ch === '}') depth--;
      if (depth < 0) negative = true;
    }
  }
  expect({ unterminated, negative, depth }).toEqual({ unterminated: [], negative: false, depth: 0 });
}

const reversed = <T extends object>(o: T, key: keyof T) => ({ ...o, [key]: [...(o[key] as unknown[])].reverse() });

describe('renderer properties (fast-check, 10,000 seeded cases each)', () => {
  it('node BIRD: renders any accepted input, balanced, nothing the input did not intend, order-independent', () => {
    fc.assert(
      fc.property(nodeBirdInput(markerName), (input) => {
        const out = renderNodeBird(input);
        expectBirdStructure(out);
        expectNoUnintendedStatement(out, input, nodeRef);
        expect(out.match(/^protocol bgp /gm)?.length).toBe(input.routeReflectors.length);
        expect(renderNodeBird(reversed(input, 'routeReflectors'))).toBe(out);
      }),
      params,
    );
  });

  it('RR BIRD: renders, balanced, nothing unintended, each node session imports through its own origin tag', () => {
    fc.assert(
      fc.property(rrBirdInput(markerName), (input) => {
        const out = renderRrBird(input);
        expectBirdStructure(out);
        expectNoUnintendedStatement(out, input, rrRef);
        expect(out.match(/^protocol bgp /gm)?.length).toBe(input.nodes.length + 1);
        for (const n of input.nodes) {
          // Each node session imports exactly through its own origin tag (placements are ROAs, not text).
          const header = `protocol bgp ${birdIdent('node_', n.name)} from fabric_node_v`;
          const start = out.indexOf(header);
          expect(start).toBeGreaterThanOrEqual(0);
          const body = out.slice(start, out.indexOf('\n}', start));
          expect([...body.matchAll(/import where fabric_node([46])\((\d+)\);/g)].map((m) => `${m[1]}:${m[2]}`)).toEqual([
            `4:${n.originTag}`,
            `6:${n.originTag}`,
          ]);
          // Every node session is capped, per family, at the limit the model sized from its placed addresses.
          const limits = [...body.matchAll(/receive limit (\d+) action (\w+);/g)];
          expect(limits.map((m) => [Number(m[1]), m[2]])).toEqual(
            [n.prefixLimit?.v4 ?? nodePrefixLimit(0), n.prefixLimit?.v6 ?? nodePrefixLimit(0)].map((l) => [l, input.bgp.prefixLimitAction ?? 'restart']),
          );
        }
        expect(renderRrBird(reversed(input, 'nodes'))).toBe(out);
      }),
      params,
    );
  });

  it('FRR core: renders, every statement a template shape, no foreign address, one neighbor per RR', () => {
    fc.assert(
      fc.property(frrCoreInput(markerName), (input) => {
        const out = renderFrrCore(input);
        expectNoUnintendedStatement(out, input, frrRef);
        expect(out.match(/^ neighbor \S+ remote-as /gm)?.length).toBe(input.routeReflectors.length);
        expect(renderFrrCore(reversed(input, 'routeReflectors'))).toBe(out);
      }),
      params,
    );
  });

  it('Junos: renders set/delete statements only, every statement a template shape, no foreign address', () => {
    fc.assert(
      fc.property(junosInput(markerName), (input) => {
        const out = renderJunos(input);
        const lines = out.split('\n').filter(Boolean);
        expect(lines.filter((l) => !/^(set|delete) [a-z]/.test(l))).toEqual([]);
        // quotes pair up on every line: a value can never open a string that swallows the next statement
        expect(lines.filter((l) => (l.match(/"/g) ?? []).length % 2 !== 0)).toEqual([]);
        expectNoUnintendedStatement(out, input, junosRef);
        expect(renderJunos(reversed(input, 'routeReflectors'))).toBe(out);
      }),
      params,
    );
  });
});
