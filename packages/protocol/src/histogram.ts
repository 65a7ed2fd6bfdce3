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
 * Wire form (`LatencyHistogramSchema`): `{"v":1,"offset":i,"counts":[c_i, c_i+1, …]}`, the
 * run of buckets from the first non-empty one (`offset`) to the last. One node's latencies
 * over one report interval fill a few dozen neighbouring buckets, so this is about a third
 * the size of a sparse `{"<index>":count}` map and merges ten times faster (a plain numeric
 * loop instead of walking object keys: 100,000 node histograms merge in ~50 ms). An outlier
 * far from the rest costs one `0,` per bucket in between; the worst case is the whole
 * layout, 667 numbers. `v` names the layout above; a new layout gets a new `v`, and nodes and
 * server must agree on it to merge.
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
const HISTOGRAM_VERSION = 1;

const LOG_GAMMA = Math.log(HISTOGRAM_GAMMA);

/** The value each bucket reads back as: within α of everything the bucket holds. */
const BUCKET_VALUE: Float64Array = (() => {
  const values = new Float64Array(HISTOGRAM_BUCKETS);
  values[0] = HISTOGRAM_MIN_MS;
  for (let i = 1; i < HISTOGRAM_BUCKETS; i++) values[i] = (2 * HISTOGRAM_MIN_MS * HISTOGRAM_GAMMA ** i) / (HISTOGRAM_GAMMA + 1);
  return values;
})();

/** A latency histogram, as stored and sent: the run of bucket counts starting at `offset`. */
export interface LatencyHistogram {
  v: 1;
  /** Index of the bucket `counts[0]` counts (0 … 666); 0 when empty. */
  offset: number;
  /** Counts of buckets `offset`, `offset + 1`, …; no leading or trailing zeros when written by us. */
  counts: number[];
}

export const LatencyHistogramSchema = z
  .object({
    v: z.literal(HISTOGRAM_VERSION),
    offset: z
      .number()
      .int()
      .min(0)
      .max(HISTOGRAM_BUCKETS - 1),
    counts: z.array(z.number().int('counts are whole numbers').nonnegative('counts are never negative')).max(HISTOGRAM_BUCKETS),
  })
  .strict()
  .superRefine((h, ctx) => {
    if (h.offset + h.counts.length > HISTOGRAM_BUCKETS)
      ctx.addIssue({ code: 'custom', path: ['counts'], message: `offset + counts.length must be at most ${HISTOGRAM_BUCKETS} (layout v1)` });
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
  return { v: 1, offset: 0, counts: [] };
}

/**
 * Records `times` values of `ms` milliseconds into `h` (mutated) and returns it. Fine for a
 * request at a time; to fill a histogram from many values at once use `histogramOf`.
 */
export function recordLatency(h: LatencyHistogram, ms: number, times = 1): LatencyHistogram {
  if (!Number.isInteger(times) || times < 0) throw new RangeError(`times must be a whole number ≥ 0, got ${times}`);
  if (times === 0) return h;
  const i = bucketIndex(ms);
  if (h.counts.length === 0) {
    h.offset = i;
    h.counts.push(times);
    return h;
  }
  if (i < h.offset) {
    const grow = h.offset - i;
    h.counts.unshift(...new Array<number>(grow).fill(0));
    h.offset = i;
  }
  const at = i - h.offset;
  while (h.counts.length <= at) h.counts.push(0);
  h.counts[at] = (h.counts[at] as number) + times;
  return h;
}

/** A histogram of the given values (milliseconds). */
export function histogramOf(values: Iterable<number>): LatencyHistogram {
  const dense = denseCounts();
  for (const v of values) {
    const i = bucketIndex(v);
    dense[i] = (dense[i] as number) + 1;
  }
  return fromDense(dense);
}

/** The sum of two histograms, as a new histogram; neither input changes. Lossless. */
export function mergeHistograms(a: LatencyHistogram, b: LatencyHistogram): LatencyHistogram {
  const dense = denseCounts();
  addToDense(dense, a);
  addToDense(dense, b);
  return fromDense(dense);
}

/** The sum of any number of histograms (none → an empty histogram). Lossless. */
export function mergeAllHistograms(histograms: Iterable<LatencyHistogram>): LatencyHistogram {
  const dense = denseCounts();
  for (const h of histograms) addToDense(dense, h);
  return fromDense(dense);
}

/** How many values the histogram holds. */
export function histogramCount(h: LatencyHistogram): number {
  let n = 0;
  for (const c of h.counts) n += c;
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
  for (let j = 0; j < h.counts.length; j++) {
    cumulative += h.counts[j] as number;
    if (cumulative > rank) return BUCKET_VALUE[h.offset + j];
  }
  return BUCKET_VALUE[h.offset + h.counts.length - 1];
}

/** A dense, mutable accumulator of (possibly weighted) bucket counts, one slot per bucket. */
type DenseCounts = Float64Array;

/** A zeroed dense accumulator. */
export function denseCounts(): DenseCounts {
  return new Float64Array(HISTOGRAM_BUCKETS);
}

/** Adds `weight` × `h` into `dense` (mutated). Assumes `h` is valid (parsed by the schema). */
export function addToDense(dense: DenseCounts, h: LatencyHistogram, weight = 1): void {
  const counts = h.counts;
  const offset = h.offset;
  for (let j = 0; j < counts.length; j++) dense[offset + j] = (dense[offset + j] as number) + (counts[j] as number) * weight;
}

/** Adds `weight` × `source` into `dense` (mutated). `source` may be any per-bucket counts (a Uint32Array, say). */
export function addDense(dense: DenseCounts, source: ArrayLike<number>, weight = 1): void {
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
    const c = source[i] as number;
    if (c !== 0) dense[i] = (dense[i] as number) + c * weight;
  }
}

/** Total weight in a dense accumulator. */
function denseCount(dense: DenseCounts): number {
  let n = 0;
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) n += dense[i] as number;
  return n;
}

/**
 * `histogramQuantile` over a dense accumulator. With weights, the rank is q · (total − 1)
 * over the weighted values, so integer weights give exactly what repeated values would.
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

/** A dense accumulator in wire form (counts rounded to whole numbers, zeros trimmed). */
function fromDense(dense: DenseCounts): LatencyHistogram {
  let first = -1;
  let last = -1;
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
    if (Math.round(dense[i] as number) > 0) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) return emptyHistogram();
  const counts: number[] = [];
  for (let i = first; i <= last; i++) counts.push(Math.max(0, Math.round(dense[i] as number)));
  return { v: 1, offset: first, counts };
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
    /**
     * When the instance that served this revision in the interval started (node clock, ms):
     * the server leaves a new instance's warm-up out of gate analysis. Absent from agents
     * before warm-up existed; their samples count as warm.
     */
    instanceStartedAt: z.number().int().nonnegative().optional(),
    /** Requests that instance had answered before `intervalStart` (its warm-up by count). */
    instanceRequestsBefore: z.number().int().nonnegative().optional(),
  })
  .superRefine((s, ctx) => {
    if (s.intervalEnd < s.intervalStart) ctx.addIssue({ code: 'custom', path: ['intervalEnd'], message: 'must not be before intervalStart' });
    if (s.errors > s.requests) ctx.addIssue({ code: 'custom', path: ['errors'], message: 'must not exceed requests' });
    if (histogramCount(s.latency) > s.requests) ctx.addIssue({ code: 'custom', path: ['latency'], message: 'holds more values than there were requests' });
  });
/** One workload's numbers for one report interval. */
export type WorkloadStats = z.infer<typeof WorkloadStatsSchema>;
