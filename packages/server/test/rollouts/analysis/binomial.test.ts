import { describe, expect, it } from 'vitest';
import { binomialAtLeast, binomialAtMost, logGamma, normalQuantile, wilsonInterval } from '../../../src/rollouts/analysis/binomial.js';

describe('binomial tails: exact values', () => {
  // Reference values summed exactly with rational arithmetic.
  it.each<[string, () => number, number]>([
    ['P(X ≥ 1 | 10, 0.1) = 1 − 0.9^10', () => binomialAtLeast(1, 10, 0.1), 0.6513215599],
    ['P(X ≤ 0 | 300, 0.01) = 0.99^300', () => binomialAtMost(0, 300, 0.01), 0.049040894071285854],
    ['P(X ≥ 6 | 300, 0.01)', () => binomialAtLeast(6, 300, 0.01), 0.08290356328426086],
    ['P(X ≤ 3 | 300, 0.01)', () => binomialAtMost(3, 300, 0.01), 0.64723377464254],
    ['P(X ≥ 60 | 3000, 0.01)', () => binomialAtLeast(60, 3000, 0.01), 7.951970880722257e-7],
    ['P(X ≤ 6 | 3000, 0.01)', () => binomialAtMost(6, 3000, 0.01), 1.0640781263527458e-7],
    ['P(X ≥ 5 | 20, 0.5)', () => binomialAtLeast(5, 20, 0.5), 0.9940910339355469],
  ])('%s', (_name, f, want) => {
    expect(f()).toBeCloseTo(want, 9);
    expect(Math.abs(f() - want) / want).toBeLessThan(1e-8);
  });

  it.each<[string, number, number]>([
    ['k = 0: always', binomialAtLeast(0, 50, 0.3), 1],
    ['k > n: never', binomialAtLeast(51, 50, 0.3), 0],
    ['p = 0: no success', binomialAtLeast(1, 50, 0), 0],
    ['p = 1: all successes', binomialAtMost(49, 50, 1), 0],
    ['k = n: everything', binomialAtMost(50, 50, 0.3), 1],
  ])('edge: %s', (_name, got, want) => {
    expect(got).toBe(want);
  });

  it('ln Γ matches factorials', () => {
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(11)).toBeCloseTo(Math.log(3628800), 10);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
  });

  it('normal quantiles', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 8);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306167813, 7);
    expect(() => normalQuantile(1)).toThrow(/strictly between 0 and 1/);
  });
});

describe('Wilson interval', () => {
  it.each<[number, number, number, number]>([
    [0, 300, 0, 0.012642971224546034],
    [6, 300, 0.009197631557703614, 0.04293962081786058],
    [50, 100, 0.4038315303659956, 0.5961684696340044],
  ])('%i of %i at 95 %%', (k, n, low, high) => {
    const i = wilsonInterval(k, n, 0.95);
    expect(i?.low).toBeCloseTo(low, 9);
    expect(i?.high).toBeCloseTo(high, 9);
  });

  it('no trials: no interval', () => {
    expect(wilsonInterval(0, 0, 0.95)).toBeNull();
  });
});
