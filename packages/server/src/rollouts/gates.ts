/**
 * Rollout gates: is the new revision at least as good as the previous one on comparable
 * nodes, over the same minutes — established with confidence, not read off two point
 * estimates? (docs/GATES.md explains it for operators.)
 *
 * - Samples are classified by the revision they were recorded on: the new revision's are the
 *   canary side, the previous revision's the baseline side (nodes still on it, including
 *   picked nodes before they switched). Only targeted nodes count.
 * - Warm-up (`analysis/warmup.ts`): a new instance's first seconds and requests are left out
 *   of latency and error analysis on both sides. Restarts and fallbacks count from the start.
 * - Matching: baseline samples count only where they overlap the span of the analysed canary
 *   samples, and the baseline is re-weighted to the canaries' mix by stratum — cohort × time
 *   slot (the sample's midpoint in slots of max(60 s, `gates.interval`)) — falling back to
 *   the family × slot, the cohort, the family, then the fleet-wide baseline, when a pool has
 *   fewer than `minRequests` baseline values (`analysis/matching.ts`).
 * - Node speed (`analysis/speed.ts`): each node's speed on the baseline revision before the
 *   canaries switched (from the window and a lookback before it), against the other nodes
 *   of its cohort's family (the same hardware at every site) in the same time slots; the
 *   ratio gates see every adjusted node's histograms shifted by −its speed, so each canary
 *   is compared with itself. The absolute ceiling and `measured` stay latency as served.
 * - Hardware levels (`analysis/levels.ts`): each accelerator family's histograms are moved,
 *   on both sides alike, to one level, so the ratio gates read quantiles of one law rather
 *   than of a mixture of kinds ten times apart.
 * - Latency gates (P50/P95/P99 ratios, `maxP95LatencyMs`): a seeded two-stage Poisson
 *   bootstrap over per-node histograms (`analysis/bootstrap.ts`) gives percentile intervals
 *   of the ratio and of the difference in ms. A ratio gate fails when both lower ends are
 *   over the threshold and the noise floor (`minLatencyDeltaMs`); it passes when the ratio's
 *   upper end is within the threshold or the difference's is within the floor.
 * - Error rate: exact one-sided binomial tests against baseline rate + `maxErrorRate`.
 * - Restarts and fallback rate: compared with their limits directly.
 * - A gate with fewer than `minRequests` analysed requests on a side it needs is
 *   `insufficient-data`; the evaluation never passes without data.
 * - A step fails only when a gate fails `failureThreshold` evaluations in a row, at least
 *   `gates.interval` apart (`analysis/streaks.ts`); until then the evaluation holds.
 *
 * - Incremental (`analysis/aggregates.ts`): samples are aggregated per node and time slot as
 *   they arrive, kept between evaluations of a window; an evaluation reads only new samples.
 *   Kept or rebuilt from scratch, the aggregates give the same evaluation.
 *
 * Deterministic: the bootstrap is seeded from deployment, revision and evaluation time.
 */
import {
  denseQuantile,
  type GateMeasured,
  type GateName,
  type GateReason,
  type GateThresholds,
  type GateVerdict,
  parseDuration,
  type RolloutGates,
  type WorkloadStats,
} from '@edgefleet/protocol';
import { assemble, GateAggregates, speedsFromUntil } from './analysis/aggregates.js';
import { binomialAtLeast, binomialAtMost, wilsonInterval } from './analysis/binomial.js';
import { analysisRange, bootstrapQuantiles, percentileInterval, type QuantileReplicates } from './analysis/bootstrap.js';
import { familyShifts } from './analysis/levels.js';
import { baselineGroupsOf, canaryGroupsOf, countNodes, type Entry, weighBaseline } from './analysis/matching.js';
import { MIN_SPEED_SPAN_MS, type NodeSpeeds, shiftHistogram } from './analysis/speed.js';
import { type GateStreaks, nextStreak } from './analysis/streaks.js';
import type { WarmupRule } from './analysis/warmup.js';
import { stableHash } from './cohorts.js';

