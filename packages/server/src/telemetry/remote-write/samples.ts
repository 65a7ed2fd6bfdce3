import { HISTOGRAM_BUCKETS, HISTOGRAM_GAMMA, HISTOGRAM_MIN_MS, LATENCY_BOUNDS_SECONDS, type TelemetrySeries } from '@edgefleet/protocol';
import { type Clock, systemClock } from '../../clock.js';

/**
 * Turns the fleet's telemetry (as nodes send it, after the server stamped `node`, `site`
 * and checked `deployment` / `revision`) into Prometheus series, the shape remote_write
 * carries. Nodes aggregate at the edge, Prometheus expects raw cumulative series, so:
 *
 * - Counters arrive as the increase over each interval. Prometheus wants the running total,
 *   so the server keeps one per series in memory ({@link CounterTotals}, keyed by the full
 *   label set, `__name__` included) and sends `total += inc` at each point's time. A server
 *   restart starts the totals from 0 again, which `rate()` / `increase()` read as a counter
 *   reset — exactly what they are built to handle — so no increase is lost or doubled.
 * - Gauges arrive as min / max / last per interval and become three series: `name` (last),
 *   `name_min` and `name_max`.
 * - Latency histograms arrive in milliseconds in the DDSketch layout of
 *   `@edgefleet/protocol`'s `histogram.ts` (667 buckets, 2 % wide). They become a classic
 *   Prometheus histogram in SECONDS over {@link LATENCY_BUCKETS_SECONDS}: `name_bucket{le}`
 *   (cumulative over the buckets, and over time like any counter), `name_sum` (seconds,
 *   from the exact sum the node sends) and `name_count`.
 *   A DDSketch bucket `(u/γ, u]` is counted in the first `le ≥ u`. That is the only choice
 *   that keeps `le` truthful — a count under `le` never includes a value above `le` — and
 *   it costs this much: a DDSketch bucket that straddles a boundary (`u/γ < le < u`) moves
 *   whole to the next `le`, so the count reported at `le` is the true count of values
 *   `≤ b` for some `b` in `(le/γ, le]`: the boundary is effectively lowered by at most a
 *   factor γ ≈ 1.0202 (2 %), e.g. values in (19.6 ms, 20 ms] may be counted under 30 ms.
 *   That is small next to the error `histogram_quantile` makes by interpolating linearly
 *   inside a classic bucket (up to the bucket's width: 10 ms between 20 ms and 30 ms).
 *   Splitting a DDSketch bucket in proportion would break whole-number counts and still
 *   guess. Values above the layout's 60.96 s land in `+Inf`, as anything above 10 s does.
 * - Every sample keeps its point's time (Unix ms, the node's interval end).
 * - Metric and label names are made valid for Prometheus (`[a-zA-Z_:][a-zA-Z0-9_:]*`,
 *   labels without `:`): any other character becomes `_` (a node label `ai.accelerator`
 *   becomes `ai_accelerator`). Labels a node set with a reserved `__` prefix are dropped,
 *   as are empty values (the remote_write spec forbids them).
 */

/**
 * The classic bucket boundaries of every latency histogram, in seconds. The agent's local
 * `/metrics` uses the same list, so a site that scrapes its nodes directly and one that
 * reads the server's remote_write see the same buckets.
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [...LATENCY_BOUNDS_SECONDS, Number.POSITIVE_INFINITY];

/** A node's series after the server stamped `node` and `site` (and checked `deployment` / `revision`). */
type StampedSeries = TelemetrySeries;

/** One sample: Unix ms and value. */
export interface PromSample {
  t: number;
  v: number;
}

/** A Prometheus series: its labels (`__name__` included) and its samples, oldest first. */
export interface PromSeries {
  labels: Record<string, string>;
  samples: PromSample[];
}

/** Options of {@link CounterTotals}. */
interface CounterTotalsOptions {
  /**
   * A total not added to for this long is forgotten (default 24 h), so series of removed
   * nodes and old revisions do not pile up in memory. A forgotten series that comes back
   * starts again from 0: a counter reset, which `rate()` handles.
   */
  idleMs?: number;
  clock?: Clock;
}

