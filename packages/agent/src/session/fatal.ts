import { EdgefleetError } from '@edgefleet/protocol';

/**
 * Errors that no retry can fix: the node must be re-enrolled or reconfigured.
 * TODO(#13): decide from the closed error table's retry class once protocol has it.
 */
const FATAL_CODES = new Set([
  'certificate_revoked',
  'client_certificate_required',
  'token_invalid',
  'token_expired',
  'token_exhausted',
  'server_untrusted',
  'config',
]);

/** Whether `err` ends the agent rather than being waited out. */
export function isFatal(err: unknown): err is EdgefleetError {
  return err instanceof EdgefleetError && FATAL_CODES.has(err.code);
}

/** How long the server asked to wait (429/503 `Retry-After`), or 0. */
export function retryAfterMs(err: unknown): number {
  return err instanceof EdgefleetError ? (err.retryAfterMs ?? 0) : 0;
}
