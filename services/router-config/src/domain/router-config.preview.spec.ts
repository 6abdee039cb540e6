import type { FabricEvent } from '@fabric/contracts';
import { previewFold } from '@fabric/derivers';
import { RouterConfigModel } from './router-config.model';
import { CLUSTER, NET4, NODE1, baseFabric, ev, vm } from '@fabric/testing/fabric';

const given = (...events: FabricEvent[]) => {
  const m = new RouterConfigModel();
  events.forEach((e) => m.apply(e));
  return m;
};

describe('router-config dry run (copy-on-write view of the model)', () => {
  it('given a core, when a pool added is previewed, then the view filters it and the model does not', () => {
    const m = given(...baseFabric());
    const before = m.render(CLUSTER)!.configs.frr;
    const { view, touched } = previewFold(m, [ev.poolAdded(NET4, '33333333-3333-4333-8333-333333333399', '203.0.113.208', '203.0.113.215')]);
    expect(touched).toEqual([CLUSTER]);
    expect(view.render(CLUSTER)!.configs.frr).toContain('203.0.113.208/29');
    expect(m.render(CLUSTER)!.configs.frr).toBe(before);
    expect(before).not.toContain('203.0.113.208/29');
  });

  it('given a core of an RR cluster, when a VM is previewed, then no core target is touched', () => {
    const m = given(...baseFabric());
    expect(previewFold(m, [ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10')]).touched).toEqual([]);
  });
});
