import { performance } from 'node:perf_hooks';

/**
 * Paces the long polls' changed answers, so a release to thousands of nodes doesn't make
 * them all react in the same second.
 *
 * Why: an answer that changes a node's desired state sets it working against the server at
 * once: it downloads the artifact, reports its states, uploads what it buffered. Measured
 * with `npm run bench:fleet -- --nodes 1000 --profile` (docs/BENCHMARKS.md): a release to
 * 1,000 nodes kept the server's event loop 90 % busy for 10 s, and every heartbeat of the
 * fleet waited behind that work (p99 9 s) — nodes that do nothing wrong look late, and at
 * 10,000 nodes, offline. Kubernetes' API priority and fairness and the jittered polls of
 * Mender's and balena's clients answer the same herd; here the server knows how busy it is.
 *
 * How: a token bucket refilled every `tickMs` by how busy the event loop was over the last
 * tick (`performance.eventLoopUtilization`): a full `burst` when it was mostly idle, a fifth
 * when it was busy, one when it was saturated, so the fleet's own traffic keeps headroom and
 * a release still always moves. A lone change on a quiet server is answered at once: the
 * bucket starts full.
 *
 * Replicas on PostgreSQL pace the fleet's answers together: each adds its share of the
 * tokens (a third of them with three replicas listening on the database, counted by
 * replicas/change-bus.ts), so a release goes out no faster through three replicas than
 * through one server, whose pace it was measured at. Each replica's own utilization still
 * slows its share. Why not each at a full server's pace: the answered nodes' downloads and
 * reports all land on the one PostgreSQL, and three replicas, each less busy than one server
 * would be, let three times the answers go at once; the herd then slowed everything
 * (revision 1 reached 2,000 nodes 84 s after it was applied, against 34 s paced together).
 * Measured with
 * `npm run bench:fleet -- --nodes 2000 --db postgres --replicas 3` (docs/BENCHMARKS.md,
 * "Three replicas pace a release together"): p99 of agent requests 1.6–1.9 s before, 189–250 ms
 * after, on one machine's two cores.
 *
 * How long an answer may wait: until its own poll would have ended anyway, and at least
 * `maxWaitMs` (an agent waits 30 s past its poll's wait before it gives up, so 20 s past it
 * is safe). Not `maxWaitMs` for all: a release to thousands of nodes that the tokens cannot
 * answer within 20 s then went out all at once after 20 s, the very herd the pacer is for
 * (`npm run bench:fleet -- --nodes 2000`: 1,469 artifact downloads and 1,526 heartbeats over
 * 250 ms in the 10 s after the 20 s, 2026-12-07). Polls end spread over their wait, so the
 * answers the tokens don't let go are spread the same way.
 */
export interface PacerOptions {
  /** How often tokens are added, ms. */
  tickMs: number;
  /** Answers let through at once, and added per tick when the loop was below `idleBelow`. */
  burst: number;
  /** Utilization (0–1) below which a tick adds `burst` tokens. */
  idleBelow: number;
  /** Utilization below which a tick adds a fifth of `burst`; at or above, one. */
  busyBelow: number;
  /** Longest an answer waits past its poll's end (or past its arrival, if that is later), ms. */
  maxWaitMs: number;
}

export const PACER_DEFAULTS: PacerOptions = { tickMs: 100, burst: 20, idleBelow: 0.5, busyBelow: 0.8, maxWaitMs: 20_000 };

/** Tokens a tick adds after a tick with this event-loop utilization. Pure: the table test's subject. */
export function tokensFor(utilization: number, opts: PacerOptions): number {
  if (utilization < opts.idleBelow) return opts.burst;
  if (utilization < opts.busyBelow) return Math.max(1, Math.ceil(opts.burst / 5));
  return 1;
}

interface Waiter {
  since: number;
  /** When it goes whatever the tokens (the pacer's clock). */
  overdueAt: number;
  release: () => void;
}

/** Utilization of the event loop since the previous call (0–1). */
function loopUtilization(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}

export class AnswerPacer {
  /** Tokens on hand; fractional with a replica's share (`admit` needs a whole one). */
  private tokens: number;
  private queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Answers that had to wait, and the longest wait (ms), since start: for logs and tests. */
  readonly stats = { waited: 0, longestWaitMs: 0 };

  constructor(
    private readonly opts: PacerOptions = PACER_DEFAULTS,
    private readonly utilization: () => number = loopUtilization(),
    private readonly now: () => number = () => performance.now(),
    /** This replica's share of the fleet's pace (0–1): 1 / the replicas pacing together. */
    private readonly share: () => number = () => 1,
  ) {
    this.tokens = opts.burst;
  }

  /**
   * Resolves when the answer may go (at once while tokens last), or when `signal` aborts.
   * `pollLeftMs`: how much longer the poll would have waited for a change (0 for one that
   * came with an old version).
   */
  admit(signal?: AbortSignal, pollLeftMs = 0): Promise<void> {
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens--;
      this.schedule();
      return Promise.resolve();
    }
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const since = this.now();
      const waiter: Waiter = {
        since,
        overdueAt: since + Math.max(pollLeftMs, this.opts.maxWaitMs),
        release: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.schedule();
    });
  }

  /** Answers waiting now. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Lets every waiting answer go and stops the timer (the server is closing). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const w of this.queue.splice(0)) w.release();
  }

  /** @internal One tick: add tokens by the last tick's utilization, let waiters go. */
  tick(): void {
    const share = Math.min(1, Math.max(0, this.share()));
    const capacity = Math.max(1, this.opts.burst * share);
    this.tokens = Math.min(capacity, this.tokens + tokensFor(this.utilization(), this.opts) * share);
    const now = this.now();
    // Overdue answers go whatever the tokens, wherever they are in the queue.
    if (this.queue.some((w) => now >= w.overdueAt)) {
      const overdue = this.queue.filter((w) => now >= w.overdueAt);
      this.queue = this.queue.filter((w) => now < w.overdueAt);
      for (const w of overdue) this.letGo(w, now);
    }
    while (this.queue.length > 0 && this.tokens >= 1) {
      this.tokens--;
      this.letGo(this.queue.shift() as Waiter, now);
    }
    // Idle with a full bucket: no timer (an idle server's loop stays idle).
    if (this.queue.length === 0 && this.tokens >= capacity) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private letGo(w: Waiter, now: number): void {
    this.stats.waited++;
    this.stats.longestWaitMs = Math.max(this.stats.longestWaitMs, now - w.since);
    w.release();
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    this.utilization(); // the first tick measures from here
    this.timer = setInterval(() => this.tick(), this.opts.tickMs);
    this.timer.unref();
  }
}
