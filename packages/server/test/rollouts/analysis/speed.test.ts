import { HISTOGRAM_BUCKETS, HISTOGRAM_GAMMA, type LatencyHistogram, type WorkloadStats } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { nodeSpeeds, type SpeedInput, shiftHistogram } from '../../../src/rollouts/analysis/speed.js';
import { DEPLOYMENT, MIN, sample, T0 } from '../fleet.js';

/** Buckets of a speed factor. */
const buckets = (factor: number): number => Math.round(Math.log(factor) / Math.log(HISTOGRAM_GAMMA));

describe('shiftHistogram', () => {
  const h: LatencyHistogram = { v: 1, offset: 100, counts: [1, 2, 3] };
  it.each<[string, number, LatencyHistogram]>([
    ['no shift: the same histogram', 0, h],
    ['slower by 10 buckets: the run moves, counts shared', 10, { v: 1, offset: 110, counts: h.counts }],
    ['faster by 100 buckets: to the first bucket', -100, { v: 1, offset: 0, counts: [1, 2, 3] }],
    ['faster past the first bucket: the pushed counts land in it', -101, { v: 1, offset: 0, counts: [3, 3] }],
    ['slower past the last bucket: the pushed counts land in it', HISTOGRAM_BUCKETS - 102, { v: 1, offset: HISTOGRAM_BUCKETS - 2, counts: [1, 5] }],
  ])('%s', (_name, k, want) => {
    expect(shiftHistogram(h, k)).toEqual(want);
  });

  it('shares the counts when nothing is pushed past an end (shifting costs no copy)', () => {
    expect(shiftHistogram(h, -5).counts).toBe(h.counts);
    expect(shiftHistogram({ v: 1, offset: 0, counts: [] }, 5)).toEqual({ v: 1, offset: 0, counts: [] });
  });
});

describe('nodeSpeeds', () => {
  const minute = (m: number) => ({ start: T0 + m * MIN, end: T0 + (m + 1) * MIN });
  /** Per-minute samples on revision 1 at `ms` (a function of the minute), 100 requests each. */
  const series = (id: string, minutes: number[], ms: (m: number) => number, o: Parameters<typeof sample>[2] = {}): WorkloadStats[] =>
    minutes.map((m) => sample(id, 1, { ...minute(m), ms: ms(m), ...o }));
  const M = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const speedsOf = (byNode: WorkloadStats[][], nodes: Map<number, number>, o: Partial<SpeedInput> = {}) =>
    nodeSpeeds({
      deployment: DEPLOYMENT,
      baselineRevision: 1,
      samples: byNode,
      cohortOf: o.cohortOf ?? byNode.map(() => 0),
      from: T0,
      to: T0 + 10 * MIN,
      nodes,
      slotMs: MIN,
      warmup: { requests: 50, ms: 30_000 },
      minRequests: 200,
      ...o,
    });

  it('a node 1.4× slower than the others over the same minutes', () => {
    const s = speedsOf([series('c1', M, () => 28), series('b1', M, () => 20), series('b2', M, () => 20)], new Map([[0, T0 + 5 * MIN]]));
    expect(s.shift.get(0)).toBe(buckets(1.4));
    expect(s.unadjusted).toBe(0);
  });

  it('load that drifts over the fleet cancels: compared minute by minute, not with the others at other times', () => {
    // Everyone twice as slow from minute 4; the node reports only then, the others throughout.
    const load = (m: number) => (m >= 4 ? 2 : 1);
    const s = speedsOf(
      [series('c1', [4, 5, 6, 7, 8], (m) => 20 * load(m)), series('b1', M, (m) => 20 * load(m)), series('b2', M, (m) => 20 * load(m))],
      new Map([[0, T0 + 10 * MIN]]),
    );
    expect(s.shift.get(0)).toBe(0);
  });

  it('only samples that ended by the node’s switch count: the old instance’s last minutes share the CPU with the new one', () => {
    const s = speedsOf([series('c1', M, (m) => (m >= 6 ? 40 : 20)), series('b1', M, () => 20)], new Map([[0, T0 + 6 * MIN]]));
    expect(s.shift.get(0)).toBe(0);
  });

  it('a speed needs MIN_SPEED_SPAN_MS of the node’s time: four minutes of 1,000 requests are not enough', () => {
    const s = speedsOf([series('c1', [0, 1, 2, 3], () => 30, { requests: 1000 }), series('b1', M, () => 20)], new Map([[0, T0 + 10 * MIN]]));
    expect(s.shift.has(0)).toBe(false);
    expect(s.unadjusted).toBe(1);
  });

  it('warm-up samples do not count', () => {
    const cold = { instanceStartedAt: T0, instanceRequestsBefore: 0 };
    const s = speedsOf([series('c1', M, () => 20, cold), series('b1', M, () => 20)], new Map([[0, T0 + 5 * MIN]]));
    expect(s.shift.has(0)).toBe(false);
    expect(s.unadjusted).toBe(1);
  });

  it.each<[string, WorkloadStats[][], number[], number | undefined]>([
    ['compared with its cohort when the cohort has enough', [series('c1', M, () => 30), series('b1', M, () => 20), series('b2', M, () => 30)], [0, 1, 0], 0],
    [
      'unadjusted when its cohort has no one else: never against the fleet (another cohort may be another accelerator)',
      [series('c1', M, () => 30), series('b1', M, () => 20), series('b2', M, () => 20)],
      [0, 1, 1],
      undefined,
    ],
    ['unadjusted with fewer than minRequests of its own', [series('c1', [0], () => 30), series('b1', M, () => 20)], [0, 0], undefined],
    ['unadjusted with fewer than minRequests on the others', [series('c1', M, () => 30), series('b1', [0], () => 20)], [0, 0], undefined],
    ['unadjusted when alone in the fleet', [series('c1', M, () => 30)], [0], undefined],
  ])('%s', (_name, byNode, cohortOf, want) => {
    const s = speedsOf(byNode, new Map([[0, T0 + 5 * MIN]]), { cohortOf });
    expect(s.shift.get(0)).toBe(want);
    expect(s.unadjusted).toBe(want === undefined ? 1 : 0);
  });

  it('samples of other revisions, of other deployments and before `from` do not count', () => {
    const others = [
      ...series('c1', M, () => 60, { deployment: 'other' }),
      ...M.map((m) => sample('c1', 2, { ...minute(m), ms: 60 })),
      sample('c1', 1, { start: T0 - 2 * MIN, end: T0, ms: 60, requests: 1000 }),
    ];
    const s = speedsOf([[...series('c1', M, () => 20), ...others], series('b1', M, () => 20)], new Map([[0, T0 + 5 * MIN]]));
    expect(s.shift.get(0)).toBe(0);
  });
});
