/**
 * The simulated world of `bench:gates`: a fleet of edge nodes serving one deployment, with
 * the latency, traffic, machine load, cold starts and switching delays of real nodes, and
 * agents that report `WorkloadStats` on their heartbeats as the real agent does. Pure and
 * seeded: the same options and seed give the same stats, byte for byte. No clock, no timer,
 * no I/O: the driver (`rollout-run.ts`) moves time by calling `advanceTo`.
 *
 * What a request costs, in milliseconds, on node n at time t, served by instance i (its
 * k-th request):
 *
 *   latency = body × tail × speed(n) × load(n, t) × coldStart(i, k, t) × contention × regression(i)
 *
 * - body, tail: `sampleLatencyMs` of the simulator (packages/sim/src/latency.ts): a
 *   log-normal around the accelerator's median (Hailo-8L 13.3 ms σ 0.18, Hailo-8 6.6 ms,
 *   Hailo-10H 4.3 ms, Coral PCIe 43 ms), 1 % of requests 3–5 × as long.
 * - speed(n): a per-node factor, log-normal with σ `speedSigma` (boards of one kind differ:
 *   cooling, throttling, PCIe link, camera resolution).
 * - load(n, t): machine load, exp(node drift) × site and fleet bursts. The drift is an
 *   Ornstein–Uhlenbeck walk of the log (stationary σ `driftSigma`, correlation time
 *   `driftMinutes`); bursts multiply by 1.5–3 for 10–60 s, fleet-wide (`fleetBurstsPerHour`)
 *   or on one site (`siteBurstsPerHourPerSite`).
 * - coldStart: a new instance's first requests and seconds are slower:
 *   1 + a·exp(−k / `coldRequests`) + b·exp(−age / `coldSeconds`), a and b drawn per node
 *   (`firstRequestExtra`, `cpuShareExtra`); age counts from the process start. The old
 *   instance shares the CPU while the new one loads: its requests then take 1 + b as long
 *   (`contention`).
 * - regression(i): the rollout's new revision multiplies every request's latency by
 *   `regression` (1 for an A/A run). Multiplying every value multiplies every quantile by
 *   exactly that factor: the new revision's P95 is `regression` × what the previous one's
 *   would be on the same node at the same moment.
 * - A request fails with probability `errorRate` (both revisions); failed requests count
 *   in `requests` and `errors` but not in the latency histogram, as in the agent.
 *
 * Traffic: Poisson arrivals per node at `rate` requests per second (the run's level, low
 * 0.5/s or high 20/s, times a per-node log-normal spread `rateSigma`).
 *
 * Switching: a node told to run another revision gets the news after a long-poll nudge
 * (0.2–2 s), downloads (log-normal, median 20 s), starts the new process (median 4 s,
 * model load), then moves its traffic to it and stops the old one. It reports what it runs
 * on its next heartbeat.
 *
 * Heartbeats: every node reports every 10–30 s (its own period, ±10 % jitter per beat, as
 * the agent's `jitteredInterval`), with one `WorkloadStats` per revision that answered
 * requests since the last report (the agent's collector keys intervals by revision and
 * opens one at its first request). `instanceStartedAt` is the serving instance's process
 * start, `instanceRequestsBefore` the requests that instance answered before the interval.
 * Node clocks equal the server's and reports arrive at once, so the server's re-anchoring
 * on receive time changes nothing.
 */
import { HISTOGRAM_BUCKETS, type LatencyHistogram, mulberry32, type WorkloadState, type WorkloadStats } from '@edgefleet/protocol';
import { type ComputeKind, standardNormal } from '../../packages/sim/src/latency.js';
import { poisson } from '../../packages/sim/src/traffic.js';
import { type LatencySampler, LN_GAMMA, samplers } from './latency-sampler.js';

