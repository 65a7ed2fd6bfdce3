import { emptyHistogram, mergeHistograms, recordLatency, type WorkloadStats } from '@edgefleet/protocol';

/** The instance serving a revision: when it began serving and how many requests it answered since. */
export interface ServingInstance {
  /** Node clock, ms. */
  readonly startedAt: number;
  answered: number;
}

interface Interval {
  deployment: string;
  revision: number;
  intervalStart: number;
  requests: number;
  errors: number;
  restarts: number;
  fallback: boolean;
  latency: ReturnType<typeof emptyHistogram>;
  /** The instance the interval belongs to (none: its requests came before any instance was announced). */
  instance: ServingInstance | undefined;
  /** Requests that instance had answered when the interval opened. */
  requestsBefore: number | undefined;
}

/**
 * How many closed samples the collector holds while reports fail. Samples of one instance
 * merge into one, so only instance changes while offline (a crash loop for a week) add up;
 * past the bound the oldest merge into a newer one of the same revision (see `hold`).
 */
export const MAX_HELD_SAMPLES = 256;

/**
 * Per workload and revision, what happened since the last status report: requests, errors,
 * restarts, whether the fallback served, and a mergeable latency histogram. The server sums
 * these across nodes for rollout gates, so percentiles are computed from merged histograms,
 * never averaged. A report that fails to send is put back, so nothing is lost offline.
 *
 * Each sample belongs to one instance, so the gates can leave a new instance's warm-up out
 * (`instanceStartedAt`, `instanceRequestsBefore`): when another instance starts serving a
 * revision (a switch, a restart after a crash, the CPU fallback), the open interval closes
 * there and the next one opens for the new instance. Invariant: an open interval belongs to
 * the instance that serves its revision now.
 */
export class WorkloadStatsCollector {
  private readonly open = new Map<string, Interval>();
  /** Closed samples not yet taken (instance changes, reports put back), by revision and instance. */
  private readonly held = new Map<string, WorkloadStats>();
  /** The instance serving each revision, once announced. */
  private readonly serving = new Map<string, ServingInstance>();

  constructor(private readonly clock: () => number) {}

  /**
   * A new instance serves `revision` of `deployment` from now on, having begun to serve at
   * `startedAt` (node clock). The revision's open interval belongs to the previous instance
   * and closes here. Other revisions of the deployment no longer serve (the proxy routes to
   * one instance), so their instances are forgotten; their open intervals stay theirs.
   */
  instanceStarted(deployment: string, revision: number, startedAt: number): void {
    const key = revisionKey(deployment, revision);
    for (const k of this.serving.keys()) if (k.startsWith(`${deployment}\u0000`)) this.serving.delete(k);
    this.serving.set(key, { startedAt, answered: 0 });
    const i = this.open.get(key);
    if (i !== undefined) {
      this.open.delete(key);
      this.hold(closeAt(i, this.clock()));
    }
  }

  /** The instance serving a revision now (for the telemetry's per-instance gauges). */
  instance(deployment: string, revision: number): Readonly<ServingInstance> | undefined {
    return this.serving.get(revisionKey(deployment, revision));
  }

