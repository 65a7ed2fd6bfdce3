/**
 * One node, one telemetry profile, N days of simulated time: steady inference traffic and node
 * readings go through the agent's own metrics classes (`AgentMetrics` → `EdgeAggregator`),
 * and every upload interval the closed points go out through the agent's own `Uplink` to the
 * real server, over TLS, through a counting proxy. Only the clock is simulated: it is a
 * variable this loop advances, as fast as the CPU allows.
 *
 * The same node data can leave on several links at once, each a node of its own (the server
 * would ignore a batch it has seen): one that keeps its TLS connection open between uploads,
 * one that opens a new connection for each upload and closes it after, as a carrier NAT that
 * drops idle TCP would force, and one kept open whose folded heartbeat holds labels only.
 * What the server accepted from the first link is what the quantile error and the
 * remote_write comparison are computed from. The node data depends only on the traffic seed,
 * so runs in different processes simulate the same node.
 */
import { randomBytes } from 'node:crypto';
import { AgentMetrics, EdgeAggregator, type NodeMetricsReading, youngInstance } from '@edgefleet/agent';
import {
  histogramCount,
  histogramQuantile,
  type LatencyHistogram,
  mergeAllHistograms,
  mulberry32,
  type StatusRequest,
  TELEMETRY_PROFILES,
  type TelemetryProfileName,
  type TelemetryUploadResponse,
  type WorkloadStatus,
} from '@edgefleet/protocol';
import { EdgefleetClient, encodeTelemetryBatch } from '@edgefleet/protocol/node';
import { MemoryQueue } from '@edgefleet/queues';
import { pino } from 'pino';
import { LogCollector } from '../../packages/agent/src/telemetry/logs/collector.js';
import { Uplink } from '../../packages/agent/src/telemetry/uplink.js';
import { WorkloadStatsCollector } from '../../packages/agent/src/workloads/stats.js';
import { CountingProxy, type ProxyCount } from './counting-proxy.js';
import { type BenchFleet, type BenchNode, DEPLOYMENT } from './fleet.js';
import { RemoteWriteLink } from './remote-write.js';

const SECOND = 1000;
const DAY = 86_400_000;
const LATENCY_NAME = 'edgefleet_inference_request_duration_seconds';

/** Traffic and readings of the simulated node (defaults: see `DEFAULT_TRAFFIC`). */
export interface Traffic {
  requestsPerSecond: number;
  /** Median latency (ms) and σ of its logarithm: log-normal latencies. */
  medianMs: number;
  sigma: number;
  /** Share of requests that fail (counted by outcome, not in the latency histogram). */
  errorRate: number;
  /** How often the node is read (the agent's default: 5 s). */
  sampleIntervalMs: number;
  seed: number;
}

export const DEFAULT_TRAFFIC: Traffic = { requestsPerSecond: 5, medianMs: 20, sigma: 0.35, errorRate: 0.001, sampleIntervalMs: 5_000, seed: 7 };

/**
 * How a link reaches the server: one TLS connection kept open, or a new one per upload; and
 * (metered) `labels-only`: kept open, with a folded heartbeat of the node's labels alone
 * (`workloads: []`, `stats: []`) instead of what `Agent.foldedStatus` sends.
 */
export type LinkMode = 'keep-alive' | 'new-connection' | 'labels-only';

/** The bytes of one link over the run. */
export interface LinkResult {
  mode: LinkMode;
  uploads: number;
  /** Encoded batches (the request bodies), bytes. */
  bodyBytes: number;
  /** Socket bytes over the whole run, both directions. */
  total: ProxyCount;
  /** Socket bytes of the first upload (its TLS handshake included). */
  first: ProxyCount;
  /** Socket bytes of every upload after the first (steady state, closing the connection at the end not included), and how many. */
  steady: ProxyCount;
  steadyUploads: number;
  /** Folded heartbeats (metered): bytes of the status JSON, before compression, summed. */
  statusJsonBytes: number;
}

