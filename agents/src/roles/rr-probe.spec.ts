import { RrProbeSchedule } from './rr-probe';

const versions = (entries: Record<string, string>) => new Map(Object.entries(entries));
const nodes = (n: number) => versions(Object.fromEntries(Array.from({ length: n }, (_, i) => [`node_n${i}`, 'up\nRoutes: 0 imported'])));

/** Given a schedule that has done its first full read of `n` sessions at t = 0. */
function givenRead(n = 100) {
  const s = new RrProbeSchedule({ firstMs: 100, watchMs: 6400, fullMs: 5000, minBatch: 8 });
  expect(s.plan(0)).toEqual({ full: true });
  s.fullResult(nodes(n), 0);
  return s;
}

describe('RrProbeSchedule', () => {
  it('given nothing marked, when the probe ticks before the safety net, then it asks BIRD nothing', () => {
    const s = givenRead();
    for (let t = 100; t < 5000; t += 100) expect(s.plan(t)).toEqual({ full: false, protocols: [] });
  });

  it('given nothing marked, when the safety-net period has passed, then it reads every session once', () => {
    const s = givenRead();
    expect(s.plan(5000)).toEqual({ full: true });
    s.fullResult(nodes(100), 5000);
    expect(s.plan(5100)).toEqual({ full: false, protocols: [] });
  });

  it('given a marked session, then it is asked at once and at doubling intervals until the watch ends', () => {
    const s = givenRead();
    s.mark(['node_n7'], 1000);
    const asked: number[] = [];
    for (let t = 1000; t <= 4999; t += 100) {
      const p = s.plan(t);
      if (p.full) throw new Error('unexpected full read');
      if (p.protocols.length) {
        expect(p.protocols).toEqual(['node_n7']);
        asked.push(t - 1000);
        s.partResult('node_n7', 'up\nRoutes: 0 imported', t);
      }
    }
    expect(asked).toEqual([0, 100, 300, 700, 1500, 3100]);
    expect(s.watching).toBe(1);
    s.partResult('node_n7', 'up\nRoutes: 0 imported', 4100);
    expect(s.watching).toBe(1);
  });

  it('given a watch, when the session is marked again, then the schedule starts over from then', () => {
    const s = givenRead();
    s.mark(['node_n1'], 100);
    s.partResult('node_n1', 'up\nRoutes: 0 imported', 100);
    s.mark(['node_n1'], 150);
    expect(s.plan(150)).toEqual({ full: false, protocols: ['node_n1'] });
  });

  it('given a session read alone, when its counters moved, then the version changes; unchanged, it stays', () => {
    const s = givenRead();
    const v0 = s.version;
    s.mark(['node_n3'], 100);
    s.partResult('node_n3', 'up\nRoutes: 0 imported', 100);
    expect(s.version).toBe(v0);
    s.partResult('node_n3', 'up\nRoutes: 1 imported', 200);
    expect(s.version).not.toBe(v0);
  });

  it('given a session BIRD no longer has, when read alone, then the version changes once', () => {
    const s = givenRead();
    const v0 = s.version;
    s.mark(['node_n3'], 100);
    s.partResult('node_n3', undefined, 100);
    const v1 = s.version;
    expect(v1).not.toBe(v0);
    s.partResult('node_n3', undefined, 200);
    expect(s.version).toBe(v1);
  });

  it('given a full read, when a session appeared, went or moved, then the version changes; the same read again does not', () => {
    const s = givenRead(3);
    const v0 = s.version;
    s.fullResult(nodes(3), 5000);
    expect(s.version).toBe(v0);
    s.fullResult(nodes(4), 10000);
    const v1 = s.version;
    expect(v1).not.toBe(v0);
    s.fullResult(versions({ ...Object.fromEntries(nodes(4)), node_n0: 'up\nRoutes: 1 imported' }), 15000);
    expect(s.version).not.toBe(v1);
  });

  it('given more sessions due than a quarter of the known ones, then one full read replaces them and advances their watch', () => {
    const s = givenRead(100);
    s.mark(
      Array.from({ length: 26 }, (_, i) => `node_n${i}`),
      100,
    );
    expect(s.plan(100)).toEqual({ full: true });
    s.fullResult(nodes(100), 100);
    expect(s.plan(150)).toEqual({ full: false, protocols: [] });
    expect(s.watching).toBe(26);
  });

  it('given a few sessions due, then they are asked alone, sorted', () => {
    const s = givenRead(100);
    s.mark(['node_n9', 'node_n2'], 100);
    expect(s.plan(100)).toEqual({ full: false, protocols: ['node_n2', 'node_n9'] });
  });

  it('given a change of the whole config (mark all), then the next probe reads every session', () => {
    const s = givenRead();
    s.mark('all', 200);
    expect(s.plan(200)).toEqual({ full: true });
    s.fullResult(nodes(100), 200);
    expect(s.plan(300)).toEqual({ full: false, protocols: [] });
  });
});
