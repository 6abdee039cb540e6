import { BmpDisagreementTracker } from './bmp-disagreement';

const C = 'c1';
const A = '203.0.113.10/32';
const B = '203.0.113.11/32';

describe('BMP vs agent disagreement', () => {
  it('given both sources hold the same prefixes, then nothing is pending or reported', () => {
    const t = new BmpDisagreementTracker(30_000);
    t.sample(C, [A, B], [B, A], 0);
    t.sample(C, [A, B], [A, B], 60_000);
    expect(t.reported(C, 60_000)).toEqual([]);
    expect(t.pending(C, 60_000)).toBe(0);
  });

  it('given a prefix only the agent holds, when the grace period has not passed, then it is pending only; once past, reported since the first sample', () => {
    const t = new BmpDisagreementTracker(30_000);
    t.sample(C, [A, B], [A], 1_000);
    t.sample(C, [A, B], [A], 20_000);
    expect(t.reported(C, 20_000)).toEqual([]);
    expect(t.pending(C, 20_000)).toBe(1);
    t.sample(C, [A, B], [A], 31_000);
    expect(t.reported(C, 31_000)).toEqual([{ prefix: B, heldBy: 'agent', since: 1_000 }]);
    expect(t.pending(C, 31_000)).toBe(0);
  });

  it('given a reported disagreement, when the sources agree again, then it is cleared; a new one starts its grace over', () => {
    const t = new BmpDisagreementTracker(30_000);
    t.sample(C, [A], [A, B], 0);
    t.sample(C, [A], [A, B], 40_000);
    expect(t.reported(C, 40_000)).toEqual([{ prefix: B, heldBy: 'bmp', since: 0 }]);
    t.sample(C, [A, B], [A, B], 41_000);
    expect(t.reported(C, 41_000)).toEqual([]);
    t.sample(C, [A], [A, B], 42_000);
    expect(t.reported(C, 60_000)).toEqual([]);
    expect(t.reported(C, 72_000)).toEqual([{ prefix: B, heldBy: 'bmp', since: 42_000 }]);
  });

  it('given a prefix whose holder flips (agent only, then BMP only), then its grace starts over', () => {
    const t = new BmpDisagreementTracker(30_000);
    t.sample(C, [A], [], 0);
    t.sample(C, [], [A], 35_000);
    expect(t.reported(C, 35_000)).toEqual([]);
    expect(t.reported(C, 65_000)).toEqual([{ prefix: A, heldBy: 'bmp', since: 35_000 }]);
  });

  it('given a lasting disagreement (FRR 8.4 live announcements), then it is one entry with its first time, however many samples', () => {
    const t = new BmpDisagreementTracker(30_000);
    for (let now = 0; now <= 600_000; now += 5_000) t.sample(C, [A, B], [A], now);
    expect(t.reported(C, 600_000)).toEqual([{ prefix: B, heldBy: 'agent', since: 0 }]);
  });

  it('given clusters, then each is kept apart; forgetting one drops its state', () => {
    const t = new BmpDisagreementTracker(0);
    t.sample('c1', [A], [], 0);
    t.sample('c2', [], [], 0);
    expect(t.reported('c1', 0)).toHaveLength(1);
    expect(t.reported('c2', 0)).toEqual([]);
    t.forget('c1');
    expect(t.reported('c1', 0)).toEqual([]);
    expect(t.tracked()).toEqual(['c2']);
  });

  it('given a negative grace, then it refuses to start', () => {
    expect(() => new BmpDisagreementTracker(-1)).toThrow(/grace/);
  });
});
