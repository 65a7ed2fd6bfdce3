/**
 * Rollout gates: is the new revision at least as good as the previous one on comparable
 * nodes, over the same window?
 *
 * - Samples are classified by the revision they were recorded on: the new revision's are the
 *   canary side, the previous revision's the baseline side (nodes still on it, including
 *   picked nodes before they switched). Only targeted nodes count.
 * - Latency percentiles come from merged histograms, never from averaged node percentiles.
 * - The baseline is compared cohort by cohort: its histogram is re-weighted to the canaries'
 *   cohort mix — for each cohort the canaries have latency data in, that cohort's baseline
 *   histogram scaled to the canaries' count there, when the baseline has at least
 *   `minRequests` values in that cohort, else the fleet-wide baseline scaled the same way. So
 *   canaries that happen to sit at a hot site are compared with that site, and a busy hour
 *   is in both sides' window.
 * - `hold` (`InsufficientData`) when either compared side has fewer than `minRequests`
 *   requests: never `pass` without data. A gate that can already be judged on the data
 *   present (restarts and fallbacks need no traffic; error rate and the absolute P95 need
 *   only the canary side) fails even then: failing early needs no baseline.
 */
import { addDense, denseCounts, denseQuantile, type GateVerdict, HISTOGRAM_BUCKETS, type RolloutGates, type WorkloadStats } from '@edgefleet/protocol';

/** A gate by its field name under `spec.rollout.gates`. */
type GateName = 'maxRestarts' | 'maxFallbackRate' | 'maxErrorRate' | 'maxP95LatencyMs' | 'p95LatencyRatio';

/** The outcome's reason: `GatesPassed`, `InsufficientData`, or the first failed gate's. */
export type GateReason =
  | 'GatesPassed'
  | 'InsufficientData'
  | 'RestartsExceeded'
  | 'FallbackRateExceeded'
  | 'ErrorRateExceeded'
  | 'P95LatencyExceeded'
  | 'P95LatencyRatioExceeded';

const FAIL_REASON: Record<GateName, GateReason> = {
  maxRestarts: 'RestartsExceeded',
  maxFallbackRate: 'FallbackRateExceeded',
  maxErrorRate: 'ErrorRateExceeded',
  maxP95LatencyMs: 'P95LatencyExceeded',
  p95LatencyRatio: 'P95LatencyRatioExceeded',
};

/** What a gate evaluation measured (null: not measurable from the data present). */
export interface GateMeasured {
  /** Nodes with samples on the new revision in the window. */
  canaryNodes: number;
  canaryRequests: number;
  canaryErrors: number;
  errorRate: number | null;
  /** Restarts of the worst canary node in the window. */
  maxRestarts: number;
  /** Share of canary nodes that ran the CPU fallback at some point in the window. */
  fallbackRate: number | null;
  p95LatencyMs: number | null;
  baselineNodes: number;
  baselineRequests: number;
  /** The baseline's P95 re-weighted to the canaries' cohort mix. */
  baselineP95LatencyMs: number | null;
  p95LatencyRatio: number | null;
  /** Canary cohorts compared with the same cohort's baseline. */
  cohortsCompared: number;
  /** Canary cohorts compared with the fleet-wide baseline (too little baseline data in the cohort). */
  cohortsOnFleetBaseline: number;
}

/** The thresholds applied (`p95LatencyRatio` null when there is no baseline to compare with). */
export interface GateThresholds {
  minRequests: number;
  p95LatencyRatio: number | null;
  maxP95LatencyMs: number | null;
  maxErrorRate: number;
  maxRestarts: number;
  maxFallbackRate: number;
}

/** One evaluation of a step's gates. */
export interface GateEvaluation {
  result: 'pass' | 'fail' | 'hold';
  reason: GateReason;
  /** Every gate over its threshold (empty unless `fail`), in evaluation order. */
  failed: GateName[];
  /** One line for people: the measured values against the thresholds. */
  message: string;
  /** ms since the epoch. */
  evaluatedAt: number;
  /** The window the samples were taken from, ms since the epoch. */
  window: { from: number; to: number };
  measured: GateMeasured;
  thresholds: GateThresholds;
  /** Per gate: sample sizes, estimate with its interval, threshold, verdict (absent in states stored before them). */
  gates?: GateVerdict[];
}

export interface GateInput {
  deployment: string;
  gates: RolloutGates;
  /** The revision being rolled out (canary side). */
  revision: number;
  /** The previous revision (baseline side); null when there is none. */
  baselineRevision: number | null;
  /**
   * Whether to compare with the baseline (`p95LatencyRatio`, and `minRequests` on the
   * baseline side). The planner turns it off at a 100 % step, which leaves no node on the
   * previous revision to compare with, and when there is no previous revision.
   */
  compareWithBaseline: boolean;
  /**
   * Each targeted node's stats samples, by node position (`nodes.map((n) => n.stats)`);
   * samples that do not overlap the window (from, to] are ignored.
   */
  samples: ArrayLike<readonly WorkloadStats[] | undefined>;
  /** Each targeted node's cohort number, by the same position (`cohortIndex(nodes, cohortBy).of`). */
  cohortOf: ArrayLike<number>;
  window: { from: number; to: number };
  now: number;
}