  private interval(deployment: string, revision: number): Interval {
    const key = revisionKey(deployment, revision);
    let i = this.open.get(key);
    if (i === undefined) {
      const instance = this.serving.get(key);
      i = {
        deployment,
        revision,
        intervalStart: this.clock(),
        requests: 0,
        errors: 0,
        restarts: 0,
        fallback: false,
        latency: emptyHistogram(),
        instance,
        requestsBefore: instance?.answered,
      };
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
    if (i.instance !== undefined) i.instance.answered++;
  }

  /** A workload process crashed or failed its health checks. */
  restart(deployment: string, revision: number): void {
    this.interval(deployment, revision).restarts++;
  }

  /** Takes everything collected so far, closing the open intervals at `now`. */
  drain(): WorkloadStats[] {
    const now = this.clock();
    for (const i of this.open.values()) this.hold(closeAt(i, now));
    this.open.clear();
    const out = [...this.held.values()];
    this.held.clear();
    return out;
  }

  /**
   * Puts back stats whose report did not reach the server; they go out with the next one.
   * Samples of the same instance merge (so a week offline is still one sample per instance);
   * samples of different instances stay apart.
   */
  restore(stats: readonly WorkloadStats[]): void {
    for (const s of stats) this.hold({ ...s });
  }

  /** Keeps a closed sample for the next drain, merged with a held one of the same instance. */
  private hold(s: WorkloadStats): void {
    const key = sampleKey(s);
    const same = this.held.get(key);
    this.held.set(key, same === undefined ? s : mergeSamples(same, s));
    while (this.held.size > MAX_HELD_SAMPLES && this.mergeOldest()) {}
  }

  /**
   * Merges the oldest held sample into the next one of the same revision, which keeps the
   * newer instance's start: the merged sample counts as that instance's warm-up, so requests
   * are left out of the gates rather than a cold instance's counted as warm. Restarts and
   * errors still count. Returns false when no two held samples share a revision.
   */
  private mergeOldest(): boolean {
    const byAge = [...this.held.entries()].sort(([, a], [, b]) => a.intervalStart - b.intervalStart);
    for (const [oldKey, old] of byAge) {
      const next = byAge.find(([k, s]) => k !== oldKey && s.deployment === old.deployment && s.revision === old.revision);
      if (next === undefined) continue;
      const [nextKey, newer] = next;
      this.held.delete(oldKey);
      this.held.set(nextKey, mergeSamples(old, newer));
      return true;
    }
    return false;
  }
}

function revisionKey(deployment: string, revision: number): string {
  return `${deployment}\u0000${revision}`;
}

/** Samples with this key belong to the same revision and instance. */
function sampleKey(s: WorkloadStats): string {
  return `${s.deployment}\u0000${s.revision}\u0000${s.instanceStartedAt ?? '-'}`;
}

/**
 * The sample of an interval closed at `end`. The instance's start is never reported after
 * the interval's start: an instance begins serving before its interval opens, so a later
 * value means the node's clock stepped back in between (a Pi has no RTC), and the server
 * refuses a start after the interval's end.
 */
function closeAt(i: Interval, end: number): WorkloadStats {
  const { instance, requestsBefore, ...rest } = i;
  const intervalEnd = Math.max(end, i.intervalStart);
  const sample: WorkloadStats = { ...rest, intervalEnd };
  if (instance !== undefined) {
    sample.instanceStartedAt = Math.max(0, Math.min(instance.startedAt, i.intervalStart));
    sample.instanceRequestsBefore = requestsBefore ?? 0;
  }
  return sample;
}

/**
 * One sample of `a` and `b` (same revision): counts add up, the interval covers both. The
 * instance is `b`'s, which is `a`'s when both have the same (then the earlier count before
 * stands); for different instances, `b`'s start with no requests before it, as the merged
 * interval begins before `b`'s instance answered anything.
 */
function mergeSamples(a: WorkloadStats, b: WorkloadStats): WorkloadStats {
  const merged: WorkloadStats = {
    deployment: b.deployment,
    revision: b.revision,
    intervalStart: Math.min(a.intervalStart, b.intervalStart),
    intervalEnd: Math.max(a.intervalEnd, b.intervalEnd),
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    restarts: a.restarts + b.restarts,
    fallback: a.fallback || b.fallback,
    latency: mergeHistograms(a.latency, b.latency),
  };
  if (b.instanceStartedAt !== undefined) {
    const sameInstance = a.instanceStartedAt === b.instanceStartedAt;
    merged.instanceStartedAt = Math.min(b.instanceStartedAt, merged.intervalStart);
    merged.instanceRequestsBefore = sameInstance ? Math.min(a.instanceRequestsBefore ?? 0, b.instanceRequestsBefore ?? 0) : 0;
  }
  return merged;
}
