/**
 * The simulation's clock, which can run faster than the wall clock: the fast-forward of
 * `edgefleet sim --fast-forward 7d`. It starts in the past (`startAt`) and runs at `speed`
 * virtual milliseconds per real one; `fastForward` runs it fast until it has caught up with
 * the wall clock, then at speed 1, so the server and the agents that share it end in the
 * present with a week behind them: every heartbeat, upload and gate read of that week went
 * through the real code paths, only sooner.
 *
 * Everything that waits in the simulation waits on the shared `TimerPool`, which converts
 * virtual delays into real ones with {@link FastClock.realDelay}. The clock never goes back:
 * a speed change re-anchors it at its current reading.
 */
export class FastClock {
  private base: number;
  private realBase: number;
  private currentSpeed = 1;
  private readonly listeners = new Set<() => void>();

  constructor(
    startAt: number,
    private readonly realNow: () => number = Date.now,
  ) {
    this.base = startAt;
    this.realBase = realNow();
  }

  /** Milliseconds since 1970 by this clock (the `Clock` the server and the agents take). */
  readonly now = (): number => Math.floor(this.base + (this.realNow() - this.realBase) * this.currentSpeed);

  /** Virtual milliseconds per real millisecond. */
  get speed(): number {
    return this.currentSpeed;
  }

  /** Changes the speed from now on (the reading does not jump). */
  setSpeed(speed: number): void {
    if (!(speed >= 1 && Number.isFinite(speed))) throw new RangeError(`a clock speed must be 1 or more, got ${speed}`);
    this.base = this.now();
    this.realBase = this.realNow();
    this.currentSpeed = speed;
    for (const l of this.listeners) l();
  }

  /** How long, in real milliseconds, a wait of `virtualMs` takes at the current speed. */
  realDelay(virtualMs: number): number {
    return virtualMs / this.currentSpeed;
  }

  /** How far behind the wall clock this clock is (ms; 0 once caught up). */
  behind(): number {
    return Math.max(0, this.realNow() - this.now());
  }

  /** Calls `listener` after each speed change (the pool re-arms its timer); returns the unsubscribe. */
  onSpeedChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The speed that makes a clock `behindMs` behind the wall clock catch up in `realMs` (at least 1). */
export function catchUpSpeed(behindMs: number, realMs: number): number {
  // Virtual time gains (speed − 1) ms on the wall clock per real ms.
  return Math.max(1, 1 + behindMs / Math.max(1, realMs));
}
