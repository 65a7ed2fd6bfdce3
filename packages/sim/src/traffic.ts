/**
 * Synthetic inference traffic. Every tick, each powered node gets a Poisson-distributed
 * number of requests per deployment it serves (mean `rps` × tick). A request to a ready
 * instance takes a latency drawn from the node's model (latency.ts) times the revision's
 * latency multiplier, fails with the revision's error rate, and is recorded through
 * `Agent.recordInference` — into the same stats the rollout gates and the telemetry read as
 * for proxied requests on a real node. A request while nothing is ready is a 503: counted
 * in the simulation's error rate, not in the agent's stats (the real proxy does the same).
 * Requests start once a deployment has first been ready on the node (clients come with the
 * service), and go on through restarts, switches and power cuts.
 * Nodes cut off from the server keep serving: edge inference does not need the uplink.
 * With a load function (`--fast-forward` uses `dailyLoad`) the rate follows it, and latency
 * grows a little with it.
 */
import { sampleLatencyMs } from './latency.js';
import type { SimNode } from './node.js';

/** Counters of one interval. */
interface TrafficCounts {
  requests: number;
  errors: number;
}

/** A Poisson draw (Knuth for small means, a rounded normal approximation above 30). */
export function poisson(mean: number, random: () => number): number {
  if (mean <= 0) return 0;
  if (mean > 30) {
    const u = Math.max(random(), Number.MIN_VALUE);
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
  }
  const limit = Math.exp(-mean);
  let k = 0;
  let p = random();
  while (p > limit) {
    k++;
    p *= random();
  }
  return k;
}

/**
 * A daily load cycle, as a multiple of the mean rate at time `at` (ms since 1970, UTC):
 * quiet at night (×0.25 at 03:00), busy in the afternoon (×1.75 at 15:00), a cosine in
 * between, so a day averages ×1. Shops and cameras at the edge see traffic like this.
 */
export function dailyLoad(at: number): number {
  const hour = (at / 3_600_000) % 24;
  return 1 - 0.75 * Math.cos((2 * Math.PI * (hour - 3)) / 24);
}

/**
 * How much slower a node answers under `load` (the daily cycle's multiple): a busy node
 * shares its CPU and bus, so latency grows with load, by 20 % at ×1.75.
 */
export function loadSlowdown(load: number): number {
  return 1 + 0.2 * Math.max(0, (load - 0.25) / 1.5);
}

/** Generates and records traffic; `tick` is called by the simulation's pooled timer. */
export class TrafficGenerator {
  readonly total: TrafficCounts = { requests: 0, errors: 0 };
  private interval: TrafficCounts = { requests: 0, errors: 0 };
  /** Deployments that have been ready on each node: they have clients from then on. */
  private readonly clients = new WeakMap<SimNode, Set<string>>();

  constructor(
    private readonly rps: number,
    /** The first node seen serving a revision (for the simulation's record and events). */
    private readonly served: (node: SimNode, deployment: string, revision: number) => void,
    /** The load at a time, as a multiple of `rps` (default: always 1). */
    private readonly load?: (at: number) => number,
  ) {}

  /** Sends `dtMs` worth of requests (ending at `at`, the clock's time) to every powered node. */
  tick(nodes: readonly SimNode[], dtMs: number, at = Date.now()): void {
    const load = this.load?.(at) ?? 1;
    const slowdown = this.load === undefined ? 1 : loadSlowdown(load);
    const mean = (this.rps * load * dtMs) / 1000;
    for (const node of nodes) {
      const agent = node.agent;
      if (!node.powered || agent === undefined) {
        node.recentRps = 0;
        continue;
      }
      let sent = 0;
      let clients = this.clients.get(node);
      for (const [deployment, local] of agent.workloadInstances()) {
        const active = local.active;
        const ready = active !== undefined && active.health === 'ready';
        if (ready && clients?.has(deployment) !== true) {
          clients ??= new Set();
          clients.add(deployment);
          this.clients.set(node, clients);
        }
        if (clients?.has(deployment) !== true) continue;
        const n = poisson(mean, node.trafficRandom);
        sent += n;
        if (n === 0) continue;
        this.interval.requests += n;
        if (!ready || active === undefined) {
          this.interval.errors += n;
          continue;
        }
        this.served(node, deployment, active.revision);
        const info = node.runtime.revision(deployment, active.revision);
        const multiplier = (info?.behaviour.latencyMultiplier ?? 1) * slowdown;
        const errorRate = info?.behaviour.errorRate ?? 0;
        const kind = node.computeFor(active.model, info?.usesAccelerator ?? true);
        const fallback = active.model === 'fallback';
        for (let i = 0; i < n; i++) {
          const ok = errorRate === 0 || node.trafficRandom() >= errorRate;
          if (!ok) this.interval.errors++;
          agent.recordInference(deployment, active.revision, sampleLatencyMs(kind, node.trafficRandom, multiplier), ok, fallback);
        }
      }
      node.recentRps = (sent * 1000) / Math.max(1, dtMs);
    }
  }

  /** The interval's counts (and adds them to the totals); starts a new interval. */
  takeInterval(): TrafficCounts {
    const out = this.interval;
    this.total.requests += out.requests;
    this.total.errors += out.errors;
    this.interval = { requests: 0, errors: 0 };
    return out;
  }
}
