import { createElement, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Api } from '../src/api.js';
import { bandWhiskers, toAlignedData } from '../src/components/time-chart.js';
import { estimateText, gateValue, ratioGateCharts, verdictTone, verdictWord } from '../src/gate-chart.js';
import { FleetContext } from '../src/hooks.js';
import { RolloutPage } from '../src/pages/rollout.js';
import { type FleetLists, type FleetState, fleetReducer, type GatePoint, gatePoint, initialFleetState } from '../src/reducers.js';
import type { RolloutStatus } from '../src/types.js';
import { deployment, event, rollout } from './fixtures.js';
import { errorRateVerdict, ratioVerdict, restartsVerdict } from './gate-fixtures.js';

const fleet = (o: Partial<FleetLists> = {}): FleetState =>
  fleetReducer(initialFleetState, { type: 'listed', lists: { nodes: [], deployments: [], rollouts: [], alerts: [], events: [], audit: [], ...o } });
const render = (state: FleetState, page: ReactNode) =>
  renderToString(createElement(FleetContext.Provider, { value: { state, api: new Api('efa_x_y'), role: 'viewer' } }, page));

const measured = {
  canaryNodes: 3,
  canaryRequests: 1240,
  canaryErrors: 5,
  errorRate: 0.004,
  maxRestarts: 0,
  fallbackRate: 0,
  p95LatencyMs: 11.6,
  baselineNodes: 40,
  baselineRequests: 18302,
  baselineP95LatencyMs: 10.74,
  p95LatencyRatio: 1.08,
  cohortsCompared: 3,
  cohortsOnFleetBaseline: 0,
};
const thresholds = { minRequests: 200, p95LatencyRatio: 1.5, maxP95LatencyMs: null, maxErrorRate: 0.01, maxRestarts: 0, maxFallbackRate: 0 };
const point = (t: number, gates: GatePoint['gates']): GatePoint => gatePoint(t, 2, 'hold', measured, thresholds, gates);

describe('gate charts: one per latency ratio gate, estimate with its interval and the threshold', () => {
  it('draws the ratio gates the evaluations judged, P50 before P95 before P99, over the evaluations that judged them', () => {
    const charts = ratioGateCharts([
      // Recorded before per-gate verdicts: no ratio chart point.
      point(1_000, []),
      point(2_000, [ratioVerdict('p99LatencyRatio', { estimate: 1.9, low: 1.62, high: 2.31 }), ratioVerdict('p95LatencyRatio'), restartsVerdict]),
      point(3_000, [ratioVerdict('p95LatencyRatio', { estimate: 1.1, low: 1.0, high: 1.2 })]),
    ]);
    expect(charts.map((c) => c.gate)).toEqual(['p95LatencyRatio', 'p99LatencyRatio']);
    expect(charts[0]).toEqual({
      gate: 'p95LatencyRatio',
      label: 'P95 ratio',
      times: [2_000, 3_000],
      values: [
        [1.08, 1.1],
        [0.97, 1.0],
        [1.21, 1.2],
        [1.5, 1.5],
      ],
    });
    expect(charts[1]?.times).toEqual([2_000]);
  });

  it('leaves the band open where a gate had no estimate, and draws nothing without ratio gates', () => {
    const [chart] = ratioGateCharts([point(1_000, [ratioVerdict('p95LatencyRatio', { estimate: null, verdict: 'insufficient-data' })])]);
    expect(chart?.values).toEqual([[null], [null], [null], [1.5]]);
    expect(ratioGateCharts([point(1_000, [errorRateVerdict, restartsVerdict])])).toEqual([]);
    expect(ratioGateCharts([])).toEqual([]);
  });

  it('puts a whisker at each evaluation both interval edges have, so a single evaluation shows its interval', () => {
    const data = toAlignedData(
      [1_000, 2_000, 3_000],
      [
        [1.08, 1.1, null],
        [0.97, null, 1],
        [1.21, 1.2, 1.3],
        [1.5, 1.5, 1.5],
      ],
    );
    expect(bandWhiskers(data, { upper: 2, lower: 1, fill: 'x' })).toEqual([
      { x: 1, low: 0.97, high: 1.21 },
      { x: 3, low: 1, high: 1.3 },
    ]);
  });
});

describe('gate verdicts in words', () => {
  it.each([
    [1.08, 'ratio', '1.08×'],
    [11.63, 'ms', '11.6 ms'],
    [4.127, 'ms', '4.13 ms'],
    [0.004, 'share', '0.4 %'],
    [0.0102, 'share', '1.02 %'],
    [2, 'count', '2'],
    [null, 'ms', '—'],
  ] as const)('%s as a %s reads %s', (v, unit, text) => {
    expect(gateValue(v, unit)).toBe(text);
  });

  it('writes the estimate with its interval and confidence, the unit once', () => {
    expect(estimateText(ratioVerdict('p95LatencyRatio'))).toBe('1.08× (0.97–1.21× at 95 %)');
    expect(estimateText(errorRateVerdict)).toBe('0.4 % (0.1–1.1 % at 95 %)');
    expect(estimateText({ gate: 'maxP95LatencyMs', estimate: 11.6, interval: { low: 10.2, high: 13.1 }, confidence: 0.99 })).toBe(
      '11.6 ms (10.2–13.1 ms at 99 %)',
    );
    expect(estimateText(restartsVerdict)).toBe('0');
    expect(estimateText(ratioVerdict('p95LatencyRatio', { estimate: null }))).toBe('—');
  });

  it('says how far a failing gate is from failing the step, with a tone that is never the only sign', () => {
    const failing = ratioVerdict('p99LatencyRatio', { verdict: 'failing', consecutiveFailures: 1 });
    expect(verdictWord(failing, 2)).toBe('failing (1 of 2)');
    expect(verdictWord(failing, undefined)).toBe('failing');
    expect(verdictWord({ verdict: 'insufficient-data', consecutiveFailures: 0 }, 2)).toBe('insufficient data');
    expect(['passing', 'failing', 'undecided', 'insufficient-data'].map((v) => verdictTone(v as never))).toEqual(['ok', 'bad', 'warn', 'muted']);
  });
});

