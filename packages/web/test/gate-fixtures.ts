/** Gate verdicts as the statistical gates write them, for the gate section's tests. */
import type { GateVerdict } from '../src/types.js';

/** A latency ratio gate's verdict: three canary nodes against forty baseline nodes. */
export function ratioVerdict(
  gate: 'p50LatencyRatio' | 'p95LatencyRatio' | 'p99LatencyRatio',
  o: { estimate?: number | null; low?: number; high?: number; threshold?: number; verdict?: GateVerdict['verdict']; consecutiveFailures?: number } = {},
): GateVerdict {
  const estimate = o.estimate === undefined ? 1.08 : o.estimate;
  const low = o.low ?? 0.97;
  const high = o.high ?? 1.21;
  const threshold = o.threshold ?? 1.5;
  const verdict = o.verdict ?? 'passing';
  const label = `P${gate.slice(1, 3)} ratio`;
  return {
    gate,
    verdict,
    estimate,
    interval: estimate === null ? null : { low, high },
    confidence: 0.95,
    threshold,
    canary: { nodes: 3, requests: 1240, value: 11.6 },
    baseline: { nodes: 40, requests: 18302, value: 10.74 },
    consecutiveFailures: o.consecutiveFailures ?? 0,
    message:
      estimate === null
        ? `${label}: insufficient data`
        : `${label} ${estimate.toFixed(2)} (${low.toFixed(2)}–${high.toFixed(2)} at 95 %), threshold ${threshold}: ${verdict}`,
  };
}

/** The error-rate gate's verdict, judged against the baseline's rate plus maxErrorRate. */
export const errorRateVerdict: GateVerdict = {
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

/** The restarts gate: a count on the canary side alone. */
export const restartsVerdict: GateVerdict = {
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
