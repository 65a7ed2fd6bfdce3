import { describe, expect, it } from 'vitest';
import { DEFAULT_CADENCE, endOf, nextPlanAt, runRollout } from './rollout-run.js';
import { T0 } from './world.js';

const MIN = 60_000;
const BAKE = 10 * MIN;

describe('endOf', () => {
  it.each([
    [{ phase: 'Progressing', reason: 'Baking', stepIndex: 0 }, null],
    [{ phase: 'Holding', reason: 'InsufficientData', stepIndex: 1 }, null],
    [{ phase: 'Paused', reason: 'PausedByOperator', stepIndex: 1 }, null],
    [{ phase: 'Succeeded', reason: 'Succeeded', stepIndex: 3 }, 'succeeded'],
    [{ phase: 'RolledBack', reason: 'GateFailed', stepIndex: 0 }, 'rolled-back'],
    [{ phase: 'RolledBack', reason: 'ProgressDeadlineExceeded', stepIndex: 2 }, 'rolled-back'],
    // onFailure: pause — the release was judged bad all the same.
    [{ phase: 'Paused', reason: 'GateFailed', stepIndex: 0 }, 'rolled-back'],
  ] as const)('%o ends as %s', (state, want) => {
    expect(endOf(state, T0 + MIN, null, BAKE)?.outcome ?? null).toBe(want);
  });

  it('says whether a rollback came before step 1 bake was over', () => {
    const failed = { phase: 'RolledBack', reason: 'GateFailed', stepIndex: 0 } as const;
    const reached = T0 + 2 * MIN;
    expect(endOf(failed, reached + BAKE, reached, BAKE)?.withinFirstBake).toBe(true);
    expect(endOf(failed, reached + BAKE + 1, reached, BAKE)?.withinFirstBake).toBe(false);
    // Before step 1 was even reached.
    expect(endOf(failed, T0 + MIN, null, BAKE)?.withinFirstBake).toBe(true);
    expect(endOf({ ...failed, stepIndex: 1 }, T0 + 5 * MIN, reached, BAKE)?.withinFirstBake).toBe(false);
    expect(endOf(failed, T0 + 5 * MIN, null, BAKE)?.rolledBackAfterMs).toBe(5 * MIN);
  });
});

describe('nextPlanAt', () => {
  it.each([
    [0, 5_000],
    [60_000, 5_000],
    [10 * MIN, 30_000],
    [20 * MIN, 60_000],
    [90 * MIN, 60_000],
  ])('a gate window %s ms old gets its next pass %s ms later', (age, gap) => {
    expect(nextPlanAt(DEFAULT_CADENCE, T0 + age, T0) - (T0 + age)).toBe(gap);
  });
});

describe('runRollout', () => {
  const base = { nodes: 30, seed: 5, traffic: 'high' as const, cadence: DEFAULT_CADENCE, maxMs: 4 * 3_600_000 };

  it('is deterministic by seed', () => {
    const o = { ...base, regression: 5, stopAfterFirstBake: true };
    expect(runRollout(o)).toEqual(runRollout(o));
  });

  it('takes a release through every default step when no gate can fail, in simulated time', () => {
    const r = runRollout({ ...base, regression: 1, stopAfterFirstBake: false, strategy: { gates: { p95LatencyRatio: 1000, maxErrorRate: 1 } } });
    expect(r.outcome).toBe('succeeded');
    expect(r.step).toBe(3);
    // The bakes alone are 10 + 30 + 60 minutes.
    expect(r.simulatedMs).toBeGreaterThan(100 * MIN);
  });

  it('rolls a release five times as slow back within step 1 bake', () => {
    // Six canaries in step 1: evidence any gate design judges, whatever its minimum of canary nodes.
    const strategy = { steps: [{ percent: 20, bake: '10m' }, { percent: 100 }] };
    const r = runRollout({ ...base, regression: 5, stopAfterFirstBake: true, strategy });
    expect(r).toMatchObject({ outcome: 'rolled-back', withinFirstBake: true, step: 0 });
  });

  it('stops a detection run once step 1 bake is over', () => {
    const r = runRollout({ ...base, regression: 1, stopAfterFirstBake: true, strategy: { gates: { p95LatencyRatio: 1000, maxErrorRate: 1 } } });
    expect(r.outcome).toBe('passed-first-bake');
    expect(r.simulatedMs).toBeLessThan(30 * MIN);
  });
});
