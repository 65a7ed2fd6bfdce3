import { backoffDelay, EdgefleetError, MAX_BACKOFF_MS, retryClassOf } from '@edgefleet/protocol';

/**
 * What the agent does after a call to the server failed, decided by the code's retry class
 * in the closed error table (protocol/src/errors.ts), never by comparing code strings:
 * - `terminal` (revoked, untrusted server, bad token, bad config): stop, with the message and hint;
 * - `transient` (unreachable, busy, 5xx): back off with full jitter, or longer when the server
 *   asked (`Retry-After`), and count it as a failure;
 * - `wait` (not ready yet, out of storage): ask again after `Retry-After`, or a long fixed wait,
 *   without counting it as a failure.
 */
type AfterFailure = { action: 'stop' } | { action: 'retry'; delayMs: number; countsAsFailure: boolean };

/** How long a `wait` answer without `Retry-After` is left alone (before jitter). */
export const WAIT_WITHOUT_RETRY_AFTER_MS = 60_000;

/**
 * Decides what follows a failed call. `attempt` is the backoff exponent (0 for the first
 * retry); `random` is the agent's injected draw.
 *
 * `enrolled`: the node already has its identity and may be serving workloads. Then only a
 * terminal error about who the node is or whom it trusts ends the agent (the server refused
 * its certificate, 401/403, or the node refused the server, raised on the node itself); a
 * terminal answer about a request's content (400, 404, 409, 413 …) means this agent and the
 * server disagree, which upgrading either side heals: the node keeps serving and asks again
 * at the backoff cap instead of crash-looping. Before enrollment every terminal error stops,
 * so the person at first boot sees what to fix.
 */
export function afterFailure(err: unknown, attempt: number, random: () => number, opts: { enrolled?: boolean } = {}): AfterFailure {
  const retry = retryClassOf(err);
  if (retry === 'terminal') {
    if (opts.enrolled !== true || aboutIdentityOrTrust(err)) return { action: 'stop' };
    return { action: 'retry', delayMs: backoffDelay(30, { random, baseMs: MAX_BACKOFF_MS }) + MAX_BACKOFF_MS / 2, countsAsFailure: true };
  }
  const asked = retryAfterMs(err);
  if (retry === 'wait') return { action: 'retry', delayMs: (asked > 0 ? asked : WAIT_WITHOUT_RETRY_AFTER_MS) * (1 + random()), countsAsFailure: false };
  // An overloaded server (a whole site powering on) says how long to wait: honour it, spread.
  return { action: 'retry', delayMs: Math.max(backoffDelay(attempt, { random }), asked * (1 + random())), countsAsFailure: true };
}

/** A refusal of the node's credentials by the server (401/403), or of the server by the node (no HTTP answer). */
function aboutIdentityOrTrust(err: unknown): boolean {
  if (!(err instanceof EdgefleetError)) return false;
  return err.status === 401 || err.status === 403 || err.status === 0;
}

/** Whether `err` ends the agent rather than being waited out (its retry class is `terminal`). */
export function isFatal(err: unknown): err is EdgefleetError {
  return err instanceof EdgefleetError && retryClassOf(err) === 'terminal';
}

/** How long the server asked to wait (429/503 `Retry-After`), or 0. */
export function retryAfterMs(err: unknown): number {
  return err instanceof EdgefleetError ? (err.retryAfterMs ?? 0) : 0;
}
