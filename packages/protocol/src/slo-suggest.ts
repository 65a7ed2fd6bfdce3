/**
 * `edgefleet slo suggest`: rollout gate thresholds proposed from a deployment's latency
 * history (`GET /v1/deployments/:name/latency?bySite=true`), the blueprint's "day-7 baseline".
 *
 * A gate compares canaries with a baseline over the same minutes, so what it must tolerate
 * is how much a healthy revision moves on its own over a short time: the change of a site's
 * P95 from one hour to the next (not the daily cycle, which canary and baseline share).
 * Every number comes with the sentence that explains it, and with too little history the
 * answer is what is missing, never a guess. Pure: the CLI fetches, this computes.
 */
import type { LatencyHistory, LatencyHour } from './api/views.js';

/** Hours with fewer requests than this at a site are left out: their P95 is itself noise. */
export const SUGGEST_MIN_HOUR_REQUESTS = 50;
/** Hours of history a suggestion needs: a whole daily cycle. */
export const SUGGEST_MIN_HOURS = 24;
/** Pairs of consecutive hours (at one site) the ratios need. */
export const SUGGEST_MIN_PAIRS = 12;

/** The gate settings proposed (a `gates:` block of `spec.rollout`). */
export interface SuggestedGates {
  minRequests: number;
  p95LatencyRatio: number;
  p99LatencyRatio: number;
  maxP95LatencyMs: number;
  minLatencyDeltaMs: number;
  maxErrorRate: number;
}

/** One proposed number and why. */
export interface SuggestionReason {
  /** The gate setting (`p95LatencyRatio`…) or `steps[0].bake`. */
  setting: keyof SuggestedGates | 'steps[0].bake';
  value: number | string;
  why: string;
}

/** What the history shows, in numbers (the CLI's JSON output carries them). */
export interface SuggestionEvidence {
  revision: number;
  /** Distinct hours with enough traffic at some site. */
  hours: number;
  sites: string[];
  requests: number;
  errors: number;
  /** Pairs of consecutive hours at one site. */
  pairs: number;
  /** 95th percentile of the hour-to-hour P95 and P99 ratios (≥ 1). */
  p95HourRatio: number;
  p99HourRatio: number;
  /** Median hour-to-hour change of P95, ms. */
  p95HourDeltaMs: number;
  /** Worst hourly P95 at one site, ms. */
  worstP95Ms: number;
  errorRate: number;
  /** 95th percentile of hourly error rates at one site. */
  worstErrorRate: number;
  /** 10th percentile of the fleet's requests per hour (its quiet hours). */
  quietRequestsPerHour: number;
}

/** The outcome: thresholds with reasons, or what is missing for them. */
export type SloSuggestion =
  | {
      ok: true;
      deployment: string;
      window: { since: string; until: string };
      gates: SuggestedGates;
      firstStep: { percent: number; bake: string };
      reasons: SuggestionReason[];
      evidence: SuggestionEvidence;
    }
  | { ok: false; deployment: string; revision: number; missing: string[] };

/** Options: the first rollout step's share of nodes (the canaries' traffic follows from it). */
export interface SuggestOptions {
  /** Percent of nodes in the first step (the deployment's `spec.rollout.steps[0].percent`; default 1). */
  firstStepPercent?: number;
  /** Nodes the deployment selects: a step moves at least one node, so small fleets' canaries carry more than their percent. */
  fleetNodes?: number;
}

/** The q-quantile of `values` (linear between closest ranks); NaN when empty. */
export function quantileOf(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (at - lo);
}

/** Rounds up to a multiple of `step` (with a guard against 1.2000000001 becoming 1.25). */
function ceilTo(x: number, step: number): number {
  return Math.round(Math.ceil(x / step - 1e-9) * step * 1e6) / 1e6;
}

/** Rounds up to two significant digits: 47.3 → 48, 0.00431 → 0.0044. */
function ceil2(x: number): number {
  if (!(x > 0)) return 0;
  const unit = 10 ** (Math.floor(Math.log10(x)) - 1);
  return ceilTo(x, unit);
}

