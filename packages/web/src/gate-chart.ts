/**
 * What the rollout page's gate section shows, as pure selectors of the gate points: per
 * latency ratio gate (P50, P95, P99, those the evaluations carry), each evaluation's
 * estimate with its interval and the threshold; and each gate's latest verdict in words.
 * Evaluations recorded before per-gate verdicts carry none: the page then falls back to
 * the measured P95 chart (`gateChartData` in pages/rollout.tsx).
 */
import type { GatePoint } from './reducers.js';
import type { GateVerdict } from './types.js';

type GateName = GateVerdict['gate'];

/** The latency ratio gates, in the order their charts are drawn. */
export const RATIO_GATES: readonly GateName[] = ['p50LatencyRatio', 'p95LatencyRatio', 'p99LatencyRatio'];

/** A gate's name for people, and what its numbers are. */
export const GATE_INFO: Record<GateName, { label: string; unit: 'ratio' | 'ms' | 'share' | 'count'; side: 'ms' | 'share' | 'count' }> = {
  p50LatencyRatio: { label: 'P50 ratio', unit: 'ratio', side: 'ms' },
  p95LatencyRatio: { label: 'P95 ratio', unit: 'ratio', side: 'ms' },
  p99LatencyRatio: { label: 'P99 ratio', unit: 'ratio', side: 'ms' },
  maxP95LatencyMs: { label: 'P95 latency', unit: 'ms', side: 'ms' },
  maxErrorRate: { label: 'Error rate', unit: 'share', side: 'share' },
  maxRestarts: { label: 'Restarts (worst node)', unit: 'count', side: 'count' },
  maxFallbackRate: { label: 'CPU fallback', unit: 'share', side: 'share' },
};

/** One ratio gate's chart: times, then estimate, interval low, interval high and threshold per evaluation. */
export interface RatioGateChart {
  gate: GateName;
  label: string;
  times: number[];
  values: [estimate: Array<number | null>, low: Array<number | null>, high: Array<number | null>, threshold: Array<number | null>];
}

/**
 * A chart per latency ratio gate that at least one of the points judged, over the points
 * that judged it (time order kept). An estimate without an interval (not measurable at
 * the confidence) leaves the band open at that time.
 */
export function ratioGateCharts(points: readonly GatePoint[]): RatioGateChart[] {
  const charts: RatioGateChart[] = [];
  for (const gate of RATIO_GATES) {
    const chart: RatioGateChart = { gate, label: GATE_INFO[gate].label, times: [], values: [[], [], [], []] };
    for (const p of points) {
      const v = p.gates.find((g) => g.gate === gate);
      if (v === undefined) continue;
      chart.times.push(p.t);
      chart.values[0].push(v.estimate);
      chart.values[1].push(v.interval?.low ?? null);
      chart.values[2].push(v.interval?.high ?? null);
      chart.values[3].push(v.threshold);
    }
    if (chart.times.length > 0) charts.push(chart);
  }
  return charts;
}

/** Significant enough digits for what gates judge, without trailing zeros. */
const trim = (v: number, digits: number): string => String(Number(v.toFixed(digits)));

/** A gate's number in its unit: `1.08×`, `11.6 ms`, `0.4 %`, `3`. */
export function gateValue(v: number | null, unit: 'ratio' | 'ms' | 'share' | 'count'): string {
  if (v === null || !Number.isFinite(v)) return '—';
  switch (unit) {
    case 'ratio':
      return `${v.toFixed(2)}×`;
    case 'ms':
      return `${trim(v, v < 10 ? 2 : v < 100 ? 1 : 0)} ms`;
    case 'share':
      return `${trim(v * 100, v * 100 < 1 ? 3 : 2)} %`;
    case 'count':
      return String(v);
  }
}

/** The estimate with its interval: `1.08× (0.97–1.21× at 95 %)`. */
export function estimateText(v: Pick<GateVerdict, 'gate' | 'estimate' | 'interval' | 'confidence'>): string {
  const unit = GATE_INFO[v.gate].unit;
  if (v.estimate === null) return '—';
  if (v.interval === null) return gateValue(v.estimate, unit);
  const suffix = gateValue(v.interval.high, unit).replace(/^[\d.,-]+/, '');
  const bare = (x: number): string => gateValue(x, unit).slice(0, -suffix.length || undefined);
  const at = v.confidence === null ? '' : ` at ${trim(v.confidence * 100, 1)} %`;
  return `${gateValue(v.estimate, unit)} (${bare(v.interval.low)}–${bare(v.interval.high)}${suffix}${at})`;
}

/** One side of a comparison: `3 nodes, 1,240 requests`. */
export function sideText(side: GateVerdict['canary'] | null): string {
  if (side === null) return '—';
  return `${side.nodes} ${side.nodes === 1 ? 'node' : 'nodes'}, ${side.requests.toLocaleString('en')} requests`;
}

/** The verdict as a word, with how far a failing gate is from failing the step. */
export function verdictWord(v: Pick<GateVerdict, 'verdict' | 'consecutiveFailures'>, failureThreshold: number | undefined): string {
  if (v.verdict === 'insufficient-data') return 'insufficient data';
  if (v.verdict !== 'failing' || failureThreshold === undefined) return v.verdict;
  return `failing (${v.consecutiveFailures} of ${failureThreshold})`;
}

/** The badge tone of a verdict. */
export function verdictTone(verdict: GateVerdict['verdict']): 'ok' | 'bad' | 'warn' | 'muted' {
  return verdict === 'passing' ? 'ok' : verdict === 'failing' ? 'bad' : verdict === 'undecided' ? 'warn' : 'muted';
}
