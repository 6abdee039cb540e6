/** An append whose expected subject sequence was not the aggregate's last: another writer came first. */
export class ConcurrencyError extends Error {
  constructor(
    readonly subject: string,
    readonly expected: number,
    detail: string,
  ) {
    super(`concurrent write on ${subject} (expected last sequence ${expected}): ${detail}`);
    this.name = 'ConcurrencyError';
  }
}
