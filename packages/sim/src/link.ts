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
}

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
