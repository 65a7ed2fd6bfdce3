/**
 * One error family for the whole fleet. Every error has a stable machine `code`, an HTTP
 * status, a message that says what is wrong and a hint that says how to fix it. The server
 * serialises it as `{"error":{"code","message","hint","field"?}}`; the API client turns that
 * body back into an `EdgefleetError`, so the CLI prints the server's own words.
 */
export type ErrorCode =
  | 'bad_request'
  | 'invalid_label'
  | 'invalid_selector'
  | 'invalid_csr'
  | 'unauthenticated'
  | 'client_certificate_required'
  | 'certificate_revoked'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'token_invalid'
  | 'token_expired'
  | 'token_exhausted'
  | 'payload_too_large'
  | 'server_untrusted'
  | 'unreachable'
  | 'config'
  | 'overloaded'
  | 'internal';

/** The JSON body of every API error response. */
export interface ErrorBody {
  error: { code: string; message: string; hint: string; field?: string };
}

/** An error a user can act on: what went wrong, and what to do about it. */
export class EdgefleetError extends Error {
  readonly code: ErrorCode | string;
  readonly status: number;
  readonly hint: string;
  readonly field: string | undefined;
  /** From a 429/503 answer's `Retry-After`: how long the server asked us to wait. */
  readonly retryAfterMs: number | undefined;

  constructor(opts: { code: ErrorCode | string; status: number; message: string; hint: string; field?: string; cause?: unknown; retryAfterMs?: number }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'EdgefleetError';
    this.code = opts.code;
    this.status = opts.status;
    this.hint = opts.hint;
    this.field = opts.field;
    this.retryAfterMs = opts.retryAfterMs;
  }

  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message, hint: this.hint };
    if (this.field !== undefined) error.field = this.field;
    return { error };
  }
}

/** Shorthand for a 400 that names the offending field. */
export function badRequest(message: string, hint: string, field?: string): EdgefleetError {
  return new EdgefleetError({ code: 'bad_request', status: 400, message, hint, ...(field === undefined ? {} : { field }) });
}

/** True when `value` looks like an API error body, so clients can rebuild the error. */
export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const e = (value as { error?: unknown }).error;
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && typeof (e as { message?: unknown }).message === 'string';
}
