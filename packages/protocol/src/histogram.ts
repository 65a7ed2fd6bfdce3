import { z } from 'zod';

/**
 * Latency histograms that merge losslessly across nodes, DDSketch-style.
 *
 * Layout (wire version 1, fixed for every node so that merging is adding counts):
 * - relative accuracy α = 1 %, growth factor γ = (1 + α) / (1 − α) ≈ 1.0202;
 * - bucket 0 holds every value ≤ 0.1 ms (`HISTOGRAM_MIN_MS`, zero and negative clock
 *   steps included);
 * - bucket i ≥ 1 holds the values in (0.1 ms · γ^(i−1), 0.1 ms · γ^i];
 * - 667 buckets, so the last one ends at 0.1 ms · γ^666 ≈ 60.96 s (`HISTOGRAM_MAX_MS`);
 *   a value above that is counted in the last bucket.
 * A bucket is read back as 2 · upper / (γ + 1), which lies within α of every value the
 * bucket can hold. So `histogramQuantile` is within 1 % (relative) of the exact quantile of the
 * recorded values for any value in [0.1 ms, 60.96 s]; below it reads 0.1 ms, above it
 * ≈ 60.35 s. Merging is exact: the quantiles of a merged histogram are those of the
 * histogram of all the values, so fleet P95s never average node P95s.
 *
 * Wire form (`LatencyHistogramSchema`): `{"v":1,"counts":{"<bucket index>":count}}`,
 * sparse — empty buckets are left out — because one node's latencies in one report
 * interval fill a few dozen neighbouring buckets, with the odd outlier far away (a dense
 * offset+array form would spend a zero per bucket in between). `v` names the layout above;
 * a new layout gets a new `v` and nodes and server must agree on it to merge.
 *
 * The in-memory form is the wire form (plain JSON data). For merging many histograms the
 * server uses a dense accumulator (`denseCounts`, `addToDense`, `denseQuantile`), which also
 * takes weights (the gates re-weight a baseline to the canaries' cohort mix).
 */

/** Relative accuracy of every quantile: 1 %. */
export const HISTOGRAM_ALPHA = 0.01;
/** Ratio between consecutive bucket boundaries, (1 + α) / (1 − α). */
export const HISTOGRAM_GAMMA = (1 + HISTOGRAM_ALPHA) / (1 - HISTOGRAM_ALPHA);
/** Upper boundary of bucket 0; smaller values are read back as this. */
export const HISTOGRAM_MIN_MS = 0.1;
/** Number of buckets in layout version 1 (indices 0 … 666). */
export const HISTOGRAM_BUCKETS = 667;
/** Upper boundary of the last bucket (≈ 60.96 s); larger values are counted in it. */
export const HISTOGRAM_MAX_MS = HISTOGRAM_MIN_MS * HISTOGRAM_GAMMA ** (HISTOGRAM_BUCKETS - 1);
/** Wire layout version. */
export const HISTOGRAM_VERSION = 1;

const LOG_GAMMA = Math.log(HISTOGRAM_GAMMA);

/** The value each bucket reads back as: within α of everything the bucket holds. */
const BUCKET_VALUE: Float64Array = (() => {
  const values = new Float64Array(HISTOGRAM_BUCKETS);
  values[0] = HISTOGRAM_MIN_MS;
  for (let i = 1; i < HISTOGRAM_BUCKETS; i++) values[i] = (2 * HISTOGRAM_MIN_MS * HISTOGRAM_GAMMA ** i) / (HISTOGRAM_GAMMA + 1);
  return values;
})();

/** A latency histogram, as stored and sent: sparse bucket index → count (layout above). */
export interface LatencyHistogram {
  v: 1;
  /** Bucket index (decimal string, 0 … 666) → number of values; empty buckets are absent. */
  counts: Record<string, number>;
}