export type { GateMeasured, GateName, GateReason, GateThresholds, GateVerdict } from '@edgefleet/protocol';
export { SPEED_LOOKBACK_MS } from './analysis/speed.js';
export type { GateStreak, GateStreaks } from './analysis/streaks.js';

/** Bootstrap replicates per evaluation. */
export const BOOTSTRAP_REPLICATES = 200;

/** Slots of at least a minute for matching in time (report intervals are about that long). */
const MIN_SLOT_MS = 60_000;

/** Gates in the order they are judged and reported. */
const GATE_ORDER: readonly GateName[] = [
  'maxRestarts',
  'maxFallbackRate',
  'maxErrorRate',
  'maxP95LatencyMs',
  'p50LatencyRatio',
  'p95LatencyRatio',
  'p99LatencyRatio',
];

const FAIL_REASON: Record<GateName, GateReason> = {
  maxRestarts: 'RestartsExceeded',
  maxFallbackRate: 'FallbackRateExceeded',
  maxErrorRate: 'ErrorRateExceeded',
  maxP95LatencyMs: 'P95LatencyExceeded',
  p50LatencyRatio: 'P50LatencyRatioExceeded',
  p95LatencyRatio: 'P95LatencyRatioExceeded',
  p99LatencyRatio: 'P99LatencyRatioExceeded',
};

const RATIO_QUANTILE = { p50LatencyRatio: 0.5, p95LatencyRatio: 0.95, p99LatencyRatio: 0.99 } as const;
type RatioGate = keyof typeof RATIO_QUANTILE;
const RATIO_LABEL: Record<RatioGate, string> = { p50LatencyRatio: 'P50', p95LatencyRatio: 'P95', p99LatencyRatio: 'P99' };

/** One evaluation of a step's gates. */
export interface GateEvaluation {
  result: 'pass' | 'fail' | 'hold';
  /** `GatesPassed`; `InsufficientData` or `Undecided` for a hold; the first failed gate's reason for a fail. */
  reason: GateReason;
  /** The gates whose streak reached `failureThreshold` (empty unless `fail`), in evaluation order. */
  failed: GateName[];
  /** One line for people summarising the verdicts. */
  message: string;
  /** ms since the epoch. */
  evaluatedAt: number;
  /** The window the samples were taken from, ms since the epoch. */
  window: { from: number; to: number };
  measured: GateMeasured;
  thresholds: GateThresholds;
  /** One verdict per configured gate (states stored before them read back with none). */
  gates: GateVerdict[];
}

/** An evaluation with each gate's failing streak after it (to persist for the next one). */
export interface GateJudgement {
  evaluation: GateEvaluation;
  streaks: GateStreaks;
}

export interface GateInput {
  deployment: string;
  gates: RolloutGates;
  /** The revision being rolled out (canary side). */
  revision: number;
  /** The previous revision (baseline side); null when there is none. */
  baselineRevision: number | null;
  /**
   * Whether to compare with the baseline (the ratio gates, the baseline's error rate, and
   * `minRequests` on the baseline side). The planner turns it off at a 100 % step, which
   * leaves no node on the previous revision to compare with, and when there is no previous
   * revision.
   */
  compareWithBaseline: boolean;
  /**
   * Each targeted node's stats samples, by node position (`nodes.map((n) => n.stats)`);
   * samples that do not overlap the window (from, to] are ignored.
   */
  samples: ArrayLike<readonly WorkloadStats[] | undefined>;
  /** Each targeted node's cohort number, by the same position (`cohortIndex(nodes, cohortBy).of`). */
  cohortOf: ArrayLike<number>;
  /**
   * Each cohort number's family (`cohortFamilies`: the same hardware at every site), the
   * baseline a cohort is compared with when its own has too few nodes; default: none.
   */
  cohortFamily?: ArrayLike<number>;
  window: { from: number; to: number };
  /**
   * Samples from here to `window.from` (a lookback before the window, `SPEED_LOOKBACK_MS`)
   * are read only to estimate each node's speed on the baseline revision before the
   * canaries switched (`analysis/speed.ts`), never analysed. Default `window.from`: only
   * the window's samples from before each switch.
   */
  speedFrom?: number;
  now: number;
  /** Each gate's failing streak before this evaluation (none: every streak starts now). */
  streaks?: GateStreaks;
  /** `gates.warmup.duration` and `gates.interval` in ms (default: parsed from `gates`). */
  warmupMs?: number;
  intervalMs?: number;
  /**
   * Aggregates of this window kept from earlier evaluations (`analysis/aggregates.ts`);
   * default: the module's own, one per deployment and revision. A fresh `GateAggregates`
   * evaluates from scratch — with the same result.
   */
  aggregates?: GateAggregates;
  /**
   * Each position's node id: kept aggregates then follow their node when positions shift
   * (a node joined or left). Default: aggregates belong to positions.
   */
  nodeKeys?: ArrayLike<string>;
}

