/**
 * One timer for the whole simulated fleet. Thousands of agents each sleep in several loops
 * (heartbeat, desired-state poll, reconcile, telemetry), with jittered, all-different
 * delays; Node keeps one timer list per distinct duration, so the process would carry tens
 * of thousands of live timers. The pool keeps every wait in one binary heap and arms a
 * single Node timer for the earliest deadline, rounded up to `resolutionMs` so waits that
 * fall due together wake in one pass. What this buys was measured (packages/sim/bench/timers.ts);
 * it is kept small on purpose: a heap, lazy cancellation, one timer.
 */

interface Entry {
  at: number;
  seq: number;
  fire: () => void;
  /** Sleeps are resolved when the pool closes; callbacks are dropped. */
  sleep: boolean;
  cancelled: boolean;
}

/** Options of {@link TimerPool}. */
export interface TimerPoolOptions {
  /** Deadlines are rounded up to a multiple of this (default 10 ms): coalesces wake-ups. */
  resolutionMs?: number;
  /** Milliseconds clock the deadlines use (default `Date.now`, which fake timers also move). */
  now?: () => number;
  /**
   * Real milliseconds a wait of this many clock milliseconds takes (default: the same): a
   * fast clock (fast-clock.ts) runs waits sooner. With it the pool never sleeps more than
   * {@link MAX_REAL_WAIT_MS} at once, so a change of speed is seen within that.
   */
  realDelay?: (ms: number) => number;
}

/** The longest real wait of a pool on a fast clock before it looks at the clock again. */
export const MAX_REAL_WAIT_MS = 100;

/**
 * A heap of deadlines served by one `setTimeout`. `sleep` has the agent's signature, so it
 * is injected as `AgentOptions.sleep`; `schedule` is for the simulator's own events.
 */
export class TimerPool {
  private readonly heap: Entry[] = [];
  private readonly resolution: number;
  private readonly now: () => number;
  private readonly realDelay: ((ms: number) => number) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Number.POSITIVE_INFINITY;
  private seq = 0;
  private cancelled = 0;
  private closed = false;
  /** Wake-ups of the one Node timer so far (the benchmark compares this with per-wait timers). */
  wakeUps = 0;

  constructor(opts: TimerPoolOptions = {}) {
    this.resolution = Math.max(1, opts.resolutionMs ?? 10);
    this.now = opts.now ?? Date.now;
    this.realDelay = opts.realDelay;
  }

  /** Re-arms the timer now (after the clock's speed changed). */
  rearm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    this.arm();
  }

  /** Waits still pending (cancelled ones not counted). */
  get pending(): number {
    return this.heap.length - this.cancelled;
  }

  /** Runs `fn` after `delayMs`; returns a function that cancels it. */
  schedule(delayMs: number, fn: () => void): () => void {
    const entry = this.push(delayMs, fn, false);
    return () => this.cancel(entry);
  }

  /** Waits `ms`, or until `signal` aborts (resolves either way, never rejects). */
  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      if (signal?.aborted || this.closed) return resolve();
      const onAbort = (): void => {
        this.cancel(entry);
        resolve();
      };
      const entry = this.push(
        ms,
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        true,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });

  /** Stops the timer: pending sleeps resolve now, scheduled callbacks are dropped. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const entries = this.heap.splice(0);
    this.cancelled = 0;
    for (const e of entries) if (e.sleep && !e.cancelled) e.fire();
  }

  private push(delayMs: number, fire: () => void, sleep: boolean): Entry {
    const delay = Number.isFinite(delayMs) ? Math.max(0, delayMs) : 2 ** 31 - 1;
    const entry: Entry = { at: this.now() + delay, seq: this.seq++, fire, sleep, cancelled: false };
    if (this.closed) return entry;
    this.heap.push(entry);
    this.up(this.heap.length - 1);
    this.arm();
    return entry;
  }

  private cancel(entry: Entry): void {
    if (entry.cancelled) return;
    entry.cancelled = true;
    this.cancelled++;
    // Cancelled entries stay in the heap until they surface; rebuild when they dominate, so
    // loops that are woken early again and again cannot grow it without bound.
    if (this.cancelled > 1024 && this.cancelled * 2 > this.heap.length) this.compact();
  }

  private compact(): void {
    const live = this.heap.filter((e) => !e.cancelled);
    this.heap.length = 0;
    this.cancelled = 0;
    for (const e of live) {
      this.heap.push(e);
      this.up(this.heap.length - 1);
    }
  }

  private arm(): void {
    const top = this.heap[0];
    if (top === undefined || this.closed) return;
    const at = Math.ceil(top.at / this.resolution) * this.resolution;
    if (at >= this.armedAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedAt = at;
    const wait = Math.max(0, at - this.now());
    if (this.realDelay === undefined) {
      this.timer = setTimeout(() => this.run(), wait);
      return;
    }
    // On a fast clock: sleep the real equivalent, at most MAX_REAL_WAIT_MS, then look again
    // (run() takes only what is due, and re-arms for the rest).
    const full = this.realDelay(wait);
    const real = Math.min(MAX_REAL_WAIT_MS, full);
    // A capped wait wakes before `at`: an entry due before that wake-up must re-arm.
    if (real < full) this.armedAt = this.now() + (wait * real) / full;
    this.timer = setTimeout(() => this.run(), real);
  }

  private run(): void {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    this.wakeUps++;
    // Date.now and libuv's timer clock can differ by a millisecond: take what is due by then.
    const due = this.now() + 1;
    for (let top = this.heap[0]; top !== undefined && top.at <= due; top = this.heap[0]) {
      this.pop();
      if (top.cancelled) {
        this.cancelled--;
        continue;
      }
      try {
        top.fire();
      } catch {
        // A callback's failure is its own; the other waits still fire.
      }
    }
    this.arm();
  }

  private pop(): void {
    const last = this.heap.pop() as Entry;
    if (this.heap.length === 0) return;
    this.heap[0] = last;
    this.down(0);
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i] as Entry, h[parent] as Entry)) return;
      [h[i], h[parent]] = [h[parent] as Entry, h[i] as Entry];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < h.length && this.less(h[l] as Entry, h[min] as Entry)) min = l;
      if (r < h.length && this.less(h[r] as Entry, h[min] as Entry)) min = r;
      if (min === i) return;
      [h[i], h[min]] = [h[min] as Entry, h[i] as Entry];
      i = min;
    }
  }
}
