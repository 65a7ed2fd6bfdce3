/**
 * Golden verdicts: fixed, seeded fleets judged by `judgeGates`, the whole judgement (result,
 * reason, every gate's verdict, estimate, interval, wording, the measured figures and the
 * streaks) compared with what the code gave when the file golden.json was recorded. A change
 * meant to make the judgement faster must leave every verdict as it was; a change meant to
 * alter verdicts records them again, on purpose:
 *
 *   npx vitest run packages/server/test/rollouts/analysis/golden.test.ts -u
 *
 * and the diff of golden.json shows which verdicts moved. The cases cover what the fast
 * paths touch: kept aggregates across evaluations (with and without node keys, a node that
 * leaves), judgements from scratch, more nodes than resampling groups, strata, cohort and
 * family units, node speed, the P50/P99 ratios and the P95 ceiling, warm-up, restarts,
 * fallbacks, errors, no baseline, and too little data.
 */
import { histogramOf, mulberry32, type RolloutGates, RolloutGatesSchema, type WorkloadStats } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { GateAggregates, type GateInput, type GateStreaks, judgeGates } from '../../../src/rollouts/gates.js';
import { DEPLOYMENT, MIN, T0 } from '../fleet.js';

interface FleetOptions {
  nodes: number;
  cohorts: number;
  /** Cohorts per family (the same hardware at other sites); default: no families. */
  familyOf?: number;
  /** Every `canaryEvery`-th node is a canary (position 0, k, 2k, …), up to `canaries`. */
  canaries: number;
  canaryEvery?: number;
  regression: number;
  /** Spread of node speeds (log σ). */
  speed?: number;
  requestsPerBeat?: number;
  beatMs?: number;
  /** Share of canary samples with a restart, canaries on CPU fallback, error rate on the new revision. */
  restartRate?: number;
  fallbackRate?: number;
  canaryErrors?: number;
  seed: number;
}

interface Fleet {
  samples: WorkloadStats[][];
  cohortOf: number[];
  cohortFamily?: number[];
  ids: string[];
}

const LOOKBACK = 15 * MIN;
const END = T0 + 12 * MIN;

