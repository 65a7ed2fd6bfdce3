import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ROLLOUT_STEPS,
  type RolloutStrategyInput,
  RolloutStrategySchema,
  resolveRolloutStrategy,
  rolloutStrategyProblems,
  siteUnavailableLimit,
} from '../src/rollout-strategy.js';

/** The strategy of issue 4, as YAML would give it. */
const ISSUE_EXAMPLE: RolloutStrategyInput = {
  steps: [{ percent: 1, bake: '10m' }, { percent: 10, bake: '30m' }, { percent: 50, bake: '1h' }, { percent: 100 }],
  cohortBy: ['geolocation.site', 'ai.accelerator'],
  maxUnavailablePerSite: 1,
  maxParallel: 50,
  gates: { minRequests: 200, p95LatencyRatio: 1.2, maxP95LatencyMs: 100, maxErrorRate: 0.01, maxRestarts: 0, maxFallbackRate: 0 },
  offline: { deferAfter: '2m', minReachedPercent: 90 },
  onFailure: 'rollback',
  progressDeadline: '2h',
};

describe('rollout strategy: accepted', () => {
  it('parses the issue example as written', () => {
    const s = RolloutStrategySchema.parse(ISSUE_EXAMPLE);
    expect(s.steps).toEqual([
      { percent: 1, bake: '10m' },
      { percent: 10, bake: '30m' },
      { percent: 50, bake: '1h' },
      { percent: 100, bake: '0s' },
    ]);
    expect(s.gates.maxP95LatencyMs).toBe(100);
  });

  it('fills every default from an empty object', () => {
    expect(RolloutStrategySchema.parse({})).toEqual({
      steps: DEFAULT_ROLLOUT_STEPS,
      cohortBy: ['geolocation.site', 'ai.accelerator'],
      maxUnavailablePerSite: 1,
      maxParallel: 50,
      gates: {
        minCanaryNodes: 5,
        minRequests: 200,
        p95LatencyRatio: 1.2,
        minLatencyDeltaMs: 2,
        maxErrorRate: 0.01,
        maxRestarts: 0,
        maxFallbackRate: 0,
        confidence: 0.95,
        failureThreshold: 2,
        interval: '30s',
        warmup: { requests: 50, duration: '30s' },
        maxAnalysisTime: '1h',
      },
      offline: { deferAfter: '2m', minReachedPercent: 90 },
      onFailure: 'rollback',
      progressDeadline: '2h',
    });
  });

  it('fills defaults inside a partial gates or offline block', () => {
    const s = RolloutStrategySchema.parse({ gates: { minRequests: 50 }, offline: { deferAfter: '5m' } });
    expect(s.gates).toEqual({
      minCanaryNodes: 5,
      minRequests: 50,
      p95LatencyRatio: 1.2,
      minLatencyDeltaMs: 2,
      maxErrorRate: 0.01,
      maxRestarts: 0,
      maxFallbackRate: 0,
      confidence: 0.95,
      failureThreshold: 2,
      interval: '30s',
      warmup: { requests: 50, duration: '30s' },
      maxAnalysisTime: '1h',
    });
    expect(s.offline).toEqual({ deferAfter: '5m', minReachedPercent: 90 });
  });

  it.each([
    [[{ percent: 5 }], [5, 100]],
    [
      [{ percent: 0.5 }, { percent: 20 }],
      [0.5, 20, 100],
    ],
    [[{ percent: 100 }], [100]],
  ])('adds a last 100 %% step when missing: %j', (steps, percents) => {
    expect(RolloutStrategySchema.parse({ steps }).steps.map((s) => s.percent)).toEqual(percents);
  });

  it.each([[3], ['25%'], ['100%'], ['12.5%']])('maxUnavailablePerSite %j', (v) => {
    expect(RolloutStrategySchema.parse({ maxUnavailablePerSite: v }).maxUnavailablePerSite).toBe(v);
  });

  it('resolves durations and limits to numbers', () => {
    const r = resolveRolloutStrategy(RolloutStrategySchema.parse({ ...ISSUE_EXAMPLE, maxUnavailablePerSite: '25%' }));
    expect(r.steps).toEqual([
      { percent: 1, bakeMs: 600_000 },
      { percent: 10, bakeMs: 1_800_000 },
      { percent: 50, bakeMs: 3_600_000 },
      { percent: 100, bakeMs: 0 },
    ]);
    expect(r.deferAfterMs).toBe(120_000);
    expect(r.progressDeadlineMs).toBe(7_200_000);
    expect(r.maxUnavailablePerSite).toEqual({ percent: 25 });
  });

  it.each([
    [{ nodes: 2 }, 10, 2],
    [{ percent: 25 }, 10, 2],
    [{ percent: 25 }, 3, 1],
    [{ percent: 100 }, 7, 7],
  ] as const)('siteUnavailableLimit(%j, %i) = %i', (limit, size, want) => {
    expect(siteUnavailableLimit(limit, size)).toBe(want);
  });
});

