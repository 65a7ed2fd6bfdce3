/**
 * What makes a telemetry series acceptable, checked in one place for both directions: the
 * encoder refuses to put a bad series on the wire (the agent's bug surfaces on the node, not
 * as a batch the server rejects forever from the queue), and the decoder refuses what a
 * hostile or broken node sends. Each check returns a sentence, or `undefined` when fine.
 */
import { LatencyHistogramSchema } from '../histogram.js';
import type { TelemetryBatch, TelemetrySeries } from './types.js';

const KINDS: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram']);

/** Prometheus' metric name rule. */
export const METRIC_NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** Prometheus' label name rule. */
export const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/**
 * The latest timestamp accepted, 9999-12-31T23:59:59.999Z in Unix ms (< 2^48). Keeping
 * timestamps this small keeps their zigzag deltas of deltas below 2^53, so the codec never
 * needs BigInt.
 */
export const MAX_TIMESTAMP_MS = 253_402_300_799_999;
/** The coarsest resolution accepted: one week. */
const MAX_RESOLUTION_MS = 7 * 24 * 3600 * 1000;

/** The problem with the batch's own fields (not its series), if any. */
export function batchHeaderProblem(batch: Pick<TelemetryBatch, 'stream' | 'seq' | 'resolutionMs'>): string | undefined {
  if (typeof batch.stream !== 'string' || batch.stream.length === 0) return 'stream must be a non-empty string (the id of the node queue)';
  if (!Number.isSafeInteger(batch.seq) || batch.seq < 0) return `seq must be a whole number ≥ 0, got ${batch.seq}`;
  if (!Number.isSafeInteger(batch.resolutionMs) || batch.resolutionMs < 1 || batch.resolutionMs > MAX_RESOLUTION_MS)
    return `resolutionMs must be a whole number of milliseconds from 1 to ${MAX_RESOLUTION_MS}, got ${batch.resolutionMs}`;
  return undefined;
}

/** The problem with one series, if any; the caller prefixes which series. */
export function seriesProblem(series: TelemetrySeries): string | undefined {
  if (!KINDS.has(series.kind)) return `kind ${JSON.stringify(series.kind)} is not counter, gauge or histogram`;
  if (!Array.isArray(series.points)) return 'points must be an array';
  return nameProblem(series.name) ?? labelsProblem(series.labels) ?? pointsProblem(series);
}

function nameProblem(name: string): string | undefined {
  if (!METRIC_NAME_PATTERN.test(name)) return `metric name ${JSON.stringify(name)} is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`;
  return undefined;
}

function labelsProblem(labels: Record<string, string>): string | undefined {
  for (const [name, value] of Object.entries(labels)) {
    const problem = labelNameProblem(name);
    if (problem !== undefined) return problem;
    if (typeof value !== 'string') return `label ${name} must have a string value`;
  }
  return undefined;
}

/** The problem with a label name a node sends, if any. */
export function labelNameProblem(name: string): string | undefined {
  if (!LABEL_NAME_PATTERN.test(name)) return `label name ${JSON.stringify(name)} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)`;
  // `__name__` and friends would rename or re-route the series once forwarded to Prometheus.
  if (name.startsWith('__')) return `label name ${JSON.stringify(name)} starts with "__", which Prometheus reserves for itself`;
  return undefined;
}

function pointsProblem(series: TelemetrySeries): string | undefined {
  for (let i = 0; i < series.points.length; i++) {
    const problem = pointProblem(series, i);
    if (problem !== undefined) return `point ${i}: ${problem}`;
  }
  return undefined;
}

function pointProblem(series: TelemetrySeries, i: number): string | undefined {
  const point = series.points[i] as { t: number };
  if (!Number.isSafeInteger(point.t) || point.t < 0 || point.t > MAX_TIMESTAMP_MS)
    return `timestamp ${point.t} is not a whole number of Unix milliseconds from 0 to ${MAX_TIMESTAMP_MS}`;
  switch (series.kind) {
    case 'counter': {
      const { inc } = series.points[i] as { inc: number };
      if (!Number.isFinite(inc)) return `counter increase ${inc} is not a finite number`;
      if (inc < 0) return `counter increase ${inc} is negative; a counter carries its increase over the interval, which is never below 0`;
      return undefined;
    }
    case 'gauge': {
      const { min, max, last } = series.points[i] as { min: number; max: number; last: number };
      for (const [field, v] of [
        ['min', min],
        ['max', max],
        ['last', last],
      ] as const)
        if (!Number.isFinite(v)) return `gauge ${field} ${v} is not a finite number`;
      // `last` is one of the values the interval saw, so it lies between their min and max.
      if (!(min <= last && last <= max)) return `gauge min ${min}, last ${last}, max ${max} are not in order min ≤ last ≤ max`;
      return undefined;
    }
    case 'histogram': {
      const { sumMs, hist } = series.points[i] as { sumMs: number; hist: unknown };
      if (!Number.isFinite(sumMs)) return `histogram sumMs ${sumMs} is not a finite number`;
      const parsed = LatencyHistogramSchema.safeParse(hist);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return `histogram ${issue?.path.join('.') || 'layout'}: ${issue?.message ?? 'invalid'}`;
      }
      return undefined;
    }
  }
}
