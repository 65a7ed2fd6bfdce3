import { describe, expect, it } from 'vitest';
import { LogSampler } from '../../../src/telemetry/logs/sample.js';

function sampler(opts: { ratePerSecond?: number; burst?: number } = {}): { s: LogSampler; clock: { now: number } } {
  const clock = { now: 1_700_000_000_000 };
  return { s: new LogSampler({ ...opts, clock: () => clock.now }), clock };
}

function admitted(s: LogSampler, n: number, level: 'debug' | 'info' | 'warn' | 'error', source = 'detector', stream = 'stdout'): number {
  let kept = 0;
  for (let i = 0; i < n; i++) if (s.admit(source, stream, level)) kept++;
  return kept;
}

describe('LogSampler', () => {
  it('keeps every warning and error, however many arrive at once', () => {
    const { s } = sampler({ ratePerSecond: 1, burst: 1 });
    expect(admitted(s, 10_000, 'error')).toBe(10_000);
    expect(admitted(s, 10_000, 'warn')).toBe(10_000);
    expect(s.drainSuppressed()).toEqual([]);
  });

  it('lets a burst of info lines through, then suppresses and counts the rest exactly', () => {
    const { s } = sampler({ ratePerSecond: 5, burst: 50 });
    expect(admitted(s, 120, 'info')).toBe(50);
    expect(admitted(s, 30, 'debug')).toBe(0);
    expect(s.drainSuppressed()).toEqual([{ source: 'detector', stream: 'stdout', count: 100 }]);
    // Drained means reset.
    expect(s.drainSuppressed()).toEqual([]);
    expect(s.suppressedTotal).toBe(100);
  });

  it('refills at the configured rate, up to the burst and no further', () => {
    const { s, clock } = sampler({ ratePerSecond: 5, burst: 50 });
    admitted(s, 50, 'info');
    clock.now += 1_000;
    expect(admitted(s, 20, 'info')).toBe(5);
    clock.now += 200;
    expect(admitted(s, 20, 'info')).toBe(1);
    clock.now += 3_600_000; // an hour of quiet refills the burst, not 18,000 lines
    expect(admitted(s, 100, 'info')).toBe(50);
  });

  it('keeps a bucket per source and stream', () => {
    const { s } = sampler({ ratePerSecond: 1, burst: 2 });
    expect(admitted(s, 5, 'info', 'detector', 'stdout')).toBe(2);
    expect(admitted(s, 5, 'info', 'detector', 'stderr')).toBe(2);
    expect(admitted(s, 5, 'info', 'classifier', 'stdout')).toBe(2);
    expect(s.drainSuppressed()).toEqual([
      { source: 'detector', stream: 'stdout', count: 3 },
      { source: 'detector', stream: 'stderr', count: 3 },
      { source: 'classifier', stream: 'stdout', count: 3 },
    ]);
  });

  it('does not let warnings spend the tokens of the info lines around them', () => {
    const { s } = sampler({ ratePerSecond: 1, burst: 3 });
    admitted(s, 100, 'error');
    expect(admitted(s, 5, 'info')).toBe(3);
  });

  it('neither refills nor fails when the clock steps back', () => {
    const { s, clock } = sampler({ ratePerSecond: 10, burst: 2 });
    admitted(s, 2, 'info');
    clock.now -= 60_000;
    expect(admitted(s, 3, 'info')).toBe(0);
    clock.now += 60_000 + 100; // 100 ms after the last refill: one token
    expect(admitted(s, 3, 'info')).toBe(1);
  });

  it('refuses a configuration that makes no sense, saying what to set', () => {
    expect(() => new LogSampler({ ratePerSecond: -1 })).toThrow(/rate -1 .*≥ 0/);
    expect(() => new LogSampler({ burst: 0 })).toThrow(/burst 0 must be at least 1/);
  });
});
