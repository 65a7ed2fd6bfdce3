/**
 * Incremental gate aggregates: what a gate evaluation needs from a window's samples, kept
 * per node and per time slot between evaluations, so that an evaluation reads only the
 * samples that arrived since the previous one (plus the few at the edges of the analysed
 * span) instead of every sample of the window.
 *
 * Per node it keeps, for the samples read so far:
 * - the canary side (warm samples of the new revision in the window): one merged histogram
 *   for the node, and per time slot the count of latency values, requests and errors;
 * - the baseline side (warm samples of the previous revision in the window): per slot a
 *   merged histogram, the counts, and the slot's samples (to cut a slot at the edge of the
 *   canaries' span); slots wholly inside the span are merged into one histogram per node;
 * - node speed (`speed.ts`): per slot Σ count and Σ bucket × count of the previous revision's
 *   warm samples from the lookback on, with each sample's own sums kept to cut a slot at a
 *   node's switch;
 * - restarts, fallback, warm-up requests and the node's switch (its first new instance).
 *
 * Exactness: counts are whole numbers, so merging them in any order gives the same sums; an
 * evaluation from these aggregates is the same whether they were built over many
 * evaluations or from scratch (`test/rollouts/analysis/aggregates.test.ts`). A node's
 * aggregates are reused only while its sample list still starts with the sample read first
 * and the rest of what was read in order (the same objects: a list loaded anew from the store
 * is read again); otherwise the node is read again from scratch.
 */
import type { LatencyHistogram, WorkloadStats } from '@edgefleet/protocol';
import { bucketSums, type NodeSpeeds, SpeedSums } from './speed.js';
import { isWarmup, type WarmupRule } from './warmup.js';

/** A merged histogram that grows in place. */
export interface Merged extends LatencyHistogram {
  v: 1;
}

export function emptyMerged(): Merged {
  return { v: 1, offset: 0, counts: [] };
}

/** Adds `sign` × `h`'s counts to `into` (whole numbers: exact, in any order). */
export function mergeInto(into: Merged, h: LatencyHistogram, sign = 1): void {
  const { counts, offset } = h;
  let lo = 0;
  let hi = counts.length - 1;
  while (lo <= hi && counts[lo] === 0) lo++;
  while (hi >= lo && counts[hi] === 0) hi--;
  if (lo > hi) return;
  const from = offset + lo;
  const to = offset + hi;
  if (into.counts.length === 0) {
    into.offset = from;
    into.counts = sign === 1 ? counts.slice(lo, hi + 1) : counts.slice(lo, hi + 1).map((c) => -c);
    return;
  }
  if (from < into.offset) {
    const pad = new Array<number>(into.offset - from).fill(0);
    into.counts = pad.concat(into.counts);
    into.offset = from;
  }
  const end = into.offset + into.counts.length - 1;
  if (to > end) for (let i = end; i < to; i++) into.counts.push(0);
  const c = into.counts;
  for (let j = lo; j <= hi; j++) {
    const i = offset + j - into.offset;
    c[i] = (c[i] as number) + sign * (counts[j] as number);
  }
}

export interface CanarySlot {
  /** The slot (ms / slotMs of the samples' midpoints). */
  slot: number;
  /** Warm samples in the slot (zero-count ones too). */
  samples: number;
  n: number;
  requests: number;
  errors: number;
}

export interface BaselineSlot {
  /** The slot (ms / slotMs of the samples' midpoints). */
  slot: number;
  samples: WorkloadStats[];
  /** Latency value count of each sample. */
  ns: number[];
  hist: Merged;
  n: number;
  requests: number;
  errors: number;
  /** Earliest intervalEnd and latest intervalStart of its samples. */
  minEnd: number;
  maxStart: number;
  /** Merged into the node's `inside` (wholly inside the span at some evaluation). */
  inside: boolean;
  /**
   * The last cut at the span's edge (`assemble`): which samples were in the span (a bit
   * each, in order, for up to 31 samples; -1: none kept) and their entry, reused while the
   * same samples are cut.
   */
  cutMask: number;
  cut: SlotEntry | null;
  /** The slot's entry when wholly inside the span (`assemble`), reused while it has the same samples. */
  whole: SlotEntry | null;
}

