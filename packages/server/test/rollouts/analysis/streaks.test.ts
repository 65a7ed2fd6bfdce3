import { describe, expect, it } from 'vitest';
import { type GateStreak, nextStreak } from '../../../src/rollouts/analysis/streaks.js';

const S = 1000;

describe('failing streaks', () => {
  it.each<[string, GateStreak | undefined, boolean, number, GateStreak | undefined]>([
    ['a first failing evaluation starts a streak', undefined, true, 100 * S, { failures: 1, countedAt: 100 * S }],
    ['failing again an interval later counts', { failures: 1, countedAt: 100 * S }, true, 130 * S, { failures: 2, countedAt: 130 * S }],
    [
      'failing again sooner does not count (one evaluation a second is not 30 s)',
      { failures: 1, countedAt: 100 * S },
      true,
      129 * S,
      { failures: 1, countedAt: 100 * S },
    ],
    ['not failing ends the streak', { failures: 3, countedAt: 100 * S }, false, 101 * S, undefined],
    ['not failing without a streak: none', undefined, false, 100 * S, undefined],
  ])('%s', (_name, previous, failing, now, want) => {
    expect(nextStreak(previous, failing, now, 30 * S)).toEqual(want);
  });

  it('one evaluation a second for a minute counts 3 failures with a 30 s interval', () => {
    let streak: GateStreak | undefined;
    for (let t = 0; t <= 60; t++) streak = nextStreak(streak, true, t * S, 30 * S);
    expect(streak).toEqual({ failures: 3, countedAt: 60 * S });
  });
});
