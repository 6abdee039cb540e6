import type { FabricEvent } from '@fabric/contracts';
import { OverlayMap, OverlaySet, overlayModel, previewFold } from './overlay';

/** A small folding model shaped like the derivers' (maps of plain objects holding nested collections). */
class Model {
  readonly clusters = new Map<string, { name: string; rrs: Map<string, string>; nodes: Set<string> }>();
  readonly nodes = new Map<string, { clusterId: string; name: string; left: boolean }>();
  readonly settings = { protocol: 200 };

  apply(e: FabricEvent): string[] {
    if (e.type === 'NodeJoined') {
      this.nodes.set(e.data.nodeId, { clusterId: e.data.clusterId, name: e.data.name, left: false });
      this.clusters.get(e.data.clusterId)?.nodes.add(e.data.nodeId);
      return [e.data.nodeId];
    }
    if (e.type === 'NodeLeft') {
      const n = this.nodes.get(e.data.nodeId);
      if (!n) return [];
      n.left = true;
      this.clusters.get(e.data.clusterId)?.nodes.delete(e.data.nodeId);
      return [e.data.nodeId];
    }
    return [];
  }

  liveNames(clusterId: string): string[] {
    return [...(this.clusters.get(clusterId)?.nodes ?? [])].map((id) => this.nodes.get(id)!.name).sort();
  }
}

const joined = (nodeId: string, name: string) =>
  ({ type: 'NodeJoined', data: { nodeId, clusterId: 'c1', name, underlayIp: '10.0.0.9' } }) as unknown as FabricEvent;
const left = (nodeId: string) => ({ type: 'NodeLeft', data: { nodeId, clusterId: 'c1' } }) as unknown as FabricEvent;

function given(nodes: number): Model {
  const m = new Model();
  m.clusters.set('c1', { name: 'lab', rrs: new Map([['rr1', '10.0.0.1']]), nodes: new Set() });
  for (let i = 0; i < nodes; i++) m.apply(joined(`n${i}`, `node${i}`));
  return m;
}

describe('copy-on-write preview of a model', () => {
  it('given a model, when events are folded into its view, then the view has them and the model does not', () => {
    const m = given(2);
    const { view, touched } = previewFold(m, [joined('n9', 'node9'), left('n0')]);
    expect(touched).toEqual(['n9', 'n0']);
    expect(view.liveNames('c1')).toEqual(['node1', 'node9']);
    expect(view.nodes.get('n0')!.left).toBe(true);
    // The live model is exactly as before.
    expect(m.liveNames('c1')).toEqual(['node0', 'node1']);
    expect(m.nodes.get('n0')!.left).toBe(false);
    expect(m.nodes.has('n9')).toBe(false);
    expect(m.clusters.get('c1')!.nodes.size).toBe(2);
  });

  it('given a large model, when one event is previewed, then only the entries it touched are copied', () => {
    const m = given(20_000);
    const { view } = previewFold(m, [left('n7')]);
    expect((view.nodes as OverlayMap<string, unknown>).touched).toBe(1);
    expect((view.clusters as OverlayMap<string, unknown>).touched).toBe(1);
    // The cluster's node set is itself a view: one removal recorded, nothing copied.
    const nodes = view.clusters.get('c1')!.nodes as OverlaySet<string>;
    expect(nodes.touched).toBe(1);
    expect(nodes.size).toBe(19_999);
    expect(m.clusters.get('c1')!.nodes.size).toBe(20_000);
  });

  it('given a view, when entries are set, deleted and iterated, then it behaves as a Map with the changes applied', () => {
    const base = new Map([
      ['a', { n: 1 }],
      ['b', { n: 2 }],
    ]);
    const v = new OverlayMap(base);
    v.get('a')!.n = 10;
    v.set('c', { n: 3 });
    expect(v.delete('b')).toBe(true);
    expect(v.delete('b')).toBe(false);
    expect([...v.keys()].sort()).toEqual(['a', 'c']);
    expect(v.size).toBe(2);
    expect([...v.values()].map((x) => x.n).sort()).toEqual([10, 3].sort());
    v.set('b', { n: 20 });
    expect(v.size).toBe(3);
    expect(base.get('a')!.n).toBe(1);
    expect(base.get('b')!.n).toBe(2);
    expect(base.has('c')).toBe(false);
    v.clear();
    expect(v.size).toBe(0);
    expect(base.size).toBe(2);
  });

  it('given a set view, when members are added and removed, then the base set keeps its members', () => {
    const base = new Set(['x', 'y']);
    const v = new OverlaySet(base);
    v.add('z');
    v.add('x');
    v.delete('y');
    expect([...v].sort()).toEqual(['x', 'z']);
    expect(v.size).toBe(2);
    v.add('y');
    expect(v.has('y')).toBe(true);
    expect([...base].sort()).toEqual(['x', 'y']);
  });

  it('given a model, when a view of a view is changed, then neither the first view nor the model change', () => {
    const m = given(1);
    const v1 = overlayModel(m);
    v1.apply(joined('n5', 'node5'));
    const v2 = overlayModel(v1);
    v2.apply(left('n5'));
    expect(v1.liveNames('c1')).toEqual(['node0', 'node5']);
    expect(v2.liveNames('c1')).toEqual(['node0']);
    expect(m.liveNames('c1')).toEqual(['node0']);
  });
});
