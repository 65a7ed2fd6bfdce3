import { histogramOf, mulberry32, type RolloutGates, RolloutGatesSchema, type WorkloadStats } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { emptyMerged, GateAggregates, mergeInto, speedsFromAggregates } from '../../../src/rollouts/analysis/aggregates.js';
import { MIN_SPEED_SPAN_MS, nodeSpeeds } from '../../../src/rollouts/analysis/speed.js';
import { type GateInput, type GateStreaks, judgeGates } from '../../../src/rollouts/gates.js';
import { DEPLOYMENT, MIN, T0 } from '../fleet.js';

/** A fleet's samples over time, seeded: heartbeats that don't line up with slots, canaries that switch and warm up. */
interface World {
  /** Each node's samples in time order. */
  samples: WorkloadStats[][];
  cohortOf: number[];
}

interface WorldOptions {
  nodes: number;
  cohorts: number;
  canaries: number;
  regression: number;
  /** Spread of node speeds (log σ). */
  speed?: number;
  requestsPerBeat?: number;
  beatMs?: number;
  seed: number;
}

const LOOKBACK = 15 * MIN;

function world(o: WorldOptions): World {
  const random = mulberry32(o.seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const samples: WorkloadStats[][] = [];
  const cohortOf: number[] = [];
  const beat = o.beatMs ?? 20_000;
  for (let p = 0; p < o.nodes; p++) {
    cohortOf.push(p % o.cohorts);
    const speed = Math.exp((o.speed ?? 0) * normal());
    const isCanary = p < o.canaries;
    const switchAt = T0 + 30_000 + p * 7_000;
    const list: WorkloadStats[] = [];
    let requestsOnNew = 0;
    for (let t = T0 - LOOKBACK + Math.floor(random() * beat); t < T0 + 20 * MIN; ) {
      const end = t + Math.round(beat * (0.9 + 0.2 * random()));
      const onNew = isCanary && t >= switchAt;
      const n = Math.max(0, Math.round((o.requestsPerBeat ?? 40) * (0.7 + 0.6 * random())));
      const slow = onNew ? o.regression : 1;
      const values = Array.from({ length: n }, () => 10 * speed * slow * Math.exp(0.2 * normal()) * (random() < 0.01 ? 4 : 1));
      list.push({
        deployment: DEPLOYMENT,
        revision: onNew ? 2 : 1,
        intervalStart: t,
        intervalEnd: end,
        requests: n,
        errors: random() < 0.05 ? 1 : 0,
        restarts: 0,
        fallback: false,
        latency: histogramOf(values),
        ...(onNew ? { instanceStartedAt: switchAt, instanceRequestsBefore: requestsOnNew } : {}),
      });
      if (onNew) requestsOnNew += n;
      t = end;
    }
    samples.push(list);
  }
  return { samples, cohortOf };
}

const GATES: RolloutGates = RolloutGatesSchema.parse({ minRequests: 200 });

function gateInput(w: World, now: number, lists: (WorkloadStats[] | undefined)[], o: { gates?: RolloutGates; compare?: boolean } = {}): GateInput {
  return {
    deployment: DEPLOYMENT,
    gates: o.gates ?? GATES,
    revision: 2,
    baselineRevision: 1,
    compareWithBaseline: o.compare ?? true,
    samples: lists,
    cohortOf: w.cohortOf,
    window: { from: T0, to: now },
    speedFrom: T0 - LOOKBACK,
    now,
  };
}

/** Each node's samples as known at `now`: those that ended by then (the same objects every time). */
const asOf = (w: World, now: number): WorkloadStats[][] => w.samples.map((list) => list.filter((s) => s.intervalEnd <= now));

/**
 * Evaluates every 10 s for 12 minutes twice: with aggregates kept between evaluations, and
 * from scratch each time; returns both series and how many samples the kept ones read.
 */
function both(
  w: World,
  o: { gates?: RolloutGates; compare?: boolean; lists?: (now: number) => (WorkloadStats[] | undefined)[] } = {},
): { kept: unknown[]; scratch: unknown[]; read: number; total: number } {
  const kept: unknown[] = [];
  const scratch: unknown[] = [];
  const aggs = new GateAggregates();
  let streaksKept: GateStreaks = {};
  let streaksScratch: GateStreaks = {};
  let read = 0;
  let total = 0;
  for (let now = T0 + 10_000; now <= T0 + 12 * MIN; now += 10_000) {
    const lists = o.lists?.(now) ?? asOf(w, now);
    const a = judgeGates({ ...gateInput(w, now, lists, o), streaks: streaksKept, aggregates: aggs });
    read += aggs.lastRead;
    const b = judgeGates({ ...gateInput(w, now, lists, o), streaks: streaksScratch, aggregates: new GateAggregates() });
    for (const l of lists) total += l?.length ?? 0;
    streaksKept = a.streaks;
    streaksScratch = b.streaks;
    kept.push(a);
    scratch.push(b);
  }
  return { kept, scratch, read, total };
}

describe('gate aggregates: kept between evaluations, the same verdicts as from scratch', () => {
  const P = RolloutGatesSchema.parse({ minRequests: 200, p50LatencyRatio: 1.3, p99LatencyRatio: 2, maxP95LatencyMs: 30 });
  it.each<[string, WorldOptions, { gates?: RolloutGates; compare?: boolean }]>([
    ['identical releases, 2 canaries of 8 in one cohort', { nodes: 8, cohorts: 1, canaries: 2, regression: 1, seed: 1 }, {}],
    ['a 1.3× regression', { nodes: 8, cohorts: 1, canaries: 2, regression: 1.3, seed: 2 }, {}],
    ['a 2× regression, P50/P99 ratios and a P95 ceiling', { nodes: 10, cohorts: 2, canaries: 3, regression: 2, seed: 3 }, { gates: P }],
    ['strata with their own baseline (3 cohorts of 8 nodes)', { nodes: 24, cohorts: 3, canaries: 6, regression: 1, requestsPerBeat: 120, seed: 4 }, {}],
    ['node speeds spread by 15 %, adjusted from the lookback', { nodes: 12, cohorts: 2, canaries: 4, regression: 1.3, speed: 0.15, seed: 5 }, {}],
    ['one-minute heartbeats, low traffic', { nodes: 8, cohorts: 1, canaries: 2, regression: 1, beatMs: 60_000, requestsPerBeat: 30, seed: 6 }, {}],
    ['no baseline compared (a 100 % step)', { nodes: 6, cohorts: 1, canaries: 6, regression: 1, seed: 7 }, { compare: false }],
    ['more canaries than resampling groups (40 of 60)', { nodes: 60, cohorts: 4, canaries: 40, regression: 1.3, requestsPerBeat: 10, seed: 8 }, {}],
  ])('%s', (_name, wo, o) => {
    const w = world(wo);
    const { kept, scratch, read, total } = both(w, o);
    expect(kept).toEqual(scratch);
    // Kept aggregates read each sample once; from scratch reads all of them every time.
    const samples = w.samples.reduce((n, l) => n + l.filter((s) => s.intervalEnd <= T0 + 12 * MIN).length, 0);
    expect(read).toBe(samples);
    expect(total).toBeGreaterThan(20 * samples);
  });

  it('verdicts are not all alike (the cases judge something)', () => {
    const aa = both(world({ nodes: 8, cohorts: 1, canaries: 2, regression: 1, seed: 1 })).kept.at(-1) as { evaluation: { result: string } };
    const ab = both(world({ nodes: 10, cohorts: 2, canaries: 3, regression: 2, seed: 3 })).kept.at(-1) as { evaluation: { result: string } };
    expect(aa.evaluation.result).toBe('pass');
    expect(ab.evaluation.result).toBe('fail');
  });

  it.each<[string, (w: World) => (now: number) => (WorkloadStats[] | undefined)[]]>([
    [
      'a canary leaves the targeted nodes half way (the span shrinks)',
      (w) => (now) => asOf(w, now).map((l, p) => (p === 0 && now > T0 + 6 * MIN ? undefined : l)),
    ],
    ['a list loaded anew: new objects with the same content', (w) => (now) => asOf(w, now).map((l) => (now % 20_000 === 0 ? l.map((s) => ({ ...s })) : l))],
    [
      'a sample replaced in the middle',
      (w) => (now) =>
        asOf(w, now).map((l) => (now > T0 + 8 * MIN && l.length > 10 ? [...l.slice(0, 5), { ...(l[5] as WorkloadStats), errors: 3 }, ...l.slice(6)] : l)),
    ],
    [
      'a node clock ahead: a sample from the future, then the present',
      (w) => (now) =>
        asOf(w, now).map((l, p) => {
          if (p !== 3 || l.length < 4) return l;
          const ahead = { ...(l[l.length - 1] as WorkloadStats), intervalStart: now + 5_000, intervalEnd: now + 25_000 };
          return [...l.slice(0, -1), ahead, l[l.length - 1] as WorkloadStats];
        }),
    ],
    ['baseline-only lists at first, canaries later', (w) => (now) => asOf(w, now).map((l) => (now < T0 + 3 * MIN ? l.filter((s) => s.revision === 1) : l))],
  ])('%s', (_name, lists) => {
    const w = world({ nodes: 10, cohorts: 2, canaries: 3, regression: 1.3, speed: 0.1, seed: 9 });
    const { kept, scratch } = both(w, { lists: lists(w) });
    expect(kept).toEqual(scratch);
  });
});

describe('gate aggregates: node speed from the aggregates equals the per-sample estimate', () => {
  it.each<[string, WorldOptions, number]>([
    ['8 nodes, 2 canaries', { nodes: 8, cohorts: 1, canaries: 2, regression: 1, speed: 0.15, seed: 11 }, T0 + 5 * MIN],
    ['12 nodes in 3 cohorts, cut at the switch mid-slot', { nodes: 12, cohorts: 3, canaries: 5, regression: 1.3, speed: 0.12, seed: 12 }, T0 + 10 * MIN],
    ['one-minute heartbeats', { nodes: 9, cohorts: 1, canaries: 3, regression: 1, speed: 0.2, beatMs: 60_000, seed: 13 }, T0 + 8 * MIN],
  ])('%s', (_name, wo, now) => {
    const w = world(wo);
    const lists = asOf(w, now);
    const nodes = new Map<number, number>();
    for (let p = 0; p < wo.canaries; p++) nodes.set(p, T0 + 30_000 + p * 7_000);
    for (let p = wo.canaries; p < wo.nodes; p++) nodes.set(p, T0 + 30_000 + (wo.canaries - 1) * 7_000);
    const warmup = { requests: 50, ms: 30_000 };
    const aggs = new GateAggregates();
    // Read in three steps, as evaluations would.
    for (const t of [now - 4 * MIN, now - 2 * MIN, now])
      aggs.update(
        { deployment: DEPLOYMENT, revision: 2, baselineRevision: 1, compare: true, windowFrom: T0, speedFrom: T0 - LOOKBACK, warmup, slotMs: MIN },
        lists.map((l) => l.filter((s) => s.intervalEnd <= t)),
        t,
      );
    const fromAggregates = speedsFromAggregates(aggs, w.cohortOf, nodes, 200, MIN_SPEED_SPAN_MS);
    const perSample = nodeSpeeds({
      deployment: DEPLOYMENT,
      baselineRevision: 1,
      samples: lists,
      cohortOf: w.cohortOf,
      from: T0 - LOOKBACK,
      to: now,
      nodes,
      slotMs: MIN,
      warmup,
      minRequests: 200,
    });
    expect(fromAggregates).toEqual(perSample);
    expect(perSample.shift.size).toBeGreaterThan(0);
  });
});

describe('mergeInto', () => {
  it.each<[string, [number, number[]][], number, number[]]>([
    ['one histogram', [[5, [1, 2, 3]]], 5, [1, 2, 3]],
    [
      'grows left and right',
      [
        [5, [1, 2]],
        [3, [1]],
        [8, [4]],
      ],
      3,
      [1, 0, 1, 2, 0, 4],
    ],
    ['leading and trailing zeros are not copied', [[5, [0, 0, 2, 0]]], 7, [2]],
  ])('%s', (_name, hs, offset, counts) => {
    const m = emptyMerged();
    for (const [o, c] of hs) mergeInto(m, { v: 1, offset: o, counts: c });
    expect(m.offset).toBe(offset);
    expect(m.counts).toEqual(counts);
  });

  it('subtracting what was added leaves zeros', () => {
    const m = emptyMerged();
    mergeInto(m, { v: 1, offset: 4, counts: [1, 2] });
    mergeInto(m, { v: 1, offset: 6, counts: [3] });
    mergeInto(m, { v: 1, offset: 6, counts: [3] }, -1);
    expect(m.counts).toEqual([1, 2, 0]);
  });
});
