/** A refusal by a decider. `status` maps 1:1 to the HTTP status the gateway returns. */
export class DomainError extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 422 | 503,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string[]>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
  toJSON(): ErrorBody {
    return { status: this.status, code: this.code, message: this.message, ...(this.fields ? { fields: this.fields } : {}) };
  }
}

export interface ErrorBody {
  status: number;
  code: string;
  message: string;
  fields?: Record<string, string[]>;
}

export const notFound = (what: string, id: string) => new DomainError(404, `${what}-not-found`, `${what} ${id} not found`);
export const conflict = (code: string, message: string) => new DomainError(409, code, message);
export const invalid = (code: string, message: string, fields?: Record<string, string[]>) => new DomainError(400, code, message, fields);
