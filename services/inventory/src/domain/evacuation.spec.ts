import { evacuationPlan, nextMoves } from './evacuation';

const node = (nodeId: string, vmCount: number, name = nodeId) => ({ nodeId, name, vmCount });

describe('evacuation placement', () => {
  it('given an idle cluster, when a node is evacuated, then each VM goes to the least loaded node in turn', () => {
    const moves = nextMoves({ waiting: ['v3', 'v1', 'v2', 'v4'], inFlight: 0, limit: 8, candidates: [node('a', 2), node('b', 0), node('c', 1)] });
    expect(moves).toEqual([
      { vmId: 'v1', toNodeId: 'b' },
      { vmId: 'v2', toNodeId: 'b' },
      { vmId: 'v3', toNodeId: 'c' },
      { vmId: 'v4', toNodeId: 'a' },
    ]);
  });

  it('given migrations in flight, then only the free slots of the limit are used', () => {
    expect(nextMoves({ waiting: ['v1', 'v2', 'v3'], inFlight: 3, limit: 4, candidates: [node('a', 0)] })).toEqual([{ vmId: 'v1', toNodeId: 'a' }]);
    expect(nextMoves({ waiting: ['v1'], inFlight: 4, limit: 4, candidates: [node('a', 0)] })).toEqual([]);
  });

  it('given equal loads, then ties go by node name, then id', () => {
    expect(nextMoves({ waiting: ['v1'], inFlight: 0, limit: 1, candidates: [node('z-id', 1, 'alpha'), node('a-id', 1, 'beta')] })).toEqual([
      { vmId: 'v1', toNodeId: 'z-id' },
    ]);
    expect(nextMoves({ waiting: ['v1'], inFlight: 0, limit: 1, candidates: [node('b', 1, 'same'), node('a', 1, 'same')] })).toEqual([
      { vmId: 'v1', toNodeId: 'a' },
    ]);
  });

  it('given no active node to move to, then nothing moves', () => {
    expect(nextMoves({ waiting: ['v1'], inFlight: 0, limit: 4, candidates: [] })).toEqual([]);
  });

  it("does not change the caller's candidates", () => {
    const candidates = [node('a', 0)];
    nextMoves({ waiting: ['v1', 'v2'], inFlight: 0, limit: 4, candidates });
    expect(candidates).toEqual([node('a', 0)]);
  });
});

describe('evacuation plan (dry run)', () => {
  it('given a node with five VMs and two targets, when the plan is asked, then it is what the steps would do four at a time', () => {
    const waiting = ['v5', 'v2', 'v4', 'v1', 'v3'];
    const candidates = [node('a', 1), node('b', 0)];
    const stepwise = [...nextMoves({ waiting, inFlight: 0, limit: 4, candidates })];
    const loaded = candidates.map((c) => ({ ...c, vmCount: c.vmCount + stepwise.filter((m) => m.toNodeId === c.nodeId).length }));
    stepwise.push(...nextMoves({ waiting: waiting.filter((v) => !stepwise.some((m) => m.vmId === v)), inFlight: 0, limit: 4, candidates: loaded }));
    expect(evacuationPlan(waiting, candidates)).toEqual(stepwise);
    expect(evacuationPlan(waiting, candidates)).toEqual([
      { vmId: 'v1', toNodeId: 'b' },
      { vmId: 'v2', toNodeId: 'a' },
      { vmId: 'v3', toNodeId: 'b' },
      { vmId: 'v4', toNodeId: 'a' },
      { vmId: 'v5', toNodeId: 'b' },
    ]);
  });

  it('given no other active node, then the plan is empty', () => {
    expect(evacuationPlan(['v1'], [])).toEqual([]);
  });
});
