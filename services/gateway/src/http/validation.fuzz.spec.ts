/**
 * Properties over the API's validators, 10,000 seeded cases each (FUZZ_SEED reproduces a run): any body is
 * either accepted or refused with a 400 naming fields (never another error); an accepted body holds no
 * character that could break a BIRD/FRR/Junos file or a command line; the decider then either accepts it
 * or refuses it with a 4xx (never a crash); query integers are parsed strictly.
 */
import fc from 'fast-check';
import { BadRequestException } from '@nestjs/common';
import { CreateCluster, CreateVm, DomainError, MD5_OPT_OUT_PATTERN, PREFIX_LIMIT_ACTIONS } from '@fabric/contracts';
import { FUZZ_SEED, anyName, communityArb, ipv4, ipv6, passwordArb, prefix4, prefix6 } from '../../../../libs/renderers/src/fuzz-arbitraries';
import { clusterDecider } from '../../../inventory/src/domain/cluster.decider';
import { nodeDecider } from '../../../inventory/src/domain/node.decider';
import { vmDecider } from '../../../inventory/src/domain/vm.decider';
import { ipamDecider } from '../../../ipam/src/domain/ipam.decider';
import { CreateTokenBody } from '../auth/tokens.controller';
import { AddNetworkBody, AddPoolBody, AddRouteReflectorBody, JoinNodeBody, MigrateVmBody } from './dto';
import { apiValidationPipe, intParam } from './validation';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const params = { seed: FUZZ_SEED, numRuns: RUNS };
const pipe = apiValidationPipe();
const ID = '0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c01';
const ID2 = '0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c02';

/** Validates like the API does: the accepted DTO, or the 400's body. */
async function validate(metatype: new () => object, body: unknown): Promise<{ ok: true; value: any } | { ok: false; error: any }> {
  try {
    return { ok: true, value: await pipe.transform(body, { type: 'body', metatype }) };
  } catch (e) {
    if (!(e instanceof BadRequestException)) throw e;
    return { ok: false, error: e.getResponse() };
  }
}