export interface SpeedSlot {
  /** The key nodeSpeeds uses: the slot of the midpoint modulo 1,000,000. */
  key: number;
  n: number;
  sum: number;
  span: number;
  maxEnd: number;
  /** Each sample's n, Σ, duration and end (to cut the slot at a switch). */
  parts: number[];
}

/**
 * Shared empty maps and histograms a node's aggregates start with; the first write replaces
 * them with the node's own (most nodes use one side only: 100,000 nodes' worth of unused maps
 * cost an evaluation more in garbage collection than in work). Never written to.
 */
const NO_CANARY_SLOTS: Map<number, CanarySlot> = new Map();
const NO_BASELINE_SLOTS: Map<number, BaselineSlot> = new Map();
const NO_SPEED_SLOTS: Map<number, SpeedSlot> = new Map();
const NO_HIST: Merged = emptyMerged();

/** One node's aggregates. */
export class NodeAggregates {
  consumed = 0;
  /** Read whole for one evaluation (an unordered list): never reused. */
  once = false;
  /** The samples read, in order: reused only while the list starts with these very objects. */
  read: WorkloadStats[] = [];
  /** Earliest start of an instance on the new revision (any sample read). */
  switched = Number.POSITIVE_INFINITY;
  onCanary = false;
  warmOnCanary = false;
  fellBack = false;
  restarts = 0;
  warmupRequests = 0;
  canaryHist: Merged = NO_HIST;
  canarySlots: Map<number, CanarySlot> = NO_CANARY_SLOTS;
  canaryRequests = 0;
  canaryErrors = 0;
  spanFrom = Number.POSITIVE_INFINITY;
  spanTo = Number.NEGATIVE_INFINITY;
  baselineSlots: Map<number, BaselineSlot> = NO_BASELINE_SLOTS;
  /** The baseline slots marked `inside`, merged. */
  inside: Merged = NO_HIST;
  speedSlots: Map<number, SpeedSlot> = NO_SPEED_SLOTS;
}

/** The node's own `inside` histogram, made on first write. */
function ownInside(agg: NodeAggregates): Merged {
  if (agg.inside === NO_HIST) agg.inside = emptyMerged();
  return agg.inside;
}

/** What the aggregates are of: a change of any of these starts them over. */
export interface AggregateScope {
  deployment: string;
  revision: number;
  baselineRevision: number | null;
  compare: boolean;
  windowFrom: number;
  /** Start of the speed lookback (at most windowFrom). */
  speedFrom: number;
  warmup: WarmupRule;
  slotMs: number;
}

const scopeKey = (s: AggregateScope): string =>
  [s.deployment, s.revision, s.baselineRevision, s.compare, s.windowFrom, s.speedFrom, s.warmup.requests, s.warmup.ms, s.slotMs].join('\u0000');

/**
 * Whether `list` starts with the very sample objects read before: a list loaded anew (new
 * objects), or one changed anywhere in what was read, is read again. (Comparing content
 * instead was tried: the unit tests' lists, alike at their ends, fooled it.)
 */
function samePrefix(read: readonly WorkloadStats[], list: readonly WorkloadStats[]): boolean {
  if (read.length > list.length) return false;
  for (let k = 0; k < read.length; k++) if (read[k] !== list[k]) return false;
  return true;
}

/**
 * The aggregates of one gate window, by node position. `update` brings them up to date with
 * the samples as of an evaluation at `to`.
 */
export class GateAggregates {
  private key = '';
  scope: AggregateScope | null = null;
  nodes: (NodeAggregates | undefined)[] = [];
  /** Samples read in the last update (for tests and cost figures). */
  lastRead = 0;
  /**
   * Each position's node key as of the last update, when the caller names its nodes
   * (`update`'s `keys`): null when it did not.
   */
  private keys: string[] | null = null;