export interface ProfileResult {
  profile: TelemetryProfileName;
  days: number;
  requests: number;
  /** The links this run used (a run in a child process may cover one of them). */
  links: Partial<Record<LinkMode, LinkResult>>;
  /** The remote_write comparison, when this run sent it. */
  remoteWrite?: { total: ProxyCount; requests: number; samples: number; bodyBytes: number };
  /**
   * Where a batch's bytes go, from encoding some batches again without parts: every upload
   * (metered) or every 30th (lan). Sums over the `uploads` measured (steady state: the facts
   * of the first folded heartbeat are left out).
   */
  composition: { uploads: number; full: number; withoutStats: number; withoutStatus: number; withoutStatusAndLatency: number };
  /** Points and series the server accepted from the keep-alive node (what Prometheus would get). */
  arrived: { series: number; points: number; latencyCount: number };
  quantiles: { exactP95: number; exactP99: number; arrivedP95: number; arrivedP99: number };
  wallMs: number;
  /** CPU time of the whole process during the run (node side, proxies and server alike). */
  cpuMs: number;
}

/** One upload path: a node identity, its own queue and Uplink, and a proxy that counts its bytes. */
class Link {
  readonly queue = new MemoryQueue({ maxBytes: 64 * 1024 * 1024 });
  readonly uplink: Uplink;
  readonly proxy: CountingProxy;
  client: EdgefleetClient | undefined;
  uploads = 0;
  bodyBytes = 0;
  statusJsonBytes = 0;
  factsSent = false;
  first: ProxyCount | undefined;
  problems: string[] = [];

  constructor(
    readonly mode: LinkMode,
    readonly node: BenchNode,
    proxy: CountingProxy,
    private readonly profile: TelemetryProfileName,
    clock: () => number,
    onTransfer: (sent: number, received: number) => void,
  ) {
    this.proxy = proxy;
    const logQueue = new MemoryQueue({ maxBytes: 16 * 1024 * 1024 });
    this.uplink = new Uplink({
      metricsQueue: this.queue,
      // Logs are not part of the figures: the collector stays empty, so no log upload happens.
      logs: new LogCollector({ queue: logQueue, clock }),
      streams: { metrics: randomBytes(8).toString('hex'), logs: randomBytes(8).toString('hex') },
      client: () => this.client,
      clock,
      random: mulberry32(99),
      sleep: async () => {},
      log: pino({ level: 'silent' }),
      onTransfer: (sent, received) => {
        this.bodyBytes += sent;
        onTransfer(sent, received);
      },
      onResponse: (res) => this.check(res),
      onRejected: (kind, _n, reason) => this.problems.push(`the server refused a ${kind} batch: ${reason}`),
    });
  }

  newClient(keepAliveTimeoutMs: number | undefined): EdgefleetClient {
    const { caPem, certPem, keyPem } = this.node.identity;
    return new EdgefleetClient({
      server: `https://127.0.0.1:${this.proxy.port}`,
      ca: caPem,
      cert: certPem,
      key: keyPem,
      ...(keepAliveTimeoutMs === undefined ? {} : { keepAliveTimeoutMs }),
    });
  }

  private check(res: TelemetryUploadResponse): void {
    if (res.telemetry.profile !== this.profile)
      this.problems.push(`the server answered with profile ${res.telemetry.profile}, the benchmark simulates ${this.profile}`);
    for (const r of res.rejected) this.problems.push(`the server dropped ${r.series}: ${r.reason}`);
  }

  result(total: ProxyCount, beforeClose: ProxyCount): LinkResult {
    const first = this.first ?? total;
    return {
      mode: this.mode,
      uploads: this.uploads,
      bodyBytes: this.bodyBytes,
      total,
      first,
      steady: minus(beforeClose, first),
      steadyUploads: this.uploads - 1,
      statusJsonBytes: this.statusJsonBytes,
    };
  }
}

/** Plausible readings of a Raspberry Pi 5 serving a Hailo model, as random walks. */
class NodeReadings {
  private readonly random: () => number;
  private cpu = { total: 8_944_590, idle: 8_611_837 };
  private busy = 0.3;
  private load = [0.84, 0.71, 0.66];
  private memoryKb = 1_912_344;
  private diskBlocks = 3_012_577;
  private milliC = 54_312;
  private rx = 1_843_219_543;
  private tx = 289_410_233;
  private uptime = 2_236_148;

  constructor(seed: number) {
    this.random = mulberry32(seed);
  }

