/**
 * The fleet runner: lays out the nodes, starts their agents in waves, drives traffic and
 * faults on one pooled timer, keeps the record of which node ran which revision, and
 * summarises. The command (`edgefleet sim`) and the demo both run a fleet through this.
 */
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { errors, mulberry32, parseBootstrapToken } from '@edgefleet/protocol';
import { EdgefleetClient, fetchPinnedCaCertificate } from '@edgefleet/protocol/node';
import { pino } from 'pino';
import { capacityProblems, capacityWarnings, estimateFootprint, machineResources } from './capacity.js';
import type { SimulationEvent, SimulationEventBody, SimulationListener } from './events.js';
import { FaultScheduler } from './fault-scheduler.js';
import { type FaultPlan, noFaults, type SiteLink } from './faults.js';
import { ImageCatalog } from './images.js';
import type { LinkProfile } from './link.js';
import { type NodePlan, SimNode, streamSeed } from './node.js';
import { type SimulationOptions, siteNames, validateSimulationOptions } from './options.js';
import { planFleet, shardIndexes } from './plan.js';
import type { RolloutView, SimulationSummary } from './summary.js';
import { TimerPool } from './timers.js';
import { dailyLoad, TrafficGenerator } from './traffic.js';

/** A running simulation (see index.ts for the whole API). */
export interface Simulation {
  /** Where the nodes' data dirs and hardware roots are. */
  readonly dataDir: string;
  /** `site-01` … */
  readonly sites: readonly string[];
  /** The simulated nodes, in start order. */
  readonly nodes: readonly SimNode[];
  /** What may go wrong at this size on this machine (for the caller to print before it waits). */
  readonly warnings: readonly string[];
  /** The summary now (rates over the last full interval). */
  summary(): SimulationSummary;
  /** Resolves when every node has started (reported once) or failed. */
  whenStarted(): Promise<void>;
  /** Cuts a site off from the server (`on`) or restores it. */
  setSiteOutage(site: string, on: boolean): void;
  /** Listens to events; returns the function that stops listening. */
  onEvent(listener: SimulationListener): () => void;
  /** Names of the nodes that ever started an instance of a revision (blast radius). */
  ranRevision(deployment: string, revision: number): string[];
  /** Names of the nodes that ever served a request with a revision. */
  servedRevision(deployment: string, revision: number): string[];
  /** Stops every agent and resolves with the final summary (also after `durationMs`). */
  stop(): Promise<SimulationSummary>;
  /** Settles with the final summary once the simulation stopped, however it stopped. */
  readonly finished: Promise<SimulationSummary>;
}

/** How long a node may hold a start slot before the next one goes anyway. */
const START_SLOT_TIMEOUT_MS = 120_000;
const TRAFFIC_TICK_MS = 1_000;
const STOP_TIMEOUT_MS = 15_000;
const PREPARE_AHEAD = 8;

/**
 * Starts a simulation. Validates everything first (a config `EdgefleetError` before any
 * file or connection is made), then returns at once while the nodes start in waves.
 */
export async function startSimulation(options: SimulationOptions): Promise<Simulation> {
  validateSimulationOptions(options);
  if (options.shard !== undefined) shardIndexes(options.nodes, options.shard);
  if (options.force !== true) {
    const inRam = (options.dataDir === undefined ? scratchRoot() : resolve(options.dataDir)).startsWith('/dev/shm');
    const problems = capacityProblems(options.nodes, machineResources(), inRam);
    if (problems.length > 0) {
      const e = estimateFootprint(options.nodes, inRam);
      throw errors.config(
        `this machine cannot hold ${options.nodes} simulated nodes: ${problems.join('; ')}`,
        `give fewer --nodes (estimate: ${(e.rssBytes / 2 ** 30).toFixed(1)} GiB), or --force to try anyway`,
        { field: 'nodes' },
      );
    }
  }
  const run = new FleetRun(options, capacityWarnings(options.nodes, machineResources()));
  try {
    await run.init();
  } catch (err) {
    // The admin client could not pin the server's CA, say: leave nothing behind.
    await run.stop();
    throw err;
  }
  return run;
}

/**
 * Where a simulation without `dataDir` keeps its nodes: RAM (`/dev/shm`) when the system has
 * it. Each node is some fifty small fixture files plus its data dir; on a VM's ext4 creating
 * them costs ~40 ms a node against ~6 ms in tmpfs, and the agents' fsyncs cost nothing there.
 */