  /**
   * Reads what is new in `samples` up to `to`; starts over when the scope changed. With
   * `keys` (each position's node id), a node's aggregates follow the node when positions
   * shift (a node joined or left the targeted set); without, they belong to the position.
   */
  update(scope: AggregateScope, samples: ArrayLike<readonly WorkloadStats[] | undefined>, to: number, keys?: ArrayLike<string>): void {
    const key = scopeKey(scope);
    if (key !== this.key) {
      this.key = key;
      this.scope = scope;
      this.nodes = [];
      this.keys = null;
    }
    this.lastRead = 0;
    const n = samples.length;
    if (keys !== undefined) {
      // Positions from node keys: a node keeps its aggregates wherever it sits now; nodes
      // no longer listed are forgotten. The same keys at the same positions (the usual
      // case: no node joined or left) keep every position as it is.
      const before = this.keys;
      let same = before !== null && before.length === n;
      for (let p = 0; same && p < n; p++) if (before?.[p] !== keys[p]) same = false;
      if (!same) {
        const byKey = new Map<string, NodeAggregates>();
        if (before !== null)
          for (let p = 0; p < before.length; p++) {
            const agg = this.nodes[p];
            if (agg !== undefined) byKey.set(before[p] as string, agg);
          }
        const nodes: (NodeAggregates | undefined)[] = new Array(n);
        for (let p = 0; p < n; p++) nodes[p] = byKey.get(keys[p] as string);
        this.nodes = nodes;
        this.keys = Array.from(keys);
      }
      this.readLists(scope, samples, to, n);
      return;
    }
    this.keys = null;
    this.readLists(scope, samples, to, n);
  }

  private readLists(scope: AggregateScope, samples: ArrayLike<readonly WorkloadStats[] | undefined>, to: number, n: number): void {
    if (this.nodes.length > n) this.nodes.length = n;
    for (let p = 0; p < n; p++) {
      const list = samples[p];
      let agg = this.nodes[p];
      if (list === undefined || list.length === 0) {
        this.nodes[p] = undefined;
        continue;
      }
      if (agg === undefined || agg.once || !samePrefix(agg.read, list)) {
        agg = new NodeAggregates();
        this.nodes[p] = agg;
      }
      // Read in order while samples start by `to`; a later one (a node clock ahead) waits.
      let i = agg.consumed;
      while (i < list.length && (list[i] as WorkloadStats).intervalStart <= to) {
        this.read(agg, list[i] as WorkloadStats);
        i++;
      }
      this.lastRead += i - agg.consumed;
      for (let k = agg.consumed; k < i; k++) agg.read.push(list[k] as WorkloadStats);
      agg.consumed = i;
      if (i < list.length) {
        // Samples after one that starts later than `to`: an unordered list. Any of them that
        // counts now makes the node's aggregates not reusable: read it whole, without `to` cuts.
        let rest = false;
        for (let k = i; k < list.length; k++) if ((list[k] as WorkloadStats).intervalStart <= to) rest = true;
        if (rest) {
          const whole = new NodeAggregates();
          for (const s of list) {
            if (s.intervalStart <= to) this.read(whole, s);
            else if (s.revision === scope.revision && s.deployment === scope.deployment)
              whole.switched = Math.min(whole.switched, s.instanceStartedAt ?? s.intervalStart);
          }
          this.lastRead += list.length;
          this.nodes[p] = whole;
          // Not reusable: the next update reads the node again.
          whole.once = true;
        }
      }
    }
  }

  /**
   * The earliest start of a new instance among a node's samples not yet read (those that
   * start after the evaluation time still count for the switch, as they always did).
   */
  pendingSwitch(p: number, list: readonly WorkloadStats[] | undefined): number {
    const agg = this.nodes[p];
    let t = agg?.switched ?? Number.POSITIVE_INFINITY;
    if (list === undefined || agg === undefined) return t;
    const scope = this.scope as AggregateScope;
    for (let k = Math.min(agg.consumed, list.length); k < list.length; k++) {
      const s = list[k] as WorkloadStats;
      if (s.revision === scope.revision && s.deployment === scope.deployment) t = Math.min(t, s.instanceStartedAt ?? s.intervalStart);
    }
    return t;
  }

