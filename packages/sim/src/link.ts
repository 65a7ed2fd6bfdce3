/**
 * A node's simulated link to the control plane, as the agent's client sees it through
 * `NetworkConditions.beforeRequest`: before every request it either throws (the node or its
 * site is offline, the request was lost — the client turns the throw into an `unreachable`
 * error, as for a real dead link) or waits (latency with jitter, and the transfer time at
 * the link's bandwidth).
 *
 * Limits of the seam, on purpose: a request already in flight when the link goes down
 * completes (so a desired-state long poll open at that moment may still deliver one
 * answer); a download's size is not known before it starts, so it is charged a nominal
 * `artifactBytes` at the link's bandwidth.
 */
import type { NetworkConditions } from '@edgefleet/protocol';

/** A link's conditions (per site, from the fault file). */
export interface LinkProfile {
  /** Round-trip time added to every request, ms. */
  latencyMs: number;
  /** The added time varies uniformly by ± this, ms. */
  jitterMs: number;
  /** Share of requests lost (0 … 1): they fail as a dead link does. */
  loss: number;
  /** Bytes per second; undefined: not limited. */
  bandwidthBytesPerSecond: number | undefined;
}

export interface SimulatedLinkOptions {
  random: () => number;
  /** The simulation's pooled sleep (or a test's); waits resolve early when the node loses power. */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Why the node cannot reach the server now (`offline`, `site outage`), or undefined when it can. */
  down: () => string | undefined;
  /** The link's conditions now, or undefined for a clean LAN. */
  profile: () => LinkProfile | undefined;
  /** Bytes charged for an artifact download at the link's bandwidth (default 8 MiB, a typical compiled model). */
  artifactBytes?: number;
  /**
   * Bytes per second of bulk transfers (image layers) when the site's profile sets no
   * bandwidth: a site uplink is never infinitely fast (default 12.5 MB/s, 100 Mbit/s).
   */
  bulkBytesPerSecond?: number;
}

/** The default speed of bulk transfers on a link without a bandwidth limit: 100 Mbit/s. */
export const DEFAULT_BULK_BYTES_PER_SECOND = 12_500_000;

/** The `NetworkConditions` of one simulated node. */
export class SimulatedLink implements NetworkConditions {
  /** Requests refused because the link was down, and requests lost. */
  refused = 0;
  lost = 0;
  private power = new AbortController();

  constructor(private readonly opts: SimulatedLinkOptions) {}

  async beforeRequest(request: { method: string; path: string; bodyBytes: number }): Promise<void> {
    const power = this.power.signal;
    this.check(power);
    const p = this.opts.profile();
    if (p === undefined) return;
    if (p.loss > 0 && this.opts.random() < p.loss) {
      this.lost++;
      throw new Error(`${request.method} ${request.path} lost on the link (simulated loss ${p.loss})`);
    }
    const bytes =
      request.bodyBytes + (request.method === 'GET' && request.path.startsWith('/v1/artifacts/') ? (this.opts.artifactBytes ?? 8 * 1024 * 1024) : 0);
    const transferMs = p.bandwidthBytesPerSecond === undefined || bytes === 0 ? 0 : (bytes / p.bandwidthBytesPerSecond) * 1000;
    const waitMs = Math.max(0, p.latencyMs + p.jitterMs * (2 * this.opts.random() - 1)) + transferMs;
    if (waitMs > 0) await this.opts.sleep(waitMs, power);
    // The link (or the node's power) may have gone while the request was on its way.
    this.check(power);
  }

  /**
   * Moves `bytes` over the link (one part of a download already under way): waits their time
   * at the link's bandwidth and fails, moving nothing, when the link is down or lost, goes
   * down meanwhile, or the node loses power. Callers that want a cut to cost little move big
   * downloads in parts and keep the parts that arrived (the image store resumes from them).
   * `roundTrip` adds the link's latency (a new request, such as a manifest fetch).
   */
  async transfer(bytes: number, opts: { roundTrip?: boolean } = {}): Promise<void> {
    if (!(bytes >= 0)) throw new Error(`transfer of ${bytes} bytes: give a number of bytes from 0`);
    const power = this.power.signal;
    this.check(power);
    const p = this.opts.profile();
    if (p !== undefined && p.loss > 0 && this.opts.random() < p.loss) {
      this.lost++;
      throw new Error(`transfer of ${bytes} bytes lost on the link (simulated loss ${p.loss})`);
    }
    const bandwidth = p?.bandwidthBytesPerSecond ?? this.opts.bulkBytesPerSecond ?? DEFAULT_BULK_BYTES_PER_SECOND;
    const latencyMs = opts.roundTrip === true && p !== undefined ? Math.max(0, p.latencyMs + p.jitterMs * (2 * this.opts.random() - 1)) : 0;
    const waitMs = latencyMs + (bytes / bandwidth) * 1000;
    if (waitMs > 0) await this.opts.sleep(waitMs, power);
    this.check(power);
    this.transferred += bytes;
  }

  /** Bytes moved by `transfer` (completed parts only). */
  transferred = 0;

  /** The node loses power: requests waiting on the link fail now. */
  powerCut(): void {
    this.power.abort();
    this.power = new AbortController();
  }

  private check(power: AbortSignal): void {
    if (power.aborted) throw new Error('the node lost power (simulated)');
    const reason = this.opts.down();
    if (reason !== undefined) {
      this.refused++;
      throw new Error(`no route to the server: ${reason} (simulated)`);
    }
  }
}