/**
 * One side's counts in one cohort. Whole numbers, so 32-bit integers: half the memory of
 * doubles, which matters when 100,000 samples land in a few hundred cohorts' arrays.
 */
interface Side {
  dense: Uint32Array;
  count: number;
}

/** Evaluates a step's gates. Pure; linear in the number of nodes and samples. */
export function evaluateGates(input: GateInput): GateEvaluation {
  const { gates, window } = input;
  const compare = input.compareWithBaseline && input.baselineRevision !== null;
  const canary = new Map<number, Side>();
  const baseline = new Map<number, Side>();
  let canaryNodes = 0;
  let baselineNodes = 0;
  let fallbackNodes = 0;
  let maxRestarts = 0;
  let canaryRequests = 0;
  let canaryErrors = 0;
  let baselineRequests = 0;

  for (let p = 0; p < input.samples.length; p++) {
    const samples = input.samples[p];
    if (samples === undefined || samples.length === 0) continue;
    const cohort = input.cohortOf[p] as number;
    let isCanary = false;
    let isBaseline = false;
    let fellBack = false;
    let restarts = 0;
    for (const s of samples) {
      if (s.intervalEnd <= window.from || s.intervalStart > window.to || s.deployment !== input.deployment) continue;
      if (s.revision === input.revision) {
        isCanary = true;
        canaryRequests += s.requests;
        canaryErrors += s.errors;
        restarts += s.restarts;
        if (s.fallback) fellBack = true;
        addSample(canary, cohort, s);
      } else if (compare && s.revision === input.baselineRevision) {
        isBaseline = true;
        baselineRequests += s.requests;
        addSample(baseline, cohort, s);
      }
    }
    if (isCanary) canaryNodes++;
    if (isBaseline) baselineNodes++;
    if (fellBack) fallbackNodes++;
    if (restarts > maxRestarts) maxRestarts = restarts;
  }

  const canaryTotal = denseCounts();
  for (const side of canary.values()) addDense(canaryTotal, side.dense);
  const fallbackRate = canaryNodes > 0 ? fallbackNodes / canaryNodes : null;
  const errorRate = canaryRequests > 0 ? canaryErrors / canaryRequests : null;
  const p95 = denseQuantile(canaryTotal, 0.95) ?? null;

  // The baseline re-weighted to the canaries' cohort mix.
  let baselineP95: number | null = null;
  let cohortsCompared = 0;
  let cohortsOnFleetBaseline = 0;
  if (compare) {
    const fleet = denseCounts();
    let fleetCount = 0;
    for (const side of baseline.values()) {
      addDense(fleet, side.dense);
      fleetCount += side.count;
    }
    const weighted = denseCounts();
    for (const [cohort, side] of canary) {
      if (side.count === 0) continue;
      const base = baseline.get(cohort);
      if (base !== undefined && base.count >= gates.minRequests) {
        addDense(weighted, base.dense, side.count / base.count);
        cohortsCompared++;
      } else if (fleetCount > 0) {
        addDense(weighted, fleet, side.count / fleetCount);
        cohortsOnFleetBaseline++;
      }
    }
    baselineP95 = denseQuantile(weighted, 0.95) ?? null;
  }
  const ratio = p95 !== null && baselineP95 !== null && baselineP95 > 0 ? p95 / baselineP95 : null;

  const measured: GateMeasured = {
    canaryNodes,
    canaryRequests,
    canaryErrors,
    errorRate,
    maxRestarts,
    fallbackRate,
    p95LatencyMs: p95,
    baselineNodes,
    baselineRequests,
    baselineP95LatencyMs: baselineP95,
    p95LatencyRatio: ratio,
    cohortsCompared,
    cohortsOnFleetBaseline,
  };
  const thresholds: GateThresholds = {
    minRequests: gates.minRequests,
    p95LatencyRatio: compare ? gates.p95LatencyRatio : null,
    maxP95LatencyMs: gates.maxP95LatencyMs ?? null,
    maxErrorRate: gates.maxErrorRate,
    maxRestarts: gates.maxRestarts,
    maxFallbackRate: gates.maxFallbackRate,
  };

  const enoughCanary = canaryRequests >= gates.minRequests;
  const enoughBaseline = !compare || baselineRequests >= gates.minRequests;
  const failed: GateName[] = [];
  if (canaryNodes > 0 && maxRestarts > gates.maxRestarts) failed.push('maxRestarts');
  if (fallbackRate !== null && fallbackRate > gates.maxFallbackRate) failed.push('maxFallbackRate');
  if (enoughCanary && errorRate !== null && errorRate > gates.maxErrorRate) failed.push('maxErrorRate');
  if (enoughCanary && p95 !== null && gates.maxP95LatencyMs !== undefined && p95 > gates.maxP95LatencyMs) failed.push('maxP95LatencyMs');
  if (compare && enoughCanary && enoughBaseline && ratio !== null && ratio > gates.p95LatencyRatio) failed.push('p95LatencyRatio');
  // With requests but no latency values (every request failed, say) the latency gates cannot be judged.
  const latencyKnown = p95 !== null && (!compare || baselineP95 !== null);

  const base = { evaluatedAt: input.now, window: { ...window }, measured, thresholds };
  const rev = input.revision;
  const brev = input.baselineRevision;
  if (failed.length > 0) {
    const first = failed[0] as GateName;
    return {
      result: 'fail',
      reason: FAIL_REASON[first],
      failed,
      message: failed.map((g) => failMessage(g, measured, thresholds, rev, brev)).join('; '),
      ...base,
    };
  }
  if (!enoughCanary || !enoughBaseline || !latencyKnown) {
    const parts: string[] = [];
    if (!enoughCanary) parts.push(`${canaryRequests} requests on revision ${rev} (need ${gates.minRequests})`);
    if (!enoughBaseline) parts.push(`${baselineRequests} requests on baseline revision ${brev} (need ${gates.minRequests})`);
    if (enoughCanary && enoughBaseline) parts.push('no latency recorded on a compared side');
    return { result: 'hold', reason: 'InsufficientData', failed: [], message: `insufficient data: ${parts.join(', ')}`, ...base };
  }
  return { result: 'pass', reason: 'GatesPassed', failed: [], message: passMessage(measured, thresholds, rev, brev), ...base };
}