export const LatencyHistogramSchema = z
  .object({
    v: z.literal(HISTOGRAM_VERSION),
    counts: z.record(
      z.string().regex(/^(0|[1-9]\d{0,2})$/, 'bucket indices are decimal integers'),
      z.number().int('counts are whole numbers').nonnegative('counts are never negative'),
    ),
  })
  .strict()
  .superRefine((h, ctx) => {
    for (const key of Object.keys(h.counts)) {
      if (Number(key) >= HISTOGRAM_BUCKETS) ctx.addIssue({ code: 'custom', path: ['counts', key], message: `bucket index must be below ${HISTOGRAM_BUCKETS}` });
    }
  });

/** The bucket a value in milliseconds falls in (clamped to the layout's range). */
export function bucketIndex(ms: number): number {
  if (Number.isNaN(ms)) throw new RangeError('a latency must be a number of milliseconds, not NaN');
  if (ms <= HISTOGRAM_MIN_MS) return 0;
  const i = Math.ceil(Math.log(ms / HISTOGRAM_MIN_MS) / LOG_GAMMA);
  return i >= HISTOGRAM_BUCKETS ? HISTOGRAM_BUCKETS - 1 : i;
}

/** The value a bucket reads back as, in milliseconds. */
export function bucketValue(index: number): number {
  const v = BUCKET_VALUE[index];
  if (v === undefined) throw new RangeError(`bucket index ${index} is outside 0 … ${HISTOGRAM_BUCKETS - 1}`);
  return v;
}

/** A histogram with nothing recorded. */
export function emptyHistogram(): LatencyHistogram {
  return { v: 1, counts: {} };
}

/** Records `times` values of `ms` milliseconds into `h` (mutated) and returns it. */
export function recordLatency(h: LatencyHistogram, ms: number, times = 1): LatencyHistogram {
  if (!Number.isInteger(times) || times < 0) throw new RangeError(`times must be a whole number ≥ 0, got ${times}`);
  if (times === 0) return h;
  const key = String(bucketIndex(ms));
  h.counts[key] = (h.counts[key] ?? 0) + times;
  return h;
}

/** A histogram of the given values. */
export function histogramOf(values: Iterable<number>): LatencyHistogram {
  const h = emptyHistogram();
  for (const v of values) recordLatency(h, v);
  return h;
}

/** The sum of two histograms, as a new histogram; neither input changes. Lossless. */
export function mergeHistograms(a: LatencyHistogram, b: LatencyHistogram): LatencyHistogram {
  const counts: Record<string, number> = { ...a.counts };
  for (const key in b.counts) counts[key] = (counts[key] ?? 0) + (b.counts[key] as number);
  return { v: 1, counts };
}

/** The sum of any number of histograms (empty input → empty histogram). */
export function mergeAllHistograms(histograms: Iterable<LatencyHistogram>): LatencyHistogram {
  const dense = denseCounts();
  for (const h of histograms) addToDense(dense, h);
  return fromDense(dense);
}

/** How many values the histogram holds. */
export function histogramCount(h: LatencyHistogram): number {
  let n = 0;
  for (const key in h.counts) n += h.counts[key] as number;
  return n;
}

/**
 * The q-quantile (0 ≤ q ≤ 1) in milliseconds: an estimate, within 1 % relative error, of
 * the value of rank ⌊q · (n − 1)⌋ (0-based) among the n recorded values sorted ascending,
 * for values inside [0.1 ms, 60.96 s]. `undefined` for an empty histogram.
 */
export function histogramQuantile(h: LatencyHistogram, q: number): number | undefined {
  checkQuantile(q);
  const n = histogramCount(h);
  if (n === 0) return undefined;
  const rank = q * (n - 1);
  let cumulative = 0;
  // Integer-like keys enumerate in ascending numeric order (ECMAScript OrdinaryOwnPropertyKeys).
  let last = 0;
  for (const key in h.counts) {
    const c = h.counts[key] as number;
    if (c === 0) continue;
    last = Number(key);
    cumulative += c;
    if (cumulative > rank) return BUCKET_VALUE[last];
  }
  return BUCKET_VALUE[last];
}

