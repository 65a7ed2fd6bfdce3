/**
 * How every edgefleet component waits: one backoff rule and one abortable sleep, so the
 * agent, the server's forwarders, the CLI and the dashboard all retry the same way. Pure
 * (timers only), so it runs in the browser too.
 */

/**
 * How much of the delay is drawn at random:
 * - `full`: uniform in [0, ceiling] — spreads a fleet that failed together (the default);
 * - `equal`: half fixed, half drawn, in [ceiling/2, ceiling] — a zero draw cannot become a
 *   tight retry loop;
 * - `none`: the ceiling itself — for a node's own local retries (a workload restart, an image
 *   pull), where nothing else retries in lockstep and plans must stay deterministic.
 */
export type BackoffJitter = 'full' | 'equal' | 'none';

/** Options of {@link backoffDelay}. */
interface BackoffOptions {
  /** Delay ceiling of the first retry (attempt 0); default 1 s. */
  baseMs?: number;
  /** Largest delay ever drawn; default 5 minutes. */
  capMs?: number;
  /** Uniform draw in [0, 1); injected so tests are deterministic. Default `Math.random`. */
  random?: () => number;
  /** Default `full`. */
  jitter?: BackoffJitter;
}

/** The default backoff ceiling: nodes that lost the server retry at least every 5 minutes. */
export const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * Exponential backoff, the one rule every component uses: the ceiling is
 * min(cap, base·2^attempt) (attempt below 0 counts as 0), jittered per `jitter`. Full
 * jitter (not ±x %) is what spreads a site of nodes that lost the server together, so
 * they do not come back in lockstep.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const baseMs = opts.baseMs ?? 1_000;
  const capMs = opts.capMs ?? MAX_BACKOFF_MS;
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  const jitter = opts.jitter ?? 'full';
  if (jitter === 'none') return ceiling;
  const drawn = Math.floor((opts.random ?? Math.random)() * ceiling);
  return jitter === 'full' ? drawn : Math.round(ceiling / 2 + drawn / 2);
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