function addSample(sides: Map<number, Side>, cohort: number, s: WorkloadStats): void {
  let side = sides.get(cohort);
  if (side === undefined) {
    side = { dense: new Uint32Array(HISTOGRAM_BUCKETS), count: 0 };
    sides.set(cohort, side);
  }
  // addToDense, counting as it goes: this loop runs once per sample.
  const dense = side.dense;
  const { offset, counts } = s.latency;
  let n = 0;
  for (let j = 0; j < counts.length; j++) {
    const c = counts[j] as number;
    dense[offset + j] = (dense[offset + j] as number) + c;
    n += c;
  }
  side.count += n;
}

const ms = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(1)} ms`);
const pct = (v: number | null): string => (v === null ? 'n/a' : `${(v * 100).toFixed(2).replace(/\.?0+$/, '')} %`);

function failMessage(g: GateName, m: GateMeasured, t: GateThresholds, rev: number, brev: number | null): string {
  switch (g) {
    case 'maxRestarts':
      return `maxRestarts: a node restarted revision ${rev} ${m.maxRestarts} times (limit ${t.maxRestarts})`;
    case 'maxFallbackRate':
      return `maxFallbackRate: ${pct(m.fallbackRate)} of ${m.canaryNodes} nodes on revision ${rev} ran the CPU fallback (limit ${pct(t.maxFallbackRate)})`;
    case 'maxErrorRate':
      return `maxErrorRate: ${pct(m.errorRate)} of ${m.canaryRequests} requests failed on revision ${rev} (limit ${pct(t.maxErrorRate)})`;
    case 'maxP95LatencyMs':
      return `maxP95LatencyMs: P95 ${ms(m.p95LatencyMs)} on revision ${rev} (limit ${ms(t.maxP95LatencyMs)})`;
    case 'p95LatencyRatio':
      return `p95LatencyRatio: P95 ${ms(m.p95LatencyMs)} on revision ${rev} is ${m.p95LatencyRatio?.toFixed(2)} × baseline revision ${brev}'s ${ms(m.baselineP95LatencyMs)} (limit ${t.p95LatencyRatio})`;
  }
}

function passMessage(m: GateMeasured, t: GateThresholds, rev: number, brev: number | null): string {
  const parts = [`P95 ${ms(m.p95LatencyMs)} on revision ${rev}`];
  if (t.p95LatencyRatio !== null)
    parts.push(`baseline revision ${brev} ${ms(m.baselineP95LatencyMs)} (ratio ${m.p95LatencyRatio?.toFixed(2)} ≤ ${t.p95LatencyRatio})`);
  parts.push(
    `errors ${pct(m.errorRate)} ≤ ${pct(t.maxErrorRate)}`,
    `restarts ${m.maxRestarts} ≤ ${t.maxRestarts}`,
    `fallback ${pct(m.fallbackRate)} ≤ ${pct(t.maxFallbackRate)}`,
  );
  return `gates passed over ${m.canaryRequests} requests on ${m.canaryNodes} nodes: ${parts.join(', ')}`;
}
