/**
 * Remembers the reply of recent commands by command id, so a client retrying the same command
 * (Idempotency-Key) gets the original answer instead of a 409 about its own earlier write.
 */
export class ReplyCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max = 50_000) {}
  get(id: string): V | undefined {
    return this.map.get(id);
  }
  set(id: string, v: V): void {
    this.map.set(id, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
}
