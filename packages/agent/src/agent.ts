import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  assertValidLabels,
  type DesiredState,
  EDGEFLEET_VERSION,
  EdgefleetError,
  type HardwareFacts,
  type Labels,
  type NetworkConditions,
  parseBootstrapToken,
  type StatusRequest,
  TELEMETRY_PROFILE_LABEL,
  type WorkloadStatus,
} from '@edgefleet/protocol';
import { EdgefleetClient, fetchPinnedCaCertificate, releaseSignatureProblem, sha256Hex } from '@edgefleet/protocol/node';
import { type Logger, pino } from 'pino';
import { LocalArtifactStore } from './artifacts/index.js';
import { newKeyAndCsr } from './identity/csr.js';
import { loadIdentity, type NodeIdentity, saveIdentity } from './identity/store.js';
import { HardwareProbe, labelsFromFacts } from './probe/index.js';
import { loadDesired, saveDesired } from './sync/desired-store.js';
import { PinnedKeys } from './sync/pinned-keys.js';
import { NodeTelemetry, type NodeTelemetryOptions } from './telemetry/node-telemetry.js';
import { backoffDelay, jitteredInterval, renewalDueAt } from './timing.js';
import { plan } from './workloads/planner.js';
import type { WorkloadRuntime } from './workloads/runtime.js';
import { WorkloadStatsCollector } from './workloads/stats.js';
import { WorkloadSupervisor } from './workloads/supervisor.js';
import type { VerifiedWorkload } from './workloads/types.js';

/** Options of `edgefleet agent`. */
export interface AgentOptions {
  server: string;
  /** Bootstrap token; needed only until the node has enrolled. */
  token?: string;
  dataDir: string;
  /** Root for every hardware read (`/` on a Pi, a fixture folder in tests). */
  hwRoot: string;
  site?: string;
  /** Extra labels the node declares about itself. */
  labels?: Labels;
  name?: string;
  clock?: () => number;
  random?: () => number;
  /** Waits `ms` or until the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Where the agent logs; its lines also go into the node's log pipeline (info and up). */
  log?: Logger;
  /** Metrics, logs, local alerts and their uplink (see NodeTelemetryOptions). */
  telemetry?: NodeTelemetryOptions;
  /** How workloads run (default: child processes; the simulator runs them in memory). */
  runtime?: WorkloadRuntime;
  /** Simulated link conditions for every request (the simulator); none on a real node. */
  network?: NetworkConditions;
  /** Tuning of the workload supervisor (tests shorten these). */
  workloads?: {
    /** Consecutive primary failures that count as a crash loop (default 3). */
    crashLoopThreshold?: number;
    /** Wait before trying a crash-looping primary again, by failure count (default 30 s doubling to 10 min). */
    primaryRetryDelayMs?: (failures: number) => number;
    /** Long-poll wait for desired state (default 30 s). */
    desiredWaitSeconds?: number;
    /** Reconcile pass interval (default 1 s; changes also trigger a pass at once). */
    reconcileIntervalMs?: number;
  };
}

/** What the agent knows about its standing with the server, for status output and tests. */
export interface AgentState {
  nodeId: string | undefined;
  lastHeartbeatAt: number | undefined;
  heartbeatIntervalMs: number;
  certNotAfter: number | undefined;
  lastRenewalAt: number | undefined;
  consecutiveFailures: number;
  lastError: string | undefined;
  /** Version of the desired state the node runs. */
  desiredVersion: string | undefined;
  /** The workload statuses last reported. */
  workloads: WorkloadStatus[];
}

/**
 * How long a metered node keeps its idle connection: longer than its 15-minute upload
 * interval plus jitter (the server keeps connections 20 minutes), so each upload reuses it.
 */
const METERED_KEEP_ALIVE_MS = 18 * 60_000;

/** Errors that no retry can fix: the node must be re-enrolled or reconfigured. */
const FATAL_CODES = new Set([
  'certificate_revoked',
  'client_certificate_required',
  'token_invalid',
  'token_expired',
  'token_exhausted',
  'server_untrusted',
  'config',
]);

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The node agent: enrolls once, then reports heartbeats and renews its certificate for as
 * long as it runs. Unreachable servers are waited out with capped, jittered backoff; only
 * errors no retry can fix (revoked, untrusted server, bad token) end it.
 */
