import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  type AlertReport,
  backoffDelay,
  type DegradedCondition,
  type StatusRequest,
  TELEMETRY_PROFILES,
  type TelemetryProfileName,
  type TelemetrySettings,
  type TelemetryUploadResponse,
  type WorkloadStatus,
} from '@edgefleet/protocol';
import { writeFileDurable } from '@edgefleet/protocol/node';
import { type DurableQueue, MemoryQueue, SegmentQueue } from '@edgefleet/queues';
import type { Logger } from 'pino';
import { WakeableSleep } from '../wakeable-sleep.js';
import { type ActiveAlert, type AlertRules, evaluateAlerts } from './alerts/rules.js';
import { LogCollector } from './logs/collector.js';
import { LogSampler } from './logs/sample.js';
import { createScrubber, type ScrubConfig } from './logs/scrub.js';
import { EdgeAggregator } from './metrics/aggregator.js';
import { MetricsBindError, type MetricsEndpoint, startMetricsEndpoint } from './metrics/http.js';
import { type DiskUsage, type NodeCpuSample, type NodeMetricsReading, readNodeMetrics } from './metrics/node.js';
import { AgentMetrics, type ServingInstanceReading } from './metrics/standard.js';
import { type DrainResult, Uplink } from './uplink.js';

/** Telemetry settings of `edgefleet agent` (all optional). */
export interface NodeTelemetryOptions {
  /** `lan` (default) or `metered`; the server's answer (node label) wins once it comes. */
  profile?: TelemetryProfileName;
  /** Local Prometheus endpoint, `127.0.0.1:9464` by default; false turns it off. */
  metricsListen?: string | false;
  /**
   * Retry of a metrics address that cannot be bound (another program holds the port):
   * full-jitter backoff from `baseMs` (default 5 s) up to `capMs` (default 5 min).
   */
  metricsRetry?: { baseMs?: number; capMs?: number };
  /** Bound of the on-disk metrics queue (default 64 MiB: a week of `lan` batches fits ~4 times over). */
  queueBytes?: number;
  /** Bound of the on-disk log queue (default 16 MiB). */
  logQueueBytes?: number;
  alerts?: AlertRules;
  scrub?: ScrubConfig;
  /** Info/debug lines per second and stream before sampling starts (default 5, burst 50). */
  logRatePerSecond?: number;
  /** Keep the queues in memory (the simulator's thousands of agents); default on disk. */
  memoryQueues?: boolean;
  /** How often node readings are taken (default 5 s; gauges report min/max/last of these). */
  sampleIntervalMs?: number;
  /** Batches per second while catching up after an outage (default 5). */
  replayPerSecond?: number;
  /** Disk usage reader (tests simulate a full disk). */
  diskUsage?: (path: string) => Promise<DiskUsage | null>;
  /** Node readings from elsewhere than procfs/sysfs (the simulator's modelled nodes). */
  readNode?: () => Promise<NodeMetricsReading>;
}

/** What the telemetry needs to know about the rest of the agent. */
interface NodeTelemetryContext {
  dataDir: string;
  hwRoot: string;
  clock: () => number;
  random: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  log: Logger;
}

/** What the agent hands over at each upload. */
interface UploadHooks {
  client: () => import('@edgefleet/protocol/node').EdgefleetClient | undefined;
  /** The accelerators the probe sees now (`ai.accelerator` values). */
  accelerators: () => string[];
  workloads: () => WorkloadStatus[];
  /** Metered profile: the heartbeat to fold into the upload, and what to do with its outcome. */
  foldedStatus: () => Promise<{ status: StatusRequest; delivered(): void; failed(): void }>;
  /** Every full upload answer (settings, desired version); a 204 means nothing changed. */
  onResponse: (res: TelemetryUploadResponse) => void;
  /** What the node holds besides its telemetry settings: the heartbeat interval, and the desired version it has. */
  held: () => { heartbeatIntervalSeconds: number; desiredVersion: string | undefined };
}

