/**
 * Gate verdicts in plain words for `edgefleet rollout status` and `edgefleet events`: per
 * gate, the sample sizes on both sides, the estimate with its interval, the threshold and
 * the verdict. Pure functions of the API's shapes (tested on fixtures); colour is the
 * caller's choice (a terminal), so piped output stays plain text.
 */
import type { GateMeasured, GateName, GateThresholds, GateVerdict, RolloutEventView } from '@edgefleet/protocol';
import { renderTable } from '../output.js';

/** How each gate is named for people and how its numbers read. */
const GATES: Record<GateName, { label: string; unit: 'ratio' | 'ms' | 'share' | 'count' }> = {
  p50LatencyRatio: { label: 'P50 ratio', unit: 'ratio' },
  p95LatencyRatio: { label: 'P95 ratio', unit: 'ratio' },
  p99LatencyRatio: { label: 'P99 ratio', unit: 'ratio' },
  maxP95LatencyMs: { label: 'P95 latency', unit: 'ms' },
  maxErrorRate: { label: 'error rate', unit: 'share' },
  maxRestarts: { label: 'restarts', unit: 'count' },
  maxFallbackRate: { label: 'fallback rate', unit: 'share' },
};

/** What a side's `value` is, per gate: a ratio gate compares the sides' percentiles in ms. */
const SIDE_UNIT: Record<GateName, 'ms' | 'share' | 'count'> = {
  p50LatencyRatio: 'ms',
  p95LatencyRatio: 'ms',
  p99LatencyRatio: 'ms',
  maxP95LatencyMs: 'ms',
  maxErrorRate: 'share',
  maxRestarts: 'count',
  maxFallbackRate: 'share',
};

/** Significant enough digits for the small numbers gates judge, without trailing noise. */
function trim(v: number, digits: number): string {
  return String(Number(v.toFixed(digits)));
}

/** A number in a unit: `1.08`, `11.6 ms`, `0.4 %`, `3`. */
export function formatGateValue(v: number, unit: 'ratio' | 'ms' | 'share' | 'count'): string {
  switch (unit) {
    case 'ratio':
      return v.toFixed(2);
    case 'ms':
      return `${trim(v, v < 10 ? 2 : v < 100 ? 1 : 0)} ms`;
    case 'share':
      return `${trim(v * 100, v * 100 < 1 ? 3 : 2)} %`;
    case 'count':
      return String(v);
  }
}

const thousands = (n: number): string => n.toLocaleString('en');

/** One side of a comparison: `3 nodes, 1,240 req: 11.6 ms`. */
function sideCell(gate: GateName, side: GateVerdict['canary'] | null): string {
  if (side === null) return '—';
  const value = side.value === null ? '' : `: ${formatGateValue(side.value, SIDE_UNIT[gate])}`;
  return `${side.nodes} ${side.nodes === 1 ? 'node' : 'nodes'}, ${thousands(side.requests)} req${value}`;
}

/** The estimate with its interval: `1.08 (0.97–1.21 at 95 %)`; `—` when not measurable. */
export function estimateText(v: Pick<GateVerdict, 'gate' | 'estimate' | 'interval' | 'confidence'>): string {
  if (v.estimate === null) return '—';
  const unit = GATES[v.gate].unit;
  const estimate = formatGateValue(v.estimate, unit);
  if (v.interval === null) return estimate;
  // The unit once, after the interval: "0.4 % (0.1–1.1 % at 95 %)".
  const bare = (x: number) => formatGateValue(x, unit).replace(/ (ms|%)$/, '');
  const suffix = unit === 'ms' ? ' ms' : unit === 'share' ? ' %' : '';
  const at = v.confidence === null ? '' : ` at ${trim(v.confidence * 100, 1)} %`;
  return `${estimate} (${bare(v.interval.low)}–${bare(v.interval.high)}${suffix}${at})`;
}

/** The verdict in words; a failing gate says how many failing evaluations in a row it has of how many fail the step. */
export function verdictText(v: Pick<GateVerdict, 'verdict' | 'consecutiveFailures'>, failureThreshold?: number): string {
  if (v.verdict === 'insufficient-data') return 'insufficient data';
  if (v.verdict !== 'failing') return v.verdict;
  return failureThreshold === undefined ? 'failing' : `failing (${v.consecutiveFailures} of ${failureThreshold})`;
}