export { GateAggregates } from './analysis/aggregates.js';

/** Evaluates a step's gates (see the file header). */
export function evaluateGates(input: GateInput): GateEvaluation {
  return judgeGates(input).evaluation;
}

/** Evaluates a step's gates and returns each gate's streak after it. Pure and deterministic. */
export function judgeGates(input: GateInput): GateJudgement {
  const { gates, window } = input;
  const compare = input.compareWithBaseline && input.baselineRevision !== null;
  const warmup: WarmupRule = { requests: gates.warmup.requests, ms: input.warmupMs ?? parseDuration(gates.warmup.duration, 'gates.warmup.duration') };
  const intervalMs = input.intervalMs ?? parseDuration(gates.interval, 'gates.interval');

  // 1. Classify samples, leave warm-up out, and aggregate by node and time slot: read only
  // what arrived since the last evaluation of this window (`analysis/aggregates.ts`).
  const slotMs = Math.max(MIN_SLOT_MS, intervalMs);
  const aggs = input.aggregates ?? cachedAggregates(input.deployment, input.revision);
  aggs.update(
    {
      deployment: input.deployment,
      revision: input.revision,
      baselineRevision: input.baselineRevision,
      compare,
      windowFrom: window.from,
      speedFrom: Math.min(input.speedFrom ?? window.from, window.from),
      warmup,
      slotMs,
    },
    input.samples,
    window.to,
    input.nodeKeys,
  );
  const data = assemble(aggs, input.samples, window);
  const { canaryNodes, warmingNodes, fallbackNodes, maxRestarts, warmupRequests, switchedAt, canary, baseline } = data;

  // 2. The baseline is matched in time (`assemble`): only samples overlapping the analysed canaries' span.
  const spanFrom = data.spanFrom;

  // 3. Strata and the baseline's weights.
  const strata = weighBaseline(canary, baseline, input.cohortOf, slotMs, spanFrom, gates.minRequests, input.cohortFamily);

  let canaryRequests = 0;
  let canaryErrors = 0;
  for (const e of canary) {
    canaryRequests += e.requests;
    canaryErrors += e.errors;
  }
  let baselineRequests = 0;
  let baselineWeightedRequests = 0;
  let baselineWeightedErrors = 0;
  let baselineErrors = 0;
  baseline.forEach((e, i) => {
    const w = strata.weights[i] as number;
    baselineRequests += e.requests;
    baselineErrors += e.errors;
    baselineWeightedRequests += w * e.requests;
    baselineWeightedErrors += w * e.errors;
  });
  // Each node's family (the same hardware at every site), by position: what speeds are
  // measured against (3b) and what is moved to one level (3c).
  const family = input.cohortFamily;
  const familyByNode = family === undefined ? input.cohortOf : Int32Array.from(input.cohortOf, (c) => family[c] as number);
  const familyOf = (p: number): number => familyByNode[p] as number;
  // 3b. Node speed (analysis/speed.ts): every node's histograms shifted by −its speed on the
  // baseline revision before the canaries switched, on both sides, so the ratios compare
  // each canary node with itself and neither side's quantiles carry the spread of speeds.
  const speeds = compare && input.baselineRevision !== null ? speedsOf(aggs, input, familyByNode, window, switchedAt, baseline) : null;
  const adjusted = speeds === null ? 0 : [...switchedAt.keys()].filter((p) => speeds.shift.has(p)).length;
  const speed = (p: number): number => (speeds === null ? 0 : (speeds.shift.get(p) ?? 0));
  // 3c. Hardware levels (analysis/levels.ts): every accelerator family moved to one level on
  // both sides, so the quantiles are read from one law instead of a mixture of kinds.
  const levels = compare ? familyShifts(canary, baseline, familyOf, speed, gates.minRequests) : { shifts: new Map<number, number>(), families: 0 };
  const unshifted = (speeds === null || speeds.shift.size === 0) && levels.shifts.size === 0;
  const by = (p: number): number => speed(p) + (levels.shifts.get(familyOf(p)) ?? 0);
  const canaryHist = (p: number) => data.canaryHist.get(p);
  const shiftedCanary = (p: number) => {
    const h = data.canaryHist.get(p);
    const k = by(p);
    return h === undefined || k === 0 ? h : shiftHistogram(h, -k);
  };
  const pieces = (p: number) => data.baselinePieces.get(p) ?? [];
  const shiftedPieces = (p: number) => {
    const k = by(p);
    return k === 0 ? pieces(p) : pieces(p).map((h) => shiftHistogram(h, -k));
  };
  const shiftedBaseline = unshifted
    ? baseline
    : baseline.map((e) => {
        const k = by(e.p);
        return k === 0 ? e : { ...e, latency: shiftHistogram(e.latency, -k) };
      });
  const canaryGroups = canaryGroupsOf(canary, strata, unshifted ? canaryHist : shiftedCanary);
  const baselineGroups = baselineGroupsOf(shiftedBaseline, strata, unshifted ? pieces : shiftedPieces);
  const canaryDense = canaryGroups.dense();
  const baselineDense = baselineGroups.dense((u) => strata.scale[u] as number);
  // As served (the absolute ceiling, `measured`): not speed-adjusted.
  const rawGroups = unshifted ? canaryGroups : canaryGroupsOf(canary, strata, canaryHist);
  const rawDense = unshifted ? canaryDense : rawGroups.dense();
  const rawBaselineDense = unshifted ? baselineDense : baselineGroupsOf(baseline, strata, pieces).dense((u) => strata.scale[u] as number);
  const canaryNodesAnalysed = countNodes(canary);
  const baselineNodes = countNodes(baseline);

  const p95 = denseQuantile(rawDense, 0.95) ?? null;
  const baselineP95 = compare ? (denseQuantile(rawBaselineDense, 0.95) ?? null) : null;
  const enoughCanary = canaryRequests >= gates.minRequests;
  const enoughBaseline = !compare || baselineRequests >= gates.minRequests;

  // 4. The latency bootstrap, once for every latency gate.
  const ratioGates = (['p50LatencyRatio', 'p95LatencyRatio', 'p99LatencyRatio'] as const).filter((g) => compare && gates[g] !== undefined);
  const qs = [...new Set([...ratioGates.map((g) => RATIO_QUANTILE[g]), ...(gates.maxP95LatencyMs !== undefined ? [0.95] : [])])].sort((a, b) => a - b);
  // The baseline side only when the ratio gates can be judged; the absolute ceiling needs the canaries alone.
  const withBaseline = ratioGates.length > 0 && enoughBaseline && baselineP95 !== null;
  let replicates: QuantileReplicates | null = null;
  let rawReplicates: QuantileReplicates | null = null;
  if (qs.length > 0 && enoughCanary && p95 !== null && (withBaseline || gates.maxP95LatencyMs !== undefined)) {
    const seed = stableHash(`${input.deployment}\u0000${input.revision}\u0000${input.now}`) % 4294967296;
    replicates = bootstrapQuantiles(
      canaryGroups.build(analysisRange(canaryDense, qs, canaryGroups.groups)),
      withBaseline ? baselineGroups.build(analysisRange(baselineDense, qs, baselineGroups.groups)) : null,
      qs,
      BOOTSTRAP_REPLICATES,
      seed,
      strata.units,
    );
    rawReplicates = replicates;
    // The absolute ceiling judges latency as served: the canaries alone, unshifted.
    if (gates.maxP95LatencyMs !== undefined && rawGroups !== canaryGroups)
      rawReplicates = bootstrapQuantiles(
        rawGroups.build(analysisRange(rawDense, [0.95], rawGroups.groups)),
        null,
        [0.95],
        BOOTSTRAP_REPLICATES,
        seed,
        strata.units,
      );
  }

  // 5. Verdicts.
  const confidence = gates.confidence;
  const canarySide = (value: number | null) => ({ nodes: canaryNodesAnalysed, requests: canaryRequests, value });
  const baselineSide = (value: number | null) => ({ nodes: baselineNodes, requests: baselineRequests, value });
  const need = (what: string[]): string => `insufficient data (${what.join(', ')})`;
  const shortOf: string[] = [];
  if (!enoughCanary) shortOf.push(`${canaryRequests} of ${gates.minRequests} requests after warm-up on revision ${input.revision}`);
  if (!enoughBaseline) shortOf.push(`${baselineRequests} of ${gates.minRequests} requests after warm-up on baseline revision ${input.baselineRevision}`);

  type Draft = Omit<GateVerdict, 'consecutiveFailures' | 'message'> & { text: (state: string) => string };
  const drafts: Draft[] = [];

  // Restarts and fallbacks: no statistics, no traffic needed; counted from the instance's start.
  drafts.push({
    gate: 'maxRestarts',
    verdict: canaryNodes === 0 ? 'insufficient-data' : maxRestarts > gates.maxRestarts ? 'failing' : 'passing',
    estimate: canaryNodes === 0 ? null : maxRestarts,
    interval: null,
    confidence: null,
    threshold: gates.maxRestarts,
    canary: { nodes: canaryNodes, requests: canaryRequests + warmupRequests, value: maxRestarts },
    baseline: null,
    text: (v) =>
      canaryNodes === 0
        ? `restarts: no node reports revision ${input.revision} yet`
        : `restarts ${maxRestarts} (most on one node), limit ${gates.maxRestarts}: ${v}`,
  });
  const fallbackRate = canaryNodes > 0 ? fallbackNodes / canaryNodes : null;
  drafts.push({
    gate: 'maxFallbackRate',
    verdict: fallbackRate === null ? 'insufficient-data' : fallbackRate > gates.maxFallbackRate ? 'failing' : 'passing',
    estimate: fallbackRate,
    interval: null,
    confidence: null,
    threshold: gates.maxFallbackRate,
    canary: { nodes: canaryNodes, requests: canaryRequests + warmupRequests, value: fallbackRate },
    baseline: null,
    text: (v) =>
      fallbackRate === null
        ? `CPU fallback: no node reports revision ${input.revision} yet`
        : `CPU fallback on ${pct(fallbackRate)} of ${canaryNodes} nodes, limit ${pct(gates.maxFallbackRate)}: ${v}`,
  });

  // Error rate: exact binomial tests against the baseline's rate + maxErrorRate.
  const errorRate = canaryRequests > 0 ? canaryErrors / canaryRequests : null;
  const baselineRate = !compare
    ? 0
    : baselineWeightedRequests > 0
      ? baselineWeightedErrors / baselineWeightedRequests
      : baselineRequests > 0
        ? baselineErrors / baselineRequests
        : 0;
  const limit = Math.min(1, baselineRate + gates.maxErrorRate);
  {
    const alpha = 1 - confidence;
    const judged = enoughCanary && enoughBaseline;
    const verdict = !judged
      ? 'insufficient-data'
      : binomialAtLeast(canaryErrors, canaryRequests, limit) < alpha
        ? 'failing'
        : binomialAtMost(canaryErrors, canaryRequests, limit) < alpha
          ? 'passing'
          : 'undecided';
    const interval = wilsonInterval(canaryErrors, canaryRequests, confidence);
    const limitText = compare ? `limit ${pct(limit)} (baseline ${pct(baselineRate)} + ${pct(gates.maxErrorRate)})` : `limit ${pct(limit)}`;
    drafts.push({
      gate: 'maxErrorRate',
      verdict,
      estimate: errorRate,
      interval,
      confidence,
      threshold: limit,
      canary: canarySide(errorRate),
      baseline: compare ? baselineSide(baselineRequests > 0 ? baselineRate : null) : null,
      text: (v) =>
        !judged
          ? `error rate ${pct(errorRate)}, ${limitText}: ${need(shortOf)}`
          : `error rate ${pct(errorRate)} (${pctRange(interval)} at ${pct(confidence)}), ${limitText}: ${v}`,
    });
  }

  // Absolute P95 ceiling: the canary's P95 interval against it.
  if (gates.maxP95LatencyMs !== undefined) {
    const max = gates.maxP95LatencyMs;
    const i = rawReplicates === replicates ? qs.indexOf(0.95) : 0;
    const interval = rawReplicates === null ? null : percentileInterval(rawReplicates.canary[i] as Float64Array, rawReplicates.count, confidence);
    const judged = enoughCanary && p95 !== null && interval !== null;
    const verdict = !judged ? 'insufficient-data' : interval.low > max ? 'failing' : interval.high <= max ? 'passing' : 'undecided';
    drafts.push({
      gate: 'maxP95LatencyMs',
      verdict,
      estimate: p95,
      interval,
      confidence,
      threshold: max,
      canary: canarySide(p95),
      baseline: null,
      text: (v) =>
        !judged
          ? `P95 ${ms(p95)}, limit ${ms(max)}: ${need(enoughCanary ? ['no latency recorded'] : shortOf.slice(0, 1))}`
          : `P95 ${ms(p95)} (${msRange(interval)} at ${pct(confidence)}), limit ${ms(max)}: ${v}`,
    });
  }

  // Latency ratios: bootstrap intervals of ratio and difference, with the noise floor.
  const floor = gates.minLatencyDeltaMs;
  // Said only when it happened, so verdicts without a paired baseline read as before.
  const adjustments = [
    ...(adjusted === 0 ? [] : [`speed-adjusted: ${adjusted} of ${switchedAt.size} canary nodes compared with themselves`]),
    ...(levels.families === 0 ? [] : [`${levels.families} hardware families lined up at one level`]),
  ];
  const selves = adjustments.length === 0 ? '' : ` (${adjustments.join('; ')})`;
  for (const g of ratioGates) {
    const threshold = gates[g] as number;
    const q = RATIO_QUANTILE[g];
    const label = RATIO_LABEL[g];
    const c = denseQuantile(canaryDense, q) ?? null;
    const b = denseQuantile(baselineDense, q) ?? null;
    const estimate = c !== null && b !== null && b > 0 ? c / b : null;
    let ratio: { low: number; high: number } | null = null;
    let diff: { low: number; high: number } | null = null;
    if (replicates !== null && replicates.baseline !== null) {
      const i = qs.indexOf(q);
      const rc = replicates.canary[i] as Float64Array;
      const rb = replicates.baseline[i] as Float64Array;
      const n = replicates.count;
      const ratios = new Float64Array(n);
      const diffs = new Float64Array(n);
      for (let r = 0; r < n; r++) {
        ratios[r] = (rc[r] as number) / (rb[r] as number);
        diffs[r] = (rc[r] as number) - (rb[r] as number);
      }
      ratio = percentileInterval(ratios, n, confidence);
      diff = percentileInterval(diffs, n, confidence);
    }
    const judged = enoughCanary && enoughBaseline && estimate !== null ? (ratio !== null && diff !== null ? { ratio, diff } : null) : null;
    let verdict: GateVerdict['verdict'] = 'insufficient-data';
    let underFloor = false;
    if (judged !== null) {
      const { ratio, diff } = judged;
      if (ratio.low > threshold && diff.low > floor) verdict = 'failing';
      else if (ratio.high <= threshold) verdict = 'passing';
      else if (diff.high <= floor) {
        verdict = 'passing';
        underFloor = true;
      } else verdict = 'undecided';
    }
    const values = `${label} ${ms(c)} against ${ms(b)}`;
    drafts.push({
      gate: g,
      verdict,
      estimate,
      interval: ratio,
      confidence,
      threshold,
      canary: canarySide(c),
      baseline: baselineSide(b),
      text: (v) => {
        if (judged === null)
          return `${label} ratio ${fixed(estimate)}, threshold ${threshold}: ${need(shortOf.length > 0 ? shortOf : ['no latency recorded on a compared side'])}`;
        const head = `${label} ratio ${fixed(estimate)} (${fixed(judged.ratio.low)}–${fixed(judged.ratio.high)} at ${pct(confidence)}), threshold ${threshold}: ${v}`;
        if (underFloor) return `${head} (at most ${ms(Math.max(0, judged.diff.high))} slower, within the ${ms(floor)} noise floor)${selves}`;
        if (verdict === 'failing') return `${head}: ${values}${selves}`;
        return `${head}${selves}`;
      },
    });
  }

  // 6. Streaks, then the evaluation's result.
  const streaks: GateStreaks = {};
  const threshold = gates.failureThreshold;
  const verdicts: GateVerdict[] = [];
  const failed: GateName[] = [];
  for (const gate of GATE_ORDER) {
    const d = drafts.find((x) => x.gate === gate);
    if (d === undefined) continue;
    const streak = nextStreak(input.streaks?.[gate], d.verdict === 'failing', input.now, intervalMs);
    if (streak !== undefined) streaks[gate] = streak;
    const failures = streak?.failures ?? 0;
    if (failures >= threshold) failed.push(gate);
    const state = d.verdict === 'failing' ? `failing (${Math.min(failures, threshold)} of ${threshold} consecutive evaluations)` : d.verdict;
    const { text, ...rest } = d;
    verdicts.push({ ...rest, consecutiveFailures: failures, message: text(state) });
  }

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
    p95LatencyRatio: p95 !== null && baselineP95 !== null && baselineP95 > 0 ? p95 / baselineP95 : null,
    cohortsCompared: strata.cohortsCompared,
    cohortsOnFleetBaseline: strata.cohortsOnFleetBaseline,
    warmupRequests,
    warmingNodes,
  };
  const thresholds: GateThresholds = {
    minRequests: gates.minRequests,
    p95LatencyRatio: compare ? gates.p95LatencyRatio : null,
    maxP95LatencyMs: gates.maxP95LatencyMs ?? null,
    maxErrorRate: gates.maxErrorRate,
    maxRestarts: gates.maxRestarts,
    maxFallbackRate: gates.maxFallbackRate,
    p50LatencyRatio: compare ? (gates.p50LatencyRatio ?? null) : null,
    p99LatencyRatio: compare ? (gates.p99LatencyRatio ?? null) : null,
    minLatencyDeltaMs: gates.minLatencyDeltaMs,
    confidence,
    failureThreshold: threshold,
  };
  const base = { evaluatedAt: input.now, window: { ...window }, measured, thresholds, gates: verdicts };
  const messages = (keep: (v: GateVerdict) => boolean): string =>
    verdicts
      .filter(keep)
      .map((v) => v.message)
      .join('; ');

  let evaluation: GateEvaluation;
  if (failed.length > 0) {
    const first = failed[0] as GateName;
    evaluation = { result: 'fail', reason: FAIL_REASON[first], failed, message: messages((v) => failed.includes(v.gate)), ...base };
  } else if (verdicts.every((v) => v.verdict === 'passing')) {
    evaluation = {
      result: 'pass',
      reason: 'GatesPassed',
      failed: [],
      message: `gates passed over ${canaryRequests} requests on ${canaryNodesAnalysed} nodes: ${messages(() => true)}`,
      ...base,
    };
  } else if (verdicts.some((v) => v.verdict === 'insufficient-data')) {
    evaluation = { result: 'hold', reason: 'InsufficientData', failed: [], message: `insufficient data: ${messages((v) => v.verdict !== 'passing')}`, ...base };
  } else {
    evaluation = { result: 'hold', reason: 'Undecided', failed: [], message: `undecided: ${messages((v) => v.verdict !== 'passing')}`, ...base };
  }
  return { evaluation, streaks };
}

