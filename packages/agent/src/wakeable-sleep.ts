/**
 * A loop's wait that news can cut short: the heartbeat waits its interval unless workloads
 * changed, the reconciler its interval unless a download ended. One per loop.
 */
export class WakeableSleep {
  private wakeCurrent: () => void = () => {};

  constructor(private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>) {}

  /** Waits `ms`, or less when `signal` aborts or {@link wake} is called. Never rejects. */
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    // A stop that came while the loop was busy (its 'abort' event already fired) must not
    // leave it asleep: at the retry cap that is minutes, and the agent would not stop.
    if (signal.aborted) return;
    const early = new AbortController();
    const onAbort = (): void => early.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.wakeCurrent = () => early.abort();
    try {
      await this.sleep(ms, early.signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Ends the current wait at once (nothing when no wait is running). */
  wake(): void {
    this.wakeCurrent();
  }
}
