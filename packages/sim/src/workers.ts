/**
 * A simulation over several worker processes (`edgefleet sim --workers N`, default one per
 * core): the agents of one process share one heap and one event loop, so one process holds
 * one core's worth of agents (5,000 took 17 minutes to enroll). Each worker (worker.ts, a
 * child process) computes the same plan from the same options (plan.ts: names, sites,
 * hardware and random streams fixed by the seed, whatever N) and runs every N-th node. This
 * parent forwards the workers' events, merges their summaries (summary.ts
 * `mergeSummaries`), and stops them together.
 *
 * A worker that dies (a crash, the kernel's OOM killer) ends the whole simulation: the
 * others are stopped, and `finished` (and `stop()`) reject with an error naming the worker,
 * its pid, how it ended and the end of its stderr.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { errors } from '@edgefleet/protocol';
import { capacityProblems, capacityWarnings, estimateFootprint, machineResources } from './capacity.js';
import type { SimulationEvent, SimulationEventBody, SimulationListener } from './events.js';
import { type SimulationOptions, siteNames, validateSimulationOptions } from './options.js';
import { type Shard, validateWorkers } from './plan.js';
import type { RequestSamples } from './request-timer.js';
import { scratchRoot, temporaryScratchDir } from './simulation.js';
import { mergeSummaries, type SimulationSummary, type WorkerSummary } from './summary.js';

/** Parent → worker. */
export type ParentMessage =
  | { type: 'start'; options: SimulationOptions; shard: Shard; measureRequests: boolean }
  | { type: 'stop' }
  | { type: 'site-outage'; site: string; on: boolean };

/** Worker → parent. */
export type WorkerMessage =
  | { type: 'started'; nodes: number; warnings: string[] }
  | { type: 'event'; event: SimulationEvent }
  | { type: 'final'; summary: SimulationSummary; agentErrors: number; requests?: RequestSamples }
  | { type: 'fatal'; message: string };

/** The merged summary: the fleet's, and each worker's process. */
export type FleetSummary = SimulationSummary & { workers: WorkerSummary[]; agentErrors?: number };

/** Options of {@link startWorkerFleet} beyond the simulation's. */
export interface WorkerFleetOptions {
  /** Worker processes (default: one per core, at most one per node). */
  workers?: number;
  /** Time every agent request (request-timer.ts) for {@link WorkerFleet.requestSamples}. */
  measureRequests?: boolean;
  /** Where the workers' stderr lines go (default: this process's stderr, prefixed `worker N: `). */
  stderr?: (worker: number, line: string) => void;
  /** Extra `node` flags for worker `n` (e.g. `--cpu-prof` for a benchmark to see where a worker's time goes). */
  nodeArgs?: (worker: number) => string[];
}

/** A simulation running over worker processes. */
export interface WorkerFleet {
  readonly dataDir: string;
  readonly sites: readonly string[];
  readonly warnings: readonly string[];
  /** Each worker: number, pid and how many nodes it runs. */
  readonly workers: ReadonlyArray<{ worker: number; pid: number; nodes: number }>;
  /** The merged summary of the workers' latest ones. */
  summary(): FleetSummary;
  /** Resolves when every worker has started all its nodes (or they failed). */
  whenStarted(): Promise<void>;
  setSiteOutage(site: string, on: boolean): void;
  onEvent(listener: SimulationListener): () => void;
  /** Stops every worker; resolves with the merged final summary (rejects if a worker died). */
  stop(): Promise<FleetSummary>;
  /** Settles once every worker stopped: the merged final summary, or the error of the worker that died. */
  readonly finished: Promise<FleetSummary>;
  /** With `measureRequests`, once finished: every timed request of every worker. */
  requestSamples(): RequestSamples;
}

/** How long a worker may take to stop (its agents get 15 s) before it is killed. */
const WORKER_STOP_TIMEOUT_MS = 60_000;