function fleet(o: FleetOptions): Fleet {
  const random = mulberry32(o.seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const samples: WorkloadStats[][] = [];
  const cohortOf: number[] = [];
  const ids: string[] = [];
  const beat = o.beatMs ?? 20_000;
  const every = o.canaryEvery ?? 1;
  let canaries = 0;
  for (let p = 0; p < o.nodes; p++) {
    ids.push(`node-${p}`);
    cohortOf.push(p % o.cohorts);
    const speed = Math.exp((o.speed ?? 0) * normal());
    const isCanary = p % every === 0 && canaries < o.canaries;
    if (isCanary) canaries++;
    const switchAt = T0 + 30_000 + (p % 40) * 7_000;
    const fallback = isCanary && random() < (o.fallbackRate ?? 0);
    const list: WorkloadStats[] = [];
    let requestsOnNew = 0;
    for (let t = T0 - LOOKBACK + Math.floor(random() * beat); t < END; ) {
      const end = t + Math.round(beat * (0.9 + 0.2 * random()));
      const onNew = isCanary && t >= switchAt;
      const n = Math.max(0, Math.round((o.requestsPerBeat ?? 40) * (0.7 + 0.6 * random())));
      const slow = onNew ? o.regression : 1;
      const values = Array.from({ length: n }, () => 10 * speed * slow * Math.exp(0.2 * normal()) * (random() < 0.01 ? 4 : 1));
      const errorRate = onNew ? (o.canaryErrors ?? 0.002) : 0.002;
      let errors = 0;
      for (let i = 0; i < n; i++) if (random() < errorRate) errors++;
      list.push({
        deployment: DEPLOYMENT,
        revision: onNew ? 2 : 1,
        intervalStart: t,
        intervalEnd: end,
        requests: n,
        errors,
        restarts: onNew && random() < (o.restartRate ?? 0) ? 1 : 0,
        fallback: onNew && fallback,
        latency: histogramOf(values),
        ...(onNew ? { instanceStartedAt: switchAt, instanceRequestsBefore: requestsOnNew } : {}),
      });
      if (onNew) requestsOnNew += n;
      t = end;
    }
    samples.push(list);
  }
  const familyOf = o.familyOf;
  return {
    samples,
    cohortOf,
    ids,
    ...(familyOf === undefined ? {} : { cohortFamily: Array.from({ length: o.cohorts }, (_, c) => Math.floor(c / familyOf)) }),
  };
}

interface Case {
  fleet: FleetOptions;
  gates?: Record<string, unknown>;
  compare?: boolean;
  /** Pass node ids, so kept aggregates follow their node. */
  keys?: boolean;
  /** Position of a node that leaves the targeted set at T0 + 6 min (needs `keys`). */
  leaves?: number;
  /** Evaluations from this time on, every `every` ms, up to T0 + 12 min. */
  from?: number;
  every?: number;
}

/** A node's samples as known at `now` (the same objects every time: kept aggregates reuse them). */
const asOf = (f: Fleet, now: number): WorkloadStats[][] => f.samples.map((list) => list.filter((s) => s.intervalEnd <= now));

/** JSON as stored: what a reader of the verdict sees (no −0, no undefined fields). */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/**
 * Judges the case every `every` ms with aggregates kept between judgements, and once at the
 * end from scratch; returns the judgements at four of the times (all of them: result and
 * reason) and the one from scratch.
 */
function judge(c: Case): unknown {
  const f = fleet(c.fleet);
  const gates: RolloutGates = RolloutGatesSchema.parse({ minRequests: 200, ...c.gates });
  const aggs = new GateAggregates();
  let streaks: GateStreaks = {};
  const series: string[] = [];
  const recorded: unknown[] = [];
  const times: number[] = [];
  for (let now = c.from ?? T0 + MIN; now <= END; now += c.every ?? 30_000) times.push(now);
  const keep = new Set([times[0], times[Math.floor(times.length / 3)], times[Math.floor((2 * times.length) / 3)], times[times.length - 1]]);
  const inputAt = (now: number, s: GateStreaks, aggregates: GateAggregates): GateInput => {
    let lists: (WorkloadStats[] | undefined)[] = asOf(f, now);
    let cohortOf: number[] = f.cohortOf;
    let ids = f.ids;
    if (c.leaves !== undefined && now > T0 + 6 * MIN) {
      const gone = c.leaves;
      lists = lists.filter((_, p) => p !== gone);
      cohortOf = cohortOf.filter((_, p) => p !== gone);
      ids = ids.filter((_, p) => p !== gone);
    }
    return {
      deployment: DEPLOYMENT,
      gates,
      revision: 2,
      baselineRevision: 1,
      compareWithBaseline: c.compare ?? true,
      samples: lists,
      cohortOf,
      ...(f.cohortFamily === undefined ? {} : { cohortFamily: f.cohortFamily }),
      window: { from: T0, to: now },
      speedFrom: T0 - LOOKBACK,
      now,
      streaks: s,
      aggregates,
      ...(c.keys === true ? { nodeKeys: ids } : {}),
    };
  };
  for (const now of times) {
    const j = judgeGates(inputAt(now, streaks, aggs));
    streaks = j.streaks;
    series.push(`${(now - T0) / 1000}s ${j.evaluation.result} ${j.evaluation.reason}`);
    if (keep.has(now)) recorded.push(plain(j));
  }
  const scratch = plain(judgeGates(inputAt(END, {}, new GateAggregates())));
  return { series, judgements: recorded, scratch };
}

const CASES: Record<string, Case> = {
  'identical releases, 2 canaries of 8 in one cohort': { fleet: { nodes: 8, cohorts: 1, canaries: 2, regression: 1, seed: 1 } },
  'a 1.3× regression, speeds spread by 15 %': { fleet: { nodes: 12, cohorts: 2, canaries: 4, regression: 1.3, speed: 0.15, seed: 5 } },
  'a 2× regression with P50/P99 ratios and a P95 ceiling': {
    fleet: { nodes: 10, cohorts: 2, canaries: 3, regression: 2, seed: 3 },
    gates: { p50LatencyRatio: 1.3, p99LatencyRatio: 2, maxP95LatencyMs: 30 },
  },
  'strata with their own baseline (3 cohorts of 8 nodes)': { fleet: { nodes: 24, cohorts: 3, canaries: 6, regression: 1, requestsPerBeat: 120, seed: 4 } },
  'restarts, fallbacks and errors on the canaries': {
    fleet: { nodes: 16, cohorts: 2, canaries: 4, regression: 1, restartRate: 0.05, fallbackRate: 0.5, canaryErrors: 0.05, seed: 21 },
    gates: { maxRestarts: 1, maxFallbackRate: 0.3 },
  },
  'no baseline compared (a 100 % step)': { fleet: { nodes: 6, cohorts: 1, canaries: 6, regression: 1, seed: 7 }, compare: false },
  'too little traffic: insufficient data': { fleet: { nodes: 6, cohorts: 1, canaries: 2, regression: 1, requestsPerBeat: 2, beatMs: 60_000, seed: 22 } },
  'kept by node key, a canary leaves half way': {
    fleet: { nodes: 20, cohorts: 2, canaries: 5, canaryEvery: 3, regression: 1.3, speed: 0.1, seed: 9 },
    keys: true,
    leaves: 3,
  },
  'more canaries than resampling groups, cohorts in families': {
    fleet: { nodes: 400, cohorts: 20, familyOf: 4, canaries: 60, canaryEvery: 5, regression: 1.2, speed: 0.12, requestsPerBeat: 15, beatMs: 60_000, seed: 23 },
    keys: true,
    from: T0 + 2 * MIN,
    every: 60_000,
  },
  'a large fleet: 2,000 nodes in 40 cohorts, 10 % canaries, a P99 ratio': {
    fleet: {
      nodes: 2000,
      cohorts: 40,
      familyOf: 4,
      canaries: 200,
      canaryEvery: 10,
      regression: 1.5,
      speed: 0.12,
      requestsPerBeat: 20,
      beatMs: 60_000,
      seed: 24,
    },
    gates: { p99LatencyRatio: 1.5 },
    keys: true,
    from: T0 + 3 * MIN,
    every: 120_000,
  },
};

describe('golden verdicts (golden.json): faster judgement, the same verdicts', () => {
  it('every case judges as recorded', async () => {
    const out: Record<string, unknown> = {};
    for (const [name, c] of Object.entries(CASES)) out[name] = judge(c);
    await expect(`${JSON.stringify(out, null, 1)}\n`).toMatchFileSnapshot('./golden.json');
  });

  it('the cases judge something: passes, fails, holds for data and undecided ones', () => {
    const last = (name: string): string => ((judge(CASES[name] as Case) as { series: string[] }).series.at(-1) as string).split(' ').slice(1).join(' ');
    expect(last('identical releases, 2 canaries of 8 in one cohort')).toBe('pass GatesPassed');
    expect(last('a 2× regression with P50/P99 ratios and a P95 ceiling')).toMatch(/^fail /);
    expect(last('too little traffic: insufficient data')).toBe('hold InsufficientData');
  });
});
