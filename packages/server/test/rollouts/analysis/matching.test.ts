import { describe, expect, it } from 'vitest';
import { type Entry, weighBaseline } from '../../../src/rollouts/analysis/matching.js';
import { MIN, sample, T0 } from '../fleet.js';

/** Node positions: cohorts by position (0, 1 → cohort 0; 2, 3 → cohort 1; 4 → cohort 2). */
const COHORT_OF = [0, 0, 1, 1, 2];

/** An analysed sample of node `p` in minute `m` with `n` latency values. */
function at(p: number, m: number, n: number): Entry {
  return { p, s: sample(`n${p}`, 1, { requests: n, start: T0 + m * MIN, end: T0 + (m + 1) * MIN }), n };
}

function weigh(canary: Entry[], baseline: Entry[], minValues = 100) {
  return weighBaseline(canary, baseline, COHORT_OF, MIN, T0, minValues);
}

describe('matching: the baseline re-weighted to the canaries mix', () => {
  it.each<[string, Entry[], Entry[], number[], { compared: number; onFleet: number }]>([
    ['same stratum: scaled to the canaries count there', [at(0, 0, 300)], [at(1, 0, 600)], [0.5], { compared: 1, onFleet: 0 }],
    ['two slots, each compared with its own minute', [at(0, 0, 100), at(0, 1, 300)], [at(1, 0, 400), at(1, 1, 100)], [0.25, 3], { compared: 1, onFleet: 0 }],
    [
      'a minute with too little baseline falls back to the cohort (every minute of it)',
      [at(0, 0, 100), at(0, 1, 100)],
      [at(1, 0, 400), at(1, 1, 50)],
      // minute 0: its stratum (100/400); minute 1: the cohort's 450 values (100/450) — on both samples.
      [0.25 + 100 / 450, 100 / 450],
      { compared: 1, onFleet: 0 },
    ],
    [
      'a cohort with too little baseline falls back to the fleet',
      [at(4, 0, 200)],
      [at(1, 0, 300), at(3, 0, 100)],
      [200 / 400, 200 / 400],
      { compared: 0, onFleet: 1 },
    ],
    ['baseline of cohorts the canaries are not in weighs nothing', [at(0, 0, 200)], [at(1, 0, 200), at(2, 0, 5000)], [1, 0], { compared: 1, onFleet: 0 }],
  ])('%s', (_name, canary, baseline, weights, counts) => {
    const m = weigh(canary, baseline);
    expect(Array.from(m.weights).map((w) => Number(w.toFixed(6)))).toEqual(weights.map((w) => Number(w.toFixed(6))));
    expect({ compared: m.cohortsCompared, onFleet: m.cohortsOnFleetBaseline }).toEqual(counts);
  });

  it('each unit is scaled to exactly the canaries values it serves', () => {
    const canary = [at(0, 0, 120), at(2, 0, 80), at(4, 0, 30)];
    const baseline = [at(1, 0, 500), at(3, 0, 40), at(3, 1, 90)];
    const m = weigh(canary, baseline);
    let weighted = 0;
    baseline.forEach((e, i) => {
      weighted += (m.weights[i] as number) * e.n;
    });
    expect(weighted).toBeCloseTo(120 + 80 + 30, 9);
    expect(Array.from(m.target).reduce((a, b) => a + b, 0)).toBe(230);
  });

  it('no baseline: nothing to compare with', () => {
    const m = weigh([at(0, 0, 300)], []);
    expect(m.units).toBe(0);
    expect(Array.from(m.canaryUnit)).toEqual([-1]);
  });
});