export function scratchRoot(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * A new folder for one simulation's node data under {@link scratchRoot}. It is also removed
 * when the process exits without stopping the simulation (Ctrl-C on a bench, `process.exit`):
 * in /dev/shm a forgotten 10,000-node folder holds gigabytes of RAM until the next reboot.
 * `remove()` removes it now and forgets the exit hook.
 */
export function temporaryScratchDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(scratchRoot(), 'edgefleet-sim-'));
  const atExit = (): void => rmSync(path, { recursive: true, force: true });
  process.once('exit', atExit);
  return {
    path,
    remove() {
      process.removeListener('exit', atExit);
      atExit();
    },
  };
}

/** A link profile per site, `*` for the others. */
function linkTable(links: readonly SiteLink[]): (site: string) => LinkProfile | undefined {
  const bySite = new Map(links.map((l) => [l.site, l]));
  return (site) => bySite.get(site) ?? bySite.get('*');
}

class FleetRun implements Simulation {
  readonly dataDir: string;
  readonly sites: readonly string[];
  readonly nodes: SimNode[] = [];
  readonly finished: Promise<SimulationSummary>;
  /** The folder this run made for its nodes (none when given `dataDir`). */
  private readonly scratch: { path: string; remove(): void } | undefined;
  private readonly pool: TimerPool;
  private readonly clock: () => number;
  private readonly startedAt: number;
  private readonly listeners = new Set<SimulationListener>();
  private readonly down = new Set<string>();
  private readonly ran = new Map<string, Set<string>>();
  private readonly served = new Map<string, Set<string>>();
  /** Image bytes that arrived over the nodes' links, per image, and the nodes they arrived at. */
  private readonly pulled = new Map<string, { bytes: number; nodes: Set<string> }>();
  private readonly images: ImageCatalog;
  private readonly traffic: TrafficGenerator;
  private readonly faults: FaultScheduler;
  private readonly plan: FaultPlan;
  private readonly rollouts = new Map<string, RolloutView & { message: string }>();
  private admin: EdgefleetClient | undefined;
  private lastRates = { requestsPerSecond: 0, errorsPerSecond: 0 };
  private lastCpu = { at: 0, usage: process.cpuUsage() };
  private cpuPercent = 0;
  private lastMemory: NodeJS.MemoryUsage = process.memoryUsage();
  private readonly cancels: Array<() => void> = [];
  /** Re-plan each periodic task's next run after the clock's speed changed. */
  private readonly retimers: Array<() => void> = [];
  private stopping: Promise<SimulationSummary> | undefined;
  private resolveFinished: (s: SimulationSummary) => void = () => {};
  private startedAll: Promise<void> = Promise.resolve();
  private stoppedFlag = false;

  constructor(
    private readonly opts: SimulationOptions,
    readonly warnings: readonly string[] = [],
  ) {
    const fast = opts.clock;
    this.clock = fast?.now ?? Date.now;
    this.pool = new TimerPool(fast === undefined ? {} : { now: fast.now, realDelay: (ms) => fast.realDelay(ms) });
    if (fast !== undefined)
      this.cancels.push(
        fast.onSpeedChange(() => {
          this.pool.rearm();
          // A tick planned at the old speed (40 simulated seconds at ×2,000) would leave a gap at ×1.
          for (const retime of this.retimers) retime();
        }),
      );
    this.startedAt = this.clock();
    this.lastCpu.at = this.startedAt;
    this.scratch = opts.dataDir === undefined ? temporaryScratchDir() : undefined;
    this.dataDir = this.scratch?.path ?? resolve(opts.dataDir as string);
    this.sites = siteNames(opts.sites ?? 1);
    this.plan = opts.faults ?? noFaults();
    this.images = new ImageCatalog(opts.images);
    this.finished = new Promise((r) => {
      this.resolveFinished = r;
    });
    const seed = opts.seed ?? 42;
    this.traffic = new TrafficGenerator(
      opts.rps ?? 5,
      (node, deployment, revision) => this.record(this.served, node.name, deployment, revision, true),
      opts.dailyCycle === true ? dailyLoad : undefined,
    );
    this.faults = new FaultScheduler({
      nodes: this.nodes,
      schedule: (ms, fn) => this.pool.schedule(ms, fn),
      // A worker picks its faults among its own nodes, from a stream of its own.
      random: mulberry32(streamSeed(seed, 0xfa17, opts.shard?.worker ?? 0)),
      setSiteOutage: (site, on) => this.setSiteOutage(site, on),
      emit: (e) => this.emit(e),
    });
  }