/** Every parameter of the world, with the values the bench uses (see the module comment). */
export interface WorldParameters {
  /** Accelerator kinds and their shares of the fleet. */
  accelerators: readonly (readonly [ComputeKind, number])[];
  /** Nodes per site (sites = max(2, round(nodes / this))). */
  nodesPerSite: number;
  speedSigma: number;
  /** Requests per second per node at each traffic level. */
  traffic: { low: number; high: number };
  rateSigma: number;
  errorRate: number;
  heartbeatMs: readonly [number, number];
  heartbeatJitter: number;
  /** Stationary σ of the log of a node's load drift, and its correlation time. */
  driftSigma: number;
  driftMinutes: number;
  /** Load timeline resolution. */
  loadStepMs: number;
  fleetBurstsPerHour: number;
  siteBurstsPerHourPerSite: number;
  burstFactor: readonly [number, number];
  burstSeconds: readonly [number, number];
  nudgeMs: readonly [number, number];
  downloadMedianMs: number;
  downloadSigma: number;
  startMedianMs: number;
  startSigma: number;
  firstRequestExtra: readonly [number, number];
  coldRequests: number;
  cpuShareExtra: readonly [number, number];
  coldSeconds: number;
}

export const WORLD: WorldParameters = {
  accelerators: [
    ['hailo8l', 0.4],
    ['hailo8', 0.3],
    ['hailo10h', 0.15],
    ['coral-pcie', 0.15],
  ],
  nodesPerSite: 10,
  speedSigma: 0.12,
  traffic: { low: 0.5, high: 20 },
  rateSigma: 0.3,
  errorRate: 0.001,
  heartbeatMs: [10_000, 30_000],
  heartbeatJitter: 0.1,
  driftSigma: 0.1,
  driftMinutes: 10,
  loadStepMs: 5_000,
  fleetBurstsPerHour: 1,
  siteBurstsPerHourPerSite: 1,
  burstFactor: [1.5, 3],
  burstSeconds: [10, 60],
  nudgeMs: [200, 2_000],
  downloadMedianMs: 20_000,
  downloadSigma: 0.5,
  startMedianMs: 4_000,
  startSigma: 0.4,
  firstRequestExtra: [1, 3],
  coldRequests: 8,
  cpuShareExtra: [0.3, 0.8],
  coldSeconds: 8,
};

export const DEPLOYMENT = 'detector';
/** The revision every node runs before the rollout, and the one rolled out. */
export const BASELINE_REVISION = 1;
export const NEW_REVISION = 2;
/** The rollout starts here (simulated ms since the epoch). */
export const T0 = Date.parse('2026-03-01T08:00:00Z');

export type TrafficLevel = 'low' | 'high';

export interface WorldOptions {
  nodes: number;
  seed: number;
  traffic: TrafficLevel;
  /** Latency multiplier of the new revision (1: identical releases). */
  regression: number;
  /** Simulated time the load timelines cover from T0; later times reuse the last value. */
  horizonMs: number;
  parameters?: WorldParameters;
}

/** One workload process on a node. */
interface Instance {
  revision: number;
  /** Process start (ms): what the agent reports as `instanceStartedAt`. */
  startedAt: number;
  /** Requests answered so far. */
  served: number;
  /** Started during the run: has a cold start. Instances running before T0 are warm. */
  cold: boolean;
}

/** A switch under way: process start and the moment traffic moves over. */
interface PendingSwitch {
  revision: number;
  startAt: number;
  readyAt: number;
}

/** The agent's open stats interval for one revision. */
interface OpenInterval {
  revision: number;
  intervalStart: number;
  requests: number;
  errors: number;
  dense: Uint32Array;
  low: number;
  high: number;
  instanceStartedAt: number;
  instanceRequestsBefore: number;
}

/** A simulated node and its agent. */
export interface WorldNode {
  id: string;
  site: number;
  accelerator: ComputeKind;
  speed: number;
  /** Requests per second. */
  rate: number;
  heartbeatMs: number;
  nextHeartbeat: number;
  lastSeen: number;
  /** What the node reported on its last heartbeat (what the server knows). */
  reported: { revision: number; state: WorkloadState; servingRevision: number | null };
  /** Stats reported so far (the store's rows for this node), oldest first. */
  stats: WorkloadStats[];
  // ---- private to the world ----
  serving: Instance;
  /** The revision the node was last told to run (what it reports as its revision). */
  told: number;
  pending: PendingSwitch | null;
  servedUntil: number;
  firstExtra: number;
  cpuExtra: number;
  open: OpenInterval[];
}

/** A simulated fleet; `advanceTo` moves its time, `tell` switches nodes. */
export class World {
  readonly nodes: WorldNode[];
  readonly sites: number;
  readonly options: WorldOptions;
  private readonly p: WorldParameters;
  private readonly random: () => number;
  /** ln(load) per node per load step, flattened [node * steps + step]: drift and bursts. */
  private readonly lnLoad: Float32Array;
  private readonly steps: number;
  private readonly samplers: Record<ComputeKind, LatencySampler>;
  now = T0;