  next(intervalMs: number, requestsPerSecond: number): NodeMetricsReading {
    const r = this.random;
    const seconds = intervalMs / 1000;
    // USER_HZ 100 × 4 cores, give or take a tick of scheduling jitter.
    const dTotal = seconds * 400 + Math.round((r() - 0.5) * 6);
    this.busy = clamp(this.busy + (0.3 - this.busy) * 0.1 + (r() - 0.5) * 0.04, 0.05, 0.95);
    const dIdle = Math.round(dTotal * (1 - this.busy));
    const prev = this.cpu;
    this.cpu = { total: prev.total + dTotal, idle: prev.idle + dIdle };
    this.load = this.load.map((l, i) => round2(clamp(l + (0.75 - l) * 0.02 + (r() - 0.5) * [0.1, 0.03, 0.01][i]!, 0, 4)));
    this.memoryKb = clamp(this.memoryKb + Math.round((r() - 0.5) * 2048) * 4, 1_600_000, 2_400_000);
    // The data dir fills slowly (logs, queue segments) and is trimmed now and then.
    this.diskBlocks += r() < 0.02 ? -Math.round(r() * 200) : Math.round(r() * 3);
    this.milliC = Math.round(clamp(this.milliC + (54_000 - this.milliC) * 0.05 + (r() - 0.5) * 400, 40_000, 75_000));
    const frames = requestsPerSecond * seconds;
    this.rx += Math.round(frames * (38_000 + r() * 4_000));
    this.tx += Math.round(frames * (600 + r() * 100));
    this.uptime += seconds * 100 + Math.round((r() - 0.5) * 2);
    return {
      cpu: this.cpu,
      cpuUsageRatio: 1 - (this.cpu.idle - prev.idle) / (this.cpu.total - prev.total),
      load1: this.load[0]!,
      load5: this.load[1]!,
      load15: this.load[2]!,
      memoryUsedBytes: this.memoryKb * 1024,
      memoryTotalBytes: 8_245_088 * 1024,
      diskUsedBytes: this.diskBlocks * 4096,
      diskTotalBytes: 15_258_789 * 4096,
      temperatureC: this.milliC / 1000,
      throttledBits: 0,
      network: [
        { interface: 'eth0', receiveBytes: this.rx, transmitBytes: this.tx },
        { interface: 'wlan0', receiveBytes: 0, transmitBytes: 0 },
      ],
      uptimeSeconds: this.uptime / 100,
    };
  }
}

/** What one run covers: the profile, which links, and whether it also sends remote_write. */
export interface RunPlan {
  profile: TelemetryProfileName;
  days: number;
  /** The links to upload over; the first one's arrivals are checked and converted for remote_write. */
  modes: LinkMode[];
  remoteWrite: boolean;
  traffic?: Traffic;
}

/**
 * Runs one profile for `plan.days` of simulated time against `fleet`, with one enrolled node
 * per link in `nodes`. The node data depends only on the traffic seed, so runs of the same
 * profile in other processes (other links) simulate the same node.
 */