  async init(): Promise<void> {
    const o = this.opts;
    const seed = o.seed ?? 42;
    mkdirSync(join(this.dataDir, 'nodes'), { recursive: true });
    if (o.adminToken !== undefined) {
      const ca = await fetchPinnedCaCertificate(o.server, parseBootstrapToken(o.token).caFingerprint);
      this.admin = new EdgefleetClient({ server: o.server, token: o.adminToken, ca });
    }
    const ctx = {
      server: o.server,
      token: o.token,
      profile: o.profile ?? 'lan',
      tuning: o.agent ?? {},
      pool: this.pool,
      clock: this.clock,
      log: pino({ level: 'silent' }),
      seed,
      defaultLoadMs: Math.round((o.loadSeconds ?? 2) * 1000),
      siteDown: (site: string) => this.down.has(site),
      linkProfile: linkTable(this.plan.links),
      started: (node: SimNode, deployment: string, revision: number) => this.record(this.ran, node.name, deployment, revision, false),
      emit: (e: SimulationEventBody) => this.emit(e),
      images: this.images,
      imageBytes: (node: SimNode, reference: string, bytes: number) => {
        const p = this.pulled.get(reference) ?? { bytes: 0, nodes: new Set<string>() };
        this.pulled.set(reference, p);
        p.bytes += bytes;
        p.nodes.add(node.name);
      },
    };
    // The whole fleet's plan, the same in every worker (plan.ts); a worker runs its share.
    const plans = planFleet(o, this.dataDir);
    const mine = o.shard === undefined ? plans : shardIndexes(o.nodes, o.shard).map((i) => plans[i] as NodePlan);
    for (const plan of mine) this.nodes.push(new SimNode(plan, ctx));
    this.faults.start(this.plan);
    // On a fast clock a tick covers more simulated time (about 20 ms of real time), so a
    // week of traffic is not a million ticks.
    this.every(
      () => Math.max(TRAFFIC_TICK_MS, (o.clock?.speed ?? 1) * 20),
      (dt) => this.traffic.tick(this.nodes, dt, this.clock()),
    );
    this.every(o.intervalMs ?? 10_000, () => this.interval());
    if (o.durationMs !== undefined) this.cancels.push(this.pool.schedule(o.durationMs, () => void this.stop()));
    this.startedAll = this.startNodes(o.enrollConcurrency ?? 20);
  }

  /** Runs `fn` every `ms` (or every `ms()`, read at each tick) on the pool, with the time actually elapsed. */
  private every(ms: number | (() => number), fn: (elapsedMs: number) => void): void {
    const period = typeof ms === 'number' ? () => ms : ms;
    let last = this.clock();
    let cancel: () => void;
    const tick = (): void => {
      const now = this.clock();
      try {
        fn(now - last);
      } finally {
        last = now;
        if (!this.stoppedFlag) cancel = this.pool.schedule(period(), tick);
      }
    };
    cancel = this.pool.schedule(period(), tick);
    this.cancels.push(() => cancel());
    this.retimers.push(() => {
      if (this.stoppedFlag) return;
      cancel();
      cancel = this.pool.schedule(Math.max(0, period() - (this.clock() - last)), tick);
    });
  }

