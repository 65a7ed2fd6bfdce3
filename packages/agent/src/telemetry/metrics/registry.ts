/**
 * The agent's metrics registry: counters, gauges and latency histograms with their current
 * values, as the local `/metrics` shows them, plus a hook (`MetricSink`) through which every
 * change also reaches the edge aggregator of the uplink. One change, two readers: the local
 * exposition wants running totals, the uplink wants what happened per interval, and feeding
 * both from the same call keeps them from ever disagreeing.
 *
 * Histograms keep two shapes of the same observations: Prometheus classic buckets
 * (`LATENCY_BUCKETS_SECONDS`, shared with the server so both expose the same `le` values) with
 * an exact `_sum` / `_count`, and the mergeable `LatencyHistogram` of `@edgefleet/protocol`
 * (milliseconds, 1 % relative accuracy) that fleet-wide quantiles are computed from.
 *
 * No registry is created at import time: each agent (and each test) owns its own.
 */
import { emptyHistogram, LATENCY_BOUNDS_SECONDS, type LatencyHistogram, recordLatency } from '@edgefleet/protocol';

/**
 * Upper bounds (`le`, seconds) of the classic latency buckets, `+Inf` implied: fine from 1 ms
 * (a Hailo or Coral answer) to 300 ms (a CPU fallback), coarse up to 10 s (a stuck model).
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = LATENCY_BOUNDS_SECONDS;

/**
 * The same bounds in milliseconds, written out rather than multiplied so that an observation
 * given in milliseconds lands in the bucket its literal value says (0.0025 · 1000 is not
 * guaranteed to be 2.5 in binary floating point).
 */
const LATENCY_BUCKETS_MS: readonly number[] = [1, 2.5, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2500, 5000, 10000];

/** Label name → value of one series. */
export type MetricLabels = Record<string, string>;

export type MetricType = 'counter' | 'gauge' | 'histogram';

/**
 * Receives every change made through a registry, after the registry applied it. The edge
 * aggregator implements this; `labels` hold exactly the metric's label names, in its order.
 */
export interface MetricSink {
  /** A counter grew by `by` (≥ 0). A reset mirrored from the kernel arrives as the new total. */
  counterIncreased(name: string, labels: MetricLabels, by: number): void;
  gaugeSet(name: string, labels: MetricLabels, value: number): void;
  /** One observation, in milliseconds (the unit of `LatencyHistogram`). */
  histogramObserved(name: string, labels: MetricLabels, ms: number): void;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** One labelled series of a counter or gauge. */
export interface ScalarSeries {
  labels: MetricLabels;
  value: number;
}

/** A counter series bound to its labels (`Counter.bind`). */
export interface BoundCounter {
  /** Adds `by` (default 1, must be ≥ 0). */
  inc(by?: number): void;
}

/** A gauge series bound to its labels (`Gauge.bind`). */
export interface BoundGauge {
  set(value: number): void;
}

/** A histogram series bound to its labels (`Histogram.bind`). */
export interface BoundHistogram {
  /** One observation in milliseconds. */
  observeMs(ms: number): void;
}

/** One labelled series of a histogram. */
export interface HistogramSeries {
  labels: MetricLabels;
  /** Observations per classic bucket, NOT cumulative; the last slot is the `+Inf` bucket. */
  bucketCounts: number[];
  count: number;
  /** Exact sum of the observations, milliseconds (`_sum` shows it in seconds). */
  sumMs: number;
  /** Every observation, in the mergeable layout of `@edgefleet/protocol`. */
  latency: LatencyHistogram;
}

abstract class Metric<S extends { labels: MetricLabels }> {
  protected readonly series = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    protected readonly sinks: readonly MetricSink[],
  ) {}

  abstract readonly type: MetricType;

  /** The series in the order they first appeared. */
  all(): S[] {
    return [...this.series.values()];
  }

  /** Removes one series (a reading that disappeared), or every series when `labels` is omitted. */
  remove(labels?: MetricLabels): void {
    if (labels === undefined) this.series.clear();
    else this.series.delete(this.key(this.normalise(labels)));
  }

  protected abstract create(labels: MetricLabels): S;

  protected entry(labels: MetricLabels): S {
    const normalised = this.normalise(labels);
    return this.entryByKey(this.key(normalised), normalised);
  }