  private read(agg: NodeAggregates, s: WorkloadStats): void {
    const scope = this.scope as AggregateScope;
    if (s.deployment !== scope.deployment) return;
    if (s.revision === scope.revision) agg.switched = Math.min(agg.switched, s.instanceStartedAt ?? s.intervalStart);
    // Speed: the previous revision's warm samples from the lookback on.
    if (
      scope.compare &&
      scope.baselineRevision !== null &&
      s.revision === scope.baselineRevision &&
      s.intervalEnd > scope.speedFrom &&
      !isWarmup(s, scope.warmup)
    ) {
      const { n, sum } = bucketSums(s.latency);
      if (n > 0) {
        const key = Math.floor((s.intervalStart + s.intervalEnd) / 2 / scope.slotMs) % 1_000_000;
        let slot = agg.speedSlots.get(key);
        if (slot === undefined) {
          slot = { key, n: 0, sum: 0, span: 0, maxEnd: Number.NEGATIVE_INFINITY, parts: [] };
          if (agg.speedSlots === NO_SPEED_SLOTS) agg.speedSlots = new Map();
          agg.speedSlots.set(key, slot);
        }
        const d = s.intervalEnd - s.intervalStart;
        slot.n += n;
        slot.sum += sum;
        slot.span += d;
        if (s.intervalEnd > slot.maxEnd) slot.maxEnd = s.intervalEnd;
        slot.parts.push(n, sum, d, s.intervalEnd);
      }
    }
    if (s.intervalEnd <= scope.windowFrom) return;
    const slotOf = (): number => Math.floor((s.intervalStart + s.intervalEnd) / 2 / scope.slotMs);
    if (s.revision === scope.revision) {
      agg.onCanary = true;
      agg.restarts += s.restarts;
      if (s.fallback) agg.fellBack = true;
      if (isWarmup(s, scope.warmup)) {
        agg.warmupRequests += s.requests;
        return;
      }
      agg.warmOnCanary = true;
      const n = bucketSums(s.latency).n;
      if (agg.canaryHist === NO_HIST) agg.canaryHist = emptyMerged();
      mergeInto(agg.canaryHist, s.latency);
      const k = slotOf();
      let slot = agg.canarySlots.get(k);
      if (slot === undefined) {
        slot = { slot: k, samples: 0, n: 0, requests: 0, errors: 0 };
        if (agg.canarySlots === NO_CANARY_SLOTS) agg.canarySlots = new Map();
        agg.canarySlots.set(k, slot);
      }
      slot.samples++;
      slot.n += n;
      slot.requests += s.requests;
      slot.errors += s.errors;
      agg.canaryRequests += s.requests;
      agg.canaryErrors += s.errors;
      if (s.intervalStart < agg.spanFrom) agg.spanFrom = s.intervalStart;
      if (s.intervalEnd > agg.spanTo) agg.spanTo = s.intervalEnd;
    } else if (scope.compare && s.revision === scope.baselineRevision && !isWarmup(s, scope.warmup)) {
      const k = slotOf();
      let slot = agg.baselineSlots.get(k);
      if (slot === undefined) {
        slot = {
          slot: k,
          samples: [],
          ns: [],
          hist: emptyMerged(),
          n: 0,
          requests: 0,
          errors: 0,
          minEnd: Number.POSITIVE_INFINITY,
          maxStart: Number.NEGATIVE_INFINITY,
          inside: false,
          cutMask: -1,
          cut: null,
          whole: null,
        };
        if (agg.baselineSlots === NO_BASELINE_SLOTS) agg.baselineSlots = new Map();
        agg.baselineSlots.set(k, slot);
      }
      const n = bucketSums(s.latency).n;
      slot.samples.push(s);
      slot.ns.push(n);
      mergeInto(slot.hist, s.latency);
      slot.n += n;
      slot.requests += s.requests;
      slot.errors += s.errors;
      if (s.intervalEnd < slot.minEnd) slot.minEnd = s.intervalEnd;
      if (s.intervalStart > slot.maxStart) slot.maxStart = s.intervalStart;
      // `inside` is the sum of the marked slots: a marked slot's new sample joins it; the
      // next evaluation unmarks the slot if the sample is not in the span.
      if (slot.inside) mergeInto(ownInside(agg), s.latency);
    }
  }
}

