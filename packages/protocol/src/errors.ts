/**
 * One error family for the whole fleet. Every error has a stable machine `code` from a
 * closed table, an HTTP status, a message that says what is wrong and a hint that says how
 * to fix it. The server serialises it as `{"error":{"code","message","hint","field"?}}`;
 * the API client turns that body back into an `EdgefleetError`, so the CLI prints the
 * server's own words.
 *
 * Each code also carries a retry class, in the Flux style (see docs/ARCHITECTURE.md):
 * - `transient`: try again with backoff (a dropped connection, a busy server);
 * - `wait`: not an error of the request, only too early (a rollout not started, a source
 *   not synced yet): ask again later, without counting it as a failure;
 * - `terminal`: no retry can fix it: the request, the credentials or the config must change.
 */
import { z } from 'zod';

/** How a caller should react to an error: retry with backoff, ask again later, or give up. */
type RetryClass = 'transient' | 'wait' | 'terminal';

/** What a code means on the wire: its HTTP status (0: never an HTTP answer) and retry class. */
interface ErrorCodeInfo {
  status: number;
  retry: RetryClass;
}

/**
 * The closed table of error codes. Adding a code means adding it here; nothing else in the
 * fleet may make one up (`ErrorCode` is this table's keys).
 */
export const ERROR_CODES = {
  // --- the request is wrong ---
  bad_request: { status: 400, retry: 'terminal' },
  invalid_label: { status: 400, retry: 'terminal' },
  invalid_selector: { status: 400, retry: 'terminal' },
  invalid_csr: { status: 400, retry: 'terminal' },
  invalid_manifest: { status: 400, retry: 'terminal' },
  payload_too_large: { status: 413, retry: 'terminal' },
  unsupported_media_type: { status: 415, retry: 'terminal' },
  range_not_satisfiable: { status: 416, retry: 'terminal' },
  // --- who is asking ---
  unauthenticated: { status: 401, retry: 'terminal' },
  client_certificate_required: { status: 401, retry: 'terminal' },
  token_invalid: { status: 401, retry: 'terminal' },
  token_expired: { status: 401, retry: 'terminal' },
  token_exhausted: { status: 401, retry: 'terminal' },
  certificate_revoked: { status: 403, retry: 'terminal' },
  /**
   * The certificate was replaced: a newer certificate of the same node has been used since
   * (issue 14, finding 9). A stolen copy is refused for good; the node itself, whose request
   * on its old connection crossed its own renewal, passes on retry with its new certificate.
   */
  certificate_superseded: { status: 403, retry: 'transient' },
  /** The certificate expired longer ago than the renewal grace period: only `nodes reenroll` brings the node back. */
  certificate_expired: { status: 401, retry: 'terminal' },
  forbidden: { status: 403, retry: 'terminal' },
  // --- what it is about ---
  not_found: { status: 404, retry: 'terminal' },
  conflict: { status: 409, retry: 'terminal' },
  no_rollout: { status: 409, retry: 'terminal' },
  /**
   * Another request changed the same thing at the same moment (two enrollments of one board
   * serial): the state is fine, the same request passes on retry.
   */
  contended: { status: 409, retry: 'transient' },
  /** A GitOps source has not produced a commit to apply yet. */
  source_not_ready: { status: 409, retry: 'wait' },
  // --- the server or the link ---
  overloaded: { status: 429, retry: 'transient' },
  /**
   * One caller went over its own share (a node's daily log bytes, its long polls, a token's
   * watch streams): others are unaffected; the caller backs off or waits for its quota.
   */
  quota_exceeded: { status: 429, retry: 'transient' },
  internal: { status: 500, retry: 'transient' },
  /**
   * The server answered something this client cannot read: a proxy's error page (gone on
   * retry) or a different version (gone once both are upgraded), so agents keep trying.
   */
  unexpected_response: { status: 502, retry: 'transient' },
  digest_mismatch: { status: 502, retry: 'transient' },
  unavailable: { status: 503, retry: 'transient' },
  download_failed: { status: 503, retry: 'transient' },
  insufficient_storage: { status: 507, retry: 'wait' },
  disk_full: { status: 507, retry: 'wait' },
  // --- never an HTTP answer: raised by the client side ---
  unreachable: { status: 0, retry: 'transient' },
  server_untrusted: { status: 0, retry: 'terminal' },
  /** Local configuration (flags, files, environment) is wrong. */
  config: { status: 400, retry: 'terminal' },
  /**
   * A process could not start from what it found on this machine (a port in use, an
   * unreadable data folder or identity, a failed migration): not the caller's input, so a
   * 5xx (the CLI exits 1, not 2), and no retry fixes it without an operator.
   */
  startup_failed: { status: 500, retry: 'terminal' },
} as const satisfies Record<string, ErrorCodeInfo>;