/**
 * Each node's speed for the gates: a canary's from its baseline samples before its own
 * switch; a baseline node's from its samples before the last canary switched (at the
 * latest the window's start for canaries of earlier steps): the same minutes the canaries'
 * speeds come from, so that speeds drifting during the window weigh alike on both sides.
 */
function speedsOf(
  aggs: GateAggregates,
  input: GateInput,
  familyByNode: ArrayLike<number>,
  window: { from: number; to: number },
  switchedAt: ReadonlyMap<number, number>,
  baseline: readonly Entry[],
): NodeSpeeds {
  let last = window.from;
  for (const t of switchedAt.values()) if (t > last) last = t;
  // Canaries first (their switch), then the baseline's nodes (the last switch), each once.
  const until = new Float64Array(Math.max(input.cohortOf.length, aggs.nodes.length)).fill(Number.NaN);
  const order: number[] = [];
  for (const [p, t] of switchedAt) {
    until[p] = t;
    order.push(p);
  }
  for (const { p } of baseline)
    if (Number.isNaN(until[p] as number)) {
      until[p] = last;
      order.push(p);
    }
  if (order.length === 0) return { shift: new Map(), unadjusted: 0 };
  // Against the same hardware at every site (the cohort's family), not the cohort's few
  // others: at 200 nodes a site × accelerator cohort has two or three nodes, and a speed
  // against one other node is that node's speed turned round (bench:gates, an identical
  // release rolled back: a Coral canary at speed 1.0 whose one cohort peer ran at 1.35 read
  // "0.6×", so shifted it sat at 1.35 × its family: "P95 ratio 1.25").
  return speedsFromUntil(aggs, familyByNode, until, order, input.gates.minRequests, MIN_SPEED_SPAN_MS);
}

