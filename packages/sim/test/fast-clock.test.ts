import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { catchUpSpeed, FastClock } from '../src/fast-clock.js';
import { TimerPool } from '../src/timers.js';
import { dailyLoad, loadSlowdown } from '../src/traffic.js';

const DAY = 86_400_000;

describe('fast clock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 10 * DAY });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts in the past, runs at its speed, and never jumps when the speed changes', () => {
    const clock = new FastClock(3 * DAY);
    expect(clock.now()).toBe(3 * DAY);
    vi.advanceTimersByTime(1000);
    expect(clock.now()).toBe(3 * DAY + 1000);
    clock.setSpeed(3600);
    expect(clock.now()).toBe(3 * DAY + 1000);
    vi.advanceTimersByTime(1000);
    expect(clock.now()).toBe(3 * DAY + 1000 + 3_600_000);
    expect(clock.realDelay(7_200_000)).toBe(2000);
    expect(() => clock.setSpeed(0.5)).toThrow(/1 or more/);
  });

  it('catches up with the wall clock in the time asked, never passes it, and then is the wall clock', async () => {
    const clock = new FastClock(10 * DAY - 7 * DAY);
    const changes: number[] = [];
    clock.onSpeedChange(() => changes.push(clock.speed));
    clock.catchUp(catchUpSpeed(clock.behind(), 60_000));
    expect(clock.fast).toBe(true);
    vi.advanceTimersByTime(30_000);
    expect(clock.behind()).toBeGreaterThan(3 * DAY);
    // Looked at late (a busy event loop): it reads the wall clock, not beyond it.
    vi.advanceTimersByTime(45_000);
    expect(clock.now()).toBe(Date.now());
    expect(clock.fast).toBe(false);
    expect(clock.speed).toBe(1);
    vi.advanceTimersByTime(5_000);
    expect(clock.now()).toBe(Date.now());
    // The pool hears of the end of the catch-up right after the reading that saw it.
    await Promise.resolve();
    expect(changes.at(-1)).toBe(1);
    expect(catchUpSpeed(0, 1000)).toBe(1);
  });

  it('wakes a pool on it at the fast deadlines, and sees a change of speed', async () => {
    const clock = new FastClock(0);
    const pool = new TimerPool({ now: clock.now, realDelay: (ms) => clock.realDelay(ms) });
    clock.onSpeedChange(() => pool.rearm());
    const woke: number[] = [];
    void pool.sleep(3_600_000).then(() => woke.push(clock.now()));
    clock.setSpeed(36_000);
    // An hour at ×36,000 is 100 ms.
    await vi.advanceTimersByTimeAsync(90);
    expect(woke).toEqual([]);
    await vi.advanceTimersByTimeAsync(20);
    expect(woke).toHaveLength(1);
    expect(woke[0]).toBeGreaterThanOrEqual(3_600_000);
    expect(woke[0]).toBeLessThan(3_600_000 + 36_000 * 20);
    // A long wait at speed 1, then faster: the pool looks again within 100 ms.
    void pool.sleep(DAY).then(() => woke.push(clock.now()));
    await vi.advanceTimersByTimeAsync(1);
    clock.setSpeed(DAY / 1000);
    await vi.advanceTimersByTimeAsync(1010);
    expect(woke).toHaveLength(2);
    pool.close();
  });
});

describe('daily load', () => {
  it.each([
    [3, 0.25],
    [9, 1],
    [15, 1.75],
    [21, 1],
  ])('at %d:00 UTC is ×%d', (hour, want) => {
    expect(dailyLoad(5 * DAY + hour * 3_600_000)).toBeCloseTo(want, 9);
  });
  it('averages ×1 over a day and slows nodes by at most 20 %', () => {
    let sum = 0;
    for (let m = 0; m < 1440; m++) sum += dailyLoad(m * 60_000);
    expect(sum / 1440).toBeCloseTo(1, 9);
    expect(loadSlowdown(0.25)).toBe(1);
    expect(loadSlowdown(1.75)).toBeCloseTo(1.2, 9);
  });
});
