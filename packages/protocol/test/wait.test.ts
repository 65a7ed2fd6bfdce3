import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/wait.js';

// [attempt, random, full, equal, none] with base 1 s, cap 30 s.
const cases: [number, number, number, number, number][] = [
  [-3, 0.5, 500, 750, 1_000],
  [0, 0, 0, 500, 1_000],
  [0, 0.999, 999, 1_000, 1_000],
  [1, 0.5, 1_000, 1_500, 2_000],
  [3, 0.25, 2_000, 5_000, 8_000],
  [5, 0.5, 15_000, 22_500, 30_000],
  [40, 0, 0, 15_000, 30_000],
  [1_000, 0.999, 29_970, 29_985, 30_000],
];

describe('backoffDelay', () => {
  it.each(cases)('attempt %d, draw %d: full %d, equal %d, none %d', (attempt, draw, full, equal, none) => {
    const opts = { baseMs: 1_000, capMs: 30_000, random: () => draw };
    expect(backoffDelay(attempt, opts)).toBe(full);
    expect(backoffDelay(attempt, { ...opts, jitter: 'full' })).toBe(full);
    expect(backoffDelay(attempt, { ...opts, jitter: 'equal' })).toBe(equal);
    expect(backoffDelay(attempt, { ...opts, jitter: 'none' })).toBe(none);
  });

  it('never draws without jitter', () => {
    const random = () => {
      throw new Error('drew a random number');
    };
    expect(backoffDelay(2, { random, jitter: 'none' })).toBe(4_000);
  });
});
