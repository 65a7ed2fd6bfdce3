/**
 * Edge aggregation for the uplink: turns every change made through the metrics registry into
 * one point per series per interval of the profile's resolution, so a node sends a few
 * numbers a minute (or every five minutes on a metered link) instead of every sample.
 *
 * - Counters travel as the increase within the interval. A series is sent from the first
 *   interval in which it moved, and from then on in every interval, zeros included, so that a
 *   missing point always means "no data" (the agent was not running), never "no change". A
 *   series that never moved is never sent: a node with no drops sends no drop counters.
 * - Gauges travel as min / max / last of the values set within the interval; an interval in
 *   which a gauge was not set has no point for it.
 * - Histograms travel as the interval's observations: exact sum (ms) and the mergeable
 *   `LatencyHistogram`. Like counters, once observed they are sent every interval, an idle
 *   interval as an empty histogram.
 *
 * Exactness is the invariant the tests check: the increases of a counter add up to its total
 * change; the interval histograms merge into the histogram of every observation.
 *
 * Intervals are `(t − resolution, t]` with `t` a multiple of the resolution in wall time, so
 * every node's points line up. An interval closes when the clock has passed its end; a change
 * is put in the interval that is open when it arrives (after a clock step backwards, that is
 * still the open one: nothing is lost, and no closed interval is reopened).
 */
import { type CounterPoint, emptyHistogram, type GaugePoint, type HistogramPoint, recordLatency, type TelemetrySeries } from '@edgefleet/protocol';
import type { MetricLabels, MetricSink } from './registry.js';

interface CounterState {
  kind: 'counter';
  name: string;
  labels: MetricLabels;
  /** Moved at least once: from then on a point goes out every interval. */
  live: boolean;
  inc: number;
  points: CounterPoint[];
}

interface GaugeState {
  kind: 'gauge';
  name: string;
  labels: MetricLabels;
  /** Values set in the open interval (0 = none). */
  samples: number;
  min: number;
  max: number;
  last: number;
  points: GaugePoint[];
}

interface HistogramState {
  kind: 'histogram';
  name: string;
  labels: MetricLabels;
  live: boolean;
  count: number;
  sumMs: number;
  hist: HistogramPoint['hist'];
  points: HistogramPoint[];
}

type SeriesState = CounterState | GaugeState | HistogramState;

/** Aggregates registry changes into aligned intervals; feed it with `registry.addSink(aggregator)`. */
export class EdgeAggregator implements MetricSink {
  private readonly series = new Map<string, SeriesState>();
  /** The same states, by a frozen labels object seen before (see `state`). */
  private readonly byLabels = new WeakMap<MetricLabels, SeriesState>();
  private resolution: number;
  /** End of the open interval (a multiple of the resolution, except after an early close). */
  private openEnd: number;
  /** End of the last closed interval; the next one must end strictly after it. */
  private closedEnd = Number.NEGATIVE_INFINITY;

  /**
   * @param resolutionMs interval length, e.g. `TELEMETRY_PROFILES.lan.resolutionMs` (15 s).
   * @param clock wall-clock Unix ms; changes are stamped with it when they arrive.
   */
  constructor(
    resolutionMs: number,
    private readonly clock: () => number,
  ) {
    this.resolution = checkResolution(resolutionMs);
    this.openEnd = this.endFor(clock());
  }

  /** The interval length now in effect, ms. */
  get resolutionMs(): number {
    return this.resolution;
  }

  counterIncreased(name: string, labels: MetricLabels, by: number): void {
    this.roll(this.clock());
    const s = this.state(name, labels, 'counter');
    s.inc += by;
  }

  gaugeSet(name: string, labels: MetricLabels, value: number): void {
    this.roll(this.clock());
    const s = this.state(name, labels, 'gauge');
    if (s.samples === 0) {
      s.min = value;
      s.max = value;
    } else {
      if (value < s.min) s.min = value;
      if (value > s.max) s.max = value;
    }
    s.last = value;
    s.samples++;
  }

  histogramObserved(name: string, labels: MetricLabels, ms: number): void {
    this.roll(this.clock());
    const s = this.state(name, labels, 'histogram');
    s.count++;
    s.sumMs += ms;
    recordLatency(s.hist, ms);
  }

  /**
   * Closes every interval that ended before `now` and returns their points (each series once,
   * points oldest first), handing them over: the next call returns only newer points.
   */
  closeDue(now: number = this.clock()): TelemetrySeries[] {
    this.roll(now);
    return this.drain();
  }