/** Strings that are hostile in a config or a shell, and values of the wrong type. */
const hostile = fc.oneof(
  fc.constantFrom(
    'a"b',
    "a'b",
    'a;b',
    'a{b}',
    'a\nb',
    'a b',
    '',
    '-a',
    'a'.repeat(64),
    '$(reboot)',
    '`id`',
    'a\\b',
    '203.0.113.0/24;',
    '::ffff:1.2.3.4',
    '0x0a.0.0.1',
    '1e3',
    'ÄÖ',
    '\u0000',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.anything({ maxDepth: 2 }),
);
/** A valid value most of the time, something hostile or missing otherwise. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: hostile }, { weight: 1, arbitrary: fc.constant(undefined) });
const withExtra = <T extends object>(body: fc.Arbitrary<T>) =>
  fc.tuple(body, fc.option(fc.dictionary(fc.string({ maxLength: 8 }), hostile, { maxKeys: 2 }), { freq: 5 })).map(([b, extra]) => ({ ...extra, ...b }));

const peer = fc.record({ name: mostly(anyName), ip: mostly(fc.oneof(ipv4, ipv6)) });
const clusterBody = withExtra(
  fc.record(
    {
      clusterId: fc.option(mostly(fc.uuid({ version: 4 })), { nil: undefined }),
      name: mostly(anyName),
      fabricAsn: mostly(fc.integer({ min: 1, max: 4294967295 })),
      coreAsn: mostly(fc.integer({ min: 1, max: 4294967295 })),
      community: mostly(communityArb),
      gateway: fc.option(fc.record({ ip: mostly(ipv4), mac: mostly(fc.constantFrom('fe:ff:ff:ff:ff:ff', '02:00:00:00:00:01')) }), { nil: undefined }),
      routeReflectors: mostly(fc.array(peer, { maxLength: 4 })),
      coreRouter: mostly(fc.record({ name: mostly(anyName), ip: mostly(fc.oneof(ipv4, ipv6)), vendor: mostly(fc.constantFrom('frr', 'junos')) })),
      bgp: fc.option(
        fc.record({
          md5Password: fc.option(mostly(passwordArb), { nil: undefined }),
          gracefulRestart: mostly(fc.boolean()),
          bfd: mostly(fc.boolean()),
          md5OptOut: fc.option(mostly(fc.stringMatching(MD5_OPT_OUT_PATTERN)), { nil: undefined }),
          prefixLimitAction: fc.option(mostly(fc.constantFrom(...PREFIX_LIMIT_ACTIONS)), { nil: undefined }),
          coreCommunity: fc.option(mostly(fc.oneof(fc.constantFrom('no-export', 'none'), communityArb)), { nil: undefined }),
        }),
        { nil: undefined },
      ),
    },
    { requiredKeys: [] },
  ),
);
const vmBody = withExtra(
  fc.record(
    {
      vmId: mostly(fc.uuid({ version: 4 })),
      clusterId: mostly(fc.constant(ID)),
      nodeId: mostly(fc.constant(ID2)),
      name: mostly(anyName),
      ownerId: mostly(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,20}$/)),
      ip: mostly(fc.oneof(ipv4, ipv6)),
      family: mostly(fc.constantFrom(4, 6)),
      driver: mostly(fc.constantFrom('tap', 'veth', 'netns')),
    },
    { requiredKeys: [] },
  ),
);
const networkBody = withExtra(
  fc.record(
    {
      cidr: mostly(fc.oneof(prefix4, prefix6)),
      pools: mostly(fc.array(fc.record({ start: mostly(fc.oneof(ipv4, ipv6)), end: mostly(fc.oneof(ipv4, ipv6)) }), { maxLength: 3 })),
    },
    { requiredKeys: [] },
  ),
);
const joinBody = withExtra(
  fc.record({ nodeId: mostly(fc.uuid({ version: 4 })), name: mostly(anyName), underlayIp: mostly(ipv4), underlayIp6: mostly(ipv6) }, { requiredKeys: [] }),
);

/** Printable, no quote, backslash, space, semicolon, brace or shell metacharacter (passwords: no quote/backslash/space). */
const SAFE = /^[A-Za-z0-9.:_@/-]*$/;
const SAFE_PASSWORD = /^[!#-&(-[\]-~]*$/;
/** The MD5 opt-out reason is free text that is never rendered (event and API only): no quote, semicolon or brace. */
const SAFE_REASON = /^[A-Za-z0-9 .,:()_+/-]*$/;
function expectInert(value: unknown, path = ''): void {
  const safe = path.endsWith('md5Password') ? SAFE_PASSWORD : path.endsWith('md5OptOut') ? SAFE_REASON : SAFE;
  if (typeof value === 'string') expect({ path, value, ok: safe.test(value) }).toEqual({ path, value, ok: true });
  else if (Array.isArray(value)) value.forEach((v, i) => expectInert(v, `${path}[${i}]`));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) expectInert(v, path ? `${path}.${k}` : k);
}

/** A refusal is a 400 with a reason and the offending fields. */
function expectRefusal(error: any) {
  expect(error).toMatchObject({ status: 400, code: 'validation-failed', message: expect.any(String) });
  expect(Object.keys(error.fields).length).toBeGreaterThan(0);
}

/** The decider accepts (events) or refuses with a 4xx DomainError; anything else is a bug. */
function expectDecided(run: () => unknown) {
  try {
    expect(Array.isArray(run())).toBe(true);
  } catch (e) {
    if (!(e instanceof DomainError)) throw e;
    expect(e.status).toBeGreaterThanOrEqual(400);
    expect(e.status).toBeLessThan(500);
  }
}

const asyncProperty = (arb: fc.Arbitrary<unknown>, metatype: new () => object, then?: (value: any) => void) =>
  fc.assert(
    fc.asyncProperty(fc.oneof({ weight: 5, arbitrary: arb }, { weight: 1, arbitrary: fc.anything() }), async (body) => {
      const r = await validate(metatype, body);
      if (!r.ok) return expectRefusal(r.error);
      expectInert(r.value);
      then?.(r.value);
    }),
    params,
  );

describe('API validator properties (fast-check, 10,000 seeded cases each)', () => {
  it('POST /clusters: accepted bodies are inert and decided with events or a 4xx', async () => {
    await asyncProperty(clusterBody, CreateCluster, (v) =>
      expectDecided(() =>
        clusterDecider.decide(
          { type: 'CreateCluster', data: { ...v, clusterId: v.clusterId ?? ID }, context: { nameTaken: false } },
          clusterDecider.initialState(),
        ),
      ),
    );
  });

  it('POST /vms: accepted bodies are inert and decided with events or a 4xx', async () => {
    await asyncProperty(vmBody, CreateVm, (v) =>
      expectDecided(() =>
        vmDecider.decide(
          { type: 'CreateVm', data: { ...v, vmId: v.vmId ?? ID }, context: { node: { clusterId: ID, status: 'active' }, nameTaken: false } },
          vmDecider.initialState(),
        ),
      ),
    );
  });

  it('POST /clusters/:id/networks: accepted bodies are inert and decided with events or a 4xx', async () => {
    await asyncProperty(networkBody, AddNetworkBody, (v) =>
      expectDecided(() =>
        ipamDecider.decide(
          {
            type: 'AddNetwork',
            data: {
              clusterId: ID,
              networkId: ID2,
              cidr: v.cidr,
              pools: (v.pools ?? []).map((p: object, i: number) => ({ ...p, poolId: `0d3c3c1e-7f57-4a39-8f7e-${String(i).padStart(12, '0')}` })),
            },
            context: { gatewayIp: '10.0.0.1', infrastructure: [{ ip: '198.18.0.1', what: 'core' }] },
          },
          ipamDecider.initialState(),
        ),
      ),
    );
  });

  it('POST /clusters/:id/nodes: accepted bodies are inert and decided with events or a 4xx', async () => {
    await asyncProperty(joinBody, JoinNodeBody, (v) =>
      expectDecided(() =>
        nodeDecider.decide(
          {
            type: 'JoinNode',
            data: { ...v, nodeId: v.nodeId ?? ID, clusterId: ID },
            context: {
              clusterExists: true,
              nameTaken: false,
              underlayTaken: false,
              routeReflectorIps: ['198.18.0.11'],
              gatewayIp: '10.0.0.1',
              coreRouterIp: '198.18.0.1',
            },
          },
          nodeDecider.initialState(),
        ),
      ),
    );
  });

  it('the small bodies (pool, route reflector, migration, token) are accepted inert or refused with fields', async () => {
    await asyncProperty(withExtra(fc.record({ start: mostly(fc.oneof(ipv4, ipv6)), end: mostly(fc.oneof(ipv4, ipv6)) }, { requiredKeys: [] })), AddPoolBody);
    await asyncProperty(withExtra(fc.record({ name: mostly(anyName), ip: mostly(fc.oneof(ipv4, ipv6)) }, { requiredKeys: [] })), AddRouteReflectorBody);
    await asyncProperty(withExtra(fc.record({ nodeId: mostly(fc.uuid({ version: 4 })) }, { requiredKeys: [] })), MigrateVmBody);
    await asyncProperty(
      withExtra(fc.record({ name: mostly(anyName), role: mostly(fc.constantFrom('admin', 'operator', 'billing', 'root')) }, { requiredKeys: [] })),
      CreateTokenBody,
    );
  });

  it('query integers: only plain decimal digits within the bounds are numbers; everything else names the field', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 24 }),
          fc.integer().map(String),
          fc.double().map(String),
          fc.constantFrom('1e300', '1.5', '-0', '0x10', ' 1', '1 ', '+1', '٣'),
        ),
        (raw) => {
          const fields: Record<string, string[]> = {};
          const n = intParam(fields, 'offset', raw, 0, 2_147_483_647);
          if (n === undefined) expect(fields.offset).toEqual([expect.any(String)]);
          else {
            expect(raw).toMatch(/^\d+$/);
            expect(Number.isSafeInteger(n) && n >= 0 && n <= 2_147_483_647).toBe(true);
            expect(fields).toEqual({});
          }
        },
      ),
      params,
    );
  });
});
