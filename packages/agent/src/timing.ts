/**
 * The agent's timing decisions, as pure functions of numbers so they are tested without
 * timers: when to renew, how long to back off, how much to jitter.
 */

/** Renew at two thirds of the certificate's lifetime, as kubelet does, leaving a third for retries. */
export function renewalDueAt(notBefore: number, notAfter: number): number {
  return notBefore + Math.floor(((notAfter - notBefore) * 2) / 3);
}

/** Backoff ceiling while the server is unreachable. */
export const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * Exponential backoff with full jitter (a uniform draw in [0, min(cap, base·2^attempt)]), so
 * a site of nodes that lost the server together does not come back in lockstep.
 */
export function backoffDelay(attempt: number, random: () => number, baseMs = 1_000, capMs = MAX_BACKOFF_MS): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** A heartbeat interval with ±10 % jitter, so nodes enrolled together spread out. */
export function jitteredInterval(intervalMs: number, random: () => number): number {
  return Math.round(intervalMs * (0.9 + 0.2 * random()));
}