/** One side's analysed data of a node and time slot (`matching.ts`). */
export interface SlotEntry {
  p: number;
  /** Slot of the samples' midpoints (ms / slotMs). */
  slot: number;
  /** Samples it merges. */
  samples: number;
  /** Latency values, requests and errors. */
  n: number;
  requests: number;
  errors: number;
  /** Merged latency (baseline side; the canary side keeps one per node: `canaryHist`). */
  latency: LatencyHistogram;
}

/** The window's data as an evaluation needs it, from the aggregates. */
export interface Assembled {
  canaryNodes: number;
  warmingNodes: number;
  fallbackNodes: number;
  maxRestarts: number;
  warmupRequests: number;
  /** Each warm canary node's switch. */
  switchedAt: Map<number, number>;
  /** Canary slot entries, by node position then slot (first sample's order). */
  canary: SlotEntry[];
  /** Each canary node's merged latency. */
  canaryHist: Map<number, LatencyHistogram>;
  spanFrom: number;
  spanTo: number;
  /** Baseline slot entries within the span (a slot at its edge cut to its samples in it). */
  baseline: SlotEntry[];
  /** Each baseline node's latency within the span, in pieces that sum to it. */
  baselinePieces: Map<number, LatencyHistogram[]>;
}

const EMPTY: LatencyHistogram = { v: 1, offset: 0, counts: [] };

/**
 * Puts the aggregates together for an evaluation of window `window` (after `update`).
 * `samples` is the same list `update` read (the switch counts samples it has not read).
 */
export function assemble(aggs: GateAggregates, samples: ArrayLike<readonly WorkloadStats[] | undefined>, window: { from: number; to: number }): Assembled {
  const out: Assembled = {
    canaryNodes: 0,
    warmingNodes: 0,
    fallbackNodes: 0,
    maxRestarts: 0,
    warmupRequests: 0,
    switchedAt: new Map(),
    canary: [],
    canaryHist: new Map(),
    spanFrom: Number.POSITIVE_INFINITY,
    spanTo: Number.NEGATIVE_INFINITY,
    baseline: [],
    baselinePieces: new Map(),
  };
  const nodes = aggs.nodes;
  for (let p = 0; p < nodes.length; p++) {
    const a = nodes[p];
    if (a === undefined) continue;
    if (a.onCanary) out.canaryNodes++;
    if (a.onCanary && !a.warmOnCanary) out.warmingNodes++;
    if (a.warmOnCanary) out.switchedAt.set(p, aggs.pendingSwitch(p, samples[p]));
    if (a.fellBack) out.fallbackNodes++;
    if (a.restarts > out.maxRestarts) out.maxRestarts = a.restarts;
    out.warmupRequests += a.warmupRequests;
    if (!a.warmOnCanary) continue;
    out.canaryHist.set(p, a.canaryHist);
    for (const c of a.canarySlots.values())
      out.canary.push({ p, slot: c.slot, samples: c.samples, n: c.n, requests: c.requests, errors: c.errors, latency: EMPTY });
    if (a.spanFrom < out.spanFrom) out.spanFrom = a.spanFrom;
    if (a.spanTo > out.spanTo) out.spanTo = a.spanTo;
  }
  if (out.canary.length === 0) {
    out.spanFrom = window.from;
    out.spanTo = window.to;
  }
  const { spanFrom, spanTo } = out;
  for (let p = 0; p < nodes.length; p++) {
    const a = nodes[p];
    if (a === undefined || a.baselineSlots.size === 0) continue;
    const pieces: LatencyHistogram[] = [];
    for (const b of a.baselineSlots.values()) {
      const whole = b.minEnd > spanFrom && b.maxStart < spanTo;
      if (whole !== b.inside) {
        mergeInto(ownInside(a), b.hist, whole ? 1 : -1);
        b.inside = whole;
      }
      if (whole) {
        // Kept while the slot has the same samples (its counts are then the same).
        let entry = b.whole;
        if (entry === null || entry.p !== p || entry.samples !== b.samples.length) {
          entry = { p, slot: b.slot, samples: b.samples.length, n: b.n, requests: b.requests, errors: b.errors, latency: b.hist };
          b.whole = entry;
        }
        out.baseline.push(entry);
        continue;
      }
      // At the span's edge: the slot's samples in it, merged for this evaluation (kept
      // while the same samples are in it: a slot's samples never change once read).
      const list = b.samples;
      let mask = 0;
      let count = 0;
      let only = -1;
      for (let i = 0; i < list.length; i++) {
        const s = list[i] as WorkloadStats;
        if (!(s.intervalEnd > spanFrom && s.intervalStart < spanTo)) continue;
        count++;
        only = i;
        if (i < 31) mask |= 1 << i;
        pieces.push(s.latency);
      }
      if (count === 0) continue;
      const cacheable = list.length <= 31;
      if (cacheable && b.cut !== null && b.cutMask === mask && b.cut.p === p) {
        out.baseline.push(b.cut);
        continue;
      }
      let entry: SlotEntry;
      if (count === 1) {
        // One sample: its own counts (the same as a merged copy of them).
        const s = list[only] as WorkloadStats;
        entry = { p, slot: b.slot, samples: 1, n: b.ns[only] as number, requests: s.requests, errors: s.errors, latency: s.latency };
      } else {
        let n = 0;
        let requests = 0;
        let errors = 0;
        const cut = emptyMerged();
        for (let i = 0; i < list.length; i++) {
          const s = list[i] as WorkloadStats;
          if (!(s.intervalEnd > spanFrom && s.intervalStart < spanTo)) continue;
          n += b.ns[i] as number;
          requests += s.requests;
          errors += s.errors;
          mergeInto(cut, s.latency);
        }
        entry = { p, slot: b.slot, samples: count, n, requests, errors, latency: cut };
      }
      if (cacheable) {
        b.cutMask = mask;
        b.cut = entry;
      }
      out.baseline.push(entry);
    }
    pieces.push(a.inside);
    if (out.baseline.length > 0 && (out.baseline[out.baseline.length - 1] as SlotEntry).p === p) out.baselinePieces.set(p, pieces);
  }
  return out;
}