/** A dense, mutable accumulator of (possibly weighted) bucket counts, one slot per bucket. */
export type DenseCounts = Float64Array;

/** A zeroed dense accumulator. */
export function denseCounts(): DenseCounts {
  return new Float64Array(HISTOGRAM_BUCKETS);
}

/** Adds `weight` × `h` into `dense` (mutated). */
export function addToDense(dense: DenseCounts, h: LatencyHistogram, weight = 1): void {
  const counts = h.counts;
  for (const key in counts) {
    const i = +key;
    dense[i] = (dense[i] as number) + (counts[key] as number) * weight;
  }
}

/** Adds `weight` × `source` into `dense` (mutated). */
export function addDense(dense: DenseCounts, source: DenseCounts, weight = 1): void {
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
    const c = source[i] as number;
    if (c !== 0) dense[i] = (dense[i] as number) + c * weight;
  }
}

/** Total weight in a dense accumulator. */
export function denseCount(dense: DenseCounts): number {
  let n = 0;
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) n += dense[i] as number;
  return n;
}

/**
 * `quantile` over a dense accumulator. With weights the rank is q · (total − 1) over the
 * weighted values, so integer weights give exactly what repeating values would.
 */
export function denseQuantile(dense: DenseCounts, q: number): number | undefined {
  checkQuantile(q);
  const n = denseCount(dense);
  if (!(n > 0)) return undefined;
  const rank = q * (n - 1);
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
    const c = dense[i] as number;
    if (c === 0) continue;
    last = i;
    cumulative += c;
    if (cumulative > rank) return BUCKET_VALUE[i];
  }
  return BUCKET_VALUE[last];
}

/** A dense accumulator back in wire form (counts rounded to whole numbers). */
export function fromDense(dense: DenseCounts): LatencyHistogram {
  const counts: Record<string, number> = {};
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
    const c = Math.round(dense[i] as number);
    if (c > 0) counts[String(i)] = c;
  }
  return { v: 1, counts };
}

function checkQuantile(q: number): void {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`a quantile must be between 0 and 1, got ${q}`);
}

/**
 * What an agent reports for one deployment and revision, for the interval since its previous
 * report: the numbers rollout gates compare (and the telemetry pipeline builds on).
 *
 * Times are integer milliseconds since the epoch by the node's clock. A Pi has no RTC, so
 * the server should re-anchor an interval on its own receive time (keeping its length)
 * before comparing it with other nodes' windows.
 */
export const WorkloadStatsSchema = z
  .object({
    deployment: z.string().min(1),
    revision: z.number().int().positive(),
    intervalStart: z.number().int().nonnegative(),
    intervalEnd: z.number().int().nonnegative(),
    /** Inference requests answered in the interval, errors included. */
    requests: z.number().int().nonnegative(),
    /** Requests that failed (5xx or transport error from the model server). */
    errors: z.number().int().nonnegative(),
    /** Times the workload's process restarted after a crash or failed health check. */
    restarts: z.number().int().nonnegative(),
    /** Whether the CPU fallback model served at any time in the interval. */
    fallback: z.boolean(),
    /** Latency of the answered requests; its count is at most `requests`. */
    latency: LatencyHistogramSchema,
  })
  .superRefine((s, ctx) => {
    if (s.intervalEnd < s.intervalStart) ctx.addIssue({ code: 'custom', path: ['intervalEnd'], message: 'must not be before intervalStart' });
    if (s.errors > s.requests) ctx.addIssue({ code: 'custom', path: ['errors'], message: 'must not exceed requests' });
    if (histogramCount(s.latency) > s.requests) ctx.addIssue({ code: 'custom', path: ['latency'], message: 'holds more values than there were requests' });
  });
/** One workload's numbers for one report interval. */
export type WorkloadStats = z.infer<typeof WorkloadStatsSchema>;
