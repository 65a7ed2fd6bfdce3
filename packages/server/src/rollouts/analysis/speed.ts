/**
 * Node speed: boards of one kind differ (cooling, throttling, camera resolution), by
 * 12–15 % between otherwise identical nodes. With a handful of canaries that spread, not the
 * release, dominates the canaries' quantiles, and the node-level bootstrap makes the interval
 * as wide as the spread: identical releases stay undecided, 1.3× regressions pass.
 *
 * So each node is compared with itself: every canary ran the baseline revision before it
 * switched, and its latency then, against the baseline of the other nodes of its reference
 * group in the same time slots (so fleet-wide load drift cancels), is its speed. The gates
 * pass the cohort's family as the group (the same hardware at every site: `gates.ts`); the
 * functions here call it the cohort. Histograms are
 * log-spaced, so scaling a node's latencies by a factor is shifting its buckets by
 * log(factor) / log γ: the gates shift each adjusted node's histograms by −its speed before
 * the bootstrap, which then no longer sees the speed of the nodes that happened to be picked.
 * Baseline nodes are shifted alike (their speed from the same minutes, up to the last
 * canary's switch): a canary at its own typical speed compared with a baseline that still
 * mixes fast and slow nodes would read low, since the mix's P95 carries the speed spread.
 *
 * The measure of speed is the mean of log latency (the mean bucket index), not a quantile:
 * under a multiplicative speed it estimates log(speed) with less noise than a median (about
 * 1/1.25 of its standard error for a log-normal body) and far less than the judged P95,
 * whose estimate rests on the slowest 5 % of a few hundred requests; and it is additive, so
 * "the cohort's other nodes in this slot" is a subtraction, not a histogram per node and
 * slot. Heavy tails move it less than they move the mean of latency itself (they count in
 * log), and a tail that all nodes share cancels in the difference.
 */
import { HISTOGRAM_BUCKETS, type LatencyHistogram, type WorkloadStats } from '@edgefleet/protocol';
import { isWarmup, type WarmupRule } from './warmup.js';

/**
 * How far before the gate window the stats are loaded to estimate node speed. A node's
 * speed drifts (temperature, throttling, other work on the board) over minutes, so older
 * data describes the node worse; 15 minutes hold at least a few hundred requests at a
 * request every two seconds (`minRequests` 200 needs 400 s at 0.5/s), and keep the extra
 * rows read per evaluation to a quarter of an hour per node. A constant, not the steps'
 * bakes: a step's window is what is judged, the lookback only calibrates the nodes.
 */
export const SPEED_LOOKBACK_MS = 15 * 60_000;

/**
 * A node's speed is taken from at least this much of its time: speed is meant to be a
 * lasting property of the board, and over a few report intervals a node's passing load
 * (a burst, other work) would be mistaken for it.
 */
export const MIN_SPEED_SPAN_MS = 5 * 60_000;

/** What the speed estimate reads. */
export interface SpeedInput {
  deployment: string;
  baselineRevision: number;
  /** Each targeted node's samples, by position. */
  samples: ArrayLike<readonly WorkloadStats[] | undefined>;
  cohortOf: ArrayLike<number>;
  /** Samples ending after this (the lookback's start) and starting at or before `to` count. */
  from: number;
  to: number;
  /**
   * The positions to estimate, each with the time its samples count until: a canary's switch
   * (the first new instance's start; the old instance then shares the CPU with the starting
   * new one, which would make the node look slower than it is), a baseline node's the last
   * canary's switch. Later samples of these nodes count for no one.
   */
  nodes: ReadonlyMap<number, number>;
  slotMs: number;
  warmup: WarmupRule;
  /** Requests needed on the node and on its reference, each. */
  minRequests: number;
}

/** Each estimated node's speed, in histogram buckets (log γ of the factor). */
export interface NodeSpeeds {
  /** Buckets by position; only estimated, adjusted nodes are present. */
  shift: Map<number, number>;
  /** Estimated nodes with too little baseline data of their own or of their reference: left unadjusted. */
  unadjusted: number;
}

