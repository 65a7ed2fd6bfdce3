/**
 * Local alert rules, evaluated on the node every interval — also while offline, which is when
 * they matter most: a disk filling up with queued telemetry is noticed by the node itself.
 *
 * `evaluateAlerts` is pure: the readings and the previous alert states come in as data, the
 * new states and the transitions go out, so every rule is tested with table cases and the
 * caller decides what a transition does (a node condition, a log line, an `AlertReport` in
 * the next upload).
 *
 * States follow Prometheus: a rule whose condition holds is `pending` until it has held for
 * the rule's `for`, then `firing`; when the condition stops holding it resolves (a pending one
 * just disappears). A reading that is unknown (null: no thermal zone, disk unreadable) changes
 * nothing — an alert neither starts nor resolves on missing data.
 *
 * | rule | condition | for | severity |
 * | --- | --- | --- | --- |
 * | DiskAlmostFull | data dir's filesystem used / size > 90 % | 0 | critical: a full disk stops the queue and model updates |
 * | NodeTooHot | SoC temperature > 80 °C | 60 s: a burst of inference heats the SoC for seconds, and the firmware copes | warning |
 * | NodeThrottled | any of get_throttled bits 0–3 (now) set | 0 | warning |
 * | AcceleratorLost | labelled with an accelerator, none seen | 30 s: a driver reload makes the device vanish briefly | critical |
 * | TelemetryQueueAlmostFull | telemetry queue fill > 80 % | 0 | warning |
 * | WorkloadCrashLoop | the supervisor reports a crash loop (per deployment and revision) | 0: the supervisor already waited for repeated failures | critical |
 */
import type { AlertReport } from '@edgefleet/protocol';
import { z } from 'zod';

/** The built-in rules, by name. */
export const ALERT_NAMES = ['DiskAlmostFull', 'NodeTooHot', 'NodeThrottled', 'AcceleratorLost', 'TelemetryQueueAlmostFull', 'WorkloadCrashLoop'] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

/** Thresholds used when the agent config does not override them. */
export const DEFAULT_ALERT_THRESHOLDS = { diskPercent: 90, temperatureC: 80, queuePercent: 80 } as const;

/** How long (ms) a condition must hold before its alert fires. */
export const ALERT_FOR_MS: Readonly<Record<AlertName, number>> = {
  DiskAlmostFull: 0,
  NodeTooHot: 60_000,
  NodeThrottled: 0,
  AcceleratorLost: 30_000,
  TelemetryQueueAlmostFull: 0,
  WorkloadCrashLoop: 0,
};

export const ALERT_SEVERITY: Readonly<Record<AlertName, AlertReport['severity']>> = {
  DiskAlmostFull: 'critical',
  NodeTooHot: 'warning',
  NodeThrottled: 'warning',
  AcceleratorLost: 'critical',
  TelemetryQueueAlmostFull: 'warning',
  WorkloadCrashLoop: 'critical',
};

/** The `alerts` section of the agent config: thresholds to override and rules to switch off. */
export const AlertRulesSchema = z
  .object({
    diskPercent: z.number().gt(0, 'must be above 0').max(100, 'must be at most 100').optional(),
    temperatureC: z.number().min(0, 'must be at least 0 °C').max(150, 'must be at most 150 °C').optional(),
    queuePercent: z.number().gt(0, 'must be above 0').max(100, 'must be at most 100').optional(),
    disabled: z.array(z.enum(ALERT_NAMES, { error: () => `must name built-in rules: ${ALERT_NAMES.join(', ')}` })).optional(),
  })
  .strict();
export type AlertRules = z.infer<typeof AlertRulesSchema>;

/**
 * Validates the `alerts` section of the agent config.
 *
 * @throws Error naming the offending field, e.g. `alerts.diskPercent must be at most 100 (got 120)`.
 */
