/**
 * The renderers' fuzz inputs through the real parsers: a seeded sample of configs rendered from values the
 * API accepts (any valid name, address, ASN, community, MD5 password and option) must be accepted by
 * `bird -p` (BIRD 2, node and route reflector configs) and by FRR (`vtysh -C` and `bgpd -C`, core config).
 * The 10,000-case structural properties are in renderers.fuzz.spec.ts.
 */
import fc from 'fast-check';
import { renderFrrCore, renderNodeBird, renderRrBird } from './index';
import { FUZZ_SEED, anyName, frrCoreInput, nodeBirdInput, rrBirdInput } from './fuzz-arbitraries';
import { birdCheck, frrCheck } from './test-support';

const sample = <T>(arb: fc.Arbitrary<T>, n: number) => fc.sample(arb, { seed: FUZZ_SEED, numRuns: n });

describe('fuzzed renderer output through the real daemons (seeded sample)', () => {
  it('bird -p accepts 100 node configs', () => {
    for (const input of sample(nodeBirdInput(anyName), 100)) {
      const r = birdCheck(renderNodeBird(input));
      expect({ input, ok: r.ok, output: r.output }).toMatchObject({ ok: true });
    }
  });

  it('bird -p accepts 100 route reflector configs', () => {
    for (const input of sample(rrBirdInput(anyName), 100)) {
      const r = birdCheck(renderRrBird(input));
      expect({ input, ok: r.ok, output: r.output }).toMatchObject({ ok: true });
    }
  });

  it('FRR (vtysh -C, bgpd -C) accepts 50 core configs', () => {
    for (const input of sample(frrCoreInput(anyName), 50)) {
      const r = frrCheck(renderFrrCore(input));
      expect({ input, ok: r.ok, output: r.output }).toMatchObject({ ok: true });
    }
  });
});
