/**
 * How long one inference takes on a simulated node: a log-normal body around a median per
 * compute kind, with a heavy tail (1 % of requests take 3–5 times as long: a GC pause, a
 * thermal throttle, a busy PCIe link). Medians come from ../shared/HARDWARE.md (Pi 5,
 * community measurements of a yolov8s-class detector):
 *
 * | kind | median | where it comes from |
 * | --- | --- | --- |
 * | hailo8l | 13.3 ms | measured (57.8 FPS) |
 * | hailo8 | 6.6 ms | measured |
 * | hailo10h | 4.3 ms | Hailo-8's figure scaled by TOPS (26 → 40) |
 * | coral-pcie | 43 ms | Hailo-8L's figure scaled by TOPS (13 → 4) |
 * | coral-usb | 54 ms | coral-pcie plus USB transfer (×1.25) |
 * | cpu | 127 ms | measured: YOLO-nano class at 640 px on ONNX Runtime (the CPU fallback) |
 *
 * Draws come from the caller's seeded generator, so a run with the same `--seed` draws the
 * same latencies in the same order.
 */

/** What computes an inference: an accelerator kind (`ai.accelerator` value) or the CPU. */
export type ComputeKind = 'hailo8l' | 'hailo8' | 'hailo10h' | 'coral-pcie' | 'coral-usb' | 'cpu';

/** A log-normal body (median, σ of the log) and the shared tail. */
export interface LatencyModel {
  medianMs: number;
  sigma: number;
}

/** The models per compute kind (see the table above). */
export const LATENCY_MODELS: Readonly<Record<ComputeKind, LatencyModel>> = {
  hailo8l: { medianMs: 13.3, sigma: 0.18 },
  hailo8: { medianMs: 6.6, sigma: 0.18 },
  hailo10h: { medianMs: 4.3, sigma: 0.2 },
  'coral-pcie': { medianMs: 43, sigma: 0.2 },
  'coral-usb': { medianMs: 54, sigma: 0.25 },
  cpu: { medianMs: 127, sigma: 0.3 },
};

/** Share of requests in the heavy tail. */
export const TAIL_SHARE = 0.01;
/** A tail request takes this many times its body draw, uniformly in between. */
export const TAIL_FACTOR = [3, 5] as const;

/** One standard normal draw (Box–Muller; one of the pair is enough here). */
export function standardNormal(random: () => number): number {
  const u = Math.max(random(), Number.MIN_VALUE);
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** One inference latency in milliseconds; `multiplier` is a release's what-if slowdown. */
export function sampleLatencyMs(kind: ComputeKind, random: () => number, multiplier = 1): number {
  const m = LATENCY_MODELS[kind];
  let ms = m.medianMs * Math.exp(m.sigma * standardNormal(random));
  if (random() < TAIL_SHARE) ms *= TAIL_FACTOR[0] + (TAIL_FACTOR[1] - TAIL_FACTOR[0]) * random();
  return ms * multiplier;
}

/**
 * The body's quantile `q` (0 < q < 1) without the tail: what a large sample's quantiles
 * approach for q up to about 0.98 (the tail moves the top percent only).
 */
export function bodyQuantileMs(kind: ComputeKind, q: number): number {
  const m = LATENCY_MODELS[kind];
  return m.medianMs * Math.exp(m.sigma * inverseNormal(q));
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9). */
export function inverseNormal(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`quantile must be in (0, 1), got ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  if (p > 1 - low) return -inverseNormal(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
}