const COLOURS: Record<GateVerdict['verdict'], string> = { passing: '32', failing: '31', undecided: '33', 'insufficient-data': '2' };

/** Wraps text in the verdict's ANSI colour when `colour` (a terminal); unchanged otherwise. */
export function paint(text: string, verdict: GateVerdict['verdict'], colour: boolean): string {
  return colour ? `\u001b[${COLOURS[verdict]}m${text}\u001b[0m` : text;
}

/** Output options: colour only for a terminal. */
export interface RenderOptions {
  colour: boolean;
}

/**
 * The per-gate table under a rollout's status line, one line per gate, and a line for the
 * canary requests left out as warm-up when there are any. The verdict is the last column,
 * so its colour codes never shift the alignment.
 */
export function renderGateVerdicts(
  gate: {
    gates: readonly GateVerdict[];
    measured: Pick<GateMeasured, 'warmupRequests' | 'warmingNodes'>;
    thresholds: Pick<GateThresholds, 'failureThreshold'>;
  },
  opts: RenderOptions,
): string[] {
  const table = renderTable(
    [...gate.gates],
    [
      { header: 'GATE', cell: (v) => GATES[v.gate].label },
      { header: 'CANARY', cell: (v) => sideCell(v.gate, v.canary) },
      { header: 'BASELINE', cell: (v) => sideCell(v.gate, v.baseline) },
      { header: 'ESTIMATE', cell: (v) => estimateText(v) },
      { header: 'THRESHOLD', cell: (v) => `≤ ${formatGateValue(v.threshold, GATES[v.gate].unit)}` },
      { header: 'VERDICT', cell: (v) => verdictText(v, gate.thresholds.failureThreshold) },
    ],
  ).split('\n');
  // Colour after alignment: the escape codes have no width on screen but do have a length.
  const lines = table.map((line, i) => {
    const v = i === 0 ? undefined : gate.gates[i - 1];
    if (v === undefined || !opts.colour) return `  ${line}`;
    const word = verdictText(v, gate.thresholds.failureThreshold);
    return `  ${line.slice(0, line.length - word.length)}${paint(word, v.verdict, true)}`;
  });
  const warmup = gate.measured.warmupRequests ?? 0;
  if (warmup > 0) {
    const warming = gate.measured.warmingNodes ?? 0;
    lines.push(
      `  warm-up: ${thousands(warmup)} canary ${warmup === 1 ? 'request' : 'requests'} left out${warming > 0 ? ` (${warming} ${warming === 1 ? 'node' : 'nodes'} still warming up)` : ''}`,
    );
  }
  return lines;
}

/**
 * The rollout journal as a table; under each event that carries per-gate verdicts
 * (GatePassed, GateFailed, a rollback), one line per gate with its message, starting
 * under the MESSAGE column.
 */
export function renderEvents(items: readonly RolloutEventView[], opts: RenderOptions): string {
  const lines = renderTable(
    [...items],
    [
      { header: 'TIME', cell: (e) => String(e.time ?? '') },
      { header: 'DEPLOYMENT', cell: (e) => String(e.deployment ?? '') },
      { header: 'REVISION', cell: (e) => String(e.revision ?? '') },
      { header: 'STEP', cell: (e) => String(e.step ?? '') },
      { header: 'EVENT', cell: (e) => String(e.type ?? '') },
      { header: 'MESSAGE', cell: (e) => String(e.message ?? '') },
    ],
  ).split('\n');
  const indent = ' '.repeat(Math.max(0, (lines[0] ?? '').indexOf('MESSAGE')));
  const out = [lines[0] ?? ''];
  items.forEach((e, i) => {
    out.push(lines[i + 1] ?? '');
    for (const v of e.gate?.gates ?? []) out.push(`${indent}${paint(`· ${v.message}`, v.verdict, opts.colour)}`);
  });
  return out.join('\n');
}

/** Colour for standard output: a terminal, and no `NO_COLOR` (https://no-color.org). */
export function stdoutColour(): boolean {
  return process.stdout.isTTY === true && (process.env.NO_COLOR ?? '') === '';
}
