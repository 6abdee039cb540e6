import { deserialize, serialize } from 'node:v8';
import fc from 'fast-check';
import type { FabricEvent } from '@fabric/contracts';
import { CLUSTER, arbitraryHistoryWithCut, baseFabric } from '@fabric/testing/fabric';
import { collectionFieldsOf } from '@fabric/testing/fabric';
import { RouterConfigModel } from './router-config.model';

const fold = (events: FabricEvent[], m = new RouterConfigModel()) => {
  events.forEach((e) => m.apply(e));
  return m;
};
const outputs = (m: RouterConfigModel) => ({ clusters: m.clusterIds(), rendered: m.render(CLUSTER) });
const resumed = (events: FabricEvent[], cut: number) => {
  const m = new RouterConfigModel();
  m.restore(deserialize(serialize(fold(events.slice(0, cut)).snapshot())));
  return fold(events.slice(cut), m);
};

describe('router-config model snapshot', () => {
  it('saves every collection the model holds', () => {
    const m = new RouterConfigModel();
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
      { numRuns: 200 },
    );
  });

  it('a snapshot it does not recognise is refused and leaves the model as it was', () => {
    const m = fold(baseFabric());
    expect(() => m.restore({})).toThrow(/clusters/);
    expect(m.render(CLUSTER)).toBeDefined();
  });
});
