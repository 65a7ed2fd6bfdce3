/**
 * How every edgefleet component waits: one backoff rule and one abortable sleep, so the
 * agent, the server's forwarders, the CLI and the dashboard all retry the same way. Pure
 * (timers only), so it runs in the browser too.
 */

/** Options of {@link backoffDelay}. */
interface BackoffOptions {
  /** Delay ceiling of the first retry (attempt 0); default 1 s. */
  baseMs?: number;
  /** Largest delay ever drawn; default 5 minutes. */
  capMs?: number;
  /** Uniform draw in [0, 1); injected so tests are deterministic. Default `Math.random`. */
  random?: () => number;
}

/** The default backoff ceiling: nodes that lost the server retry at least every 5 minutes. */
export const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * Exponential backoff with full jitter: a uniform draw in [0, min(cap, base·2^attempt)].
 * Full jitter (not ±x %) is what spreads a site of nodes that lost the server together, so
 * they do not come back in lockstep.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const baseMs = opts.baseMs ?? 1_000;
  const capMs = opts.capMs ?? MAX_BACKOFF_MS;
  const random = opts.random ?? Math.random;
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.floor(random() * ceiling);
}

/**
 * Waits `ms`, or less when `signal` aborts. It never rejects: a caller that was aborted
 * checks `signal.aborted` afterwards, so a shutdown is not mistaken for an error.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