/**
 * Each node's speed (`speed.ts`, `nodeSpeeds`) from the aggregates: the same sums, read per
 * slot instead of per sample; a slot that ends after the node's cut-off is read per sample.
 */
export function speedsFromAggregates(
  aggs: GateAggregates,
  cohortOf: ArrayLike<number>,
  nodes: ReadonlyMap<number, number>,
  minRequests: number,
  minSpanMs: number,
): NodeSpeeds {
  if (nodes.size === 0) return { shift: new Map(), unadjusted: 0 };
  const until = new Float64Array(Math.max(cohortOf.length, aggs.nodes.length)).fill(Number.NaN);
  for (const [p, t] of nodes) until[p] = t;
  return speedsFromUntil(aggs, cohortOf, until, nodes.keys(), minRequests, minSpanMs);
}

/**
 * `speedsFromAggregates` with the nodes to estimate as arrays: `until[p]` the time node p's
 * samples count until (NaN: not estimated), `order` the estimated positions.
 */
export function speedsFromUntil(
  aggs: GateAggregates,
  cohortOf: ArrayLike<number>,
  until: Float64Array,
  order: Iterable<number>,
  minRequests: number,
  minSpanMs: number,
): NodeSpeeds {
  const gathered = new SpeedSums(Math.max(cohortOf.length, aggs.nodes.length));
  const list = aggs.nodes;
  for (let p = 0; p < list.length; p++) {
    const a = list[p];
    if (a === undefined || a.speedSlots.size === 0) continue;
    const t = until[p] as number;
    const own = !Number.isNaN(t);
    const switchedAt = own ? t : undefined;
    const cohort = cohortOf[p] as number;
    for (const slot of a.speedSlots.values()) {
      let n = slot.n;
      let sum = slot.sum;
      let d = slot.span;
      if (switchedAt !== undefined && slot.maxEnd > switchedAt) {
        n = 0;
        sum = 0;
        d = 0;
        const parts = slot.parts;
        for (let i = 0; i < parts.length; i += 4) {
          if ((parts[i + 3] as number) > switchedAt) continue;
          n += parts[i] as number;
          sum += parts[i + 1] as number;
          d += parts[i + 2] as number;
        }
        if (n === 0) continue;
      }
      gathered.add(p, cohort, slot.key, n, sum, d, own);
    }
  }
  return gathered.speeds(order, cohortOf, minRequests, minSpanMs);
}
