/** A rollout status and its gate verdicts as the statistical gates write them, for the CLI's tests. */
import { type GateVerdict, type RolloutStatus, RolloutStatusSchema } from '@edgefleet/protocol';

/** Verdicts as the gates judge them: one canary node against forty baseline nodes. */
export const p95: GateVerdict = {
  gate: 'p95LatencyRatio',
  verdict: 'passing',
  estimate: 1.08,
  interval: { low: 0.97, high: 1.21 },
  confidence: 0.95,
  threshold: 1.5,
  canary: { nodes: 3, requests: 1240, value: 11.6 },
  baseline: { nodes: 40, requests: 18302, value: 10.74 },
  consecutiveFailures: 0,
  message: 'P95 ratio 1.08 (0.97–1.21 at 95 %), threshold 1.5: passing',
};
export const p99: GateVerdict = {
  ...p95,
  gate: 'p99LatencyRatio',
  verdict: 'failing',
  estimate: 1.9,
  interval: { low: 1.62, high: 2.31 },
  canary: { nodes: 3, requests: 1240, value: 48.2 },
  baseline: { nodes: 40, requests: 18302, value: 25.4 },
  consecutiveFailures: 1,
  message: 'P99 ratio 1.90 (1.62–2.31 at 95 %), threshold 1.5: failing (1 of 2)',
};
export const errorRate: GateVerdict = {
  gate: 'maxErrorRate',
  verdict: 'undecided',
  estimate: 0.004,
  interval: { low: 0.001, high: 0.011 },
  confidence: 0.95,
  threshold: 0.0102,
  canary: { nodes: 3, requests: 1240, value: 0.004 },
  baseline: { nodes: 40, requests: 18302, value: 0.0002 },
  consecutiveFailures: 0,
  message: 'error rate 0.4 % (0.1–1.1 % at 95 %), threshold 1.02 %: undecided',
};
export const restarts: GateVerdict = {
  gate: 'maxRestarts',
  verdict: 'passing',
  estimate: 0,
  interval: null,
  confidence: null,
  threshold: 0,
  canary: { nodes: 3, requests: 1240, value: 0 },
  baseline: null,
  consecutiveFailures: 0,
  message: 'restarts 0, threshold 0: passing',
};

export const measured = {
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
  warmupRequests: 150,
  warmingNodes: 1,
};
export const thresholds = {
  minRequests: 200,
  p95LatencyRatio: 1.5,
  maxP95LatencyMs: null,
  maxErrorRate: 0.01,
  maxRestarts: 0,
  maxFallbackRate: 0,
  p50LatencyRatio: null,
  p99LatencyRatio: 1.5,
  minLatencyDeltaMs: 2,
  confidence: 0.95,
  failureThreshold: 2,
};

export const status: RolloutStatus = RolloutStatusSchema.parse({
  deployment: 'detect',
  revision: 3,
  fromRevision: 2,
  phase: 'Progressing',
  step: 1,
  steps: 4,
  nodes: { total: 48, updated: 3, pending: 45, deferred: 0, failed: 0, rolledBack: 0 },
  gate: {
    evaluatedAt: '2026-12-03T18:00:00.000Z',
    result: 'hold',
    reason: 'Undecided',
    measured,
    thresholds,
    message: 'step 1: P99 ratio failing (1 of 2), error rate undecided: collecting more',
    gates: [p95, p99, errorRate, restarts],
  },
  conditions: [
    { type: 'GatesPassing', status: 'Unknown', reason: 'Undecided', message: 'step 1: P99 ratio failing (1 of 2), error rate undecided: collecting more' },
  ],
});
