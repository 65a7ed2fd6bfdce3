/**
 * A clock the test moves by hand, with the simulator's `schedule` and `sleep` shapes, so
 * lifecycle and link tests assert what happens at which simulated time without waiting.
 */
export class ManualClock {
  now = 0;
  private tasks: Array<{ at: number; seq: number; fn: () => void; cancelled: boolean }> = [];
  private seq = 0;

  readonly clock = (): number => this.now;

  readonly schedule = (ms: number, fn: () => void): (() => void) => {
    const task = { at: this.now + ms, seq: this.seq++, fn, cancelled: false };
    this.tasks.push(task);
    return () => {
      task.cancelled = true;
    };
  };

  /** Resolves after `ms` of simulated time (or at once when `signal` aborts). */
  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const cancel = this.schedule(ms, resolve);
      signal?.addEventListener(
        'abort',
        () => {
          cancel();
          resolve();
        },
        { once: true },
      );
    });

  /** Moves time forward, running every task that falls due, in order; lets promises settle. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      const due = this.tasks.filter((t) => !t.cancelled && t.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.now = due.at;
      due.cancelled = true;
      due.fn();
      await new Promise((r) => setImmediate(r));
    }
    this.now = until;
    this.tasks = this.tasks.filter((t) => !t.cancelled);
    await new Promise((r) => setImmediate(r));
  }

  /** Tasks not yet run. */
  get pending(): number {
    return this.tasks.filter((t) => !t.cancelled).length;
  }
}

/** A deterministic stand-in for `Math.random`: the given values, in turn. */
export function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}