  /**
   * Switches to another resolution (the server moved the node to another profile). The open
   * interval closes now, early, and its points — plus any not yet taken — are returned, so the
   * caller can send them labelled with the OLD resolution. The next interval runs from now to
   * the next multiple of the new resolution.
   */
  setResolution(ms: number): TelemetrySeries[] {
    const resolution = checkResolution(ms);
    const now = this.clock();
    this.roll(now);
    if (resolution === this.resolution) return this.drain();
    // Close at `now` unless the interval is already past its aligned end (a clock step back).
    this.close(Math.max(now, this.closedEnd + 1));
    const out = this.drain();
    this.resolution = resolution;
    this.openEnd = this.endFor(now);
    return out;
  }

  /** The end of the interval a change at `t` belongs to: the next multiple of the resolution ≥ t, after the last closed one. */
  private endFor(t: number): number {
    const aligned = Math.ceil(t / this.resolution) * this.resolution;
    const afterClosed = Math.floor(this.closedEnd / this.resolution) * this.resolution + this.resolution;
    return Number.isFinite(afterClosed) ? Math.max(aligned, afterClosed) : aligned;
  }

  /** Closes the open interval if `now` is past its end, and opens the one holding `now`. */
  private roll(now: number): void {
    if (now <= this.openEnd) return;
    this.close(this.openEnd);
    this.openEnd = this.endFor(now);
  }

  private close(end: number): void {
    for (const s of this.series.values()) {
      if (s.kind === 'counter') {
        if (s.inc > 0) s.live = true;
        if (s.live) s.points.push({ t: end, inc: s.inc });
        s.inc = 0;
      } else if (s.kind === 'gauge') {
        if (s.samples > 0) s.points.push({ t: end, min: s.min, max: s.max, last: s.last });
        s.samples = 0;
      } else {
        if (s.count > 0) s.live = true;
        if (s.live) s.points.push({ t: end, sumMs: s.sumMs, hist: s.hist });
        s.count = 0;
        s.sumMs = 0;
        s.hist = emptyHistogram();
      }
    }
    this.closedEnd = end;
  }

  private drain(): TelemetrySeries[] {
    const out: TelemetrySeries[] = [];
    for (const s of this.series.values()) {
      if (s.points.length === 0) continue;
      if (s.kind === 'counter') out.push({ kind: 'counter', name: s.name, labels: { ...s.labels }, points: s.points });
      else if (s.kind === 'gauge') out.push({ kind: 'gauge', name: s.name, labels: { ...s.labels }, points: s.points });
      else out.push({ kind: 'histogram', name: s.name, labels: { ...s.labels }, points: s.points });
      s.points = [];
    }
    return out;
  }

  private state<K extends SeriesState['kind']>(name: string, labels: MetricLabels, kind: K): Extract<SeriesState, { kind: K }> {
    // A registry hands over the same frozen labels object for every change of a series: it
    // finds the series without building its key (sorting label names per inference request).
    let s = this.byLabels.get(labels);
    if (s === undefined || s.name !== name) {
      const key = seriesKey(name, labels);
      s = this.series.get(key);
      if (s === undefined) {
        s = newState(kind, name, labels);
        this.series.set(key, s);
      }
      if (Object.isFrozen(labels)) this.byLabels.set(labels, s);
    }
    if (s.kind !== kind) throw new TypeError(`series ${name} is a ${s.kind}, not a ${kind}`);
    return s as Extract<SeriesState, { kind: K }>;
  }
}

function newState(kind: SeriesState['kind'], name: string, labels: MetricLabels): SeriesState {
  const l = { ...labels };
  if (kind === 'counter') return { kind, name, labels: l, live: false, inc: 0, points: [] };
  if (kind === 'gauge') return { kind, name, labels: l, samples: 0, min: 0, max: 0, last: 0, points: [] };
  return { kind, name, labels: l, live: false, count: 0, sumMs: 0, hist: emptyHistogram(), points: [] };
}

/** Name plus label pairs in sorted order, so the same series always gets the same key. */
function seriesKey(name: string, labels: MetricLabels): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0001${labels[k]}`);
  return `${name}\u0000${pairs.join('\u0000')}`;
}

function checkResolution(ms: number): number {
  if (!Number.isInteger(ms) || ms < 1000) throw new RangeError(`telemetry resolution must be a whole number of milliseconds ≥ 1000, got ${ms}`);
  return ms;
}