/** Where {@link toPromSeries} keeps running totals: adds an increase to a series and returns its new total. */
export interface RunningTotals {
  add(labels: Readonly<Record<string, string>>, inc: number): number;
}

/**
 * The running total of every cumulative series the server sends (counters, histogram
 * buckets, `_sum`, `_count`), keyed by the full label set. In memory only: see the module
 * comment for why a restart from 0 is safe. Replicas sharing a database keep them there
 * instead ({@link toPromSeriesShared}).
 */
export class CounterTotals implements RunningTotals {
  private readonly totals = new Map<string, { total: number; touched: number }>();
  private readonly idleMs: number;
  private readonly clock: Clock;
  private lastSweep: number;

  constructor(opts: CounterTotalsOptions = {}) {
    this.idleMs = opts.idleMs ?? 24 * 3_600_000;
    this.clock = opts.clock ?? systemClock;
    this.lastSweep = this.clock();
  }

  /**
   * Adds `inc` to the series' total and returns the new total. An increase that is not a
   * finite number ≥ 0 adds nothing: a Prometheus counter must never go down, and ingest
   * has already refused such batches.
   */
  add(labels: Readonly<Record<string, string>>, inc: number): number {
    const now = this.clock();
    if (now - this.lastSweep >= this.idleMs / 4) this.sweep(now);
    const key = seriesKey(labels);
    const entry = this.totals.get(key) ?? { total: 0, touched: now };
    if (Number.isFinite(inc) && inc > 0) entry.total += inc;
    entry.touched = now;
    this.totals.set(key, entry);
    return entry.total;
  }

  /** How many series have a total. */
  get size(): number {
    return this.totals.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, entry] of this.totals) if (now - entry.touched > this.idleMs) this.totals.delete(key);
  }
}

/**
 * The identity of a series: its labels sorted by name, as one string. Two label sets are
 * the same series exactly when their keys are equal.
 */
export function seriesKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(sortedLabelNames(labels).map((name) => [name, labels[name]]));
}