const pct = (x: number): string => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)} %`;
const ms = (x: number): string => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;

/** A duration in minutes as the manifests write it: 45m, 2h, 1h30m. */
function minutesText(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h === 0 ? `${m}m` : m === 0 ? `${h}h` : `${h}h${m}m`;
}

/**
 * Proposes gate thresholds from the history of the deployment's current revision (see the
 * module comment). `history` should be per site (`bySite=true`); merged hours work too,
 * with only the fleet's hour-to-hour changes to go by.
 */
export function suggestGates(history: LatencyHistory, opts: SuggestOptions = {}): SloSuggestion {
  const revision = history.revision;
  const firstPercent = opts.firstStepPercent ?? 1;
  const all = history.hours.filter((h) => h.revision === revision);
  const usable = all.filter((h) => h.requests >= SUGGEST_MIN_HOUR_REQUESTS);
  const missing: string[] = [];
  const hourSet = new Set(usable.map((h) => h.hour));
  const window = `${history.since} – ${history.until}`;
  if (all.length === 0) {
    missing.push(
      `no latency history of revision ${revision} in ${window}: nodes report it once they serve requests; wait a day or more (or widen --window if it ran earlier)`,
    );
    return { ok: false, deployment: history.deployment, revision, missing };
  }
  if (hourSet.size < SUGGEST_MIN_HOURS) {
    missing.push(
      `only ${hourSet.size} hour(s) of revision ${revision} with at least ${SUGGEST_MIN_HOUR_REQUESTS} requests at a site; a suggestion needs ${SUGGEST_MIN_HOURS} (a whole daily cycle): let it serve longer or widen --window`,
    );
  }
  // Hour-to-hour changes at each site: a gate's canary and baseline share the daily cycle,
  // but not what moves a site's latency between one hour and the next.
  const bySite = new Map<string, LatencyHour[]>();
  for (const h of usable) {
    const key = h.site ?? '*';
    bySite.set(key, [...(bySite.get(key) ?? []), h]);
  }
  const p95Ratios: number[] = [];
  const p99Ratios: number[] = [];
  const p95Deltas: number[] = [];
  const hourMs = history.bucketSeconds * 1000;
  for (const hours of bySite.values()) {
    hours.sort((a, b) => Date.parse(a.hour) - Date.parse(b.hour));
    for (let i = 1; i < hours.length; i++) {
      const a = hours[i - 1] as LatencyHour;
      const b = hours[i] as LatencyHour;
      if (Date.parse(b.hour) - Date.parse(a.hour) !== hourMs) continue;
      p95Ratios.push(Math.max(a.p95Ms, b.p95Ms) / Math.max(1e-9, Math.min(a.p95Ms, b.p95Ms)));
      p99Ratios.push(Math.max(a.p99Ms, b.p99Ms) / Math.max(1e-9, Math.min(a.p99Ms, b.p99Ms)));
      p95Deltas.push(Math.abs(b.p95Ms - a.p95Ms));
    }
  }
  if (p95Ratios.length < SUGGEST_MIN_PAIRS) {
    missing.push(
      `only ${p95Ratios.length} pair(s) of consecutive hours with traffic at one site; the ratios need ${SUGGEST_MIN_PAIRS} to tell how much latency moves on its own`,
    );
  }
  if (missing.length > 0) return { ok: false, deployment: history.deployment, revision, missing };

  const requests = usable.reduce((n, h) => n + h.requests, 0);
  const errors = usable.reduce((n, h) => n + h.errors, 0);
  const fleetPerHour = new Map<string, number>();
  for (const h of all) fleetPerHour.set(h.hour, (fleetPerHour.get(h.hour) ?? 0) + h.requests);
  const evidence: SuggestionEvidence = {
    revision,
    hours: hourSet.size,
    sites: [...new Set(usable.map((h) => h.site ?? ''))].sort(),
    requests,
    errors,
    pairs: p95Ratios.length,
    p95HourRatio: quantileOf(p95Ratios, 0.95),
    p99HourRatio: quantileOf(p99Ratios, 0.95),
    p95HourDeltaMs: quantileOf(p95Deltas, 0.5),
    worstP95Ms: Math.max(...usable.map((h) => h.p95Ms)),
    errorRate: requests === 0 ? 0 : errors / requests,
    worstErrorRate: quantileOf(
      usable.map((h) => h.errors / h.requests),
      0.95,
    ),
    quietRequestsPerHour: quantileOf([...fleetPerHour.values()], 0.1),
  };

  const e = evidence;
  const reasons: SuggestionReason[] = [];
  // Never under the default 1.2: bench:gates measures false rollbacks at the defaults, and a
  // tighter ratio leaves more good releases undecided until maxAnalysisTime.
  const p95LatencyRatio = Math.max(1.2, ceilTo(e.p95HourRatio * 1.05, 0.05));
  reasons.push({
    setting: 'p95LatencyRatio',
    value: p95LatencyRatio,
    why: `From one hour to the next, a site's P95 moved by up to ×${e.p95HourRatio.toFixed(2)} on its own (95th percentile of ${e.pairs} pairs of consecutive hours). Canaries are compared with a baseline over the same minutes, so a ratio above ×${p95LatencyRatio} (that, plus 5 %, at least the default ×1.2: tighter ratios keep good releases undecided longer) is more than this release's own noise.`,
  });
  const p99LatencyRatio = Math.max(1.2, ceilTo(e.p99HourRatio * 1.05, 0.05));
  reasons.push({
    setting: 'p99LatencyRatio',
    value: p99LatencyRatio,
    why: `The tail moves more: P99 changed by up to ×${e.p99HourRatio.toFixed(2)} between consecutive hours, so its gate is ×${p99LatencyRatio} (at least ×1.2).`,
  });
  const minLatencyDeltaMs = Math.max(2, ceilTo(e.p95HourDeltaMs, 0.5));
  reasons.push({
    setting: 'minLatencyDeltaMs',
    value: minLatencyDeltaMs,
    why: `A typical hour-to-hour change of P95 was ${ms(e.p95HourDeltaMs)} (median). A canary slower than its baseline by less than ${minLatencyDeltaMs} ms (at least the 2 ms default) never fails a ratio: at millisecond latencies that is noise, not a regression.`,
  });
  const maxP95LatencyMs = ceil2(e.worstP95Ms * 1.5);
  reasons.push({
    setting: 'maxP95LatencyMs',
    value: maxP95LatencyMs,
    why: `The worst hourly P95 at one site was ${ms(e.worstP95Ms)}. Half as much again, ${maxP95LatencyMs} ms, is a ceiling no release should cross whatever its baseline does.`,
  });
  const maxErrorRate = Math.max(0.005, ceil2(e.worstErrorRate - e.errorRate));
  reasons.push({
    setting: 'maxErrorRate',
    value: maxErrorRate,
    why: `The revision failed ${pct(e.errorRate)} of ${e.requests} requests (${pct(e.worstErrorRate)} in its worst hours, 95th percentile). A canary may fail up to ${pct(maxErrorRate)} more than its baseline (at least 0.5 %): the error gate judges the difference from the baseline's rate.`,
  });
  // The canaries' traffic: the first step's share of the fleet's quiet hours (at least one node of it).
  const nodes = opts.fleetNodes !== undefined && opts.fleetNodes > 0 ? opts.fleetNodes : undefined;
  const canaryNodes = nodes === undefined ? undefined : Math.max(1, Math.ceil((firstPercent * nodes) / 100));
  const share = nodes === undefined || canaryNodes === undefined ? firstPercent / 100 : canaryNodes / nodes;
  const stepText = canaryNodes === undefined ? `${firstPercent} % of the nodes` : `${firstPercent} % (${canaryNodes} of ${nodes} nodes)`;
  const canaryPerMinute = (e.quietRequestsPerHour * share) / 60;
  const minRequests = Math.min(1000, Math.max(200, Math.floor((canaryPerMinute * 5) / 50) * 50));
  const collectMinutes = canaryPerMinute > 0 ? Math.ceil(minRequests / canaryPerMinute) : Number.POSITIVE_INFINITY;
  reasons.push({
    setting: 'minRequests',
    value: minRequests,
    why: `At quiet hours the fleet answered ${Math.round(e.quietRequestsPerHour)} requests an hour (10th percentile), so a first step of ${stepText} answers about ${canaryPerMinute.toFixed(1)} a minute. ${minRequests} requests (what it collects in 5 minutes, at least 200 for a P95 to mean something, at most 1000) take it ${Number.isFinite(collectMinutes) ? `${collectMinutes} minute(s)` : 'forever'}.`,
  });
  // Twice the collection time (warm-up excluded requests, a second evaluation), in 5-minute steps, at least the default 10m.
  const bakeMinutes = Number.isFinite(collectMinutes) ? Math.max(10, ceilTo(2 * collectMinutes, 5)) : Number.POSITIVE_INFINITY;
  const bake = Number.isFinite(bakeMinutes) ? minutesText(bakeMinutes) : 'never';
  reasons.push({
    setting: 'steps[0].bake',
    value: bake,
    why: Number.isFinite(bakeMinutes)
      ? `Bake the first step at least ${bake}: twice the time its canaries take to collect minRequests at quiet hours (warm-up requests are left out, and a failure needs two failing evaluations).${bakeMinutes > 240 ? ` That is long: a larger first step (percent: ${Math.min(100, firstPercent * 10)}) collects ten times faster.` : ''}`
      : `The quiet hours had no traffic: a first step of ${firstPercent} % would never collect minRequests; start with a larger step or bake at busy hours.`,
  });
  return {
    ok: true,
    deployment: history.deployment,
    window: { since: history.since, until: history.until },
    gates: { minRequests, p95LatencyRatio, p99LatencyRatio, maxP95LatencyMs, minLatencyDeltaMs, maxErrorRate },
    firstStep: { percent: firstPercent, bake },
    reasons,
    evidence,
  };
}

/** The `gates:` block of a suggestion, ready to paste under `spec.rollout` (two-space indent, then its keys). */
export function gatesYaml(gates: SuggestedGates): string {
  const lines = ['gates:'];
  for (const [k, v] of Object.entries(gates)) lines.push(`  ${k}: ${v}`);
  return `${lines.join('\n')}\n`;
}
