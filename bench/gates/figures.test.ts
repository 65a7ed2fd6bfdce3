import { describe, expect, it } from 'vitest';
import { benchFigures, detectedInFirstBake, median, type RunSummary, wilson } from './figures.js';

const ok: RunSummary = { outcome: 'succeeded', rolledBackAfterMs: null, withinFirstBake: false };
const passedBake: RunSummary = { outcome: 'passed-first-bake', rolledBackAfterMs: null, withinFirstBake: false };
const unfinished: RunSummary = { outcome: 'unfinished', rolledBackAfterMs: null, withinFirstBake: false };
const rolled = (s: number, withinFirstBake = true): RunSummary => ({ outcome: 'rolled-back', rolledBackAfterMs: s * 1000, withinFirstBake });

describe('benchFigures', () => {
  it('counts every rolled-back A/A run as false, a 1.3× caught at any step, a 2× only within step 1 bake', () => {
    const f = benchFigures(
      [ok, ok, rolled(300, false), unfinished],
      [rolled(100), rolled(2000, false), ok, passedBake],
      [rolled(60), rolled(90), rolled(900, false), passedBake],
    );
    expect(f).toEqual({ runs: 4, falseRollbackRate: 0.25, detection1_3x: 0.5, detection2x: 0.5, medianSecondsToDetect2x: 75 });
  });

  it('has no median time when no 2× run was caught', () => {
    expect(benchFigures([ok], [ok], [passedBake]).medianSecondsToDetect2x).toBeNull();
  });

  it.each([
    [rolled(10), true],
    [rolled(10, false), false],
    [ok, false],
    [passedBake, false],
  ] as const)('detectedInFirstBake(%o) is %s', (r, want) => {
    expect(detectedInFirstBake(r)).toBe(want);
  });
});

describe('median and wilson', () => {
  it.each([
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[7], 7],
  ])('median of %o is %s', (values, want) => {
    expect(median(values)).toBe(want);
  });

  it('gives a 95 % interval around a share that narrows with runs', () => {
    const small = wilson(0, 100);
    expect(small.low).toBe(0);
    expect(small.high).toBeCloseTo(0.037, 3);
    const big = wilson(5, 1000);
    expect(big.low).toBeLessThan(0.005);
    expect(big.high).toBeGreaterThan(0.005);
    expect(big.high - big.low).toBeLessThan(small.high - small.low);
  });
});
