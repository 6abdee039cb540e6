import { EVENT_AGGREGATE } from './events';
import { Subjects, resyncAddressedTo, resyncRequestBody, subjectTarget, untrustedEventReason } from './subjects';

const aggregateOf = (t: string) => EVENT_AGGREGATE[t as keyof typeof EVENT_AGGREGATE];

describe('the subject is who published', () => {
  it('given an agent report on its own subject, then it is trusted and its target is the subject', () => {
    expect(untrustedEventReason('fabric.evt.agent.node.n1', 'RoutesObserved', aggregateOf)).toBeUndefined();
    expect(subjectTarget('fabric.evt.agent.node.n1')).toEqual({ kind: 'node', id: 'n1' });
    expect(subjectTarget('fabric.evt.desired.rr.c_rr1')).toEqual({ kind: 'rr', id: 'c_rr1' });
  });

  it('given an observation on its own obs subject, then it is trusted and its target is the subject', () => {
    expect(untrustedEventReason('fabric.obs.agent.rr.c_rr1', 'RoutesChanged', aggregateOf)).toBeUndefined();
    expect(untrustedEventReason('fabric.obs.agent.node.n1', 'BgpSessionStateChanged', aggregateOf)).toBeUndefined();
    expect(untrustedEventReason('fabric.obs.agent.node.n1', 'BfdSessionStateChanged', aggregateOf)).toBeUndefined();
    expect(subjectTarget('fabric.obs.agent.router.c1')).toEqual({ kind: 'router', id: 'c1' });
  });

  it("given a BMP collector's route report on its own subject, then it is trusted and its target is the cluster's router, source bmp", () => {
    expect(untrustedEventReason('fabric.obs.bmp.router.c1', 'RoutesChanged', aggregateOf)).toBeUndefined();
    expect(subjectTarget('fabric.obs.bmp.router.c1')).toEqual({ kind: 'router', id: 'c1', source: 'bmp' });
  });

  it.each([
    // BMP reports routes of a router only.
    ['fabric.obs.bmp.router.c1', 'BgpSessionStateChanged'],
    ['fabric.obs.bmp.router.c1', 'ConfigApplied'],
    ['fabric.obs.bmp.node.n1', 'RoutesChanged'],
    ['fabric.evt.agent.node.n1', 'VmDeleted'],
    ['fabric.evt.agent.node.n1', 'IpAllocated'],
    ['fabric.evt.agent.node.n1', 'DesiredStateChanged'],
    ['fabric.evt.vm.v1', 'ClusterCreated'],
    ['fabric.evt.agent.vm.n1', 'ConfigApplied'],
    ['fabric.evt.agent.node', 'ConfigApplied'],
    ['fabric.evt.cluster.c1', 'NoSuchEvent'],
    // The observations stream carries observations only: a fact there is forged.
    ['fabric.obs.agent.node.n1', 'ConfigApplied'],
    ['fabric.obs.agent.node.n1', 'VmDeleted'],
    ['fabric.obs.agent.vm.n1', 'RoutesChanged'],
    ['fabric.obs.desired.node.n1', 'RoutesChanged'],
  ])('given %s carrying %s, then it is not trusted', (subject, type) => {
    expect(untrustedEventReason(subject, type, aggregateOf)).toEqual(expect.any(String));
  });

  it('given an aggregate subject, then it names no target', () => {
    expect(subjectTarget('fabric.evt.vm.v1')).toBeUndefined();
  });
});

describe('append claims (fences)', () => {
  const s = new Subjects('fabric');
  it('given an aggregate subject and the sequence it expects, then the claim is that subject under fence with the sequence', () => {
    expect(s.fence(s.evt('ipam', 'c1'), 42)).toBe('fabric.fence.ipam.c1.42');
    expect(s.fence(s.evt('desired', 'node', 'n1'), 7)).toBe('fabric.fence.desired.node.n1.7');
  });
  it('given a subject outside the events or a sequence below 1, then no claim is named', () => {
    expect(() => s.fence('fabric.obs.agent.node.n1', 3)).toThrow(/not an event subject/);
    expect(() => s.fence('other.evt.ipam.c1', 3)).toThrow(/not an event subject/);
    expect(() => s.fence(s.evt('ipam', 'c1'), 0)).toThrow(/invalid expected sequence/);
    expect(() => s.fence(s.evt('ipam', 'c1'), 1.5)).toThrow(/invalid expected sequence/);
  });
});

describe('resync requests', () => {
  it('given a request naming targets, then only those agents answer it', () => {
    const body = resyncRequestBody([
      { kind: 'router', id: 'c1' },
      { kind: 'rr', id: 'c1_rr-1' },
    ]);
    expect(resyncAddressedTo(body, 'router', 'c1')).toBe(true);
    expect(resyncAddressedTo(body, 'rr', 'c1_rr-1')).toBe(true);
    expect(resyncAddressedTo(body, 'rr', 'c1_rr-2')).toBe(false);
    expect(resyncAddressedTo(body, 'bmp', 'c1')).toBe(false);
  });
  it('given an empty or unreadable request, then every agent answers it (as before targets existed)', () => {
    for (const body of ['', 'x', '{}', '{"targets":"all"}']) expect(resyncAddressedTo(body, 'node', 'n1')).toBe(true);
  });
});
