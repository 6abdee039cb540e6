import { type FabricEvent, rrTargetId } from '@fabric/contracts';
import { previewFold } from '@fabric/derivers';
import { NODE_PART_TARGET, PLACEMENT_TARGET, RrConfigModel, nodePartKey } from './rr-config.model';
import { CLUSTER, NODE1, baseFabric, ev, vm } from '@fabric/testing/fabric';

const RR1 = rrTargetId(CLUSTER, 'rr-1');
const given = (...events: FabricEvent[]) => {
  const m = new RrConfigModel();
  events.forEach((e) => m.apply(e));
  return m;
};

describe('rr-config dry run (copy-on-write view of the model)', () => {
  it('given RRs, when a node join is previewed, then the view has its node part and the model does not', () => {
    const m = given(...baseFabric());
    const node9 = '22222222-2222-4222-8222-222222222229';
    const key = nodePartKey(CLUSTER, node9);
    const { view, touched } = previewFold(m, [ev.nodeJoined(node9, 'node-9', '198.18.0.19')]);
    expect(touched).toEqual([NODE_PART_TARGET + key]);
    const previewed = view.nodePart(key)!;
    expect(previewed.bird).toContain('neighbor 198.18.0.19 as 65000;');
    expect(m.nodePart(key)).toBeUndefined();
    expect(m.nodePartKeys()).not.toContain(key);
    // Joining for real gives the part (and origin tag) the preview showed: the preview took no tag.
    // (A view is read at once: it is not valid after the model folds more events.)
    m.apply(ev.nodeJoined(node9, 'node-9', '198.18.0.19'));
    expect(m.nodePart(key)).toEqual(previewed);
  });

  it('given a node, when a placed VM is previewed, then the view holds its ROA and the RR command is unchanged', () => {
    const m = given(...baseFabric());
    const before = m.desired(RR1)!.bird;
    const { view, touched } = previewFold(m, [ev.vmCreated(vm(1), NODE1), ev.ipAllocated(vm(1), '203.0.113.10')]);
    const placement = touched.find((t) => t.startsWith(PLACEMENT_TARGET))!;
    expect(placement).toContain('203-0-113-10');
    expect(view.placement(placement.slice(PLACEMENT_TARGET.length))).toBeDefined();
    expect(m.placement(placement.slice(PLACEMENT_TARGET.length))).toBeUndefined();
    expect(view.desired(RR1)!.bird).toBe(before);
  });
});
