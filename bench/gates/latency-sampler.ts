/**
 * `sampleLatencyMs`'s law (packages/sim/src/latency.ts: a log-normal body around the
 * accelerator's median, `TAIL_SHARE` of requests `TAIL_FACTOR` times as long), drawn
 * straight into a histogram bucket. A bucket is ⌈ln(ms / 0.1) / ln γ⌉ (protocol's
 * `bucketIndex`), and every multiplier of a request adds its log, so a draw is one table
 * look-up of a standard normal quantile and one addition: about a tenth of the cost of
 * drawing milliseconds (Box–Muller, exp) and taking the bucket of them (log).
 *
 * The normal comes from a table of 2^16 quantiles at the midpoints of equal-probability
 * cells, so draws beyond ±4.3 σ are clipped there (a probability of about 2·10⁻⁵, far
 * below the 1 % tail that is modelled on its own).
 */
import { HISTOGRAM_BUCKETS, HISTOGRAM_GAMMA, HISTOGRAM_MIN_MS } from '@edgefleet/protocol';
import { type ComputeKind, inverseNormal, LATENCY_MODELS, TAIL_FACTOR, TAIL_SHARE } from '../../packages/sim/src/latency.js';

export const LN_GAMMA = Math.log(HISTOGRAM_GAMMA);
const TABLE_SIZE = 1 << 16;
const NORMAL = (() => {
  const t = new Float64Array(TABLE_SIZE);
  for (let i = 0; i < TABLE_SIZE; i++) t[i] = inverseNormal((i + 0.5) / TABLE_SIZE);
  return t;
})();
const LAST = HISTOGRAM_BUCKETS - 1;
// Module constants read once: imported bindings are getters under the bench's loader.
const TAIL = TAIL_SHARE;
const TAIL_LOW = TAIL_FACTOR[0];
const TAIL_SPAN = TAIL_FACTOR[1] - TAIL_FACTOR[0];
const TWO_32 = 4294967296;

/** Draws latency buckets for one accelerator kind. */
export class LatencySampler {
  /** Bucket-space position of the median (before ⌈⌉). */
  private readonly center: number;
  /** σ of the body, in buckets. */
  private readonly width: number;

  constructor(readonly kind: ComputeKind) {
    const m = LATENCY_MODELS[kind];
    this.center = Math.log(m.medianMs / HISTOGRAM_MIN_MS) / LN_GAMMA;
    this.width = m.sigma / LN_GAMMA;
  }

  /**
   * One request: its bucket, or -1 when it fails (probability `errorRate`). `shift` is
   * ln(multiplier) / ln γ, the log of everything the request is multiplied by (node speed,
   * load, cold start, regression) in buckets. One 32-bit draw decides it all: the high 16
   * bits pick the normal quantile, the low 16 bits the failure and the tail (and, scaled
   * back to [0, 1), the tail's factor), so shares resolve to 1/65,536.
   */
  bucket(shift: number, errorRate: number, random: () => number): number {
    const bits = (random() * TWO_32) >>> 0;
    const u = (bits & 0xffff) / TABLE_SIZE;
    if (u < errorRate) return -1;
    let x = this.center + shift + this.width * (NORMAL[bits >>> 16] as number);
    const tail = (u - errorRate) / (1 - errorRate);
    if (tail < TAIL) x += Math.log(TAIL_LOW + (TAIL_SPAN * tail) / TAIL) / LN_GAMMA;
    const b = Math.ceil(x);
    return b <= 0 ? 0 : b > LAST ? LAST : b;
  }
}

/** One sampler per compute kind. */
export function samplers(): Record<ComputeKind, LatencySampler> {
  const kinds = Object.keys(LATENCY_MODELS) as ComputeKind[];
  return Object.fromEntries(kinds.map((k) => [k, new LatencySampler(k)])) as Record<ComputeKind, LatencySampler>;
}