/** The worker entry beside this file, and the node flags that run it (tsx when running from the TypeScript sources). */
function workerEntry(): { path: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.ts')) return { path: join(dirname(here), 'worker.js'), execArgv: [] };
  const tsx = join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/loader.mjs');
  return { path: join(dirname(here), 'worker.ts'), execArgv: ['--conditions=edgefleet:source', '--import', pathToFileURL(tsx).href] };
}

/** The default worker count: one per core, never more than nodes. */
export function defaultWorkers(nodes: number): number {
  return Math.max(1, Math.min(availableParallelism(), nodes));
}

interface Worker {
  worker: number;
  child: ChildProcess;
  pid: number;
  nodes: number;
  latest?: SimulationSummary;
  final?: SimulationSummary;
  agentErrors: number;
  requests?: RequestSamples;
  fatal?: string;
  stderrTail: string;
  exited: Promise<void>;
  started: boolean;
  fleetStarted?: Extract<SimulationEventBody, { type: 'fleet-started' }>;
}

/**
 * Starts the workers and resolves once each has started its simulation (its nodes then
 * start in waves). Checks the options (and the memory of the whole fleet) before any
 * process starts; a worker that cannot start rejects with its error.
 */
export async function startWorkerFleet(options: SimulationOptions, fleetOptions: WorkerFleetOptions = {}): Promise<WorkerFleet> {
  validateSimulationOptions(options);
  if (options.clock !== undefined)
    throw errors.config('a simulation on a shared fast clock runs in one process', 'leave out --workers with --fast-forward', { field: 'workers' });
  if (options.shard !== undefined) throw errors.config('options.shard is set by the worker fleet itself', 'leave it out', { field: 'workers' });
  const workers = fleetOptions.workers ?? defaultWorkers(options.nodes);
  validateWorkers(workers, options.nodes);
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
  const fleet = new Fleet(options, workers, fleetOptions, capacityWarnings(options.nodes, machineResources()));
  try {
    await fleet.launch();
  } catch (err) {
    await fleet.stop().catch(() => {});
    throw err;
  }
  return fleet;
}