export async function simulateProfile(
  fleet: BenchFleet,
  nodes: Partial<Record<LinkMode, BenchNode>>,
  plan: RunPlan,
  progress: (line: string) => void = () => {},
): Promise<ProfileResult> {
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  const { days } = plan;
  const traffic = plan.traffic ?? DEFAULT_TRAFFIC;
  const profile = TELEMETRY_PROFILES[plan.profile];
  const serverPort = fleet.server.port;
  // Simulated time starts `days` ago (real time), a few seconds after an upload boundary, so
  // every timestamp is one a Prometheus would take and each upload carries whole intervals.
  const start = Math.floor((Date.now() - days * DAY) / profile.uploadIntervalMs) * profile.uploadIntervalMs + 7 * SECOND;
  const end = start + days * DAY;
  let now = start;
  const clock = (): number => now;

  const aggregator = new EdgeAggregator(profile.resolutionMs, clock);
  const metrics = new AgentMetrics(aggregator);
  const stats = new WorkloadStatsCollector(clock);
  // One instance serves throughout, as on a node that runs for the month without a restart.
  stats.instanceStarted(DEPLOYMENT, 1, clock());
  const links: Link[] = [];
  for (const mode of plan.modes) {
    const node = nodes[mode];
    if (node === undefined) throw new Error(`no node enrolled for the ${mode} link`);
    const proxy = await CountingProxy.start({ host: '127.0.0.1', port: serverPort });
    // The first link's transfers feed the node's own uplink metrics (every link sends the same bodies).
    const onTransfer = links.length === 0 ? (sent: number, received: number) => metrics.uplink(sent, received, now) : () => {};
    const link = new Link(mode, node, proxy, plan.profile, clock, onTransfer);
    // Metered nodes keep their connection for longer than the upload interval (the server's
    // keepAliveTimeout is 16 min); lan nodes use the client's default.
    if (mode !== 'new-connection') link.client = link.newClient(profile.foldHeartbeats ? 16 * 60_000 : undefined);
    links.push(link);
  }
  const primary = links[0];
  if (primary === undefined) throw new Error('a run needs at least one link');
  const remoteWrite = plan.remoteWrite ? await RemoteWriteLink.start(fleet.tls) : undefined;

  const random = mulberry32(traffic.seed);
  const readings = new NodeReadings(traffic.seed + 1);
  const totalRequests = Math.round((days * DAY * traffic.requestsPerSecond) / SECOND);
  const latencies = new Float64Array(totalRequests);
  let ok = 0;
  let requests = 0;
  // The last upload (at `end`) closes the intervals that ended before it; requests after the
  // last such end are still in the node's open interval when the run stops.
  const lastClosedEnd = Math.floor((end - 1) / profile.resolutionMs) * profile.resolutionMs;
  let okDelivered = 0;
  const arrivedLatency: LatencyHistogram[] = [];
  let arrivedSeries = 0;
  let arrivedPoints = 0;
  const signal = new AbortController().signal;
  const workloads: WorkloadStatus[] = [
    {
      deployment: DEPLOYMENT,
      revision: 1,
      state: 'running',
      reason: null,
      message: null,
      endpoint: 'http://127.0.0.1:41871',
      active: 'primary',
      servingRevision: 1,
      heldRevisions: [1],
    },
  ];

  const composition = { uploads: 0, full: 0, withoutStats: 0, withoutStatus: 0, withoutStatusAndLatency: 0 };
  // Re-encoding costs about as much as the upload itself: every metered batch, every 30th lan one.
  const compositionEvery = profile.foldHeartbeats ? 1 : 30;
  const spacing = SECOND / traffic.requestsPerSecond;
  const samplesPerUpload = profile.uploadIntervalMs / traffic.sampleIntervalMs;
  const uploadsTotal = (days * DAY) / profile.uploadIntervalMs;
  let lastReport = performance.now();
  for (let upload = 1; upload <= uploadsTotal; upload++) {
    const intervalStart = now;
    for (let sample = 1; sample <= samplesPerUpload; sample++) {
      const sampleAt = intervalStart + sample * traffic.sampleIntervalMs;
      // Requests spread evenly over the sample interval; latencies log-normal.
      for (let t = sampleAt - traffic.sampleIntervalMs + spacing / 2; t < sampleAt; t += spacing) {
        now = t;
        const success = random() >= traffic.errorRate;
        const ms = traffic.medianMs * Math.exp(traffic.sigma * gaussian(random));
        // As Agent.recordInference: the stats first, then the metrics with the serving instance.
        stats.request(DEPLOYMENT, 1, ms, success, false);
        metrics.inference(DEPLOYMENT, 1, ms, success, youngInstance(stats.instance(DEPLOYMENT, 1), now));
        if (success) latencies[ok++] = ms;
        requests++;
        if (t <= lastClosedEnd) okDelivered = ok;
      }
      now = sampleAt;
      // What NodeTelemetry.sample does at each reading.
      metrics.sampleNode(readings.next(traffic.sampleIntervalMs, traffic.requestsPerSecond));
      metrics.queue(primary.queue.stats());
      metrics.accelerator('hailo8l', true);
      metrics.fallback(DEPLOYMENT, 1, false);
    }
    // What NodeTelemetry.closeBatch and upload do, once per upload interval.
    const series = aggregator.closeDue(now);
    const workloadStats = profile.foldHeartbeats ? stats.drain() : [];
    if (upload % compositionEvery === 0) {
      // The same batch as the uplink sends it (same stream id length, same seq), then with the
      // folded heartbeat's workload stats left out, without the heartbeat, and also without
      // the latency histograms.
      const batch = { stream: 'x'.repeat(16), seq: upload, resolutionMs: profile.resolutionMs, series };
      // The steady-state folded heartbeat: nothing changed, so it is empty (see Agent.foldedStatus).
      void workloadStats;
      const status = {};
      composition.uploads++;
      const withoutStatus = encodeTelemetryBatch(batch).byteLength;
      composition.full += profile.foldHeartbeats ? encodeTelemetryBatch({ ...batch, meta: { status } }).byteLength : withoutStatus;
      composition.withoutStats += profile.foldHeartbeats
        ? encodeTelemetryBatch({ ...batch, meta: { status: { ...status, stats: [] } } }).byteLength
        : withoutStatus;
      composition.withoutStatus += withoutStatus;
      composition.withoutStatusAndLatency += encodeTelemetryBatch({ ...batch, series: series.filter((s) => s.name !== LATENCY_NAME) }).byteLength;
    }
    for (const link of links) {
      link.uplink.enqueueMetrics(series, profile.resolutionMs, []);
      let status: StatusRequest | undefined;
      if (profile.foldHeartbeats) {
        // As Agent.foldedStatus: facts, labels and workload statuses until the server has them
        // (they do not change here), never the workload stats (the server derives them from
        // the series).
        const w = link.mode === 'labels-only' ? [] : workloads;
        status = link.factsSent ? {} : { labels: link.node.labels, workloads: w, facts: link.node.facts };
        link.statusJsonBytes += JSON.stringify(status).length;
      }
      if (link.mode === 'new-connection') link.client = link.newClient(undefined);
      const result = await link.uplink.drain(signal, status, profile.resolutionMs, () => {
        link.factsSent = true;
      });
      if (link.mode === 'new-connection') {
        await link.client?.close();
        link.client = undefined;
      }
      if (!result.done) throw new Error(`upload ${upload} of the ${link.mode} node failed: ${result.error}`);
      if (link.problems.length > 0) throw new Error(`upload ${upload} of the ${link.mode} node: ${link.problems.join('; ')}`);
      link.uploads++;
      if (link.uploads === 1) {
        if (link.mode === 'new-connection') await link.proxy.idle();
        link.first = link.proxy.snapshot();
      }
    }
    const arrived = fleet.takeArrived(primary.node.name);
    for (const link of links.slice(1)) fleet.takeArrived(link.node.name);
    for (const s of arrived) {
      arrivedSeries++;
      arrivedPoints += s.points.length;
      if (s.kind === 'histogram' && s.name === LATENCY_NAME) for (const p of s.points) arrivedLatency.push(p.hist);
    }
    await remoteWrite?.send(arrived);
    if (performance.now() - lastReport > 20_000) {
      lastReport = performance.now();
      progress(
        `  ${plan.profile} (${plan.modes.join(', ')}): day ${((now - start) / DAY).toFixed(1)} of ${days}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
    }
  }

  const results: Partial<Record<LinkMode, LinkResult>> = {};
  for (const link of links) {
    const beforeClose = link.proxy.snapshot();
    await link.client?.close();
    await link.proxy.idle();
    results[link.mode] = link.result(link.proxy.snapshot(), beforeClose);
    await link.proxy.close();
  }
  await remoteWrite?.close();

  const exact = latencies.subarray(0, okDelivered).sort();
  const merged = mergeAllHistograms(arrivedLatency);
  if (histogramCount(merged) !== okDelivered)
    throw new Error(
      `the server received ${histogramCount(merged)} latency observations, the node closed ${okDelivered} into its intervals: data was lost on the way`,
    );
  return {
    profile: plan.profile,
    days,
    requests,
    links: results,
    composition,
    ...(remoteWrite === undefined
      ? {}
      : {
          remoteWrite: { total: remoteWrite.proxy.snapshot(), requests: remoteWrite.requests, samples: remoteWrite.samples, bodyBytes: remoteWrite.bodyBytes },
        }),
    arrived: { series: arrivedSeries, points: arrivedPoints, latencyCount: okDelivered },
    quantiles: {
      exactP95: nearestRank(exact, 0.95),
      exactP99: nearestRank(exact, 0.99),
      arrivedP95: histogramQuantile(merged, 0.95) as number,
      arrivedP99: histogramQuantile(merged, 0.99) as number,
    },
    wallMs: performance.now() - started,
    cpuMs: cpuMs(process.cpuUsage(cpuAtStart)),
  };
}

/** The nearest-rank q-quantile of sorted values: the ⌈q·n⌉-th smallest. */
function nearestRank(sorted: Float64Array, q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

/** A standard normal variate (Box–Muller). */
export function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function minus(a: ProxyCount, b: ProxyCount): ProxyCount {
  return {
    up: { bytes: a.up.bytes - b.up.bytes, records: a.up.records - b.up.records, framing: a.up.framing - b.up.framing },
    down: { bytes: a.down.bytes - b.down.bytes, records: a.down.records - b.down.records, framing: a.down.framing - b.down.framing },
    connections: a.connections - b.connections,
    // The simulated links do not say what their connections carry.
    byKind: {},
  };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