  constructor(options: WorldOptions) {
    this.options = options;
    const p = options.parameters ?? WORLD;
    this.p = p;
    const random = mulberry32(options.seed);
    this.random = random;
    this.sites = Math.max(2, Math.round(options.nodes / p.nodesPerSite));
    this.steps = Math.max(1, Math.ceil(options.horizonMs / p.loadStepMs) + 1);
    this.samplers = samplers();
    const level = p.traffic[options.traffic];
    const between = (r: readonly [number, number]): number => r[0] + (r[1] - r[0]) * random();
    this.nodes = Array.from({ length: options.nodes }, (_, i) => {
      const heartbeatMs = Math.round(between(p.heartbeatMs));
      const started = T0 - 86_400_000;
      const node: WorldNode = {
        id: `node-${String(i).padStart(4, '0')}`,
        site: i % this.sites,
        accelerator: pickShare(p.accelerators, random()),
        speed: Math.exp(p.speedSigma * standardNormal(random)),
        rate: level * Math.exp(p.rateSigma * standardNormal(random) - (p.rateSigma * p.rateSigma) / 2),
        heartbeatMs,
        // Heartbeat phases are spread over the period: the fleet has been up for a while.
        nextHeartbeat: T0 + Math.round(random() * heartbeatMs),
        lastSeen: T0,
        reported: { revision: BASELINE_REVISION, state: 'running', servingRevision: BASELINE_REVISION },
        stats: [],
        serving: { revision: BASELINE_REVISION, startedAt: started, served: 1_000_000, cold: false },
        told: BASELINE_REVISION,
        pending: null,
        servedUntil: T0,
        firstExtra: between(p.firstRequestExtra),
        cpuExtra: between(p.cpuShareExtra),
        open: [],
      };
      return node;
    });
    const drift = this.driftTimelines(options.nodes);
    const burst = this.burstTimelines();
    const steps = this.steps;
    this.lnLoad = new Float32Array(options.nodes * steps);
    this.nodes.forEach((n, i) => {
      for (let s = 0; s < steps; s++)
        this.lnLoad[i * steps + s] =
          (drift[i * steps + s] as number) + Math.log(burst[n.site * steps + s] as number) + Math.log(burst[this.sites * steps + s] as number);
    });
  }

  /** Node drift: an Ornstein–Uhlenbeck walk of the log load, started from its stationary law. */
  private driftTimelines(nodes: number): Float32Array {
    const { p, steps, random } = this;
    const out = new Float32Array(nodes * steps);
    const dtMin = p.loadStepMs / 60_000;
    const keep = Math.exp(-dtMin / p.driftMinutes);
    const shock = p.driftSigma * Math.sqrt(1 - keep * keep);
    for (let n = 0; n < nodes; n++) {
      let x = p.driftSigma * standardNormal(random);
      for (let s = 0; s < steps; s++) {
        out[n * steps + s] = x;
        x = x * keep + shock * standardNormal(random);
      }
    }
    return out;
  }

  /** Bursts: Poisson arrivals per site and fleet-wide, each 1.5–3 × for 10–60 s. */
  private burstTimelines(): Float32Array {
    const { p, steps, random } = this;
    const out = new Float32Array((this.sites + 1) * steps).fill(1);
    const horizon = steps * p.loadStepMs;
    const lay = (row: number, perHour: number): void => {
      if (perHour <= 0) return;
      let t = 0;
      for (;;) {
        t += (-Math.log(1 - random()) / perHour) * 3_600_000;
        if (t >= horizon) return;
        const factor = p.burstFactor[0] + (p.burstFactor[1] - p.burstFactor[0]) * random();
        const length = (p.burstSeconds[0] + (p.burstSeconds[1] - p.burstSeconds[0]) * random()) * 1000;
        const from = Math.floor(t / p.loadStepMs);
        const to = Math.min(steps, Math.ceil((t + length) / p.loadStepMs));
        for (let s = from; s < to; s++) out[row * steps + s] = Math.max(out[row * steps + s] as number, factor);
      }
    };
    for (let site = 0; site < this.sites; site++) lay(site, p.siteBurstsPerHourPerSite);
    lay(this.sites, p.fleetBurstsPerHour);
    return out;
  }