/** Label names in the order remote_write requires: by raw code unit, not locale. */
export function sortedLabelNames(labels: Readonly<Record<string, string>>): string[] {
  return Object.keys(labels).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Converts stamped series to Prometheus series (see the module comment for the rules).
 * `totals` carries the running totals from one call to the next.
 */
export function toPromSeries(series: readonly StampedSeries[], totals: RunningTotals): PromSeries[] {
  const out: PromSeries[] = [];
  for (const s of series) {
    const labels = promLabels(s.labels);
    const name = promMetricName(s.name);
    switch (s.kind) {
      case 'counter': {
        const ls = { ...labels, __name__: name };
        const samples = byTime(s.points).map((p) => ({ t: p.t, v: totals.add(ls, p.inc) }));
        out.push({ labels: ls, samples });
        break;
      }
      case 'gauge': {
        const points = byTime(s.points);
        out.push({ labels: { ...labels, __name__: name }, samples: points.map((p) => ({ t: p.t, v: p.last })) });
        out.push({ labels: { ...labels, __name__: `${name}_min` }, samples: points.map((p) => ({ t: p.t, v: p.min })) });
        out.push({ labels: { ...labels, __name__: `${name}_max` }, samples: points.map((p) => ({ t: p.t, v: p.max })) });
        break;
      }
      case 'histogram': {
        const buckets = LATENCY_BUCKETS_SECONDS.map((le) => ({
          labels: { ...labels, le: formatLe(le), __name__: `${name}_bucket` },
          samples: [] as PromSample[],
        }));
        const sum: PromSeries = { labels: { ...labels, __name__: `${name}_sum` }, samples: [] };
        const count: PromSeries = { labels: { ...labels, __name__: `${name}_count` }, samples: [] };
        for (const p of byTime(s.points)) {
          const perLe = new Array<number>(LATENCY_BUCKETS_SECONDS.length).fill(0);
          let n = 0;
          p.hist.counts.forEach((c, j) => {
            const k = LE_OF_SKETCH_BUCKET[p.hist.offset + j];
            if (k === undefined) throw new RangeError(`histogram bucket ${p.hist.offset + j} is outside layout v1 (0 … ${HISTOGRAM_BUCKETS - 1})`);
            perLe[k] = (perLe[k] as number) + c;
            n += c;
          });
          let below = 0;
          buckets.forEach((b, k) => {
            below += perLe[k] as number;
            b.samples.push({ t: p.t, v: totals.add(b.labels, below) });
          });
          sum.samples.push({ t: p.t, v: totals.add(sum.labels, p.sumMs / 1000) });
          count.samples.push({ t: p.t, v: totals.add(count.labels, n) });
        }
        out.push(...buckets, sum, count);
        break;
      }
    }
  }
  return out;
}

/** Totals of one batch from 0, remembering each series' sum: the first half of {@link toPromSeriesShared}. */
class BatchTotals implements RunningTotals {
  readonly sums = new Map<string, number>();

  add(labels: Readonly<Record<string, string>>, inc: number): number {
    const key = seriesKey(labels);
    const total = (this.sums.get(key) ?? 0) + (Number.isFinite(inc) && inc > 0 ? inc : 0);
    this.sums.set(key, total);
    return total;
  }
}

/**
 * {@link toPromSeries} with running totals kept elsewhere (the database replicas share):
 * converts the batch with totals from 0, advances every cumulative series' shared total by
 * the batch's increase in one call of `advance` (which returns the totals after it), and
 * adds each series' total before the batch to its samples. Whichever replica converts a
 * node's batch, its samples continue the one series.
 */
export async function toPromSeriesShared(
  series: readonly StampedSeries[],
  advance: (increases: ReadonlyMap<string, number>) => Promise<ReadonlyMap<string, number>>,
): Promise<PromSeries[]> {
  const batch = new BatchTotals();
  const out = toPromSeries(series, batch);
  if (batch.sums.size === 0) return out;
  const totals = await advance(batch.sums);
  for (const s of out) {
    const key = seriesKey(s.labels);
    const sum = batch.sums.get(key);
    if (sum === undefined) continue;
    const after = totals.get(key);
    if (after === undefined) throw new Error(`the shared total of ${key} was not returned`);
    const base = after - sum;
    for (const sample of s.samples) sample.v += base;
  }
  return out;
}

/**
 * For each DDSketch bucket, the index in {@link LATENCY_BUCKETS_SECONDS} of the first
 * boundary at or above the bucket's upper bound (bucket 0's upper bound is 0.1 ms).
 */
const LE_OF_SKETCH_BUCKET: Uint8Array = (() => {
  const map = new Uint8Array(HISTOGRAM_BUCKETS);
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
    const upperSeconds = (HISTOGRAM_MIN_MS * HISTOGRAM_GAMMA ** i) / 1000;
    map[i] = LATENCY_BUCKETS_SECONDS.findIndex((le) => le >= upperSeconds);
  }
  return map;
})();

/** The classic bucket (its `le`, in seconds) a DDSketch bucket is counted in. */
export function classicBucketOf(sketchBucket: number): number {
  const k = LE_OF_SKETCH_BUCKET[sketchBucket];
  if (k === undefined) throw new RangeError(`histogram bucket ${sketchBucket} is outside layout v1 (0 … ${HISTOGRAM_BUCKETS - 1})`);
  return LATENCY_BUCKETS_SECONDS[k] as number;
}

/** `le` as Prometheus client libraries write it: shortest decimal, `+Inf` for infinity. */
function formatLe(le: number): string {
  return le === Number.POSITIVE_INFINITY ? '+Inf' : String(le);
}

function byTime<P extends { t: number }>(points: readonly P[]): P[] {
  return [...points].sort((a, b) => a.t - b.t);
}

/** A metric name Prometheus accepts: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
function promMetricName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(s) || s === '' ? `_${s}` : s;
}

/** A label name Prometheus accepts: `[a-zA-Z_][a-zA-Z0-9_]*`. */
export function promLabelName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) || s === '' ? `_${s}` : s;
}

/** Valid label names, no reserved `__` names, no empty values. */
function promLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) {
    if (name.startsWith('__') || value === '') continue;
    out[promLabelName(name)] = value;
  }
  return out;
}
