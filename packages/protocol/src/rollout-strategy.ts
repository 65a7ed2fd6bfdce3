import { z } from 'zod';
import { parseDuration } from './duration.js';
import { labelKeyProblem } from './labels.js';

/**
 * `Deployment.spec.rollout`: how a new revision reaches the nodes a deployment targets —
 * steps of a growing share of nodes, each baked and gated against the previous revision.
 * Every object is `.strict()`: an unknown field (a misspelt gate, say) is refused, never
 * silently ignored. Durations stay strings as written (`10m`), as in the rest of the
 * manifest, so an apply of the same YAML is `unchanged`; `resolveRolloutStrategy` turns
 * them into milliseconds for the planner.
 */

const DurationString = z.string().refine(
  (s) => {
    try {
      parseDuration(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a duration ≥ 0 such as 0s, 10m or 1h30m' },
);

const PositiveDurationString = DurationString.refine((s) => parseDuration(s) > 0, { message: 'must be longer than 0s' });

/** Objects refuse unknown fields with a message that names them (the path is the object's). */
const unknownField = (iss: { code?: string; keys?: readonly string[] }): string | undefined =>
  iss.code === 'unrecognized_keys' ? `unknown field ${(iss.keys ?? []).map((k) => `"${k}"`).join(', ')}` : undefined;

const Percent = z.number().gt(0, 'must be more than 0').lte(100, 'must be at most 100');

const RolloutStepSchema = z
  .object(
    {
      /** Share of the targeted nodes on the new revision once this step is reached, in (0, 100]. */
      percent: Percent,
      /** How long the step runs, once reached, before its gates may pass it. */
      bake: DurationString.default('0s'),
    },
    { error: unknownField },
  )
  .strict();
/** One step of a rollout, defaults applied. */
type RolloutStep = z.infer<typeof RolloutStepSchema>;

/** Steps when none are given: 1 %, 10 %, 50 %, 100 % with bakes 10m, 30m, 1h, none. */
export const DEFAULT_ROLLOUT_STEPS: readonly RolloutStep[] = Object.freeze([
  { percent: 1, bake: '10m' },
  { percent: 10, bake: '30m' },
  { percent: 50, bake: '1h' },
  { percent: 100, bake: '0s' },
]);

/** Default `cohortBy`: spread canaries over sites and accelerator kinds. */
const DEFAULT_COHORT_BY: readonly string[] = Object.freeze(['geolocation.site', 'ai.accelerator']);

const WarmupSchema = z
  .object(
    {
      /** A new instance's first requests, left out of analysis (cold caches, JIT, a model still loading). */
      requests: z.number().int('must be a whole number').min(0, 'must be 0 or more').default(50),
      /** A new instance's first seconds, left out of analysis (the old instance may still share the CPU). */
      duration: DurationString.default('30s'),
    },
    { error: unknownField },
  )
  .strict();

const Ratio = z.number().gt(1, 'must be more than 1: a ratio of 1 or less fails identical releases');

export const RolloutGatesSchema = z
  .object(
    {
      /**
       * Fewest nodes a step before the last moves (its canaries), whatever its percent, at
       * most half the targeted nodes: a gate's interval comes from resampling canary nodes,
       * and two canaries (1 % of 200) say little about how nodes differ.
       */
      minCanaryNodes: z.number().int('must be a whole number').min(1, 'must be at least 1').default(5),
      /** Requests needed on each compared side (after warm-up) before a gate judges; fewer holds the step (never passes). At least 1. */
      minRequests: z.number().int('must be a whole number').min(1, 'must be at least 1: a gate never passes without data').default(200),
      /** New revision's P50 ≤ this × the baseline's P50 (same window, same cohorts); off unless set. */
      p50LatencyRatio: Ratio.optional(),
      /** New revision's P95 ≤ this × the baseline's P95 (same window, same cohorts). */
      p95LatencyRatio: Ratio.default(1.2),
      /** New revision's P99 ≤ this × the baseline's P99 (same window, same cohorts); off unless set. */
      p99LatencyRatio: Ratio.optional(),
      /** Absolute P95 ceiling for the new revision, in milliseconds; none by default. */
      maxP95LatencyMs: z.number().positive('must be more than 0').optional(),
      /**
       * Noise floor of the latency ratio gates, in milliseconds: a latency gate fails only
       * when the canary is slower than the baseline by more than this as well (at the
       * configured confidence), so a 1.5 ms model at 2.4 ms never fails a 1.5 ratio.
       */
      minLatencyDeltaMs: z.number().min(0, 'must be 0 or more').default(2),
      /**
       * Highest share of the new revision's requests that may fail beyond the baseline's
       * share, 0 … 1 (judged with a binomial test against baseline rate + this).
       */
      maxErrorRate: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').default(0.01),
      /** Most restarts any one node on the new revision may have in the window. */
      maxRestarts: z.number().int('must be a whole number').min(0, 'must be 0 or more').default(0),
      /** Highest share of nodes on the new revision that may run the CPU fallback, 0 … 1. */
      maxFallbackRate: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').default(0),
      /**
       * Confidence of every statistical verdict: a gate fails only when the regression is
       * established at this confidence and passes only when it is ruled out at it.
       */
      confidence: z.number().min(0.5, 'must be between 0.5 and 0.999').max(0.999, 'must be between 0.5 and 0.999').default(0.95),
      /** Consecutive failing evaluations (at least `interval` apart) before a gate fails the step. */
      failureThreshold: z.number().int('must be a whole number').min(1, 'must be at least 1').max(100, 'must be at most 100').default(2),
      /** Time between evaluations that count towards `failureThreshold`. */
      interval: PositiveDurationString.default('30s'),
      /** What is left out of analysis at the start of each new instance of the new revision. */
      warmup: WarmupSchema.prefault({}),
      /**
       * How long after its bake a step may wait for a verdict (too little data, or an
       * interval that neither rules a regression out nor establishes it). Then the step
       * passes if every gate has data and each undecided one estimates within its
       * threshold; otherwise the rollout's `onFailure` action runs, with reason
       * `AnalysisTimeExceeded`.
       */
      maxAnalysisTime: PositiveDurationString.default('1h'),
    },
    { error: unknownField },
  )
  .strict();
/** Gate thresholds, defaults applied. */
export type RolloutGates = z.infer<typeof RolloutGatesSchema>;

const RolloutOfflineSchema = z
  .object(
    {
      /** A node picked for a step that stays unreachable this long is deferred, not failed. */
      deferAfter: DurationString.default('2m'),
      /** A step is reached when this share of its reachable (not deferred) nodes is updated and healthy. */
      minReachedPercent: Percent.default(90),
    },
    { error: unknownField },
  )
  .strict();
export type RolloutOffline = z.infer<typeof RolloutOfflineSchema>;

/** `maxUnavailablePerSite`: a number of nodes (≥ 1) or a percentage of the site's nodes such as `"25%"`. */
const MaxUnavailableSchema = z.union([
  z.number().int('must be a whole number of nodes or a percentage such as "25%"').min(1, 'must be at least 1 node'),
  z.string().superRefine((s, ctx) => {
    if (!/^\d+(\.\d+)?%$/.test(s)) ctx.addIssue({ code: 'custom', message: 'must be a whole number of nodes or a percentage such as "25%"' });
    else if (!(Number.parseFloat(s) > 0 && Number.parseFloat(s) <= 100)) ctx.addIssue({ code: 'custom', message: 'a percentage must be in (0%, 100%]' });
  }),
]);

const CohortKey = z.string().superRefine((key, ctx) => {
  const problem = labelKeyProblem(key);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `"${key}" is not a label key: ${problem}` });
});

const StepsSchema = z
  .array(RolloutStepSchema)
  .min(1, 'needs at least one step')
  .max(100, 'at most 100 steps')
  .superRefine((steps, ctx) => {
    for (let i = 1; i < steps.length; i++) {
      const prev = (steps[i - 1] as RolloutStep).percent;
      const cur = (steps[i] as RolloutStep).percent;
      if (!(cur > prev)) ctx.addIssue({ code: 'custom', path: [i, 'percent'], message: `must be more than the previous step's ${prev}: steps must increase` });
    }
  })
  // A rollout always ends with every targeted node on the new revision.
  .transform((steps) => ((steps.at(-1) as RolloutStep).percent < 100 ? [...steps, { percent: 100, bake: '0s' }] : steps));

export const RolloutStrategySchema = z
  .object(
    {
      /** Steps with strictly increasing percentages; a last 100 % step is added when missing. */
      steps: StepsSchema.default(() => DEFAULT_ROLLOUT_STEPS.map((s) => ({ ...s }))),
      /** Label keys whose values the canaries are spread across. */
      cohortBy: z
        .array(CohortKey)
        .max(8, 'at most 8 keys')
        .superRefine((keys, ctx) => {
          keys.forEach((k, i) => {
            if (keys.indexOf(k) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `"${k}" is listed twice` });
          });
        })
        .default(() => [...DEFAULT_COHORT_BY]),
      /** Nodes of one site (`geolocation.site`) that may be switching or down at once; never the last serving one. */
      maxUnavailablePerSite: MaxUnavailableSchema.default(1),
      /** Nodes switching to the new revision at once, fleet-wide. */
      maxParallel: z.number().int('must be a whole number').min(1, 'must be at least 1').default(50),
      gates: RolloutGatesSchema.prefault({}),
      offline: RolloutOfflineSchema.prefault({}),
      /** What a failed gate does: put the updated nodes back on the previous revision, or stop and wait. */
      onFailure: z.enum(['rollback', 'pause']).default('rollback'),
      /** A step that makes no progress (no node updated) this long fails the rollout. */
      progressDeadline: PositiveDurationString.default('2h'),
    },
    { error: unknownField },
  )
  .strict();