interface Sums {
  n: number;
  /** Σ bucket index × count. */
  sum: number;
}

const add = (map: Map<number, Sums>, k: number, n: number, sum: number): void => {
  const v = map.get(k);
  if (v === undefined) map.set(k, { n, sum });
  else {
    v.n += n;
    v.sum += sum;
  }
};

/** Count and Σ bucket index × count of a histogram (a mean bucket is the mean of log latency). */
export function bucketSums(h: LatencyHistogram): { n: number; sum: number } {
  let n = 0;
  let sum = 0;
  const { counts, offset } = h;
  for (let j = 0; j < counts.length; j++) {
    const c = counts[j] as number;
    n += c;
    sum += c * (offset + j);
  }
  return { n, sum };
}

/**
 * The per-sample estimate; the gates use the same arithmetic over per-slot aggregates
 * (`speedsFromAggregates` in `aggregates.ts`), which a unit test holds equal to this one.
 *
 * Each node's speed relative to the other nodes of its cohort on the baseline revision in
 * the same time slots: log γ of speed = Σ over its slots of n_s × (its mean bucket − the
 * others' mean bucket) / Σ n_s, over slots where the others have data. A node with fewer
 * than `minRequests` such requests of its own, or its cohort's others fewer, is unadjusted
 * — never compared with the fleet: a speed against the fleet would carry the cohort's own
 * difference (another accelerator), while the matching compares the node within its cohort
 * whenever that cohort's baseline has data (bench:gates: identical releases rolled back
 * 23 of 30 with a fleet fallback here, against 17 of 30 without any adjustment).
 */
export function nodeSpeeds(input: SpeedInput): NodeSpeeds {
  if (input.nodes.size === 0) return { shift: new Map(), unadjusted: 0 };
  const gathered = new SpeedSums(Math.max(input.cohortOf.length, input.samples.length));
  for (let p = 0; p < input.samples.length; p++) {
    const samples = input.samples[p];
    if (samples === undefined) continue;
    const switchedAt = input.nodes.get(p);
    const cohort = input.cohortOf[p] as number;
    for (const s of samples) {
      if (s.intervalEnd <= input.from || s.intervalStart > input.to || s.deployment !== input.deployment) continue;
      if (s.revision !== input.baselineRevision || isWarmup(s, input.warmup)) continue;
      // The old instance's last samples share the CPU with the starting new one: not its speed, nor a reference's.
      if (switchedAt !== undefined && s.intervalEnd > switchedAt) continue;
      const { n, sum } = bucketSums(s.latency);
      if (n === 0) continue;
      const slot = Math.floor((s.intervalStart + s.intervalEnd) / 2 / input.slotMs);
      gathered.add(p, cohort, slot % SLOT_KEYS, n, sum, s.intervalEnd - s.intervalStart, switchedAt !== undefined);
    }
  }
  return gathered.speeds(input.nodes.keys(), input.cohortOf, input.minRequests, MIN_SPEED_SPAN_MS);
}

/** Slot keys are slots modulo this (cohort × SLOT_KEYS + key is a cohort's slot). */
export const SLOT_KEYS = 1_000_000;

/**
 * The sums node speeds are estimated from, gathered node by node (every sum of a node
 * before the next node's): per cohort and slot, and per estimated node its own per slot
 * and the time its samples span. Shared by the per-sample estimate (`nodeSpeeds`) and the
 * gates' per-slot one (`speedsFromAggregates`). Flat arrays: a node's own sums are a run
 * of them, not a map per node (100,000 maps cost more in garbage collection than the sums).
 */
export class SpeedSums {
  private readonly cohortSlot = new Map<number, Sums>();
  /** Node p's own slots are entries start[p] … end[p] − 1. */
  private readonly start: Int32Array;
  private readonly end: Int32Array;
  private readonly span: Float64Array;
  private readonly keys: number[] = [];
  private readonly ns: number[] = [];
  private readonly sums: number[] = [];
  private last = -1;