  /**
   * The series under a key computed earlier (a bound series), created when missing — also
   * after a `remove`. Its labels object is frozen and kept for the series' life, so a sink
   * may recognise the series by that object instead of its label values.
   */
  protected entryByKey(key: string, normalised: MetricLabels): S {
    let s = this.series.get(key);
    if (s === undefined) {
      s = this.create(Object.freeze(normalised));
      this.series.set(key, s);
    }
    return s;
  }

  /** Checks `labels` once for a series that will be moved many times (see the `bind` methods). */
  protected bound(labels: MetricLabels): { key: string; labels: MetricLabels } {
    const normalised = this.normalise(labels);
    return { key: this.key(normalised), labels: normalised };
  }

  /** The labels in the metric's label order, checked: exactly the declared names, string values. */
  private normalise(labels: MetricLabels): MetricLabels {
    const out: MetricLabels = {};
    for (const n of this.labelNames) {
      const v = labels[n];
      if (typeof v !== 'string') throw new TypeError(`${this.name} needs label "${n}" (labels: ${this.labelNames.join(', ')}); got ${JSON.stringify(labels)}`);
      out[n] = v;
    }
    for (const n of Object.keys(labels))
      if (!this.labelNames.includes(n)) throw new TypeError(`${this.name} has no label "${n}" (labels: ${this.labelNames.join(', ') || 'none'})`);
    return out;
  }

  /** Whether a series with these labels exists. */
  has(labels: MetricLabels): boolean {
    return this.series.has(this.key(this.normalise(labels)));
  }

  private key(labels: MetricLabels): string {
    return this.labelNames.map((n) => labels[n]).join('\u0000');
  }
}

/** A value that only goes up (or mirrors a kernel total that only goes up until a reboot). */
export class Counter extends Metric<ScalarSeries> {
  readonly type = 'counter';

  protected create(labels: MetricLabels): ScalarSeries {
    return { labels, value: 0 };
  }

  /** Adds `by` (default 1, must be ≥ 0). Adding 0 creates the series at 0 without reporting a change. */
  inc(labels: MetricLabels = {}, by = 1): void {
    this.grow(this.entry(labels), by);
  }

  /**
   * One series, its labels checked now rather than at every `inc` (the proxy moves the same
   * few series per request). Binding creates nothing: the series appears at its first `inc`.
   */
  bind(labels: MetricLabels): BoundCounter {
    const { key, labels: normalised } = this.bound(labels);
    return { inc: (by = 1) => this.grow(this.entryByKey(key, normalised), by) };
  }

  private grow(s: ScalarSeries, by: number): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw new RangeError(`${this.name} can only grow: inc by a finite number ≥ 0, got ${by}`);
    s.value += by;
    if (by > 0) for (const sink of this.sinks) sink.counterIncreased(this.name, s.labels, by);
  }

  /**
   * Mirrors a total kept elsewhere (a kernel byte counter). The first call sets the baseline;
   * later calls report the difference as the increase, or the whole new total when it went
   * down (the counter was reset: reboot, interface re-created), as Prometheus' `increase` does.
   */
  setTotal(labels: MetricLabels, total: number): void {
    if (!(total >= 0) || !Number.isFinite(total)) throw new RangeError(`${this.name} total must be a finite number ≥ 0, got ${total}`);
    const known = this.has(labels);
    const s = this.entry(labels);
    const by = !known ? 0 : total >= s.value ? total - s.value : total;
    s.value = total;
    if (by > 0) for (const sink of this.sinks) sink.counterIncreased(this.name, s.labels, by);
  }
}

/** A value that goes up and down; a series exists only once it has been set. */
export class Gauge extends Metric<ScalarSeries> {
  readonly type = 'gauge';

  protected create(labels: MetricLabels): ScalarSeries {
    return { labels, value: 0 };
  }

  set(labels: MetricLabels, value: number): void {
    this.put(this.entry(labels), value);
  }

  /** One series, its labels checked now rather than at every `set` (see `Counter.bind`). */
  bind(labels: MetricLabels): BoundGauge {
    const { key, labels: normalised } = this.bound(labels);
    return { set: (value) => this.put(this.entryByKey(key, normalised), value) };
  }