/** `spec.rollout` as parsed: every default applied, durations still as written. */
export type RolloutStrategy = z.infer<typeof RolloutStrategySchema>;
/** `spec.rollout` as a user may write it. */
export type RolloutStrategyInput = z.input<typeof RolloutStrategySchema>;

/** A per-site limit: a node count, or a share of the site's nodes. */
export type SiteUnavailableLimit = { nodes: number } | { percent: number };

/** A strategy with durations in milliseconds, for the planner. */
export interface ResolvedRolloutStrategy {
  steps: { percent: number; bakeMs: number }[];
  cohortBy: string[];
  maxUnavailablePerSite: SiteUnavailableLimit;
  maxParallel: number;
  gates: RolloutGates;
  deferAfterMs: number;
  minReachedPercent: number;
  onFailure: 'rollback' | 'pause';
  progressDeadlineMs: number;
  /** `gates.interval`, `gates.maxAnalysisTime` and `gates.warmup.duration` in milliseconds. */
  gateIntervalMs: number;
  maxAnalysisTimeMs: number;
  warmupMs: number;
}

/** Resolves a parsed strategy's durations and limits into numbers. */
export function resolveRolloutStrategy(s: RolloutStrategy): ResolvedRolloutStrategy {
  const limit = s.maxUnavailablePerSite;
  return {
    steps: s.steps.map((step) => ({ percent: step.percent, bakeMs: parseDuration(step.bake, 'bake') })),
    cohortBy: [...s.cohortBy],
    maxUnavailablePerSite: typeof limit === 'number' ? { nodes: limit } : { percent: Number.parseFloat(limit) },
    maxParallel: s.maxParallel,
    gates: s.gates,
    deferAfterMs: parseDuration(s.offline.deferAfter, 'deferAfter'),
    minReachedPercent: s.offline.minReachedPercent,
    onFailure: s.onFailure,
    progressDeadlineMs: parseDuration(s.progressDeadline, 'progressDeadline'),
    gateIntervalMs: parseDuration(s.gates.interval, 'gates.interval'),
    maxAnalysisTimeMs: parseDuration(s.gates.maxAnalysisTime, 'gates.maxAnalysisTime'),
    warmupMs: parseDuration(s.gates.warmup.duration, 'gates.warmup.duration'),
  };
}

/**
 * How many of a site's `siteNodes` nodes may be unavailable at once. A percentage rounds
 * down, as Kubernetes' maxUnavailable does, but never below 1: a limit of 0 would stop
 * every serving node of a small site from ever being updated.
 */
export function siteUnavailableLimit(limit: SiteUnavailableLimit, siteNodes: number): number {
  if ('nodes' in limit) return limit.nodes;
  return Math.max(1, Math.floor((limit.percent * siteNodes) / 100));
}

/** A problem with a strategy, the field named as a dotted path from `spec.rollout`. */
interface RolloutStrategyProblem {
  field: string;
  message: string;
}

/**
 * Validates a strategy and returns its problems (empty when valid), each naming its field:
 * an unknown field is named itself (`gates.p95Latency`), not its parent object.
 */
export function rolloutStrategyProblems(value: unknown): RolloutStrategyProblem[] {
  const parsed = RolloutStrategySchema.safeParse(value);
  if (parsed.success) return [];
  const problems: RolloutStrategyProblem[] = [];
  for (const issue of parsed.error.issues) {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push({ field: [...base, key].join('.'), message: `unknown field "${key}"` });
    } else {
      problems.push({ field: base.join('.'), message: issue.message });
    }
  }
  return problems;
}