export function parseAlertRules(input: unknown): AlertRules {
  const parsed = AlertRulesSchema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => {
    const field = ['alerts', ...i.path.map(String)].join('.');
    if (i.code === 'unrecognized_keys') return `${field} has unknown field(s) ${i.keys.join(', ')} (known: diskPercent, temperatureC, queuePercent, disabled)`;
    const got = valueAt(input, i.path);
    return `${field} ${i.message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`;
  });
  throw new Error(`invalid alert rules in the agent config: ${problems.join('; ')}`);
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** The readings the rules look at; null means unknown. */
export interface AlertInput {
  /** Unix ms. */
  now: number;
  node: {
    diskUsedBytes: number | null;
    diskTotalBytes: number | null;
    temperatureC: number | null;
    throttledBits: number | null;
  };
  /** Telemetry queue bytes / capacity (0 … 1). */
  queueFillRatio: number | null;
  /** The node was enrolled or labelled with an AI accelerator. */
  acceleratorExpected: boolean;
  /** An accelerator is seen now. */
  acceleratorPresent: boolean;
  workloads: { deployment: string; revision: number | string; crashLoop: boolean }[];
}

/** What is remembered about one alert between evaluations (keyed by {@link alertKey}). */
export interface ActiveAlert {
  name: AlertName;
  labels?: Record<string, string>;
  state: 'pending' | 'firing';
  /** When the condition was first seen holding. */
  activeSince: number;
  /** When it started firing (set once firing). */
  firingSince?: number;
  severity: AlertReport['severity'];
  message: string;
}

/** A transition of this evaluation: what becomes a node condition and a log line. */
export interface AlertChange {
  name: AlertName;
  state: 'firing' | 'resolved';
  message: string;
  labels?: Record<string, string>;
}

export interface AlertEvaluation {
  /** Every firing alert, and each one that resolved in this evaluation (sent once; the caller keeps them until uploaded). */
  alerts: AlertReport[];
  /** Alerts that started firing or resolved in this evaluation. */
  changes: AlertChange[];
  /** The states to pass as `previous` next time. */
  active: Map<string, ActiveAlert>;
}

/** `DiskAlmostFull`, or `WorkloadCrashLoop{deployment="cam",revision="3"}` for per-workload rules. */
export function alertKey(name: string, labels?: Record<string, string>): string {
  if (labels === undefined) return name;
  return `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`;
}

/** A rule's verdict on one subject: holds (with the message), does not hold, or unknown. */
type Verdict = { holds: true; message: string } | { holds: false; message: string } | null;

interface Check {
  name: AlertName;
  labels?: Record<string, string>;
  verdict: Verdict;
}

const THROTTLE_NOW = ['under-voltage', 'ARM frequency capped', 'throttled', 'soft temperature limit'] as const;

/** The rule checks for this input: one per rule, one per workload for WorkloadCrashLoop. */
function checks(input: AlertInput, rules: AlertRules): Check[] {
  const diskLimit = rules.diskPercent ?? DEFAULT_ALERT_THRESHOLDS.diskPercent;
  const hotLimit = rules.temperatureC ?? DEFAULT_ALERT_THRESHOLDS.temperatureC;
  const queueLimit = rules.queuePercent ?? DEFAULT_ALERT_THRESHOLDS.queuePercent;
  const { diskUsedBytes: used, diskTotalBytes: total, temperatureC, throttledBits } = input.node;

  const out: Check[] = [];
  if (used !== null && total !== null && total > 0) {
    const pct = (100 * used) / total;
    out.push({ name: 'DiskAlmostFull', verdict: { holds: pct > diskLimit, message: `disk ${pct.toFixed(1)}% full (threshold ${diskLimit}%)` } });
  } else out.push({ name: 'DiskAlmostFull', verdict: null });

  out.push({
    name: 'NodeTooHot',
    verdict:
      temperatureC === null ? null : { holds: temperatureC > hotLimit, message: `SoC temperature ${temperatureC.toFixed(1)} °C (threshold ${hotLimit} °C)` },
  });

  if (throttledBits !== null) {
    const now = THROTTLE_NOW.filter((_, bit) => (throttledBits & (1 << bit)) !== 0);
    const hex = `0x${throttledBits.toString(16)}`;
    out.push({
      name: 'NodeThrottled',
      verdict: {
        holds: now.length > 0,
        message: now.length > 0 ? `throttled now: ${now.join(', ')} (get_throttled ${hex})` : `not throttled now (get_throttled ${hex})`,
      },
    });
  } else out.push({ name: 'NodeThrottled', verdict: null });

  out.push({
    name: 'AcceleratorLost',
    verdict: {
      holds: input.acceleratorExpected && !input.acceleratorPresent,
      message: input.acceleratorPresent ? 'accelerator present' : 'the node is labelled with an AI accelerator but none is seen',
    },
  });

  out.push({
    name: 'TelemetryQueueAlmostFull',
    verdict:
      input.queueFillRatio === null
        ? null
        : {
            holds: input.queueFillRatio * 100 > queueLimit,
            message: `telemetry queue ${(input.queueFillRatio * 100).toFixed(1)}% full (threshold ${queueLimit}%)`,
          },
  });

  for (const w of input.workloads) {
    const revision = String(w.revision);
    out.push({
      name: 'WorkloadCrashLoop',
      labels: { deployment: w.deployment, revision },
      verdict: {
        holds: w.crashLoop,
        message: w.crashLoop ? `workload ${w.deployment} revision ${revision} is crash-looping` : `workload ${w.deployment} revision ${revision} runs`,
      },
    });
  }
  return out;
}