describe('rollout strategy: refused, with the field named', () => {
  it.each<[string, unknown, string, RegExp]>([
    ['steps that do not increase', { steps: [{ percent: 10 }, { percent: 10 }] }, 'steps.1.percent', /steps must increase/],
    ['steps that go down', { steps: [{ percent: 50 }, { percent: 10 }, { percent: 100 }] }, 'steps.1.percent', /previous step's 50/],
    ['a percent of 0', { steps: [{ percent: 0 }] }, 'steps.0.percent', /more than 0/],
    ['a negative percent', { steps: [{ percent: -5 }] }, 'steps.0.percent', /more than 0/],
    ['a percent over 100', { steps: [{ percent: 150 }] }, 'steps.0.percent', /at most 100/],
    ['a negative bake', { steps: [{ percent: 10, bake: '-10m' }] }, 'steps.0.bake', /duration ≥ 0/],
    ['a bake without unit', { steps: [{ percent: 10, bake: '10' }] }, 'steps.0.bake', /duration/],
    ['no steps', { steps: [] }, 'steps', /at least one step/],
    ['an unknown gate field', { gates: { p95Latency: 1.2 } }, 'gates.p95Latency', /unknown field "p95Latency"/],
    ['an unknown step field', { steps: [{ percent: 10, pause: '1m' }] }, 'steps.0.pause', /unknown field/],
    ['an unknown offline field', { offline: { deferAfterr: '2m' } }, 'offline.deferAfterr', /unknown field/],
    ['an unknown top-level field', { canary: true }, 'canary', /unknown field/],
    ['minRequests 0', { gates: { minRequests: 0 } }, 'gates.minRequests', /never passes without data/],
    ['a fractional minRequests', { gates: { minRequests: 1.5 } }, 'gates.minRequests', /whole number/],
    ['an error rate over 1', { gates: { maxErrorRate: 2 } }, 'gates.maxErrorRate', /between 0 and 1/],
    ['a latency ratio of 1', { gates: { p95LatencyRatio: 1 } }, 'gates.p95LatencyRatio', /more than 1/],
    ['a P99 ratio under 1', { gates: { p99LatencyRatio: 0.9 } }, 'gates.p99LatencyRatio', /more than 1/],
    ['a confidence of 1', { gates: { confidence: 1 } }, 'gates.confidence', /between 0.5 and 0.999/],
    ['failureThreshold 0', { gates: { failureThreshold: 0 } }, 'gates.failureThreshold', /at least 1/],
    ['a zero interval', { gates: { interval: '0s' } }, 'gates.interval', /longer than 0s/],
    ['an unknown warm-up field', { gates: { warmup: { seconds: 30 } } }, 'gates.warmup.seconds', /unknown field/],
    ['a warm-up that is no duration', { gates: { warmup: { duration: 'soon' } } }, 'gates.warmup.duration', /duration/],
    ['negative restarts', { gates: { maxRestarts: -1 } }, 'gates.maxRestarts', /0 or more/],
    ['a fallback rate over 1', { gates: { maxFallbackRate: 1.1 } }, 'gates.maxFallbackRate', /between 0 and 1/],
    ['a zero latency ceiling', { gates: { maxP95LatencyMs: 0 } }, 'gates.maxP95LatencyMs', /more than 0/],
    ['maxUnavailablePerSite 0', { maxUnavailablePerSite: 0 }, 'maxUnavailablePerSite', /at least 1/],
    ['maxUnavailablePerSite 0%', { maxUnavailablePerSite: '0%' }, 'maxUnavailablePerSite', /\(0%, 100%\]/],
    ['maxUnavailablePerSite 150%', { maxUnavailablePerSite: '150%' }, 'maxUnavailablePerSite', /\(0%, 100%\]/],
    ['maxUnavailablePerSite "two"', { maxUnavailablePerSite: 'two' }, 'maxUnavailablePerSite', /percentage such as "25%"/],
    ['maxParallel 0', { maxParallel: 0 }, 'maxParallel', /at least 1/],
    ['a cohortBy key that is not a label key', { cohortBy: ['bad key'] }, 'cohortBy.0', /not a label key/],
    ['a cohortBy key listed twice', { cohortBy: ['a', 'a'] }, 'cohortBy.1', /listed twice/],
    ['an unknown onFailure', { onFailure: 'retry' }, 'onFailure', /./],
    ['a zero progressDeadline', { progressDeadline: '0s' }, 'progressDeadline', /longer than 0s/],
    ['a minReachedPercent of 0', { offline: { minReachedPercent: 0 } }, 'offline.minReachedPercent', /more than 0/],
    ['a deferAfter that is not a duration', { offline: { deferAfter: 'soon' } }, 'offline.deferAfter', /duration/],
  ])('%s', (_name, value, field, message) => {
    expect(RolloutStrategySchema.safeParse(value).success).toBe(false);
    const problems = rolloutStrategyProblems(value);
    expect(problems[0]?.field).toBe(field);
    expect(problems[0]?.message).toMatch(message);
  });

  it('zod itself reports an unknown field at its object, naming the key', () => {
    const issue = RolloutStrategySchema.safeParse({ gates: { p95Latency: 1.2 } }).error?.issues[0];
    expect(issue?.path).toEqual(['gates']);
    expect(issue?.message).toBe('unknown field "p95Latency"');
  });

  it('a valid strategy has no problems', () => {
    expect(rolloutStrategyProblems(ISSUE_EXAMPLE)).toEqual([]);
  });
});
