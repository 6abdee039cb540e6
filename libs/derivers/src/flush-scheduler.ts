/**
 * Debounced flushing for the derivers: a burst of events (1,000 VM creations) must give a few
 * generations per target, not one per event. A kick arms a short timer; when it fires, the flush runs
 * if the input is caught up (nothing pending in the stream) or `maxDelayMs` passed since the first
 * unflushed kick (bounded latency during long bursts). Flushes never overlap.
 */
export interface FlushSchedulerOptions {
  /** Poll interval while waiting for the input to catch up. */
  settleMs?: number;
  /** Flush at least this often during a burst. */
  maxDelayMs?: number;
  /**
   * Flush at most this often: during a burst each flush is a new generation for every touched target
   * (an agent apply, an RR reconfigure, two events for the read model), so close kicks are grouped.
   * A kick after a quiet period is not delayed.
   */
  minIntervalMs?: number;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

export class FlushScheduler {
  private timer?: NodeJS.Timeout;
  private busy?: Promise<void>;
  private pendingSince = 0;
  private lastFlushAt = 0;
  private stopped = false;

  constructor(
    private readonly flush: () => Promise<void>,
    private readonly caughtUp: () => Promise<boolean>,
    private readonly opts: FlushSchedulerOptions = {},
  ) {}

  /** Nothing pending: no flush running, armed or waiting for the input to catch up. */
  get idle(): boolean {
    return !this.timer && !this.busy && !this.pendingSince;
  }

  /** Something became dirty. */
  kick(delayMs?: number): void {
    if (this.stopped) return;
    if (!this.pendingSince) this.pendingSince = Date.now();
    this.arm(delayMs ?? this.settle());
  }

  /** The settle delay, stretched so that flushes stay `minIntervalMs` apart. */
  private settle(): number {
    const settle = this.opts.settleMs ?? 2;
    const next = this.lastFlushAt + (this.opts.minIntervalMs ?? 0) - Date.now();
    return Math.max(settle, next);
  }

  /** Flushes now (after a running flush), regardless of the input position. */
  async flushNow(): Promise<void> {
    while (this.busy) await this.busy;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pendingSince = 0;
    await this.run();
  }

  /** Stops scheduling and waits for a running flush. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.busy;
  }

  private arm(ms: number): void {
    if (this.timer || this.busy || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.fire();
    }, ms);
  }

  private async fire(): Promise<void> {
    if (this.busy || this.stopped) return;
    let done!: () => void;
    this.busy = new Promise((r) => (done = r));
    try {
      const waited = Date.now() - this.pendingSince;
      const ready = waited >= (this.opts.maxDelayMs ?? 10) || (await this.caughtUp().catch(() => true));
      if (ready) {
        this.pendingSince = 0;
        this.lastFlushAt = Date.now();
        await this.flush().catch((err) => this.opts.log?.('flush failed', { err: String((err as Error)?.stack ?? err) }));
      }
    } finally {
      this.busy = undefined;
      done();
    }
    if (this.pendingSince) this.arm(this.settle());
  }

  private async run(): Promise<void> {
    let done!: () => void;
    this.busy = new Promise((r) => (done = r));
    try {
      this.lastFlushAt = Date.now();
      await this.flush();
    } finally {
      this.busy = undefined;
      done();
    }
    if (this.pendingSince) this.arm(this.settle());
  }
}
