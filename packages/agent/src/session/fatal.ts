import { backoffDelay, EdgefleetError, MAX_BACKOFF_MS, retryClassOf } from '@edgefleet/protocol';

/**
 * What the agent does after a call to the server failed, decided by the code's retry class
 * in the closed error table (protocol/src/errors.ts), and for an enrolled node by whether the
 * server decommissioned it (below):
 * - `terminal` (revoked, untrusted server, bad token, bad config): stop, with the message and
 *   hint, before enrollment; once enrolled, only a decommission stops (see `afterFailure`);
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
 * `enrolled`: the node already has its identity and may be serving workloads. Then only an
 * explicit decommission ends the agent: the server says the node's certificate was revoked
 * (the operator deleted the node or revoked the certificate). Any other refusal, of the
 * node's credentials (401/403: a server restored from an old backup, a certificate that
 * expired while offline), of the server by the node (a certificate from another CA), or of a
 * request's content (400, 404, 409, 413 …), is a control plane the node cannot work with
 * right now, like an unreachable one: the workloads keep serving, and the agent asks again
 * at the backoff cap instead of stopping them or crash-looping (issue 14: a server that
 * refused renewals under load switched inference off across the fleet). Before enrollment
 * every terminal error stops, so the person at first boot sees what to fix.
 */
export function afterFailure(err: unknown, attempt: number, random: () => number, opts: { enrolled?: boolean } = {}): AfterFailure {
  const retry = retryClassOf(err);
  if (retry === 'terminal') {
    if (opts.enrolled !== true || isDecommission(err)) return { action: 'stop' };
    return { action: 'retry', delayMs: backoffDelay(30, { random, baseMs: MAX_BACKOFF_MS }) + MAX_BACKOFF_MS / 2, countsAsFailure: true };
  }
  const asked = retryAfterMs(err);
  if (retry === 'wait') return { action: 'retry', delayMs: (asked > 0 ? asked : WAIT_WITHOUT_RETRY_AFTER_MS) * (1 + random()), countsAsFailure: false };
  // An overloaded server (a whole site powering on) says how long to wait: honour it, spread.
  return { action: 'retry', delayMs: Math.max(backoffDelay(attempt, { random }), asked * (1 + random())), countsAsFailure: true };
}

/**
 * The one answer that stops a serving node: the server's explicit statement that the node
 * was decommissioned (`certificate_revoked`). A retry class cannot say this, since every
 * refusal is terminal for the request; it is the single code a server sends only on an
 * operator's decision (deleting the node, revoking its certificate).
 */
export function isDecommission(err: unknown): err is EdgefleetError {
  return err instanceof EdgefleetError && err.code === 'certificate_revoked';
}

/** Whether `err` ends the agent rather than being waited out (its retry class is `terminal`). */
export function isFatal(err: unknown): err is EdgefleetError {
  return err instanceof EdgefleetError && retryClassOf(err) === 'terminal';
}

/** How long the server asked to wait (429/503 `Retry-After`), or 0. */
export function retryAfterMs(err: unknown): number {
  return err instanceof EdgefleetError ? (err.retryAfterMs ?? 0) : 0;
}
