/**
 * Random event histories for property tests of the in-memory models (snapshot + tail = full replay): the base
 * fabric, then a random mix of what happens to a cluster — VMs created, addressed, migrated, blackholed and
 * deleted, nodes joining and leaving, RRs added and removed, pools, BGP settings, route observations — over a
 * small set of ids so that events hit the same VMs and nodes often. Order is arbitrary on purpose (the models
 * must fold any order the stream can hold, e.g. IpAllocated before VmCreated).
 */
import fc from 'fast-check';
import type { FabricEvent } from '@fabric/contracts';
import { CLUSTER, NET4, NODE1, NODE2, NODE3, baseFabric, ev, vm } from './fixtures';

const NODE4 = '22222222-2222-4222-8222-222222222224';
const NODES = [NODE1, NODE2, NODE3, NODE4];
const UNDERLAY: Record<string, string> = { [NODE1]: '198.18.0.10', [NODE2]: '198.18.0.11', [NODE3]: '198.18.0.12', [NODE4]: '198.18.0.13' };
const VMS = 12;

const vmIdArb = fc.integer({ min: 1, max: VMS }).map(vm);
const nodeArb = fc.constantFrom(...NODES);

const eventArb: fc.Arbitrary<FabricEvent> = fc.oneof(
  { arbitrary: fc.tuple(vmIdArb, nodeArb, fc.constantFrom<4 | 6>(4, 4, 6)).map(([v, n, f]) => ev.vmCreated(v, n, f)), weight: 6 },
  {
    arbitrary: fc
      .tuple(vmIdArb, fc.integer({ min: 10, max: 40 }), fc.boolean())
      .map(([v, i, six]) => ev.ipAllocated(v, six ? `2001:db8::1:${i.toString(16)}` : `203.0.113.${i}`)),
    weight: 6,
  },
  { arbitrary: fc.tuple(vmIdArb, nodeArb).map(([v, n]) => ev.vmDeleted(v, n)), weight: 2 },
  {
    arbitrary: vmIdArb.map((v): FabricEvent => ({ type: 'IpReleased', data: { clusterId: CLUSTER, vmId: v, ownerId: 'cust-42', ip: '203.0.113.10' } })),
    weight: 1,
  },
  { arbitrary: fc.tuple(vmIdArb, nodeArb, nodeArb).map(([v, a, b]) => ev.migrationRequested(v, a, b)), weight: 3 },
  { arbitrary: fc.tuple(vmIdArb, nodeArb, nodeArb).map(([v, a, b]) => ev.migrationCompleted(v, a, b)), weight: 3 },
  {
    arbitrary: fc
      .tuple(vmIdArb, fc.boolean())
      .map(([v, on]): FabricEvent =>
        on
          ? { type: 'VmBlackholed', data: { vmId: v, clusterId: CLUSTER, reason: 'flood' } }
          : { type: 'VmBlackholeLifted', data: { vmId: v, clusterId: CLUSTER } },
      ),
    weight: 1,
  },
  { arbitrary: fc.constantFrom(...NODES).map((n) => ev.nodeJoined(n, `node-${n.slice(-1)}`, UNDERLAY[n])), weight: 1 },
  { arbitrary: nodeArb.map((n) => ev.nodeLeft(n)), weight: 1 },
  { arbitrary: nodeArb.map((n) => ev.nodeDrained(n)), weight: 1 },
  { arbitrary: fc.constantFrom(ev.rrAdded('rr-3', '198.18.0.4'), ev.rrRemoved('rr-3'), ev.rrRemoved('rr-2'), ev.rrAdded('rr-2', '198.18.0.3')), weight: 1 },
  { arbitrary: fc.constant(ev.poolAdded(NET4, '55555555-5555-4555-8555-555555555549', '203.0.113.200', '203.0.113.210')), weight: 1 },
  { arbitrary: fc.constant<FabricEvent>({ type: 'BgpPasswordChanged', data: { clusterId: CLUSTER, md5Password: '{{secret:1}}' } as never }), weight: 1 },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom('rr-1', 'rr-2'),
        fc.integer({ min: 10, max: 40 }),
        nodeArb,
        fc.boolean(),
        fc.constantFrom<undefined | 'full' | 'start' | 'end'>(undefined, undefined, 'full', 'start', 'end'),
      )
      .map(([rr, i, n, add, resync]) => {
        const route = [{ prefix: `203.0.113.${i}/32`, nextHop: UNDERLAY[n] }];
        return ev.routesChanged('rr', `${CLUSTER}_${rr}`, add ? route : [], add ? [] : route, resync);
      }),
    weight: 4,
  },
);

/** The base fabric followed by 0..max random events. */
export const arbitraryHistory = (max = 80): fc.Arbitrary<FabricEvent[]> => fc.array(eventArb, { maxLength: max }).map((rest) => [...baseFabric(), ...rest]);

/** A history and a cut point in it (where the snapshot is taken). */
export const arbitraryHistoryWithCut = (max = 80): fc.Arbitrary<{ events: FabricEvent[]; cut: number }> =>
  arbitraryHistory(max).chain((events) => fc.integer({ min: 0, max: events.length }).map((cut) => ({ events, cut })));

export const RANDOM_HISTORY_NODES = NODES;

/** Names of a model's own Map and Set fields: a snapshot must save every one (a new field forgotten fails the spec). */
export const collectionFieldsOf = (model: object): string[] =>
  Object.entries(model)
    .filter(([, v]) => v instanceof Map || v instanceof Set)
    .map(([k]) => k)
    .sort();
