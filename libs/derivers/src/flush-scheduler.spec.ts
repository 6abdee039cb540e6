import { FlushScheduler } from './flush-scheduler';

// Fake timers: the scheduler's timing is asserted without depending on how loaded the machine is.
const sleep = (ms: number) => jest.advanceTimersByTimeAsync(ms);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('FlushScheduler', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('coalesces a burst of kicks into one flush once the input is caught up', async () => {
    let flushes = 0;
    let caughtUp = false;
    const s = new FlushScheduler(
      async () => void flushes++,
      async () => caughtUp,
      { settleMs: 1, maxDelayMs: 10_000 },
    );
    for (let i = 0; i < 100; i++) s.kick();
    await sleep(20);
    expect(flushes).toBe(0); // still behind
    caughtUp = true;
    await sleep(20);
    expect(flushes).toBe(1);
    await s.stop();
  });

  it('is idle only when no flush is armed, running or waiting for the input', async () => {
    let caughtUp = false;
    let release!: () => void;
    const s = new FlushScheduler(
      () => new Promise<void>((r) => (release = r)),
      async () => caughtUp,
      { settleMs: 1, maxDelayMs: 10_000 },
    );
    expect(s.idle).toBe(true);
    s.kick();
    expect(s.idle).toBe(false); // armed
    await sleep(5);
    expect(s.idle).toBe(false); // waiting for the input to catch up
    caughtUp = true;
    await sleep(5);
    expect(s.idle).toBe(false); // flushing
    release();
    await sleep(0);
    expect(s.idle).toBe(true);
    await s.stop();
  });

  it('flushes at least every maxDelayMs during a long burst, never overlapping', async () => {
    let running = 0;
    let overlap = false;
    let flushes = 0;
    const s = new FlushScheduler(
      async () => {
        overlap ||= running > 0;
        running++;
        await pause(3);
        running--;
        flushes++;
      },
      async () => false,
      { settleMs: 1, maxDelayMs: 10 },
    );
    const end = Date.now() + 120;
    while (Date.now() < end) {
      s.kick();
      await sleep(1);
    }
    await sleep(30);
    expect(flushes).toBeGreaterThanOrEqual(3);
    expect(flushes).toBeLessThan(40);
    expect(overlap).toBe(false);
    await s.stop();
  });

  it('a kick during a flush gives one more flush after it', async () => {
    const seen: number[] = [];
    let n = 0;
    const s = new FlushScheduler(
      async () => {
        seen.push(++n);
        if (n === 1) s.kick();
        await pause(2);
      },
      async () => true,
      { settleMs: 1 },
    );
    s.kick();
    await sleep(30);
    expect(seen).toEqual([1, 2]);
    await s.stop();
  });
});

describe('FlushScheduler minimum interval', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('groups kicks that come closer than minIntervalMs, but does not delay a kick after a quiet period', async () => {
    const at: number[] = [];
    const start = Date.now();
    const s = new FlushScheduler(
      async () => void at.push(Date.now() - start),
      async () => true,
      { settleMs: 1, minIntervalMs: 25 },
    );
    s.kick();
    await jest.advanceTimersByTimeAsync(2);
    expect(at).toEqual([1]); // first kick: settle only
    for (let i = 0; i < 10; i++) {
      s.kick(); // a burst, one kick per ms
      await jest.advanceTimersByTimeAsync(1);
    }
    await jest.advanceTimersByTimeAsync(40);
    expect(at).toHaveLength(2); // the whole burst is one more flush …
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(25); // … not before the interval
    await jest.advanceTimersByTimeAsync(100);
    s.kick();
    await jest.advanceTimersByTimeAsync(2);
    expect(at).toHaveLength(3); // quiet again: no added delay
    await s.stop();
  });
});