export class Agent {
  readonly state: AgentState = {
    nodeId: undefined,
    lastHeartbeatAt: undefined,
    heartbeatIntervalMs: 60_000,
    certNotAfter: undefined,
    lastRenewalAt: undefined,
    consecutiveFailures: 0,
    lastError: undefined,
    desiredVersion: undefined,
    workloads: [],
  };
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private identity: NodeIdentity | undefined;
  private client: EdgefleetClient | undefined;
  private readonly artifacts: LocalArtifactStore;
  private readonly pinned: PinnedKeys;
  private supervisor: WorkloadSupervisor | undefined;
  private verified: VerifiedWorkload[] = [];
  private readonly stats: WorkloadStatsCollector;
  private hasAccelerator = false;
  private accelerators: string[] = [];
  /** Boot-time facts are read once per agent, as once per boot (probe/probe.ts). */
  private readonly probe: HardwareProbe;
  private wakeHeartbeat: () => void = () => {};
  private wakeReconcile: () => void = () => {};
  private wakeDesired: () => void = () => {};
  /** Whether the current client was made for the metered profile (long keep-alive). */
  private connectedMetered = false;
  /** What the server's last refusal asked us to wait (429/503 `Retry-After`). */
  private retryAfterMs = 0;
  /** Digests of what the server last accepted in a folded heartbeat (sent again only on change). */
  private sentDigests: { facts?: string; labels?: string; workloads?: string } = {};
  /** Metrics, logs, local alerts and their uplink. */
  readonly telemetry: NodeTelemetry;

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clock ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? defaultSleep;
    this.log = this.makeLogger(opts.log);
    if (opts.labels !== undefined) assertValidLabels(opts.labels);
    this.telemetry = new NodeTelemetry(
      { dataDir: opts.dataDir, hwRoot: opts.hwRoot, clock: this.clock, random: this.random, sleep: this.sleep, log: this.log },
      { metricsListen: false, ...(opts.telemetry ?? {}) },
    );
    this.probe = new HardwareProbe(opts.hwRoot, { agentVersion: EDGEFLEET_VERSION });
    this.artifacts = new LocalArtifactStore(join(opts.dataDir, 'artifacts'));
    this.pinned = new PinnedKeys(opts.dataDir);
    this.stats = new WorkloadStatsCollector(this.clock);
  }

  /**
   * The agent's logger: its lines go to stdout (or to the logger the caller gave) and, from
   * info up, into the node's log pipeline, scrubbed and queued for upload like a workload's.
   */
  private makeLogger(given: Logger | undefined): Logger {
    const toPipeline = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.telemetry?.logs.agentLine(line);
        done();
      },
    });
    const level = process.env.EDGEFLEET_LOG_LEVEL ?? 'info';
    if (given === undefined) {
      return pino(
        { level, base: { component: 'agent' } },
        pino.multistream([
          { level: level as pino.Level, stream: process.stdout },
          { level: 'info', stream: toPipeline },
        ]),
      );
    }
    // A caller's logger keeps its own destination; the pipeline gets a copy of each line.
    return pino(
      {
        level: 'info',
        base: { component: 'agent' },
        hooks: {
          logMethod(args, method, num) {
            const label = pino.levels.labels[num] as pino.Level | undefined;
            if (label !== undefined) (given[label] as (...a: unknown[]) => void).apply(given, args);
            method.apply(this, args);
          },
        },
      },
      toPipeline,
    );
  }

  /**
   * One inference request served on this node: into the rollout gates' stats and the
   * telemetry. The proxy calls it for real traffic; the simulator for synthetic traffic.
   */
  recordInference(deployment: string, revision: number, latencyMs: number, ok: boolean, fallback: boolean): void {
    this.stats.request(deployment, revision, latencyMs, ok, fallback);
    this.telemetry.inference(deployment, revision, latencyMs, ok);
  }

  /** The workload instances as the supervisor sees them (diagnostics and tests). */
  workloadInstances(): ReadonlyMap<string, import('./workloads/types.js').LocalWorkload> {
    return this.supervisor?.observe() ?? new Map();
  }

  /** Stops the loop at its next wait; `run()` then resolves. */
  stop(): void {
    this.abort.abort();
  }

  /** Probes the hardware and computes the labels to report. */
  async observe(): Promise<{ facts: HardwareFacts; labels: Labels }> {
    const facts = await this.probe.read();
    const labels: Labels = { ...labelsFromFacts(facts, this.opts.site === undefined ? {} : { site: this.opts.site }), ...(this.opts.labels ?? {}) };
    if (this.opts.telemetry?.profile !== undefined) labels[TELEMETRY_PROFILE_LABEL] = this.opts.telemetry.profile;
    this.accelerators = facts.accelerators.map((a) => a.kind);
    // An accelerator that disappears (dead HAT, missing driver) moves workloads to the fallback.
    const hasAccelerator = labels['hardware.ai-hat'] === 'true';
    if (hasAccelerator !== this.hasAccelerator) {
      this.hasAccelerator = hasAccelerator;
      this.wakeReconcile();
    }
    return { facts, labels };
  }

  /** Enrolls if needed, then heartbeats until stopped. Rejects only on a fatal error. */
  async run(): Promise<void> {
    const signal = this.abort.signal;
    try {
      this.identity = loadIdentity(this.opts.dataDir) ?? (await this.enrollWithRetry(signal));
      if (this.identity === undefined) return; // stopped while enrolling
      this.state.nodeId = this.identity.nodeId;
      this.state.certNotAfter = this.identity.notAfter;
      this.connect();
      await this.observe();
      this.supervisor = new WorkloadSupervisor({
        dataDir: this.opts.dataDir,
        artifacts: this.artifacts,
        source: () => {
          const client = this.client as EdgefleetClient;
          return { open: (digest, offset, signal) => client.openArtifact(digest, offset, signal) };
        },
        clock: this.clock,
        log: this.log,
        onChange: () => this.wakeReconcile(),
        ...(this.opts.runtime === undefined ? {} : { runtime: this.opts.runtime }),
        stats: {
          request: (deployment, revision, latencyMs, ok, fallback) => this.recordInference(deployment, revision, latencyMs, ok, fallback),
          restart: (deployment, revision) => {
            this.stats.restart(deployment, revision);
            this.telemetry.restart(deployment, revision);
          },
          loadFailure: (deployment, revision) => this.telemetry.loadFailure(deployment, revision),
          output: (deployment, revision, stream, chunk) => this.telemetry.output(deployment, revision, stream, chunk),
        },
      });
      // The last desired state keeps running while the server is out of reach.
      const saved = loadDesired(this.opts.dataDir);
      if (saved !== undefined) this.acceptDesired(saved, false);
      await this.telemetry.start();
      // A throw in a background loop must not become an unhandled rejection that ends the
      // process: log it; the heartbeat loop (and the operator) carry on.
      const guard = (name: string, loop: Promise<void>): Promise<void> =>
        loop.catch((err: unknown) => this.log.error(`${name} loop stopped: ${(err as Error).message}`));
      const desiredLoop = guard('desired-state', this.desiredLoop(signal));
      const reconcileLoop = guard('reconcile', this.reconcileLoop(signal));
      const telemetryLoop = guard(
        'telemetry',
        this.telemetry.run(signal, {
          client: () => this.client,
          accelerators: () => this.accelerators,
          workloads: () => this.state.workloads,
          foldedStatus: () => this.foldedStatus(),
          onResponse: (res) => {
            this.state.heartbeatIntervalMs = res.heartbeatIntervalSeconds * 1000;
            // The profile changed: the connection's keep-alive must follow it.
            if (res.telemetry.foldHeartbeats !== this.connectedMetered) this.connect();
            if (res.desiredVersion !== undefined && res.desiredVersion !== this.state.desiredVersion) this.wakeDesired();
          },
        }),
      );
      try {
        while (!signal.aborted) {
          const ok = await this.tick();
          const backoff = Math.max(backoffDelay(this.state.consecutiveFailures, this.random), this.retryAfterMs * (1 + this.random()));
          await this.wakeable(ok ? this.nextHeartbeatDelay() : backoff, signal, (wake) => {
            this.wakeHeartbeat = wake;
          });
        }
      } finally {
        this.abort.abort();
        await Promise.allSettled([desiredLoop, reconcileLoop, telemetryLoop]);
        await this.supervisor.stopAll();
      }
    } finally {
      await this.client?.close();
      await this.telemetry.close();
    }
  }

  /** Sleeps like `sleep`, but `register` receives a function that ends the wait early. */
  private async wakeable(ms: number, signal: AbortSignal, register: (wake: () => void) => void): Promise<void> {
    const early = new AbortController();
    const onAbort = (): void => early.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    register(() => early.abort());
    try {
      await this.sleep(ms, early.signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Long-polls the server's desired state; backs off while it is unreachable. */
  private async desiredLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    const wait = this.opts.workloads?.desiredWaitSeconds ?? 30;
    while (!signal.aborted) {
      // Metered nodes do not hold a long poll open (each poll costs bytes): their uploads'
      // answers carry the desired version, and a change wakes this loop for one fetch.
      const metered = this.telemetry.settings.foldHeartbeats;
      if (metered && failures === 0 && this.state.desiredVersion !== undefined) {
        await this.wakeable(this.telemetry.settings.uploadIntervalMs * 4, signal, (wake) => {
          this.wakeDesired = wake;
        });
        if (signal.aborted) return;
      }
      try {
        const next = await (this.client as EdgefleetClient).desired(this.state.desiredVersion, metered ? 0 : wait, signal);
        failures = 0;
        if (next !== undefined) this.acceptDesired(next, true);
      } catch (err) {
        if (signal.aborted) return;
        failures++;
        this.log.warn({ failures }, `desired state not fetched: ${(err as Error).message}`);
        await this.sleep(backoffDelay(failures, this.random), signal);
      }
    }
  }

  /** Checks keys and signatures of a desired state, keeps it on disk, and wakes the planner. */
  private acceptDesired(state: DesiredState, persist: boolean): void {
    // A node enrolled before the fleet had any release key trusted the server fully until
    // now; it pins the first root keys it is given (trust on first use), and from then on
    // accepts only keys those endorse.
    if (this.pinned.size === 0) {
      const roots = state.trustedKeys.filter((k) => k.signedBy === null);
      if (roots.length > 0) this.pinned.pinInitial(roots);
    }
    const refused = this.pinned.acceptEndorsed(state.trustedKeys);
    if (refused.length > 0) this.log.warn({ refused }, 'ignoring release keys no pinned key endorsed');
    const keys = this.pinned.map();
    this.verified = state.workloads.map((w) => {
      // Once a node pins any key it requires signatures, whatever the server says.
      const problem =
        w.release.signature === undefined
          ? keys.size > 0 || state.requireSigned
            ? 'the release is not signed'
            : undefined
          : releaseSignatureProblem(w.release, keys);
      if (problem === undefined) this.supervisor?.learn(w.deployment, w.revision, w.release);
      else this.log.error({ deployment: w.deployment, revision: w.revision }, `refusing release: ${problem}`);
      return { deployment: w.deployment, revision: w.revision, release: w.release, verificationProblem: problem };
    });
    this.state.desiredVersion = state.version;
    if (persist) saveDesired(this.opts.dataDir, state);
    this.wakeReconcile();
  }

  /** Plans and executes workload steps on every change and at a steady interval. */
  private async reconcileLoop(signal: AbortSignal): Promise<void> {
    const interval = this.opts.workloads?.reconcileIntervalMs ?? 1_000;
    const threshold = this.opts.workloads?.crashLoopThreshold ?? 3;
    const retry = this.opts.workloads?.primaryRetryDelayMs ?? ((n: number) => Math.min(600_000, 30_000 * 2 ** Math.max(0, n - threshold)));
    while (!signal.aborted) {
      const supervisor = this.supervisor as WorkloadSupervisor;
      try {
        const result = plan({
          now: this.clock(),
          desired: this.verified,
          known: supervisor.knownReleases(),
          local: supervisor.observe(),
          artifacts: new Set(this.artifacts.list()),
          downloadFailures: supervisor.downloadFailures,
          hasAccelerator: this.hasAccelerator,
          primaryRetryDelayMs: retry,
          crashLoopThreshold: threshold,
        });
        await supervisor.execute(result.steps);
        if (JSON.stringify(result.statuses) !== JSON.stringify(this.state.workloads)) {
          this.state.workloads = result.statuses;
          // Report workload changes now rather than at the next heartbeat.
          this.wakeHeartbeat();
        }
        // After acting, look again soon (a promoted instance, a started download) but never
        // spin: steps such as an in-flight download repeat until it ends.
        if (result.steps.length > 0) {
          await this.wakeable(Math.min(interval, 100), signal, (wake) => {
            this.wakeReconcile = wake;
          });
          continue;
        }
      } catch (err) {
        this.log.error(`reconcile failed: ${(err as Error).message}`);
      }
      await this.wakeable(interval, signal, (wake) => {
        this.wakeReconcile = wake;
      });
    }
  }

  /**
   * The heartbeat a metered node folds into its upload: facts, labels and workload statuses
   * only when they changed since the server last accepted them, and no workload stats — the
   * server reads those out of the batch's own series (server/telemetry/stats.ts).
   */
  private async foldedStatus(): Promise<{ status: StatusRequest; delivered(): void; failed(): void }> {
    const { facts, labels } = await this.observe();
    const sent = {
      facts: sha256Hex(JSON.stringify(facts)),
      labels: sha256Hex(JSON.stringify(labels)),
      workloads: sha256Hex(JSON.stringify(this.state.workloads)),
    };
    // The gates' numbers travel in the series; what the collector holds is not needed.
    this.stats.drain();
    const status: StatusRequest = {
      ...(sent.facts === this.sentDigests.facts ? {} : { facts }),
      ...(sent.labels === this.sentDigests.labels ? {} : { labels }),
      ...(sent.workloads === this.sentDigests.workloads ? {} : { workloads: this.state.workloads }),
    };
    return {
      status,
      delivered: () => {
        this.sentDigests = sent;
        this.state.lastHeartbeatAt = this.clock();
        this.state.consecutiveFailures = 0;
        this.state.lastError = undefined;
      },
      failed: () => {},
    };
  }

  /** The jittered heartbeat interval, shortened to wake up for a renewal that falls due first. */
  private nextHeartbeatDelay(): number {
    const identity = this.identity as NodeIdentity;
    const untilRenewal = renewalDueAt(identity.notBefore, identity.notAfter) - this.clock();
    const interval = this.telemetry.settings.foldHeartbeats ? this.telemetry.settings.uploadIntervalMs : this.state.heartbeatIntervalMs;
    return Math.min(jitteredInterval(interval, this.random), Math.max(untilRenewal, 1_000));
  }

  /** One pass: renew when due, then report status. Returns false after a transient failure. */
  private async tick(): Promise<boolean> {
    const identity = this.identity as NodeIdentity;
    try {
      if (this.clock() >= renewalDueAt(identity.notBefore, identity.notAfter)) await this.renew();
      // Metered: the heartbeat rides with the telemetry upload (see foldedStatus).
      if (this.telemetry.settings.foldHeartbeats) return true;
      const { facts, labels } = await this.observe();
      const stats = this.stats.drain();
      let res: Awaited<ReturnType<EdgefleetClient['reportStatus']>>;
      try {
        res = await (this.client as EdgefleetClient).reportStatus({ facts, labels, workloads: this.state.workloads, stats });
      } catch (err) {
        // Not delivered: the numbers go out with the next report.
        this.stats.restore(stats);
        throw err;
      }
      this.state.heartbeatIntervalMs = res.heartbeatIntervalSeconds * 1000;
      if (res.telemetry !== undefined) {
        this.telemetry.applySettings(res.telemetry);
        if (res.telemetry.foldHeartbeats !== this.connectedMetered) this.connect();
      }
      this.state.lastHeartbeatAt = this.clock();
      this.state.consecutiveFailures = 0;
      this.state.lastError = undefined;
      return true;
    } catch (err) {
      if (err instanceof EdgefleetError && FATAL_CODES.has(err.code)) {
        this.log.error({ code: err.code, hint: err.hint }, err.message);
        throw err;
      }
      this.state.consecutiveFailures++;
      this.state.lastError = (err as Error).message;
      this.retryAfterMs = err instanceof EdgefleetError ? (err.retryAfterMs ?? 0) : 0;
      this.log.warn({ failures: this.state.consecutiveFailures }, `heartbeat failed: ${(err as Error).message}`);
      return false;
    }
  }

  private connect(): void {
    const identity = this.identity as NodeIdentity;
    void this.client?.close();
    // A metered node keeps its connection between uploads: a new TLS handshake costs more
    // bytes than an upload (docs/TELEMETRY.md).
    const metered = this.telemetry.settings.foldHeartbeats;
    this.connectedMetered = metered;
    const keepAliveTimeoutMs = metered ? METERED_KEEP_ALIVE_MS : undefined;
    this.client = new EdgefleetClient({
      server: this.opts.server,
      ca: identity.caPem,
      cert: identity.certPem,
      key: identity.keyPem,
      ...(keepAliveTimeoutMs === undefined ? {} : { keepAliveTimeoutMs, tcpKeepAlive: false }),
      ...(this.opts.network === undefined ? {} : { network: this.opts.network }),
    });
  }

  private async renew(): Promise<void> {
    const identity = this.identity as NodeIdentity;
    const { keyPem, csrPem } = await newKeyAndCsr();
    const res = await (this.client as EdgefleetClient).renew(csrPem);
    this.identity = saveIdentity(this.opts.dataDir, { ...identity, keyPem, certPem: res.certificate });
    this.state.certNotAfter = this.identity.notAfter;
    this.state.lastRenewalAt = this.clock();
    this.connect();
    this.log.info({ notAfter: res.notAfter }, 'certificate renewed');
  }

  private async enrollWithRetry(signal: AbortSignal): Promise<NodeIdentity | undefined> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        return await this.enroll();
      } catch (err) {
        if (err instanceof EdgefleetError && FATAL_CODES.has(err.code)) throw err;
        this.state.lastError = (err as Error).message;
        this.log.warn({ attempt }, `enrollment failed, will retry: ${(err as Error).message}`);
        // An overloaded server (a whole site powering on) says how long to wait: honour it.
        const asked = err instanceof EdgefleetError ? (err.retryAfterMs ?? 0) : 0;
        await this.sleep(Math.max(backoffDelay(attempt, this.random), asked * (1 + this.random())), signal);
      }
    }
    return undefined;
  }

  /** First start: pin the CA from the token, make a key, trade token + CSR for a certificate. */
  private async enroll(): Promise<NodeIdentity> {
    if (this.opts.token === undefined || this.opts.token.trim() === '') {
      throw new EdgefleetError({
        code: 'config',
        status: 400,
        message: `this node has not enrolled yet (no identity in ${this.opts.dataDir}) and no bootstrap token was given`,
        hint: 'pass --token or --token-file with a token from "edgefleet token create"',
      });
    }
    const parts = parseBootstrapToken(this.opts.token);
    const caPem = await fetchPinnedCaCertificate(this.opts.server, parts.caFingerprint, this.opts.network);
    const { keyPem, csrPem } = await newKeyAndCsr();
    const { facts, labels } = await this.observe();
    const client = new EdgefleetClient({ server: this.opts.server, ca: caPem, ...(this.opts.network === undefined ? {} : { network: this.opts.network }) });
    try {
      const res = await client.enroll({
        token: this.opts.token,
        csr: csrPem,
        facts,
        labels,
        ...(this.opts.name === undefined ? {} : { name: this.opts.name }),
      });
      if (res.caCertificate.trim() !== caPem.trim()) {
        throw new EdgefleetError({
          code: 'server_untrusted',
          status: 0,
          message: 'the server returned a different CA than the one it serves',
          hint: 'check --server',
        });
      }
      this.state.heartbeatIntervalMs = res.heartbeatIntervalSeconds * 1000;
      // The token is not kept: from here on the certificate is the node's credential.
      const identity = saveIdentity(this.opts.dataDir, {
        nodeId: res.nodeId,
        name: res.name,
        caFingerprint: parts.caFingerprint,
        caPem,
        keyPem,
        certPem: res.certificate,
      });
      this.pinned.pinInitial(res.trustedKeys);
      this.log.info({ nodeId: res.nodeId, name: res.name }, 'enrolled');
      return identity;
    } finally {
      await client.close();
    }
  }
}