  /** `positions`: how many node positions there are. */
  constructor(positions: number) {
    this.start = new Int32Array(positions);
    this.end = new Int32Array(positions);
    this.span = new Float64Array(positions);
  }

  /**
   * Adds `n` latency values with Σ bucket × count `sum` of node `p` (in `cohort`) in slot
   * key `k`, over `duration` ms; `own`: the node is estimated, so its own sums are kept.
   */
  add(p: number, cohort: number, k: number, n: number, sum: number, duration: number, own: boolean): void {
    add(this.cohortSlot, cohort * SLOT_KEYS + k, n, sum);
    if (!own) return;
    this.span[p] = (this.span[p] as number) + duration;
    if (p !== this.last) {
      this.last = p;
      this.start[p] = this.keys.length;
      this.end[p] = this.keys.length;
    }
    const from = this.start[p] as number;
    const to = this.end[p] as number;
    for (let i = from; i < to; i++) {
      if (this.keys[i] !== k) continue;
      this.ns[i] = (this.ns[i] as number) + n;
      this.sums[i] = (this.sums[i] as number) + sum;
      return;
    }
    this.keys.push(k);
    this.ns.push(n);
    this.sums.push(sum);
    this.end[p] = to + 1;
  }

  /**
   * Each of `nodes`' speed: log γ of speed = Σ over its slots of n_s × (its mean bucket − the
   * others' mean bucket) / Σ n_s, over slots where the others have data (see `nodeSpeeds`).
   */
  speeds(nodes: Iterable<number>, cohortOf: ArrayLike<number>, minRequests: number, minSpanMs: number): NodeSpeeds {
    const shift = new Map<number, number>();
    let unadjusted = 0;
    for (const p of nodes) {
      const cohort = cohortOf[p] as number;
      const from = this.start[p] as number;
      const to = this.end[p] as number;
      let buckets: number | null = null;
      if (to > from && (this.span[p] as number) >= minSpanMs) {
        let n = 0;
        let others = 0;
        let diff = 0;
        for (let i = from; i < to; i++) {
          const all = this.cohortSlot.get(cohort * SLOT_KEYS + (this.keys[i] as number));
          if (all === undefined) continue;
          const mn = this.ns[i] as number;
          const msum = this.sums[i] as number;
          // `all` holds the node's own samples of the slot too: the others are the rest.
          const on = all.n - mn;
          if (on <= 0) continue;
          n += mn;
          others += on;
          diff += msum - (mn * (all.sum - msum)) / on;
        }
        // + 0: a node as fast as its reference is 0, never −0.
        if (n >= minRequests && others >= minRequests) buckets = Math.round(diff / n) + 0;
      }
      if (buckets === null) unadjusted++;
      else shift.set(p, buckets);
    }
    return { shift, unadjusted };
  }
}

/**
 * `h` with every latency scaled by γ^`buckets` (negative: faster): its run of counts moved,
 * counts pushed past either end of the layout kept in the end bucket. Shares `h.counts`
 * when nothing is pushed past an end.
 */
export function shiftHistogram(h: LatencyHistogram, buckets: number): LatencyHistogram {
  if (buckets === 0 || h.counts.length === 0) return h;
  const offset = h.offset + buckets;
  if (offset >= 0 && offset + h.counts.length <= HISTOGRAM_BUCKETS) return { v: h.v, offset, counts: h.counts };
  const counts = new Array<number>(HISTOGRAM_BUCKETS).fill(0);
  let low = HISTOGRAM_BUCKETS;
  let high = -1;
  h.counts.forEach((c, j) => {
    if (c === 0) return;
    const i = Math.min(HISTOGRAM_BUCKETS - 1, Math.max(0, offset + j));
    counts[i] = (counts[i] as number) + c;
    if (i < low) low = i;
    if (i > high) high = i;
  });
  return high < 0 ? { v: h.v, offset: 0, counts: [] } : { v: h.v, offset: low, counts: counts.slice(low, high + 1) };
}