  private put(s: ScalarSeries, value: number): void {
    if (Number.isNaN(value)) throw new RangeError(`${this.name} cannot be set to NaN`);
    s.value = value;
    for (const sink of this.sinks) sink.gaugeSet(this.name, s.labels, value);
  }
}

/** A latency histogram: classic buckets for `/metrics`, a mergeable histogram for the uplink. */
export class Histogram extends Metric<HistogramSeries> {
  readonly type = 'histogram';

  protected create(labels: MetricLabels): HistogramSeries {
    return { labels, bucketCounts: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), count: 0, sumMs: 0, latency: emptyHistogram() };
  }

  /** One observation in seconds, the Prometheus unit. */
  observe(labels: MetricLabels, seconds: number): void {
    this.observeMs(labels, seconds * 1000);
  }

  /** One observation in milliseconds, the unit the proxy measures in (keeps `_sum` free of a ×1000 ÷1000 round trip). */
  observeMs(labels: MetricLabels, ms: number): void {
    if (!Number.isFinite(ms)) throw new RangeError(`${this.name} observation must be a finite number, got ${ms}`);
    this.record(this.entry(labels), ms);
  }

  /** One series, its labels checked now rather than at every observation (see `Counter.bind`). */
  bind(labels: MetricLabels): BoundHistogram {
    const { key, labels: normalised } = this.bound(labels);
    return {
      observeMs: (ms) => {
        if (!Number.isFinite(ms)) throw new RangeError(`${this.name} observation must be a finite number, got ${ms}`);
        this.record(this.entryByKey(key, normalised), ms);
      },
    };
  }

  private record(s: HistogramSeries, ms: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_MS.length && ms > (LATENCY_BUCKETS_MS[i] as number)) i++;
    s.bucketCounts[i] = (s.bucketCounts[i] as number) + 1;
    s.count++;
    s.sumMs += ms;
    recordLatency(s.latency, ms);
    for (const sink of this.sinks) sink.histogramObserved(this.name, s.labels, ms);
  }
}

export type AnyMetric = Counter | Gauge | Histogram;

/** A set of metrics with unique names, exposed together. */
export class MetricsRegistry {
  private readonly metrics = new Map<string, AnyMetric>();
  private readonly sinks: MetricSink[] = [];

  /** Declares a counter. By Prometheus convention its name ends in `_total`. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, this.checkLabels(name, labelNames), this.sinks));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, this.checkLabels(name, labelNames), this.sinks));
  }

  /** Declares a latency histogram over `LATENCY_BUCKETS_SECONDS`. `le` is reserved for the buckets. */
  histogram(name: string, help: string, labelNames: readonly string[] = []): Histogram {
    if (labelNames.includes('le')) throw new TypeError(`histogram ${name} cannot have a label "le": it names the buckets`);
    return this.add(new Histogram(name, help, this.checkLabels(name, labelNames), this.sinks));
  }

  /** Every metric, in the order it was declared. */
  all(): AnyMetric[] {
    return [...this.metrics.values()];
  }

  get(name: string): AnyMetric | undefined {
    return this.metrics.get(name);
  }

  /** Routes every later change to `sink` as well; returns a function that stops it. */
  addSink(sink: MetricSink): () => void {
    this.sinks.push(sink);
    return () => {
      const i = this.sinks.indexOf(sink);
      if (i >= 0) this.sinks.splice(i, 1);
    };
  }

  private add<M extends AnyMetric>(metric: M): M {
    if (!METRIC_NAME.test(metric.name))
      throw new TypeError(`"${metric.name}" is not a valid metric name (letters, digits, _ and :, not starting with a digit)`);
    if (this.metrics.has(metric.name)) throw new TypeError(`metric ${metric.name} is declared twice`);
    this.metrics.set(metric.name, metric);
    return metric;
  }

  private checkLabels(metric: string, labelNames: readonly string[]): readonly string[] {
    for (const n of labelNames)
      if (!LABEL_NAME.test(n) || n.startsWith('__'))
        throw new TypeError(`"${n}" is not a valid label name for ${metric} (letters, digits and _, not starting with a digit or "__")`);
    if (new Set(labelNames).size !== labelNames.length) throw new TypeError(`${metric} declares a label twice: ${labelNames.join(', ')}`);
    return Object.freeze([...labelNames]);
  }
}
