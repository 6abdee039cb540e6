/** What the API needs of the read model: how far it is, and a way to wait until it includes a stream sequence. */
export interface ReadModelPosition {
  /** The checkpoint name (`read-model`). */
  readonly name: string;
  readonly currentPosition: number;
  /** Resolves true once the read model includes stream sequence `seq`, false after `timeoutMs`. */
  waitFor(seq: number, timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** A position that only moves forward, with waiters released as it passes them. */
export class PositionWatch {
  private pos = 0;
  private waiters: { seq: number; resolve: () => void }[] = [];

  get position(): number {
    return this.pos;
  }

  waitFor(seq: number, timeoutMs = 5000): Promise<boolean> {
    if (this.pos >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = { seq, resolve: () => (clearTimeout(timer), resolve(true)) };
      this.waiters.push(waiter);
    });
  }

  /** Moves to `pos` (never back) and releases the waiters it passed. */
  advance(pos: number): void {
    if (pos <= this.pos) return;
    this.pos = pos;
    const ready = this.waiters.filter((w) => w.seq <= pos);
    if (ready.length) {
      this.waiters = this.waiters.filter((w) => w.seq > pos);
      ready.forEach((w) => w.resolve());
    }
  }
}