/**
 * Evaluates every enabled rule against `input`, given the states of the previous evaluation.
 * A workload that is no longer listed resolves its crash-loop alert; a rule disabled while
 * firing resolves too, so the server never keeps an alert the node stopped evaluating.
 */
export function evaluateAlerts(input: AlertInput, rules: AlertRules, previous: ReadonlyMap<string, ActiveAlert>): AlertEvaluation {
  const disabled = new Set<string>(rules.disabled ?? []);
  const active = new Map<string, ActiveAlert>();
  const changes: AlertChange[] = [];
  const resolved: AlertReport[] = [];
  const seen = new Set<string>();

  const resolve = (prev: ActiveAlert, message: string): void => {
    if (prev.state !== 'firing') return;
    changes.push(withLabels({ name: prev.name, state: 'resolved' as const, message }, prev.labels));
    resolved.push(withLabels({ name: prev.name, state: 'resolved' as const, severity: prev.severity, since: input.now, message }, prev.labels));
  };

  for (const check of checks(input, rules)) {
    if (disabled.has(check.name)) continue;
    const key = alertKey(check.name, check.labels);
    seen.add(key);
    const prev = previous.get(key);
    const v = check.verdict;
    if (v === null) {
      // Unknown reading: keep whatever state there was, without progressing it.
      if (prev !== undefined) active.set(key, prev);
      continue;
    }
    if (!v.holds) {
      if (prev !== undefined) resolve(prev, v.message);
      continue;
    }
    const activeSince = prev?.activeSince ?? input.now;
    const firing = prev?.state === 'firing' || input.now - activeSince >= ALERT_FOR_MS[check.name];
    const next: ActiveAlert = withLabels(
      {
        name: check.name,
        state: firing ? ('firing' as const) : ('pending' as const),
        activeSince,
        severity: ALERT_SEVERITY[check.name],
        message: v.message,
        ...(firing ? { firingSince: prev?.firingSince ?? input.now } : {}),
      },
      check.labels,
    );
    active.set(key, next);
    if (firing && prev?.state !== 'firing') changes.push(withLabels({ name: check.name, state: 'firing' as const, message: v.message }, check.labels));
  }

  // Alerts whose subject is gone (a workload removed) or whose rule was disabled.
  for (const [key, prev] of previous) {
    if (seen.has(key)) continue;
    const why = disabled.has(prev.name) ? 'rule disabled in the agent config' : 'no longer applies';
    resolve(prev, `${prev.message} — ${why}`);
  }

  const alerts: AlertReport[] = [];
  for (const a of active.values()) {
    if (a.state !== 'firing') continue;
    alerts.push(
      withLabels({ name: a.name, state: 'firing' as const, severity: a.severity, since: a.firingSince ?? a.activeSince, message: a.message }, a.labels),
    );
  }
  alerts.push(...resolved);
  return { alerts, changes, active };
}

function withLabels<T extends object>(value: T, labels: Record<string, string> | undefined): T & { labels?: Record<string, string> } {
  return labels === undefined ? value : { ...value, labels: { ...labels } };
}
