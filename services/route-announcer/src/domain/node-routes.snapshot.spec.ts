import { deserialize, serialize } from 'node:v8';
import fc from 'fast-check';
import type { FabricEvent } from '@fabric/contracts';
import { RANDOM_HISTORY_NODES, arbitraryHistoryWithCut, baseFabric, ev, NODE1, NODE2, vm } from '@fabric/testing/fabric';
import { collectionFieldsOf } from '@fabric/testing/fabric';
import { NodeRoutesModel } from './node-routes.model';

const fold = (events: FabricEvent[], m = new NodeRoutesModel({ protocolNumber: 200 }), from = 0) => {
  events.forEach((e, i) => m.apply(e, from + i + 1));
  return m;
};
/** What the app publishes from the model: every node's desired state (or why it cannot be rendered), ready migrations. */
const outputs = (m: NodeRoutesModel) => ({
  nodes: [...new Set([...m.nodeIds(), ...RANDOM_HISTORY_NODES])].sort().map((id) => {
    try {
      return m.desired(id);
    } catch (err) {
      return String(err);
    }
  }),
  ready: m.readyMigrations(),
});
/** Snapshot of the first `cut` events through the real encoding, restored into a fresh model, then the tail. */
const resumed = (events: FabricEvent[], cut: number) => {
  const data = deserialize(serialize(fold(events.slice(0, cut)).snapshot()));
  const m = new NodeRoutesModel({ protocolNumber: 200 });
  m.restore(data);
  return fold(events.slice(cut), m, cut);
};

describe('route-announcer model snapshot', () => {
  it('saves every collection the model holds', () => {
    const m = new NodeRoutesModel({ protocolNumber: 200 });
    expect(Object.keys(m.snapshot())).toEqual(expect.arrayContaining(collectionFieldsOf(m)));
  });

  it('given any history cut anywhere, when the snapshot is restored and the tail folded, then the model equals a full replay', () => {
    fc.assert(
      fc.property(arbitraryHistoryWithCut(), ({ events, cut }) => {
        const full = fold(events);
        const r = resumed(events, cut);
        expect(r.snapshot()).toEqual(full.snapshot());
        expect(outputs(r)).toEqual(outputs(full));
      }),
      { numRuns: 300 },
    );
  });

  it('given a migration in progress in the snapshot, when its route is seen after the restore, then it is ready', () => {
    const events = [...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'), ev.migrationRequested(vm(1), NODE1, NODE2)];
    const m = resumed([...events, ev.routesChanged('rr', 'rr-1', [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.11' }])], events.length);
    expect(m.readyMigrations()).toMatchObject([{ vmId: vm(1), toNodeId: NODE2 }]);
  });

  it('a snapshot it does not recognise is refused and leaves the model as it was', () => {
    const m = fold(baseFabric());
    const before = m.snapshot();
    expect(() => m.restore({ clusters: new Map() })).toThrow(/nodes/);
    expect(() => m.restore('garbage')).toThrow();
    expect(m.snapshot()).toEqual(before);
    expect(m.desired(NODE1)).toBeDefined();
  });
});