  /**
   * Starts nodes in waves: at most `concurrency` nodes whose link is up may be starting
   * (enrolling, or reporting for the first time) at once, so a big fleet does not hit the
   * server with thousands of enrollments in the same second. The server may still answer
   * 429 with Retry-After; the agents honour it.
   */
  private async startNodes(concurrency: number): Promise<void> {
    const starting = new Map<SimNode, number>();
    const t0 = this.clock();
    let failed = 0;
    const settle = (): void => {
      for (const [node, since] of starting) {
        const s = node.agent?.state;
        if (node.fatal !== undefined) {
          starting.delete(node);
          failed++;
        } else if (s?.lastHeartbeatAt !== undefined && s.nodeId !== undefined) {
          starting.delete(node);
          node.started = true;
          this.emit({ type: 'node-enrolled', node: node.name, nodeId: s.nodeId });
        } else if (this.clock() - since > START_SLOT_TIMEOUT_MS) {
          // Slow or stuck (an overloaded server): it keeps trying, the next one goes.
          starting.delete(node);
          void this.watchLate(node);
        }
      }
    };
    const busy = (): number => [...starting.keys()].filter((n) => n.linkDown() === undefined).length;
    // Hardware roots are written a few nodes ahead, so the disk is never what the waves wait for.
    const preparing = new Map<SimNode, Promise<void>>();
    const prepareAhead = (from: number): void => {
      for (const n of this.nodes.slice(from, from + PREPARE_AHEAD)) if (!preparing.has(n)) preparing.set(n, n.prepare());
    };
    for (const [i, node] of this.nodes.entries()) {
      prepareAhead(i);
      settle();
      while (!this.stoppedFlag && busy() >= concurrency) {
        await this.pool.sleep(50);
        settle();
      }
      if (this.stoppedFlag) return;
      await preparing.get(node);
      preparing.delete(node);
      node.start();
      starting.set(node, this.clock());
    }
    while (!this.stoppedFlag && starting.size > 0) {
      await this.pool.sleep(100);
      settle();
    }
    if (this.stoppedFlag) return;
    const started = this.nodes.filter((n) => n.started).length;
    this.emit({ type: 'fleet-started', nodes: this.nodes.length, started, failed, seconds: (this.clock() - t0) / 1000 });
  }

  /** A node that outlived its start slot: marked started when it finally reports. */
  private async watchLate(node: SimNode): Promise<void> {
    while (!this.stoppedFlag && node.fatal === undefined && !node.started) {
      const s = node.agent?.state;
      if (s?.lastHeartbeatAt !== undefined && s.nodeId !== undefined) {
        node.started = true;
        this.emit({ type: 'node-enrolled', node: node.name, nodeId: s.nodeId });
        return;
      }
      await this.pool.sleep(1_000);
    }
  }

  whenStarted(): Promise<void> {
    return this.startedAll;
  }

