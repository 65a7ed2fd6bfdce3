import { describe, expect, it } from 'vitest';
import { isWarmup } from '../../../src/rollouts/analysis/warmup.js';
import { MIN, sample, T0 } from '../fleet.js';

const RULE = { requests: 50, ms: 30_000 };

describe('warm-up', () => {
  it.each<[string, Parameters<typeof sample>[2], boolean]>([
    ['an old agent without the fields: warm', {}, false],
    ['started long before, many requests before: warm', { instanceStartedAt: T0 - 10 * MIN, instanceRequestsBefore: 5000 }, false],
    ['started within the interval: warm-up', { instanceStartedAt: T0 + 10_000, instanceRequestsBefore: 0 }, true],
    ['interval starts 20 s after the start: warm-up (straddles the 30 s)', { instanceStartedAt: T0 - 20_000, instanceRequestsBefore: 500 }, true],
    ['interval starts exactly 30 s after the start: warm', { instanceStartedAt: T0 - 30_000, instanceRequestsBefore: 500 }, false],
    ['old enough but only 49 requests before: warm-up', { instanceStartedAt: T0 - 10 * MIN, instanceRequestsBefore: 49 }, true],
    ['old enough and exactly 50 requests before: warm', { instanceStartedAt: T0 - 10 * MIN, instanceRequestsBefore: 50 }, false],
    ['a start time without a request count counts 0 requests: warm-up', { instanceStartedAt: T0 - 10 * MIN }, true],
  ])('%s', (_name, o, want) => {
    expect(isWarmup(sample('n1', 2, o), RULE)).toBe(want);
  });

  it('no warm-up configured: only the start itself', () => {
    expect(isWarmup(sample('n1', 2, { instanceStartedAt: T0, instanceRequestsBefore: 0 }), { requests: 0, ms: 0 })).toBe(false);
  });
});
