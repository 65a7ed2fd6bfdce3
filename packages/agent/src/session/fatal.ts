import { backoffDelay, EdgefleetError, retryClassOf } from '@edgefleet/protocol';

/**
 * What the agent does after a call to the server failed, decided by the code's retry class
 * in the closed error table (protocol/src/errors.ts), never by comparing code strings:
 * - `terminal` (revoked, untrusted server, bad token, bad config): stop, with the message and hint;
 * - `transient` (unreachable, busy, 5xx): back off with full jitter, or longer when the server
 *   asked (`Retry-After`), and count it as a failure;
 * - `wait` (not ready yet, out of storage): ask again after `Retry-After`, or a long fixed wait,
 *   without counting it as a failure.
 */
export type AfterFailure = { action: 'stop' } | { action: 'retry'; delayMs: number; countsAsFailure: boolean };

/** How long a `wait` answer without `Retry-After` is left alone (before jitter). */
export const WAIT_WITHOUT_RETRY_AFTER_MS = 60_000;

/**
 * Decides what follows a failed call. `attempt` is the backoff exponent (0 for the first
 * retry); `random` is the agent's injected draw.
 */
export function afterFailure(err: unknown, attempt: number, random: () => number): AfterFailure {
  const retry = retryClassOf(err);
  if (retry === 'terminal') return { action: 'stop' };
  const asked = retryAfterMs(err);
  if (retry === 'wait') return { action: 'retry', delayMs: (asked > 0 ? asked : WAIT_WITHOUT_RETRY_AFTER_MS) * (1 + random()), countsAsFailure: false };
  // An overloaded server (a whole site powering on) says how long to wait: honour it, spread.
  return { action: 'retry', delayMs: Math.max(backoffDelay(attempt, { random }), asked * (1 + random())), countsAsFailure: true };
}

/** Whether `err` ends the agent rather than being waited out (its retry class is `terminal`). */
export function isFatal(err: unknown): err is EdgefleetError {
  return err instanceof EdgefleetError && retryClassOf(err) === 'terminal';
}

/** How long the server asked to wait (429/503 `Retry-After`), or 0. */
export function retryAfterMs(err: unknown): number {
  return err instanceof EdgefleetError ? (err.retryAfterMs ?? 0) : 0;
}
