/**
 * The simulation's clock, which can run faster than the wall clock: the fast-forward of
 * `edgefleet sim --fast-forward 7d`. It starts in the past (`startAt`) and runs at `speed`
 * virtual milliseconds per real one; `catchUp` runs it fast until it meets the wall clock and
 * from then on it is the wall clock, so the server and the agents that share it end in the
 * present with a week behind them: every heartbeat, upload and gate read of that week went
 * through the real code paths, only sooner. It never runs ahead of the wall clock while
 * catching up: certificates issued "in the future" would fail TLS, which checks them
 * against the wall clock.
 *
 * Everything that waits in the simulation waits on the shared `TimerPool`, which converts
 * virtual delays into real ones with {@link FastClock.realDelay}. The clock never goes back:
 * a speed change re-anchors it at its current reading.
 */
export class FastClock {
  private base: number;
  private realBase: number;
  private currentSpeed = 1;
  /** Catching up: the reading never passes the wall clock, and meeting it ends the fast run. */
  private catchingUp = false;
  private readonly listeners = new Set<() => void>();

  constructor(
    startAt: number,
    private readonly realNow: () => number = Date.now,
  ) {
    this.base = startAt;
    this.realBase = realNow();
  }

  /** Milliseconds since 1970 by this clock (the `Clock` the server and the agents take). */
  readonly now = (): number => {
    const real = this.realNow();
    const reading = Math.floor(this.base + (real - this.realBase) * this.currentSpeed);
    if (!this.catchingUp || reading < real) return reading;
    // Met the wall clock: from here on this clock is the wall clock.
    this.catchingUp = false;
    // Listeners (the pool re-arming) hear of it after this reading: now() is called from inside them.
    this.set(real, real, 1, true);
    return real;
  };

  /** Virtual milliseconds per real millisecond (1 once a catch-up has met the wall clock). */
  get speed(): number {
    this.now();
    return this.currentSpeed;
  }

  /** True while a {@link catchUp} runs. */
  get fast(): boolean {
    this.now();
    return this.catchingUp;
  }

  /** Changes the speed from now on (the reading does not jump); ends a catch-up. */
  setSpeed(speed: number): void {
    if (!(speed >= 1 && Number.isFinite(speed))) throw new RangeError(`a clock speed must be 1 or more, got ${speed}`);
    const reading = this.now();
    this.catchingUp = false;
    this.set(reading, this.realNow(), speed);
  }

  /** Runs at `speed` until the reading meets the wall clock, then as the wall clock. */
  catchUp(speed: number): void {
    this.setSpeed(speed);
    this.catchingUp = speed > 1;
  }

  private set(base: number, realBase: number, speed: number, later = false): void {
    this.base = base;
    this.realBase = realBase;
    this.currentSpeed = speed;
    const notify = (): void => {
      for (const l of this.listeners) l();
    };
    if (later) queueMicrotask(notify);
    else notify();
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
