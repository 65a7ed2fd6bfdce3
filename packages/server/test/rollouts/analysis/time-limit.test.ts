import type { GateVerdict } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { decideAtTimeLimit } from '../../../src/rollouts/analysis/time-limit.js';

function verdict(gate: GateVerdict['gate'], v: GateVerdict['verdict'], estimate: number | null, threshold: number): GateVerdict {
  return {
    gate,
    verdict: v,
    estimate,
    interval: estimate === null ? null : { low: estimate * 0.8, high: estimate * 1.25 },
    confidence: 0.95,
    threshold,
    canary: { nodes: 2, requests: 3000, value: 10 },
    baseline: { nodes: 100, requests: 90000, value: 10 },
    consecutiveFailures: v === 'failing' ? 1 : 0,
    message: `${gate} ${estimate}: ${v}`,
  };
}

describe('the decision when maxAnalysisTime runs out', () => {
  it.each<[string, GateVerdict[], boolean, RegExp]>([
    [
      'undecided within the threshold, others passing: pass',
      [verdict('p95LatencyRatio', 'undecided', 1.06, 1.2), verdict('maxErrorRate', 'passing', 0, 0.01)],
      true,
      /the undecided gate estimates within threshold: p95LatencyRatio 1.06/,
    ],
    [
      'two undecided within: pass',
      [verdict('p95LatencyRatio', 'undecided', 1.19, 1.2), verdict('p99LatencyRatio', 'undecided', 0.9, 1.5)],
      true,
      /all 2 undecided gates estimate within threshold/,
    ],
    ['undecided beyond the threshold: fail', [verdict('p95LatencyRatio', 'undecided', 1.25, 1.2)], false, /p95LatencyRatio estimated beyond its threshold/],
    [
      'a gate without data: fail',
      [verdict('p95LatencyRatio', 'undecided', 1.0, 1.2), verdict('maxErrorRate', 'insufficient-data', null, 0.01)],
      false,
      /too little data/,
    ],
    ['failing, streak not complete: fail', [verdict('p95LatencyRatio', 'failing', 1.5, 1.2)], false, /p95LatencyRatio estimated beyond/],
    ['undecided without an estimate: fail', [verdict('p95LatencyRatio', 'undecided', null, 1.2)], false, /beyond/],
    ['no verdicts (a state stored before them): fail', [], false, /no gate decided/],
  ])('%s', (_what, gates, pass, text) => {
    const d = decideAtTimeLimit(gates);
    expect(d.pass).toBe(pass);
    expect(d.pass ? d.message : d.what).toMatch(text);
  });
});