/**
 * Everything telemetry on a node: the standard metrics (local `/metrics` and edge
 * aggregation), local alerts, the log pipeline, and the uplink with its durable queues.
 * Alerts are evaluated on every node reading whether or not the server is reachable; a
 * change is logged and becomes a node condition at once, and travels with the next batch.
 */
export class NodeTelemetry {
  readonly metrics: AgentMetrics;
  readonly logs: LogCollector;
  settings: TelemetrySettings;
  /** Firing local alerts: the node's conditions. */
  conditions: AlertReport[] = [];
  private readonly aggregator: EdgeAggregator;
  private readonly metricsQueue: DurableQueue;
  private readonly logQueue: DurableQueue;
  private readonly uplink: Uplink;
  private endpoint: MetricsEndpoint | undefined;
  private active = new Map<string, ActiveAlert>();
  /** Why the metrics endpoint is not serving, while it is not (a degraded condition). */
  private metricsProblem: DegradedCondition | undefined;
  /** The background retry of the metrics endpoint, while one runs. */
  private metricsRetry: Promise<void> | undefined;
  /** Aborted by close(): ends the metrics retry. */
  private readonly stopping = new AbortController();
  /** Resolved alerts not yet in a batch. */
  private resolved: AlertReport[] = [];
  private cpu: NodeCpuSample | undefined;
  private readonly seenAccelerators: Set<string>;
  private readonly dir: string;
  /** The uplink's wait between uploads; woken when settings change or on demand. */
  private readonly uploadWait: WakeableSleep;
  private hooks: UploadHooks | undefined;
  lastUpload: { at: number; result: DrainResult } | undefined;
  /** The collector's suppressed-line total already counted in the metrics. */
  private suppressedCounted = 0;

  constructor(
    private readonly ctx: NodeTelemetryContext,
    private readonly opts: NodeTelemetryOptions = {},
  ) {
    this.uploadWait = new WakeableSleep(ctx.sleep);
    const p = TELEMETRY_PROFILES[opts.profile ?? 'lan'];
    this.settings = { profile: p.name, resolutionMs: p.resolutionMs, uploadIntervalMs: p.uploadIntervalMs, foldHeartbeats: p.foldHeartbeats };
    this.dir = join(ctx.dataDir, 'telemetry');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.aggregator = new EdgeAggregator(this.settings.resolutionMs, ctx.clock);
    this.metrics = new AgentMetrics(this.aggregator);
    const memory = opts.memoryQueues === true;
    const queue = (name: string, maxBytes: number, kind: 'samples' | 'logs'): DurableQueue => {
      const onDrop = (records: number): void => {
        this.metrics.dropped(kind, 'queue-full', records);
        ctx.log.warn({ queue: name, records }, `telemetry queue full: dropped the ${records} oldest ${kind === 'logs' ? 'log lines' : 'batches'}`);
      };
      return memory ? new MemoryQueue({ maxBytes, onDrop }) : SegmentQueue.open({ dir: join(this.dir, name), maxBytes, onDrop });
    };
    this.metricsQueue = queue('metrics', opts.queueBytes ?? 64 * 1024 * 1024, 'samples');
    this.logQueue = queue('logs', opts.logQueueBytes ?? 16 * 1024 * 1024, 'logs');
    this.logs = new LogCollector({
      queue: this.logQueue,
      scrub: createScrubber(opts.scrub ?? {}),
      sampler: new LogSampler({ ratePerSecond: opts.logRatePerSecond ?? 5, clock: ctx.clock }),
      clock: ctx.clock,
    });
    this.seenAccelerators = new Set(this.readJson<string[]>('accelerators.json') ?? []);
    this.uplink = new Uplink({
      metricsQueue: this.metricsQueue,
      logs: this.logs,
      streams: { metrics: this.streamId('metrics', memory), logs: this.streamId('logs', memory) },
      client: () => this.hooks?.client(),
      clock: ctx.clock,
      random: ctx.random,
      sleep: ctx.sleep,
      log: ctx.log,
      ...(opts.replayPerSecond === undefined ? {} : { replayPerSecond: opts.replayPerSecond }),
      held: () => {
        const hooks = this.hooks;
        if (hooks === undefined) return undefined;
        const { heartbeatIntervalSeconds, desiredVersion } = hooks.held();
        // The server puts the desired version in answers to nodes that fold their heartbeats only.
        return { telemetry: this.settings, heartbeatIntervalSeconds, ...(this.settings.foldHeartbeats ? { desiredVersion } : {}) };
      },
      onTransfer: (sent, received) => this.metrics.uplink(sent, received, ctx.clock()),
      onRejected: (kind, n, reason) => this.metrics.dropped(kind === 'logs' ? 'logs' : 'samples', `rejected-${reason}`, n),
      onResponse: (res) => {
        this.applySettings(res.telemetry);
        this.hooks?.onResponse(res);
      },
    });
  }

