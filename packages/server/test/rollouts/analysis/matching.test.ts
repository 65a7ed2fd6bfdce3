import { describe, expect, it } from 'vitest';
import { type Entry, MIN_UNIT_NODES, weighBaseline } from '../../../src/rollouts/analysis/matching.js';
import { MIN, sample, T0 } from '../fleet.js';

/** Node positions: cohorts by position (0, 1 → cohort 0; 2, 3 → cohort 1; 4 → cohort 2). */
const COHORT_OF = [0, 0, 1, 1, 2];

/** An analysed sample of node `p` in minute `m` with `n` latency values. */
function at(p: number, m: number, n: number): Entry {
  const s = sample(`n${p}`, 1, { requests: n, start: T0 + m * MIN, end: T0 + (m + 1) * MIN });
  return { p, slot: Math.floor((s.intervalStart + s.intervalEnd) / 2 / MIN), samples: 1, n, requests: s.requests, errors: s.errors, latency: s.latency };
}

/** The re-weighting arithmetic, with one baseline node enough for a unit. */
function weigh(canary: Entry[], baseline: Entry[], minValues = 100) {
  return weighBaseline(canary, baseline, COHORT_OF, MIN, T0, minValues, undefined, 1);
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

  it('a minute with too little baseline in its cohort is compared with the same hardware elsewhere in that minute, before the cohort’s other minutes', () => {
    // Cohorts 0 and 1 are one family (the same hardware at two sites). Minute 1 of cohort 0
    // has 50 baseline values: the family's minute 1 (node 1's 50 and node 3's 200) serves it,
    // not cohort 0's every minute — a burst in minute 1 then weighs on both sides alike.
    const canary = [at(0, 0, 100), at(0, 1, 100)];
    const baseline = [at(1, 0, 400), at(1, 1, 50), at(3, 1, 200)];
    const m = weighBaseline(canary, baseline, COHORT_OF, MIN, T0, 100, [0, 0, 1], 1);
    expect(Array.from(m.weights).map((w) => Number(w.toFixed(6)))).toEqual([0.25, 0.4, 0.4]);
    expect(Array.from(m.level).sort()).toEqual([0, 1]);
    expect({ compared: m.cohortsCompared, onFleet: m.cohortsOnFleetBaseline }).toEqual({ compared: 1, onFleet: 0 });
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

  describe('units need baseline nodes, not only values', () => {
    // Ten nodes: positions 0–2 at site A with hailo8l (cohort 0), 3–5 at site B hailo8l
    // (cohort 1), 6–7 at site C hailo8l (cohort 2), 8–9 at site A coral (cohort 3).
    const cohortOf = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3];
    // Families: hailo8l cohorts 0, 1, 2 → family 0; coral cohort 3 → family 1.
    const family = [0, 0, 0, 1];
    const weighN = (canary: Entry[], baseline: Entry[]) => weighBaseline(canary, baseline, cohortOf, MIN, T0, 100, family);
    const unitsOf = (m: ReturnType<typeof weighN>) => Array.from(m.weights).map((w) => Number(w.toFixed(6)));

    it(`values alone are not enough: a cohort with fewer than ${MIN_UNIT_NODES} baseline nodes uses its family`, () => {
      const m = weighN([at(0, 0, 300)], [at(1, 0, 100), at(2, 0, 100), at(3, 0, 100), at(4, 0, 100), at(5, 0, 100)]);
      expect(m.units).toBe(1);
      // Cohort 0 has nodes 1 and 2 on the baseline (200 values): the hailo8l family's 500 serve.
      expect(unitsOf(m)).toEqual([0.6, 0.6, 0.6, 0.6, 0.6]);
      expect({ compared: m.cohortsCompared, onFleet: m.cohortsOnFleetBaseline }).toEqual({ compared: 1, onFleet: 0 });
    });

    it('a cohort whose baseline is two nodes is compared with the same hardware at other sites, never with other accelerators', () => {
      // Canary at C (cohort 2, hailo8l); C's baseline is one node with plenty of values.
      const m = weighN([at(6, 0, 200)], [at(7, 0, 5000), at(3, 0, 100), at(4, 0, 100), at(8, 0, 5000), at(9, 0, 5000)]);
      // Family hailo8l: nodes 7, 3, 4 (5200 values); the coral nodes weigh nothing.
      expect(unitsOf(m)).toEqual([200 / 5200, 200 / 5200, 200 / 5200, 0, 0].map((w) => Number(w.toFixed(6))));
    });

    it('a cohort with enough nodes of its own keeps its own baseline', () => {
      const m = weighN([at(3, 0, 300)], [at(4, 0, 100), at(5, 0, 100), at(3, 0, 100), at(0, 0, 1000)]);
      expect(unitsOf(m)).toEqual([1, 1, 1, 0]);
    });

    it('a family too small falls back to the fleet', () => {
      const m = weighN([at(8, 0, 300)], [at(9, 0, 1000), at(0, 0, 100), at(1, 0, 100)]);
      expect({ compared: m.cohortsCompared, onFleet: m.cohortsOnFleetBaseline }).toEqual({ compared: 0, onFleet: 1 });
      expect(unitsOf(m)).toEqual([0.25, 0.25, 0.25]);
    });
  });
});
