import { deserialize, serialize } from 'node:v8';
import fc from 'fast-check';
import type { FabricEvent } from '@fabric/contracts';
import { CLUSTER, NODE1, RANDOM_HISTORY_NODES, arbitraryHistoryWithCut, baseFabric, ev, vm } from '@fabric/testing/fabric';
import { collectionFieldsOf } from '@fabric/testing/fabric';
import { InventoryIndex } from './inventory-index';

const fold = (events: FabricEvent[], ix = new InventoryIndex(), from = 0) => {
  events.forEach((e, i) => ix.apply({ ...e, seq: from + i + 1 } as never));
  return ix;
};
/** What the deciders ask the index. */
const answers = (ix: InventoryIndex) => ({
  nodes: RANDOM_HISTORY_NODES.map((n) => [
    ix.vmCountOnNode(n),
    ix
      .vmsOnNode(n)
      .map((v) => v.id)
      .sort(),
  ]),
  active: ix.activeNodes(CLUSTER),
  names: Array.from({ length: 12 }, (_, i) => ix.vmNameTaken(CLUSTER, `vm-${vm(i + 1).slice(-4)}`)),
  pool: ix.poolContaining(CLUSTER, '203.0.113.205'),
  position: ix.position,
});
const resumed = (events: FabricEvent[], cut: number) => {
  const ix = new InventoryIndex();
  ix.restore(deserialize(serialize(fold(events.slice(0, cut)).snapshot())));
  return fold(events.slice(cut), ix, cut);
};

describe('inventory index snapshot', () => {
  it('saves every collection the model holds', () => {
    const m = new InventoryIndex();
    expect(Object.keys(m.snapshot())).toEqual(expect.arrayContaining(collectionFieldsOf(m)));
  });

  it('given any history cut anywhere, when the snapshot is restored and the tail applied, then the index equals a full replay', () => {
    fc.assert(
      fc.property(arbitraryHistoryWithCut(), ({ events, cut }) => {
        const full = fold(events);
        const r = resumed(events, cut);
        expect(r.snapshot()).toEqual(full.snapshot());
        expect(answers(r)).toEqual(answers(full));
      }),
      { numRuns: 300 },
    );
  });

  it('given events already in the snapshot, when the tail brings them again, then nothing changes (own writes run ahead of the tail)', () => {
    const events = [...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.migrationRequested(vm(1), NODE1, RANDOM_HISTORY_NODES[1]), ev.vmDeleted(vm(1), NODE1)];
    const ix = fold(events);
    const before = ix.snapshot();
    fold(events.slice(-2), ix, events.length - 2);
    expect(ix.snapshot()).toEqual(before);
  });

  it('a name claimed by a command in flight is not saved: after a restart it is free unless the VM exists', () => {
    const ix = fold(baseFabric());
    expect(ix.reserveVmName(CLUSTER, 'web', vm(7))).toBe(true);
    const r = new InventoryIndex();
    r.restore(deserialize(serialize(ix.snapshot())));
    expect(r.vmNameTaken(CLUSTER, 'web')).toBe(false);
  });
});
