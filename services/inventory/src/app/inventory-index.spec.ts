import { deserialize, serialize } from 'node:v8';
import fc from 'fast-check';
import type { FabricEvent } from '@fabric/contracts';
import { CLUSTER, NODE1, arbitraryHistoryWithCut, baseFabric, ev, vm } from '@fabric/testing/fabric';
import { InventoryIndex } from './inventory-index';

/** Events as the tail delivers them (in stream order), from sequence `from + 1`. */
const tail = (events: FabricEvent[], ix = new InventoryIndex(), from = 0) => {
  events.forEach((e, i) => ix.apply({ ...e, seq: from + i + 1 } as never, true));
  return ix;
};
const own = (ix: InventoryIndex, e: FabricEvent, seq: number) => ix.apply({ ...e, seq } as never);
const created = ev.vmCreated(vm(1), NODE1);
const name = `vm-${vm(1).slice(-4)}`;

describe('inventory index: deleted VMs', () => {
  it('given a VM created and deleted, when the tail delivers both, then the index no longer holds it', () => {
    const ix = tail([...baseFabric(), created, ev.vmDeleted(vm(1), NODE1)]);
    expect(ix.vms.has(vm(1))).toBe(false);
    expect(ix.vmNameTaken(CLUSTER, name)).toBe(false);
    expect(ix.vmCountOnNode(NODE1)).toBe(0);
  });

  it('given our own create and delete applied ahead of the tail, when the tail delivers the create, then the VM stays deleted; its delete then removes it', () => {
    const base = baseFabric();
    const ix = tail(base);
    own(ix, created, base.length + 1);
    own(ix, ev.vmDeleted(vm(1), NODE1), base.length + 2);
    expect(ix.vms.get(vm(1))?.deleted).toBe(true);
    ix.apply({ ...created, seq: base.length + 1 } as never, true);
    expect(ix.vms.get(vm(1))?.deleted).toBe(true);
    expect(ix.vmNameTaken(CLUSTER, name)).toBe(false);
    expect(ix.vmCountOnNode(NODE1)).toBe(0);
    ix.apply({ ...ev.vmDeleted(vm(1), NODE1), seq: base.length + 2 } as never, true);
    expect(ix.vms.has(vm(1))).toBe(false);
  });

  it('given a deleted VM gone from the index, when its name is used again, then the new VM takes it', () => {
    const ix = tail([
      ...baseFabric(),
      created,
      ev.vmDeleted(vm(1), NODE1),
      { ...ev.vmCreated(vm(2), NODE1), data: { ...created.data, vmId: vm(2) } } as FabricEvent,
    ]);
    expect(ix.vmNameTaken(CLUSTER, name)).toBe(true);
    expect(ix.vmsOnNode(NODE1).map((v) => v.id)).toEqual([vm(2)]);
  });

  it('given any history cut anywhere, when the tail is resumed from a snapshot, then the index equals the tail of the whole history', () => {
    fc.assert(
      fc.property(arbitraryHistoryWithCut(), ({ events, cut }) => {
        const ix = new InventoryIndex();
        ix.restore(deserialize(serialize(tail(events.slice(0, cut)).snapshot())));
        expect(tail(events.slice(cut), ix, cut).snapshot()).toEqual(tail(events).snapshot());
      }),
      { numRuns: 200 },
    );
  });
});