  /** The load multiplier of node `n` (at position `index`) at time `t`. */
  loadAt(index: number, t: number): number {
    return Math.exp(this.lnLoad[index * this.steps + this.stepOf(t)] as number);
  }

  private stepOf(t: number): number {
    return Math.min(this.steps - 1, Math.max(0, Math.floor((t - T0) / this.p.loadStepMs)));
  }

  /**
   * Tells a node to run `revision` (the planner's desired state changed for it). A node
   * already running or switching to it does nothing; a switch to another revision under
   * way is replaced.
   */
  tell(n: WorldNode, revision: number, at: number): void {
    if (n.told === revision) return;
    n.told = revision;
    if (n.serving.revision === revision) {
      n.pending = null;
      return;
    }
    const p = this.p;
    const nudge = p.nudgeMs[0] + (p.nudgeMs[1] - p.nudgeMs[0]) * this.random();
    const download = p.downloadMedianMs * Math.exp(p.downloadSigma * standardNormal(this.random));
    const start = p.startMedianMs * Math.exp(p.startSigma * standardNormal(this.random));
    const startAt = Math.round(at + nudge + download);
    n.pending = { revision, startAt, readyAt: Math.round(startAt + start) };
  }

  /**
   * Moves time to `t`: every node serves its traffic up to `t`, switches when its new
   * instance is ready, and reports on each heartbeat due. Returns the nodes that reported.
   */
  advanceTo(t: number): WorldNode[] {
    const reported: WorldNode[] = [];
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i] as WorldNode;
      let beat = false;
      while (n.nextHeartbeat <= t) {
        this.serveUntil(n, i, n.nextHeartbeat);
        this.heartbeat(n, n.nextHeartbeat);
        const jitter = 1 + this.p.heartbeatJitter * (2 * this.random() - 1);
        n.nextHeartbeat += Math.max(1, Math.round(n.heartbeatMs * jitter));
        beat = true;
      }
      if (beat) reported.push(n);
    }
    this.now = t;
    return reported;
  }

  /** Serves the node's traffic from where it stopped to `t`, switching instances on the way. */
  private serveUntil(n: WorldNode, index: number, t: number): void {
    for (;;) {
      const sw = n.pending;
      if (sw !== null && sw.readyAt <= t) {
        // The old instance serves until the new one is ready, sharing the CPU while it loads.
        this.serve(n, index, n.serving, n.servedUntil, Math.max(n.servedUntil, Math.min(sw.startAt, sw.readyAt)), 1);
        this.serve(n, index, n.serving, Math.max(n.servedUntil, sw.startAt), sw.readyAt, 1 + n.cpuExtra);
        n.servedUntil = Math.max(n.servedUntil, sw.readyAt);
        n.serving = { revision: sw.revision, startedAt: sw.startAt, served: 0, cold: true };
        n.pending = null;
        continue;
      }
      if (sw !== null && sw.startAt < t) {
        this.serve(n, index, n.serving, n.servedUntil, Math.max(n.servedUntil, sw.startAt), 1);
        this.serve(n, index, n.serving, Math.max(n.servedUntil, sw.startAt), t, 1 + n.cpuExtra);
      } else {
        this.serve(n, index, n.serving, n.servedUntil, t, 1);
      }
      n.servedUntil = Math.max(n.servedUntil, t);
      return;
    }
  }

  /**
   * Poisson requests in (from, to] on one instance, recorded as the agent's collector does.
   * Each latency is `sampleLatencyMs`'s law (log-normal body, 1 % tail at 3–5 ×) times the
   * multipliers of the module comment, drawn straight into its histogram bucket in log
   * space (`LatencySampler`): the same law at a tenth of the cost, which is what lets a
   * thousand rollouts of a few hundred nodes run in minutes.
   */
  private serve(n: WorldNode, index: number, inst: Instance, from: number, to: number, contention: number): void {
    if (!(to > from)) return;
    const stepMs = this.p.loadStepMs;
    // Load is constant within a load step: serve step by step, the arrivals of each a Poisson count.
    for (let a = from; a < to; ) {
      const b = Math.min(to, T0 + (this.stepOf(a) + 1) * stepMs);
      this.serveSteady(n, index, inst, a, b > a ? b : to, contention);
      a = b > a ? b : to;
    }
  }

  private serveSteady(n: WorldNode, index: number, inst: Instance, from: number, to: number, contention: number): void {
    const random = this.random;
    const count = poisson((n.rate * (to - from)) / 1000, random);
    if (count === 0) return;
    const p = this.p;
    const errorRate = p.errorRate;
    const regression = inst.revision === NEW_REVISION ? this.options.regression : 1;
    const sampler = this.samplers[n.accelerator];
    // Bucket-space shift of everything constant over the segment.
    const shift = Math.log(n.speed * contention * regression) / LN_GAMMA + (this.lnLoad[index * this.steps + this.stepOf(from)] as number) / LN_GAMMA;
    let open: OpenInterval | undefined;
    for (const o of n.open) if (o.revision === inst.revision) open = o;
    if (open === undefined) {
      open = {
        revision: inst.revision,
        // The collector opens an interval at its first request: the first of `count` uniform arrivals.
        intervalStart: Math.floor(from + (to - from) * (1 - random() ** (1 / count))),
        requests: 0,
        errors: 0,
        dense: new Uint32Array(HISTOGRAM_BUCKETS),
        low: HISTOGRAM_BUCKETS,
        high: -1,
        instanceStartedAt: inst.startedAt,
        instanceRequestsBefore: inst.served,
      };
      n.open.push(open);
    }
    const dense = open.dense;
    let low = open.low;
    let high = open.high;
    for (let i = 0; i < count; i++) {
      let extra = 0;
      if (inst.cold) {
        // Arrival times of a Poisson process given their count: stratified uniform times.
        const age = from + ((to - from) * (i + 0.5)) / count - inst.startedAt;
        const more = n.firstExtra * Math.exp(-inst.served / p.coldRequests) + n.cpuExtra * Math.exp(-age / (p.coldSeconds * 1000));
        extra = Math.log1p(more) / LN_GAMMA;
        // Below a ten-thousandth the transient is over: skip the arithmetic from here on.
        if (more < 1e-4) inst.cold = false;
      }
      inst.served++;
      const b = sampler.bucket(shift + extra, errorRate, random);
      if (b < 0) {
        open.errors++;
        continue;
      }
      dense[b] = (dense[b] as number) + 1;
      if (b < low) low = b;
      if (b > high) high = b;
    }
    open.requests += count;
    open.low = low;
    open.high = high;
  }

  /** The agent's status report: stats per revision since the last one, and what it runs. */
  private heartbeat(n: WorldNode, t: number): void {
    for (const o of n.open) {
      n.stats.push({
        deployment: DEPLOYMENT,
        revision: o.revision,
        intervalStart: o.intervalStart,
        intervalEnd: t,
        requests: o.requests,
        errors: o.errors,
        restarts: 0,
        fallback: false,
        latency: wireHistogram(o.dense, o.low, o.high),
        instanceStartedAt: o.instanceStartedAt,
        instanceRequestsBefore: o.instanceRequestsBefore,
      });
    }
    n.open = [];
    n.lastSeen = t;
    const state: WorkloadState = n.pending === null ? 'running' : n.pending.startAt <= t ? 'starting' : 'downloading';
    n.reported = { revision: n.told, state, servingRevision: n.serving.revision };
  }

  /** Drops stats that end at or before `from` (the store query's window). */
  prune(from: number): void {
    for (const n of this.nodes) {
      let drop = 0;
      while (drop < n.stats.length && (n.stats[drop] as WorkloadStats).intervalEnd <= from) drop++;
      if (drop > 0) n.stats = n.stats.slice(drop);
    }
  }
}

/** The wire form of dense counts between `low` and `high` (empty when high < low). */
export function wireHistogram(dense: ArrayLike<number>, low: number, high: number): LatencyHistogram {
  if (high < low) return { v: 1, offset: 0, counts: [] };
  const counts: number[] = new Array(high - low + 1);
  for (let i = low; i <= high; i++) counts[i - low] = dense[i] as number;
  return { v: 1, offset: low, counts };
}

/** The entry whose cumulative share `u` (in [0, 1)) falls in. */
function pickShare<T>(shares: readonly (readonly [T, number])[], u: number): T {
  const total = shares.reduce((s, [, w]) => s + w, 0);
  let acc = 0;
  for (const [v, w] of shares) {
    acc += w / total;
    if (u < acc) return v;
  }
  return (shares.at(-1) as readonly [T, number])[0];
}
