import { deserialize, serialize } from 'node:v8';
import fc from 'fast-check';
import { type FabricEvent, rrTargetId } from '@fabric/contracts';
import { CLUSTER, arbitraryHistoryWithCut, baseFabric } from '@fabric/testing/fabric';
import { collectionFieldsOf } from '@fabric/testing/fabric';
import { RrConfigModel } from './rr-config.model';

const fold = (events: FabricEvent[], m = new RrConfigModel()) => {
  events.forEach((e) => m.apply(e));
  return m;
};
/** What the app publishes from the model: every RR's desired state (or why it cannot be rendered), every placement. */
const outputs = (m: RrConfigModel) => ({
  rrs: ['rr-1', 'rr-2', 'rr-3'].map((name) => {
    try {
      return m.desired(rrTargetId(CLUSTER, name));
    } catch (err) {
      return String(err);
    }
  }),
  placements: [...m.placementKeys()].sort().map((k) => [k, m.placement(k)]),
});
const resumed = (events: FabricEvent[], cut: number) => {
  const m = new RrConfigModel();
  m.restore(deserialize(serialize(fold(events.slice(0, cut)).snapshot())));
  return fold(events.slice(cut), m);
};

describe('rr-config model snapshot', () => {
  it('saves every collection the model holds', () => {
    const m = new RrConfigModel();
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

  it('a snapshot it does not recognise is refused and leaves the model as it was', () => {
    const m = fold(baseFabric());
    const before = outputs(m);
    expect(() => m.restore({ clusters: new Map(), nodes: new Map(), vms: [] })).toThrow(/vms/);
    expect(outputs(m)).toEqual(before);
  });
});
