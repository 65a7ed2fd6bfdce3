import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimerPool } from '../src/timers.js';

describe('pooled timer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('wakes sleepers at their deadline (rounded up to its resolution), in deadline order', async () => {
    const pool = new TimerPool({ resolutionMs: 10 });
    const woke: string[] = [];
    void pool.sleep(300).then(() => woke.push('300'));
    void pool.sleep(100).then(() => woke.push('100'));
    void pool.sleep(205).then(() => woke.push('205'));
    await vi.advanceTimersByTimeAsync(99);
    expect(woke).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(woke).toEqual(['100']);
    // 205 is rounded up to the next 10 ms slot.
    await vi.advanceTimersByTimeAsync(109);
    expect(woke).toEqual(['100']);
    await vi.advanceTimersByTimeAsync(1);
    expect(woke).toEqual(['100', '205']);
    await vi.advanceTimersByTimeAsync(90);
    expect(woke).toEqual(['100', '205', '300']);
    expect(pool.pending).toBe(0);
  });

  it('arms a single Node timer however many wait', async () => {
    const pool = new TimerPool({ resolutionMs: 10 });
    const before = vi.getTimerCount();
    for (let i = 0; i < 5_000; i++) void pool.sleep(1_000 + (i % 97));
    expect(vi.getTimerCount() - before).toBe(1);
    expect(pool.pending).toBe(5_000);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(pool.pending).toBe(0);
    // Waits that fall in the same 10 ms slot wake together: 10 slots, not 97 wake-ups.
    expect(pool.wakeUps).toBeLessThanOrEqual(11);
  });

  it('ends a sleep early when its signal aborts, and forgets it', async () => {
    const pool = new TimerPool();
    const ac = new AbortController();
    let woke = false;
    void pool.sleep(60_000, ac.signal).then(() => {
      woke = true;
    });
    await vi.advanceTimersByTimeAsync(10);
    ac.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(woke).toBe(true);
    expect(pool.pending).toBe(0);
    // An already-aborted signal resolves at once.
    await expect(pool.sleep(60_000, ac.signal)).resolves.toBeUndefined();
  });

  it('runs scheduled callbacks unless cancelled; a throwing one does not stop the others', async () => {
    const pool = new TimerPool();
    const ran: number[] = [];
    pool.schedule(50, () => {
      throw new Error('boom');
    });
    pool.schedule(50, () => ran.push(1));
    const cancel = pool.schedule(60, () => ran.push(2));
    pool.schedule(70, () => ran.push(3));
    cancel();
    await vi.advanceTimersByTimeAsync(100);
    expect(ran).toEqual([1, 3]);
  });

  it('keeps its heap small when loops are woken early again and again', async () => {
    const pool = new TimerPool();
    for (let i = 0; i < 5_000; i++) {
      const ac = new AbortController();
      void pool.sleep(3_600_000, ac.signal);
      ac.abort();
    }
    expect(pool.pending).toBe(0);
    expect((pool as unknown as { heap: unknown[] }).heap.length).toBeLessThan(2_100);
  });

  it('resolves pending sleeps and drops callbacks when closed', async () => {
    const pool = new TimerPool();
    let slept = false;
    let called = false;
    void pool.sleep(10_000).then(() => {
      slept = true;
    });
    pool.schedule(10_000, () => {
      called = true;
    });
    pool.close();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(slept).toBe(true);
    expect(called).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});