  onEvent(listener: SimulationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(body: SimulationEventBody): void {
    const event = { ...body, elapsedMs: this.clock() - this.startedAt } as SimulationEvent;
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A listener's failure must not stop the fleet.
      }
    }
  }

  setSiteOutage(site: string, on: boolean): void {
    if (!this.sites.includes(site)) {
      throw errors.config(`"${site}" is not a site of this simulation`, `sites are ${this.sites[0]} … ${this.sites.at(-1)}`, { field: 'site' });
    }
    if (on === this.down.has(site)) return;
    if (on) this.down.add(site);
    else this.down.delete(site);
    this.emit({ type: 'site-outage', site, on, nodes: this.nodes.filter((n) => n.plan.site === site).length });
  }

  private record(table: Map<string, Set<string>>, node: string, deployment: string, revision: number, announce: boolean): void {
    const key = `${deployment}\u0000${revision}`;
    let set = table.get(key);
    if (set === undefined) {
      set = new Set();
      table.set(key, set);
      if (announce) this.emit({ type: 'revision-serving', deployment, revision, node });
    }
    set.add(node);
  }

  ranRevision(deployment: string, revision: number): string[] {
    return [...(this.ran.get(`${deployment}\u0000${revision}`) ?? [])].sort();
  }

  servedRevision(deployment: string, revision: number): string[] {
    return [...(this.served.get(`${deployment}\u0000${revision}`) ?? [])].sort();
  }

  /** Every interval: rates, CPU, rollouts, and a `summary` event. */
  private interval(): void {
    const now = this.clock();
    const counts = this.traffic.takeInterval();
    const seconds = Math.max(0.001, (now - this.lastCpu.at) / 1000);
    this.lastRates = { requestsPerSecond: counts.requests / seconds, errorsPerSecond: counts.errors / seconds };
    const usage = process.cpuUsage(this.lastCpu.usage);
    this.cpuPercent = ((usage.user + usage.system) / 1e6 / seconds) * 100;
    this.lastCpu = { at: now, usage: process.cpuUsage() };
    void this.refreshRollouts();
    this.emit({ type: 'summary', summary: this.summary() });
  }

  /** Reads the rollout of every deployment with `spec.rollout` (needs the admin token). */
  private async refreshRollouts(): Promise<void> {
    const admin = this.admin;
    if (admin === undefined) return;
    try {
      const { items } = await admin.listDeployments();
      for (const d of items) {
        if (d.spec.rollout === undefined) continue;
        const s = await admin.rolloutStatus(d.metadata.name);
        const view = { revision: s.revision, phase: s.phase, step: s.step, steps: s.steps, message: s.conditions[0]?.message ?? '' };
        const before = this.rollouts.get(d.metadata.name);
        this.rollouts.set(d.metadata.name, view);
        if (before === undefined || before.revision !== view.revision || before.phase !== view.phase || before.step !== view.step) {
          this.emit({ type: 'rollout', deployment: d.metadata.name, ...view });
        }
      }
    } catch {
      // The server may be busy or restarting: the next interval tries again.
    }
  }

  summary(): SimulationSummary {
    const nodes = { total: this.nodes.length, started: 0, online: 0, offline: 0, poweredOff: 0, acceleratorFailed: 0, failed: 0 };
    const revisions: Record<string, Record<string, number>> = {};
    for (const n of this.nodes) {
      if (n.started) nodes.started++;
      if (n.fatal !== undefined) nodes.failed++;
      if (n.acceleratorFailed) nodes.acceleratorFailed++;
      if (n.agent === undefined && n.started) nodes.poweredOff++;
      else if (n.linkDown() !== undefined) nodes.offline++;
      if (n.online()) nodes.online++;
      for (const w of n.workloads()) {
        if (w.servingRevision === null) continue;
        const revs = revisions[w.deployment] ?? {};
        revs[String(w.servingRevision)] = (revs[String(w.servingRevision)] ?? 0) + 1;
        revisions[w.deployment] = revs;
      }
    }
    // Reading RSS opens /proc/self/stat: with the fd table full (a storm), keep the last figure.
    let mem = this.lastMemory;
    try {
      mem = process.memoryUsage();
      this.lastMemory = mem;
    } catch {
      // EMFILE: the next summary tries again.
    }
    const requests = this.traffic.total.requests;
    const errors = this.traffic.total.errors;
    // Blast radius: how many nodes ever started each revision (a rolled-back one included).
    const everRan: Record<string, Record<string, number>> = {};
    for (const [key, names] of this.ran) {
      const [deployment, revision] = key.split('\u0000') as [string, string];
      everRan[deployment] = { ...everRan[deployment], [revision]: names.size };
    }
    return {
      at: new Date(this.clock()).toISOString(),
      elapsedSeconds: Math.round((this.clock() - this.startedAt) / 100) / 10,
      nodes,
      revisions,
      everRan,
      images: Object.fromEntries(
        [...this.pulled].map(([ref, p]) => [ref, { nodes: p.nodes.size, bytes: p.bytes, bytesPerNode: Math.round(p.bytes / Math.max(1, p.nodes.size)) }]),
      ),
      rollouts: Object.fromEntries([...this.rollouts].map(([d, r]) => [d, { revision: r.revision, phase: r.phase, step: r.step, steps: r.steps }])),
      requestsPerSecond: Math.round(this.lastRates.requestsPerSecond * 10) / 10,
      errorsPerSecond: Math.round(this.lastRates.errorsPerSecond * 10) / 10,
      requests,
      errors,
      faults: { siteOutages: [...this.down].sort(), ...this.faults.counts },
      process: { rssMb: Math.round(mem.rss / 2 ** 20), heapUsedMb: Math.round(mem.heapUsed / 2 ** 20), cpuPercent: Math.round(this.cpuPercent) },
    };
  }

  stop(): Promise<SimulationSummary> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<SimulationSummary> {
    this.stoppedFlag = true;
    this.faults.stop();
    for (const c of this.cancels.splice(0)) c();
    // The last partial interval counts too.
    this.interval();
    await this.refreshRollouts();
    const final = this.summary();
    // An agent stuck in a request to a dead server would hold the exit for its timeout.
    const stops = Promise.all(this.nodes.map((n) => n.stop()));
    const inTime = await Promise.race([stops.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), STOP_TIMEOUT_MS).unref())]);
    this.pool.close();
    await this.admin?.close();
    const scratch = this.scratch;
    if (scratch !== undefined) {
      // Agents still finishing a request write to their data dirs when it ends: remove the
      // files only once every agent has stopped.
      if (inTime) scratch.remove();
      else void stops.then(() => scratch.remove());
    }
    this.resolveFinished(final);
    return final;
  }
}
