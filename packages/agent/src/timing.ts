/**
 * The agent's timing decisions, as pure functions of numbers so they are tested without
 * timers: when to renew and how much to jitter. Backoff is protocol's `backoffDelay`, the
 * one rule every edgefleet component retries by.
 */

/** Renew at two thirds of the certificate's lifetime, as kubelet does, leaving a third for retries. */
export function renewalDueAt(notBefore: number, notAfter: number): number {
  return notBefore + Math.floor(((notAfter - notBefore) * 2) / 3);
}

/** A heartbeat interval with ±10 % jitter, so nodes enrolled together spread out. */
export function jitteredInterval(intervalMs: number, random: () => number): number {
  return Math.round(intervalMs * (0.9 + 0.2 * random()));
}