class Fleet implements WorkerFleet {
  readonly dataDir: string;
  readonly sites: readonly string[];
  readonly finished: Promise<FleetSummary>;
  /** The folder this run made for its nodes (none when given `dataDir`). */
  private readonly scratch: { path: string; remove(): void } | undefined;
  private readonly list: Worker[] = [];
  private readonly listeners = new Set<SimulationListener>();
  private readonly startedAt = Date.now();
  private readonly outageReports = new Map<string, { workers: number; nodes: number }>();
  private readonly serving = new Set<string>();
  private failure: Error | undefined;
  private stopping = false;
  private settle: { ok: (s: FleetSummary) => void; fail: (e: Error) => void } = { ok: () => {}, fail: () => {} };
  private startedAll: Promise<void>;
  private resolveStarted: () => void = () => {};
  private interval: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: SimulationOptions,
    private readonly count: number,
    private readonly fleetOpts: WorkerFleetOptions,
    readonly warnings: readonly string[],
  ) {
    this.scratch = opts.dataDir === undefined ? temporaryScratchDir() : undefined;
    this.dataDir = this.scratch?.path ?? resolve(opts.dataDir as string);
    mkdirSync(join(this.dataDir, 'nodes'), { recursive: true });
    this.sites = siteNames(opts.sites ?? 1);
    this.finished = new Promise((ok, fail) => {
      this.settle = { ok, fail };
    });
    // Handled by whoever awaits it; never an unhandled rejection of its own.
    this.finished.catch(() => {});
    this.startedAll = new Promise((r) => {
      this.resolveStarted = r;
    });
  }

  get workers(): ReadonlyArray<{ worker: number; pid: number; nodes: number }> {
    return this.list.map((w) => ({ worker: w.worker, pid: w.pid, nodes: w.nodes }));
  }

  async launch(): Promise<void> {
    const entry = workerEntry();
    // The enrollment waves of all workers together stay about as wide as asked.
    const concurrency = Math.max(1, Math.round((this.opts.enrollConcurrency ?? 20) / this.count));
    const { force: _force, adminToken, durationMs: _duration, ...common } = this.opts;
    const startedWorkers: Array<Promise<void>> = [];
    for (let worker = 0; worker < this.count; worker++) {
      const child = fork(entry.path, [], {
        execArgv: [...entry.execArgv, ...(this.fleetOpts.nodeArgs?.(worker) ?? [])],
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
      const w: Worker = {
        worker,
        child,
        pid: child.pid ?? -1,
        nodes: 0,
        agentErrors: 0,
        stderrTail: '',
        started: false,
        exited: new Promise((done) => child.once('exit', () => done())),
      };
      this.list.push(w);
      child.stderr?.setEncoding('utf8');
      let partial = '';
      child.stderr?.on('data', (chunk: string) => {
        w.stderrTail = (w.stderrTail + chunk).slice(-4096);
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) (this.fleetOpts.stderr ?? ((n, l) => process.stderr.write(`worker ${n}: ${l}\n`)))(worker, line);
      });
      startedWorkers.push(
        new Promise<void>((ok, fail) => {
          child.on('message', (raw) => {
            const m = raw as WorkerMessage;
            if (m.type === 'started') {
              w.started = true;
              w.nodes = m.nodes;
              ok();
            } else this.onMessage(w, m);
          });
          child.once('error', (err) => this.died(w, `could not run: ${err.message}`));
          child.once('exit', (code, signal) => {
            if (w.final === undefined) this.died(w, signal !== null ? `killed by ${signal}` : `exit code ${code}`);
            fail(this.failure ?? new Error(`simulator worker ${worker} ended before it started`));
            this.afterExit();
          });
        }),
      );
      const message: ParentMessage = {
        type: 'start',
        // Rollouts are read by one worker (the server has one view of them); the end is the parent's.
        options: { ...common, enrollConcurrency: concurrency, ...(worker === 0 && adminToken !== undefined ? { adminToken } : {}) },
        shard: { worker, workers: this.count },
        measureRequests: this.fleetOpts.measureRequests === true,
      };
      child.send(message);
    }
    await Promise.all(startedWorkers);
    const intervalMs = this.opts.intervalMs ?? 10_000;
    this.interval = setInterval(() => {
      if (this.list.every((w) => w.latest !== undefined)) this.emit({ type: 'summary', summary: this.summary() });
    }, intervalMs);
    this.interval.unref();
    if (this.opts.durationMs !== undefined) setTimeout(() => void this.stop().catch(() => {}), this.opts.durationMs).unref();
  }

  private onMessage(w: Worker, m: WorkerMessage): void {
    switch (m.type) {
      case 'event':
        this.onEvent_(w, m.event);
        break;
      case 'final':
        w.final = m.summary;
        w.latest = m.summary;
        w.agentErrors = m.agentErrors;
        if (m.requests !== undefined) w.requests = m.requests;
        break;
      case 'fatal':
        w.fatal = m.message;
        break;
      default:
        break;
    }
  }

  private onEvent_(w: Worker, e: SimulationEvent): void {
    const { elapsedMs: _, ...body } = e;
    switch (body.type) {
      case 'summary':
        w.latest = body.summary;
        return;
      case 'fleet-started': {
        w.fleetStarted = body;
        const all = this.list.map((x) => x.fleetStarted);
        if (all.every((x) => x !== undefined)) {
          const sum = (k: 'nodes' | 'started' | 'failed'): number => all.reduce((a, x) => a + (x?.[k] ?? 0), 0);
          this.emit({
            type: 'fleet-started',
            nodes: sum('nodes'),
            started: sum('started'),
            failed: sum('failed'),
            seconds: Math.max(...all.map((x) => x?.seconds ?? 0)),
          });
          this.resolveStarted();
        }
        return;
      }
      case 'site-outage': {
        // Each worker cuts its own nodes of the site off: one event once all did.
        const key = `${body.site}\u0000${body.on}`;
        const r = this.outageReports.get(key) ?? { workers: 0, nodes: 0 };
        r.workers++;
        r.nodes += body.nodes;
        this.outageReports.set(key, r);
        if (r.workers === this.list.length) {
          this.outageReports.delete(key);
          this.emit({ ...body, nodes: r.nodes });
        }
        return;
      }
      case 'revision-serving': {
        const key = `${body.deployment}\u0000${body.revision}`;
        if (this.serving.has(key)) return;
        this.serving.add(key);
        this.emit(body);
        return;
      }
      default:
        this.emit(body);
    }
  }

  private emit(body: SimulationEventBody): void {
    const event = { ...body, elapsedMs: Date.now() - this.startedAt } as SimulationEvent;
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A listener's failure must not stop the fleet.
      }
    }
  }

  /** A worker ended without its final summary: the simulation fails, naming it; the others are stopped. */
  private died(w: Worker, how: string): void {
    if (this.failure !== undefined) return;
    const words = [
      `simulator worker ${w.worker} of ${this.count} (pid ${w.pid}, ${w.nodes} nodes) died: ${how}`,
      ...(w.fatal === undefined ? [] : [w.fatal]),
      ...(w.stderrTail.trim() === '' || w.fatal !== undefined ? [] : [`its stderr ends:\n${w.stderrTail.trim()}`]),
    ];
    this.failure = errors.internal(words.join('\n'), 'the simulation stopped; if the worker ran out of memory, give more --workers or fewer --nodes');
    void this.stop().catch(() => {});
  }

  private afterExit(): void {
    if (!this.list.every((w) => w.child.exitCode !== null || w.child.signalCode !== null)) return;
    if (this.interval !== undefined) clearInterval(this.interval);
    this.scratch?.remove();
    if (this.failure !== undefined) this.settle.fail(this.failure);
    else {
      const final = this.summary();
      this.settle.ok({ ...final, agentErrors: this.list.reduce((a, w) => a + w.agentErrors, 0) });
    }
    // Nothing more will start.
    this.resolveStarted();
  }

  whenStarted(): Promise<void> {
    return this.startedAll;
  }

  onEvent(listener: SimulationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setSiteOutage(site: string, on: boolean): void {
    if (!this.sites.includes(site))
      throw errors.config(`"${site}" is not a site of this simulation`, `sites are ${this.sites[0]} … ${this.sites.at(-1)}`, { field: 'site' });
    for (const w of this.list) if (w.child.connected) w.child.send({ type: 'site-outage', site, on } satisfies ParentMessage);
  }

  summary(): FleetSummary {
    const parts = this.list.filter((w) => w.latest !== undefined).map((w) => ({ worker: w.worker, pid: w.pid, summary: w.latest as SimulationSummary }));
    return mergeSummaries(parts);
  }

  stop(): Promise<FleetSummary> {
    if (!this.stopping) {
      this.stopping = true;
      for (const w of this.list) {
        if (w.child.connected) w.child.send({ type: 'stop' } satisfies ParentMessage);
        const kill = setTimeout(() => {
          if (w.child.exitCode === null && w.child.signalCode === null) {
            this.died(w, `did not stop within ${WORKER_STOP_TIMEOUT_MS / 1000} s`);
            w.child.kill('SIGKILL');
          }
        }, WORKER_STOP_TIMEOUT_MS);
        kill.unref();
        void w.exited.then(() => clearTimeout(kill));
      }
    }
    return this.finished;
  }

  requestSamples(): RequestSamples {
    const parts = this.list.map((w) => w.requests).filter((r): r is RequestSamples => r !== undefined);
    const size = parts.reduce((a, p) => a + p.at.length, 0);
    const at = new Float64Array(size);
    const ms = new Float64Array(size);
    const kind = new Uint8Array(size);
    let o = 0;
    for (const p of parts) {
      at.set(p.at, o);
      ms.set(p.ms, o);
      kind.set(p.kind, o);
      o += p.at.length;
    }
    return { at, ms, kind, failed: parts.reduce((a, p) => a + p.failed, 0), refused: parts.reduce((a, p) => a + p.refused, 0) };
  }
}