/** Every error code the fleet uses: the keys of {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `code` is in the closed table. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/**
 * The JSON body of every API error response, as this version's server writes it: the code
 * is one of {@link ERROR_CODES}, the message and hint are there. Tests that read raw answers
 * parse them with it (`ErrorBodySchema.parse(json)`) instead of typing them by hand.
 */
export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    message: z.string().min(1),
    hint: z.string(),
    field: z.string().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** What an error is made of; `status` defaults to the code's status in the table. */
interface EdgefleetErrorOptions {
  code: ErrorCode;
  /**
   * Only for an error rebuilt from an HTTP answer (the API client, a raw artifact response),
   * which keeps the status the wire said. Everything else uses {@link errors}: its code's status.
   */
  status?: number;
  message: string;
  hint: string;
  field?: string;
  cause?: unknown;
  retryAfterMs?: number;
}

/** An error a user can act on: what went wrong, and what to do about it. */
export class EdgefleetError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly hint: string;
  readonly field: string | undefined;
  /** From a 429/503 answer's `Retry-After`: how long the server asked us to wait. */
  readonly retryAfterMs: number | undefined;

  constructor(opts: EdgefleetErrorOptions) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'EdgefleetError';
    this.code = opts.code;
    this.status = opts.status ?? ERROR_CODES[opts.code].status;
    this.hint = opts.hint;
    this.field = opts.field;
    this.retryAfterMs = opts.retryAfterMs;
  }

  /** How a caller should react: from the code's row in the table. */
  get retry(): RetryClass {
    return ERROR_CODES[this.code].retry;
  }

  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message, hint: this.hint };
    if (this.field !== undefined) error.field = this.field;
    return { error };
  }
}

/**
 * The retry class of any thrown value: an `EdgefleetError`'s from the table; anything else
 * (a bug, a socket error that was not wrapped) is `transient`, so loops keep going with backoff.
 */
export function retryClassOf(err: unknown): RetryClass {
  return err instanceof EdgefleetError ? err.retry : 'transient';
}

/** Extra fields of a per-code constructor. */
interface ErrorExtras {
  field?: string;
  cause?: unknown;
  retryAfterMs?: number;
}

function make(code: ErrorCode): (message: string, hint: string, extras?: ErrorExtras) => EdgefleetError {
  return (message, hint, extras = {}) => new EdgefleetError({ code, message, hint, ...extras });
}

/**
 * One constructor per code, with the status from the table:
 * `throw errors.notFound('node "x" not found', 'list nodes with "edgefleet nodes list"')`.
 */
export const errors = {
  badRequest: make('bad_request'),
  invalidLabel: make('invalid_label'),
  invalidSelector: make('invalid_selector'),
  invalidCsr: make('invalid_csr'),
  invalidManifest: make('invalid_manifest'),
  payloadTooLarge: make('payload_too_large'),
  unsupportedMediaType: make('unsupported_media_type'),
  rangeNotSatisfiable: make('range_not_satisfiable'),
  unauthenticated: make('unauthenticated'),
  clientCertificateRequired: make('client_certificate_required'),
  tokenInvalid: make('token_invalid'),
  tokenExpired: make('token_expired'),
  tokenExhausted: make('token_exhausted'),
  certificateRevoked: make('certificate_revoked'),
  certificateSuperseded: make('certificate_superseded'),
  certificateExpired: make('certificate_expired'),
  forbidden: make('forbidden'),
  notFound: make('not_found'),
  conflict: make('conflict'),
  noRollout: make('no_rollout'),
  contended: make('contended'),
  sourceNotReady: make('source_not_ready'),
  overloaded: make('overloaded'),
  quotaExceeded: make('quota_exceeded'),
  internal: make('internal'),
  unexpectedResponse: make('unexpected_response'),
  digestMismatch: make('digest_mismatch'),
  unavailable: make('unavailable'),
  downloadFailed: make('download_failed'),
  insufficientStorage: make('insufficient_storage'),
  diskFull: make('disk_full'),
  unreachable: make('unreachable'),
  serverUntrusted: make('server_untrusted'),
  config: make('config'),
  startupFailed: make('startup_failed'),
} as const satisfies Record<string, (message: string, hint: string, extras?: ErrorExtras) => EdgefleetError>;

/** Shorthand for a 400 that names the offending field. */
export function badRequest(message: string, hint: string, field?: string): EdgefleetError {
  return errors.badRequest(message, hint, field === undefined ? {} : { field });
}

/**
 * True when `value` looks like an API error body, so clients can rebuild the error. Looser
 * than {@link ErrorBodySchema} on purpose: a server of another version may send a code this
 * client does not know, or no hint.
 */
export function isErrorBody(value: unknown): value is { error: { code: string; message: string; hint?: string; field?: string } } {
  if (typeof value !== 'object' || value === null) return false;
  const e = (value as { error?: unknown }).error;
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && typeof (e as { message?: unknown }).message === 'string';
}
