import type { FabricEvent } from '@fabric/contracts';
import { previewFold } from '@fabric/derivers';
import { NodeRoutesModel } from './node-routes.model';
import { NODE1, NODE2, baseFabric, ev, vm } from '@fabric/testing/fabric';

const given = (...events: FabricEvent[]) => {
  const m = new NodeRoutesModel({ protocolNumber: 200 });
  events.forEach((e, i) => m.apply(e, i + 1));
  return m;
};

describe('route-announcer dry run (copy-on-write view of the model)', () => {
  it('given a node, when a VM creation and its address are previewed, then the view routes it and the model does not', () => {
    const m = given(...baseFabric());
    const before = JSON.stringify(m.desired(NODE1));
    const { view, touched } = previewFold(m, [ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10')]);
    expect(touched).toEqual([NODE1]);
    expect(view.desired(NODE1)!.vms).toEqual([expect.objectContaining({ vmId: vm(1), ip: '203.0.113.10' })]);
    expect(JSON.stringify(m.desired(NODE1))).toBe(before);
  });

  it('given a VM, when its migration is previewed, then both nodes change in the view only (make-before-break)', () => {
    const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'));
    const { view, touched } = previewFold(m, [ev.migrationRequested(vm(1), NODE1, NODE2)]);
    expect(touched.sort()).toEqual([NODE1, NODE2].sort());
    expect(view.desired(NODE1)!.vms).toEqual([expect.objectContaining({ vmId: vm(1), leaving: true })]);
    expect(view.desired(NODE2)!.vms).toEqual([expect.objectContaining({ vmId: vm(1) })]);
    expect(m.desired(NODE1)!.vms).toEqual([expect.not.objectContaining({ leaving: true })]);
    expect(m.desired(NODE2)!.vms).toEqual([]);
    // The live model folds the real event afterwards as if no preview had happened.
    m.apply(ev.migrationRequested(vm(1), NODE1, NODE2), 99);
    expect(m.desired(NODE2)!.vms).toEqual(view.desired(NODE2)!.vms);
  });

  it('given a node, when its leave is previewed, then the view freezes its final state and the model keeps the node live', () => {
    const m = given(...baseFabric(), ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10'));
    const { view } = previewFold(m, [ev.vmDeleted(vm(1), NODE1), ev.nodeLeft(NODE1)]);
    expect(view.desired(NODE1)!.vms).toEqual([]);
    expect(m.desired(NODE1)!.vms).toHaveLength(1);
  });
});