/**
 * Aggregates kept between evaluations, one per rolling-out revision of a deployment (the
 * window's scope is checked by `update`); a few, least recently used first out. They hold
 * references to the samples read (to recognise them next time), so a window's samples stay
 * in memory until its entry is replaced: hence few.
 */
const CACHE = new Map<string, GateAggregates>();
const CACHE_SIZE = 4;

function cachedAggregates(deployment: string, revision: number): GateAggregates {
  const key = `${deployment}\u0000${revision}`;
  let aggs = CACHE.get(key);
  if (aggs !== undefined) CACHE.delete(key);
  else aggs = new GateAggregates();
  CACHE.set(key, aggs);
  while (CACHE.size > CACHE_SIZE) CACHE.delete(CACHE.keys().next().value as string);
  return aggs;
}

const fixed = (v: number | null): string => (v === null ? 'n/a' : v.toFixed(2));
const ms = (v: number | null): string => (v === null ? 'n/a' : `${num(v, v < 10 ? 2 : 1)} ms`);
const pct = (v: number | null): string => (v === null ? 'n/a' : `${(v * 100).toFixed(2).replace(/\.?0+$/, '')} %`);
const num = (v: number, digits: number): string => v.toFixed(digits).replace(/\.?0+$/, '');
const msRange = (i: { low: number; high: number }): string => `${num(i.low, 1)}–${num(i.high, 1)} ms`;
const pctRange = (i: { low: number; high: number } | null): string => (i === null ? 'n/a' : `${num(i.low * 100, 2)}–${num(i.high * 100, 2)} %`);