describe('gate points keep the per-gate verdicts', () => {
  it('from events and live status; empty for evaluations recorded before them', () => {
    const p95 = ratioVerdict('p95LatencyRatio');
    const s = fleet({
      events: [
        event('detect', 0, '2025-01-01T00:00:01.000Z', { gateAt: 1_000 }),
        event('detect', 1, '2025-01-01T00:00:02.000Z', { gateAt: 2_000, gates: [p95] }),
      ],
      rollouts: [rollout('detect', { evaluatedAt: new Date(3_000).toISOString(), gates: [p95, errorRateVerdict] })],
    });
    expect((s.gateHistory.get('detect') ?? []).map((p) => p.gates.map((g) => g.gate))).toEqual([[], ['p95LatencyRatio'], ['p95LatencyRatio', 'maxErrorRate']]);
  });
});

describe('rollout page: the gate section', () => {
  const deployments = [deployment('detect', 2, [], { steps: [{ percent: 50, bake: '1m' }, { percent: 100 }] })];
  const withGates = (r: RolloutStatus): RolloutStatus => {
    const gate = r.gate as NonNullable<RolloutStatus['gate']>;
    return {
      ...r,
      gate: { ...gate, thresholds: { ...gate.thresholds, failureThreshold: 2 }, measured: { ...gate.measured, warmupRequests: 150, warmingNodes: 1 } },
    };
  };

  it('shows each gate with sample sizes, estimate, threshold and verdict, a chart per ratio gate, and the verdicts in words', () => {
    const p99 = ratioVerdict('p99LatencyRatio', { estimate: 1.9, low: 1.62, high: 2.31, verdict: 'failing', consecutiveFailures: 1 });
    const r = withGates(
      rollout('detect', { evaluatedAt: new Date(5_000).toISOString(), gates: [ratioVerdict('p95LatencyRatio'), p99, errorRateVerdict, restartsVerdict] }),
    );
    const html = render(fleet({ deployments, rollouts: [r] }), createElement(RolloutPage, { name: 'detect' }));
    expect(html).toContain('data-testid="gate-table"');
    expect(html).toContain('1.08× (0.97–1.21× at 95 %)');
    expect(html).toContain('3 nodes, 1,240 requests');
    expect(html).toContain('40 nodes, 18,302 requests');
    expect(html).toContain('≤ 1.50×');
    expect(html).toContain('failing (1 of 2)');
    expect(html).toContain('150 requests of the new revision left out as warm-up (1 node still warming up)');
    expect(html).toContain('P95 ratio of revision 2 to the baseline, with its interval');
    expect(html).toContain('P99 ratio of revision 2 to the baseline, with its interval');
    expect(html).not.toContain('P50 ratio of revision');
    expect(html).not.toContain('P95 latency of revision');
    // The verdicts in plain words, under the charts, as the server wrote them.
    expect(html).toContain('P99 ratio 1.90 (1.62–2.31 at 95 %), threshold 1.5: failing');
    expect(html.indexOf('data-testid="gate-verdicts"')).toBeGreaterThan(html.indexOf('P99 ratio of revision'));
    // Screen readers get each chart's latest numbers as text.
    expect(html.replaceAll('<!-- -->', '')).toContain('P99 ratio: 1.90×. interval low: 1.62×. interval high: 2.31×. threshold: 1.50×.');
  });

  it('lists each gate of a gate event under its message in the event log', () => {
    const gates = [ratioVerdict('p95LatencyRatio'), errorRateVerdict];
    const html = render(
      fleet({
        deployments,
        rollouts: [rollout('detect')],
        events: [event('detect', 0, '2025-01-01T00:00:01.000Z', { gateAt: 1_000, gates }), event('detect', 1, '2025-01-01T00:00:02.000Z')],
      }),
      createElement(RolloutPage, { name: 'detect' }),
    );
    const log = html.slice(html.indexOf('data-testid="rollout-events"'));
    expect(log).toContain('<li>P95 ratio 1.08 (0.97–1.21 at 95 %), threshold 1.5: passing</li>');
    expect(log).toContain('<li>error rate 0.4 % (0.1–1.1 % at 95 %), threshold 1.02 %: undecided</li>');
    expect(log.split('aria-label="Per gate"')).toHaveLength(2);
  });

  it('falls back to the measured P95 chart and table for evaluations without per-gate verdicts', () => {
    const r = rollout('detect', { evaluatedAt: new Date(5_000).toISOString(), p95: 12, baseline: 10 });
    const html = render(fleet({ deployments, rollouts: [r] }), createElement(RolloutPage, { name: 'detect' }));
    expect(html).toContain('P95 latency of revision 2 against the baseline');
    expect(html).toContain('≤ 2× baseline');
    expect(html).not.toContain('data-testid="gate-table"');
    expect(html).not.toContain('data-testid="gate-verdicts"');
    expect(html).not.toContain('warm-up');
  });
});