  /** A writable for pino: the agent's own JSON lines go into the log pipeline (and to `also`). */
  logDestination(also?: NodeJS.WritableStream): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, done) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.logs.agentLine(line);
        if (also === undefined) return done();
        also.write(chunk, () => done());
      },
    });
  }

  /** Workload traffic and trouble, for the metrics (the supervisor's observer calls these). */
  inference(deployment: string, revision: number, latencyMs: number, ok: boolean, instance?: ServingInstanceReading): void {
    this.metrics.inference(deployment, revision, latencyMs, ok, instance);
  }
  restart(deployment: string, revision: number): void {
    this.metrics.restart(deployment, revision);
  }
  loadFailure(deployment: string, revision: number): void {
    this.metrics.modelLoadFailure(deployment, revision);
  }
  output(deployment: string, revision: number, stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this.logs.workloadOutput(deployment, revision, stream, chunk);
  }

  /** Takes the server's word on profile and timings (from status and upload answers). */
  applySettings(next: TelemetrySettings): void {
    const changed = next.resolutionMs !== this.settings.resolutionMs || next.uploadIntervalMs !== this.settings.uploadIntervalMs;
    if (next.resolutionMs !== this.settings.resolutionMs) {
      // Points of the old resolution go out under it; the new one starts now.
      const closed = this.aggregator.setResolution(next.resolutionMs);
      this.uplink.enqueueMetrics(closed, this.settings.resolutionMs, []);
    }
    if (next.profile !== this.settings.profile) this.ctx.log.info({ profile: next.profile }, `telemetry profile is now ${next.profile}`);
    this.settings = next;
    if (changed) this.uploadWait.wake();
  }

  /**
   * Serves the local `/metrics` endpoint (scrapes take a fresh node reading). When its
   * address cannot be bound (another program holds the port) the node carries on without
   * it: the problem shows in {@link degraded} and the endpoint is retried with backoff in
   * the background, so a service never crash-loops over a port. `onDegradedChange` is
   * called when the condition comes and goes (the agent reports its facts then).
   *
   * @throws Error only for an address no retry can fix (malformed, or not loopback).
   */
  async start(onDegradedChange?: () => void): Promise<void> {
    if (this.opts.metricsListen === false) return;
    if (await this.serveMetrics()) return;
    this.ctx.log.warn({ condition: this.metricsProblem }, `${this.metricsProblem?.message}; the agent runs on without local metrics and retries`);
    onDegradedChange?.();
    this.metricsRetry = this.retryMetrics(onDegradedChange);
  }

  /** Local problems telemetry runs with, for the node's facts (`facts.degraded`); empty when none. */
  get degraded(): DegradedCondition[] {
    return this.metricsProblem === undefined ? [] : [this.metricsProblem];
  }

  /** One attempt at the endpoint; false, with the problem recorded, when the address cannot be bound now. */
  private async serveMetrics(): Promise<boolean> {
    try {
      this.endpoint = await startMetricsEndpoint({
        registry: this.metrics.registry,
        ...(this.opts.metricsListen === undefined || this.opts.metricsListen === false ? {} : { listen: this.opts.metricsListen }),
      });
    } catch (err) {
      if (!(err instanceof MetricsBindError)) throw err;
      const reason = err.code === 'EADDRINUSE' ? 'port-in-use' : 'bind-failed';
      this.metricsProblem = { component: 'metrics-endpoint', reason, message: err.message };
      return false;
    }
    this.metricsProblem = undefined;
    this.ctx.log.info({ url: this.endpoint.url }, 'serving node metrics');
    return true;
  }

  private async retryMetrics(onDegradedChange: (() => void) | undefined): Promise<void> {
    const signal = this.stopping.signal;
    // Equal jitter: a zero draw must not turn a port still in use into a tight bind loop.
    const backoff = {
      baseMs: this.opts.metricsRetry?.baseMs ?? 5_000,
      capMs: this.opts.metricsRetry?.capMs ?? 5 * 60_000,
      random: this.ctx.random,
      jitter: 'equal' as const,
    };
    for (let attempt = 0; ; attempt++) {
      await this.ctx.sleep(backoffDelay(attempt, backoff), signal);
      if (signal.aborted) return;
      try {
        if (await this.serveMetrics()) break;
      } catch (err) {
        this.ctx.log.error(`metrics endpoint: ${(err as Error).message}; no more retries`);
        return;
      }
    }
    onDegradedChange?.();
  }

  /** Local metrics URL, when serving. */
  get metricsUrl(): string | undefined {
    return this.endpoint?.url;
  }

  /**
   * Reads the node, evaluates local alerts, and every upload interval closes a batch and
   * sends what is queued. Runs until `signal` aborts; never throws for a failed upload.
   */
  async run(signal: AbortSignal, hooks: UploadHooks): Promise<void> {
    this.hooks = hooks;
    const sampleMs = this.opts.sampleIntervalMs ?? 5_000;
    let nextUpload = this.ctx.clock() + this.jittered(this.settings.uploadIntervalMs);
    let failures = 0;
    while (!signal.aborted) {
      const changed = await this.sample(hooks);
      const now = this.ctx.clock();
      if (changed || now >= nextUpload) {
        this.closeBatch();
        const result = await this.upload(signal, hooks);
        this.lastUpload = { at: this.ctx.clock(), result };
        failures = result.done ? 0 : failures + 1;
        // After a failure, retry sooner than a whole interval (but back off), with full jitter.
        const wait = result.done
          ? this.jittered(this.settings.uploadIntervalMs)
          : result.retryAfterMs || uploadRetryDelay(failures, this.settings.uploadIntervalMs, this.ctx.random);
        nextUpload = this.ctx.clock() + wait;
      }
      const until = Math.max(0, Math.min(sampleMs, nextUpload - this.ctx.clock()));
      await this.uploadWait.wait(until, signal);
    }
  }

  /** Closes the intervals that ended and queues them with the alerts as one batch (durable). */
  closeBatch(): void {
    this.logs.flush();
    const { suppressedLines } = this.logs.stats();
    if (suppressedLines > this.suppressedCounted) this.metrics.logLinesSuppressed(suppressedLines - this.suppressedCounted);
    this.suppressedCounted = suppressedLines;
    const series = this.aggregator.closeDue(this.ctx.clock());
    const alerts = [...this.conditions, ...this.resolved];
    this.resolved = [];
    this.uplink.enqueueMetrics(series, this.settings.resolutionMs, alerts);
    this.metricsQueue.sync();
    this.logQueue.sync();
  }

  /** One node reading; returns true when an alert changed (the caller uploads at once). */
  async sample(hooks: Pick<UploadHooks, 'accelerators' | 'workloads'>): Promise<boolean> {
    const reading =
      this.opts.readNode !== undefined
        ? await this.opts.readNode()
        : await readNodeMetrics(this.ctx.hwRoot, this.ctx.dataDir, this.cpu, this.opts.diskUsage === undefined ? {} : { diskUsage: this.opts.diskUsage });
    this.cpu = reading.cpu ?? undefined;
    this.metrics.sampleNode(reading);
    const queueStats = this.metricsQueue.stats();
    this.metrics.queue(queueStats);
    const accelerators = hooks.accelerators();
    let newAccelerator = false;
    for (const a of accelerators) {
      if (!this.seenAccelerators.has(a)) {
        this.seenAccelerators.add(a);
        newAccelerator = true;
      }
    }
    if (newAccelerator) {
      try {
        this.writeJson('accelerators.json', [...this.seenAccelerators]);
      } catch (err) {
        // A full or vanished disk must not stop the readings: the set is kept in memory.
        this.ctx.log.warn(`cannot record the accelerators seen: ${(err as Error).message}`);
      }
    }
    for (const a of this.seenAccelerators) this.metrics.accelerator(a, accelerators.includes(a));
    const workloads = hooks.workloads();
    for (const w of workloads) {
      if (w.active !== null) this.metrics.fallback(w.deployment, w.servingRevision ?? w.revision, w.active === 'fallback');
    }
    const evaluation = evaluateAlerts(
      {
        now: this.ctx.clock(),
        node: {
          diskUsedBytes: reading.diskUsedBytes,
          diskTotalBytes: reading.diskTotalBytes,
          temperatureC: reading.temperatureC,
          throttledBits: reading.throttledBits,
        },
        queueFillRatio: queueStats.maxBytes > 0 ? queueStats.bytes / queueStats.maxBytes : null,
        acceleratorExpected: this.seenAccelerators.size > 0,
        acceleratorPresent: accelerators.length > 0,
        workloads: workloads.map((w) => ({ deployment: w.deployment, revision: w.revision, crashLoop: w.reason === 'primary-crashloop' })),
      },
      this.opts.alerts ?? {},
      this.active,
    );
    this.active = evaluation.active;
    this.conditions = evaluation.alerts.filter((a) => a.state === 'firing');
    this.resolved.push(...evaluation.alerts.filter((a) => a.state === 'resolved'));
    for (const c of evaluation.changes) {
      const fields = { alert: c.name, ...(c.labels ?? {}) };
      if (c.state === 'firing') this.ctx.log.warn(fields, `alert ${c.name} firing: ${c.message}`);
      else this.ctx.log.info(fields, `alert ${c.name} resolved: ${c.message}`);
    }
    return evaluation.changes.length > 0;
  }

  /** Sends what is queued; in the metered profile the heartbeat rides along. */
  async upload(signal: AbortSignal, hooks: UploadHooks): Promise<DrainResult> {
    this.hooks = hooks;
    if (!this.settings.foldHeartbeats) return this.uplink.drain(signal);
    const folded = await hooks.foldedStatus();
    let delivered = false;
    const result = await this.uplink.drain(signal, folded.status, this.settings.resolutionMs, () => {
      delivered = true;
      folded.delivered();
    });
    // Not delivered: its workload stats go out with the next one.
    if (!delivered) folded.failed();
    return result;
  }

  /** Uploads now (alerts changed, a test wants the data). */
  nudge(): void {
    this.uploadWait.wake();
  }

  async close(): Promise<void> {
    this.stopping.abort();
    await this.metricsRetry;
    await this.endpoint?.close();
    try {
      this.logs.flush();
    } finally {
      this.metricsQueue.close();
      this.logQueue.close();
    }
  }

  private jittered(ms: number): number {
    return ms * (0.9 + 0.2 * this.ctx.random());
  }

  /** The id of a queue's stream: made once per queue, so a wiped queue starts a new stream. */
  private streamId(name: string, memory: boolean): string {
    if (memory) return randomBytes(8).toString('hex');
    const file = join(this.dir, name, 'stream-id');
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    const id = randomBytes(8).toString('hex');
    writeFileDurable(file, `${id}\n`, 0o600);
    return id;
  }

  private readJson<T>(name: string): T | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  private writeJson(name: string, value: unknown): void {
    writeFileDurable(join(this.dir, name), JSON.stringify(value), 0o600);
  }
}

/**
 * How long to wait before upload retry `failures` (1 after the first failed upload): the
 * fleet's backoff (full jitter) from 2 s doubling, at most the upload interval and never
 * more than 2 s · 2^8 (about 8.5 minutes), so a node on a long interval still retries.
 */
export function uploadRetryDelay(failures: number, uploadIntervalMs: number, random: () => number): number {
  return backoffDelay(failures, { baseMs: 2_000, capMs: Math.min(uploadIntervalMs, 2_000 * 2 ** 8), random });
}
