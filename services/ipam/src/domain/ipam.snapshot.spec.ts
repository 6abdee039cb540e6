import { deserialize, serialize } from 'node:v8';
import fc from 'fast-check';
import { type IpamCommand, type IpamEvent, type IpamState, dueReleases, ipamDecider, reviveIpamState } from './ipam.decider';

const clusterId = '11111111-1111-4111-8111-111111111111';
const vm = (n: number) => `33333333-3333-4333-8333-${String(n).padStart(12, '0')}`;
const setup: IpamCommand[] = [
  {
    type: 'AddNetwork',
    data: {
      clusterId,
      networkId: '44444444-4444-4444-8444-444444444441',
      cidr: '203.0.113.0/24',
      pools: [{ poolId: '55555555-5555-4555-8555-555555555541', start: '203.0.113.10', end: '203.0.113.30' }],
    },
    context: { gatewayIp: '10.0.0.1' },
  },
  {
    type: 'AddNetwork',
    data: {
      clusterId,
      networkId: '44444444-4444-4444-8444-444444444446',
      cidr: '2001:db8::/64',
      pools: [{ poolId: '55555555-5555-4555-8555-555555555546', start: '2001:db8::1:0', end: '2001:db8::1:f' }],
    },
    context: { gatewayIp: '10.0.0.1' },
  },
];
const commandArb: fc.Arbitrary<IpamCommand> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 1, max: 30 }), fc.constantFrom<4 | 6>(4, 4, 6))
    .map(([n, family]): IpamCommand => ({ type: 'Allocate', data: { clusterId, vmId: vm(n), ownerId: 'o', family } })),
  fc
    .integer({ min: 1, max: 30 })
    .map((n): IpamCommand => ({ type: 'ScheduleRelease', data: { clusterId, vmId: vm(n), releaseAt: '2030-01-01T00:00:00.000Z' } })),
  fc.integer({ min: 1, max: 30 }).map((n): IpamCommand => ({ type: 'Release', data: { clusterId, vmId: vm(n) } })),
);

/** The events a random run of commands writes (refused commands write nothing), as the stream would hold them. */
const history = (commands: IpamCommand[]): IpamEvent[] => {
  let state = ipamDecider.initialState();
  const out: IpamEvent[] = [];
  for (const c of [...setup, ...commands]) {
    let events: IpamEvent[];
    try {
      events = ipamDecider.decide(c, state) as IpamEvent[];
    } catch {
      continue;
    }
    for (const e of events) state = ipamDecider.evolve(state, e);
    out.push(...events);
  }
  return out;
};
const fold = (events: IpamEvent[], state: IpamState = ipamDecider.initialState()) => events.reduce((s, e) => ipamDecider.evolve(s, e), state);
/** What the next commands see: where the next VM of each family goes, what is due for release. */
const next = (s: IpamState) => {
  const decide = (c: IpamCommand) => {
    try {
      return ipamDecider.decide(c, s);
    } catch (err) {
      return String(err);
    }
  };
  return {
    v4: decide({ type: 'Allocate', data: { clusterId, vmId: vm(99), ownerId: 'o', family: 4 } }),
    v6: decide({ type: 'Allocate', data: { clusterId, vmId: vm(98), ownerId: 'o', family: 6 } }),
    due: dueReleases(s, new Date('2031-01-01T00:00:00Z')),
  };
};

describe('IPAM state snapshot', () => {
  it('given any run of allocations and releases cut anywhere, when the saved state is restored and the tail folded, then it equals a full replay', () => {
    fc.assert(
      fc.property(
        fc.array(commandArb, { maxLength: 80 }).chain((cmds) => {
          const events = history(cmds);
          return fc.integer({ min: 0, max: events.length }).map((cut) => ({ events, cut }));
        }),
        ({ events, cut }) => {
          const full = fold(events);
          const restored = fold(events.slice(cut), reviveIpamState(deserialize(serialize(fold(events.slice(0, cut))))));
          expect(restored).toEqual(full);
          expect(next(restored)).toEqual(next(full));
        },
      ),
      { numRuns: 200 },
    );
  });
});
