import { emptyHistogram, mergeHistograms, recordLatency, type WorkloadStats } from '@edgefleet/protocol';

interface Interval {
  deployment: string;
  revision: number;
  intervalStart: number;
  requests: number;
  errors: number;
  restarts: number;
  fallback: boolean;
  latency: ReturnType<typeof emptyHistogram>;
}

/**
 * Per workload and revision, what happened since the last status report: requests, errors,
 * restarts, whether the fallback served, and a mergeable latency histogram. The server sums
 * these across nodes for rollout gates, so percentiles are computed from merged histograms,
 * never averaged. A report that fails to send is put back, so nothing is lost offline.
 */
export class WorkloadStatsCollector {
  private readonly open = new Map<string, Interval>();

  constructor(private readonly clock: () => number) {}

  private interval(deployment: string, revision: number): Interval {
    const key = `${deployment}\u0000${revision}`;
    let i = this.open.get(key);
    if (i === undefined) {
      i = { deployment, revision, intervalStart: this.clock(), requests: 0, errors: 0, restarts: 0, fallback: false, latency: emptyHistogram() };
      this.open.set(key, i);
    }
    return i;
  }

  /** One inference request through the proxy. */
  request(deployment: string, revision: number, latencyMs: number, ok: boolean, fallback: boolean): void {
    const i = this.interval(deployment, revision);
    i.requests++;
    if (!ok) i.errors++;
    else i.latency = recordLatency(i.latency, latencyMs);
    if (fallback) i.fallback = true;
  }

  /** A workload process crashed or failed its health checks. */
  restart(deployment: string, revision: number): void {
    this.interval(deployment, revision).restarts++;
  }

  /** Takes everything collected so far, closing the intervals at `now`. */
  drain(): WorkloadStats[] {
    const now = this.clock();
    const out = [...this.open.values()].map((i) => ({ ...i, intervalEnd: now }));
    this.open.clear();
    return out;
  }

  /** Puts back stats whose report did not reach the server; they go out with the next one. */
  restore(stats: readonly WorkloadStats[]): void {
    for (const s of stats) {
      const i = this.interval(s.deployment, s.revision);
      i.intervalStart = Math.min(i.intervalStart, s.intervalStart);
      i.requests += s.requests;
      i.errors += s.errors;
      i.restarts += s.restarts;
      i.fallback ||= s.fallback;
      i.latency = mergeHistograms(i.latency, s.latency);
    }
  }
}
