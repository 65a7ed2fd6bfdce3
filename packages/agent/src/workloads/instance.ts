import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, fchmodSync, fchownSync, fstatSync, openSync } from 'node:fs';
import { request } from 'node:http';
import type { ContainerLaunch } from './container/run-args.js';
import type { InstanceHealth, InstanceObservation, ModelChoice } from './types.js';
import { setprivCommand, type WorkloadUser } from './workload-user.js';

/** What an instance run as another user needs (see workload-user.ts). */
export interface RunAs {
  user: WorkloadUser;
  /** Supplementary groups: those of the accelerator device nodes. */
  groups: number[];
  /** util-linux setpriv; without it Node switches uid and gid and drops every other group. */
  setpriv: string | undefined;
  /** The model file, handed over as file descriptor 3 (the data folder stays closed to the user); none for a release without a model. */
  modelFile: string | undefined;
}

/** Where the model is for a workload run as another user: its inherited file descriptor 3. */
export const MODEL_FD_PATH = '/proc/self/fd/3';

/** How to run one instance: a program, its environment, and how to check it. */
export interface LaunchSpec {
  deployment: string;
  revision: number;
  model: ModelChoice;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  port: number;
  healthPath: string;
  healthIntervalMs: number;
  failureThreshold: number;
  /** Run as a user of its own; absent: as the agent. */
  runAs?: RunAs | undefined;
  /** Present for a container: the engine runs it (workloads/container/); `command` and `args` are then unused. */
  container?: ContainerLaunch | undefined;
}

/** What happened to an instance, for the supervisor's failure records. */
export type InstanceEvent = { kind: 'ready' } | { kind: 'failed'; reason: 'crashed' | 'health-check-failed'; message: string };

/**
 * One running workload process and its health checks. The process is a child of the agent
 * (a native crash in it cannot take the agent down); health is an HTTP GET on 127.0.0.1,
 * `failureThreshold` misses in a row make it unready.
 */
export class WorkloadInstance {
  health: InstanceHealth = 'starting';
  readySince: number | undefined;
  promotedAt: number | undefined;
  /** Whether it was ever ready: a failure before that means the model did not load. */
  everReady = false;
  readonly startedAt: number;
  exit: string | undefined;
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private misses = 0;
  private stopping = false;
  /** Last lines the process wrote, for failure messages. */
  readonly tail: string[] = [];

  constructor(
    readonly spec: LaunchSpec,
    private readonly clock: () => number,
    private readonly onEvent: (event: InstanceEvent) => void,
    /** Every chunk the process writes, for the log pipeline. */
    private readonly onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void,
  ) {
    this.startedAt = clock();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const runAs = this.spec.runAs;
    let modelFd: number | undefined;
    let child: ChildProcess;
    try {
      modelFd = runAs?.modelFile === undefined ? undefined : openModelFor(runAs.modelFile, runAs.user);
      const { command, args } =
        runAs?.setpriv === undefined ? this.spec : setprivCommand(runAs.setpriv, runAs.user, runAs.groups, this.spec.command, this.spec.args);
      child = spawn(command, args, {
        // A clean environment: PATH and what the release and the agent set, nothing of the agent's own.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...this.spec.env },
        cwd: this.spec.cwd,
        stdio: ['ignore', 'pipe', 'pipe', ...(modelFd === undefined ? [] : [modelFd])],
        // Without setpriv, Node switches the ids itself (and drops every supplementary group).
        ...(runAs !== undefined && runAs.setpriv === undefined ? { uid: runAs.user.uid, gid: runAs.user.gid } : {}),
      });
    } catch (err) {
      this.child = undefined;
      queueMicrotask(() => this.fail('crashed', `cannot start ${this.spec.command}: ${(err as Error).message}`));
      return;
    } finally {
      // The child has its own copy now.
      if (modelFd !== undefined) closeSync(modelFd);
    }
    this.child = child;
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue;
        this.tail.push(line.slice(0, 300));
        if (this.tail.length > 20) this.tail.shift();
      }
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      keep(chunk);
      this.onOutput?.('stdout', chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      keep(chunk);
      this.onOutput?.('stderr', chunk);
    });
    child.on('error', (err) => this.fail('crashed', `cannot start ${this.spec.command}: ${err.message}`));
    child.on('exit', (code, signal) => {
      this.exit = signal ?? `exit ${code}`;
      if (this.stopping) return;
      const last = this.tail.at(-1);
      this.fail('crashed', `process ended (${this.exit})${last === undefined ? '' : `: ${last}`}`);
    });
    this.timer = setInterval(() => void this.check(), this.spec.healthIntervalMs);
    void this.check();
  }

  observe(): InstanceObservation {
    return {
      revision: this.spec.revision,
      model: this.spec.model,
      health: this.health,
      startedAt: this.startedAt,
      promotedAt: this.promotedAt,
      readySince: this.readySince,
      port: this.spec.port,
      pid: this.child?.pid,
      exit: this.exit,
    };
  }

  /** Stops the process: SIGTERM, then SIGKILL after a grace period. Resolves when it is gone. */
  async stop(graceMs = 3_000): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  private fail(reason: 'crashed' | 'health-check-failed', message: string): void {
    if (this.health === 'exited' || (this.health === 'unready' && reason === 'health-check-failed')) return;
    this.health = reason === 'crashed' ? 'exited' : 'unready';
    this.readySince = undefined;
    if (reason === 'crashed') clearInterval(this.timer);
    this.onEvent({ kind: 'failed', reason, message });
  }

  private async check(): Promise<void> {
    if (this.health === 'exited' || this.stopping) return;
    const ok = await probe(this.spec.port, this.spec.healthPath, Math.max(500, this.spec.healthIntervalMs));
    if ((this.health as InstanceHealth) === 'exited' || this.stopping) return;
    if (ok) {
      this.misses = 0;
      if (this.health !== 'ready') {
        this.health = 'ready';
        this.readySince = this.clock();
        this.everReady = true;
        this.onEvent({ kind: 'ready' });
      }
      return;
    }
    this.misses++;
    // While starting, give the process time to load its model: only a ready instance that
    // stops answering, or one that never answers within the threshold after a grace, fails.
    const graceOver = this.clock() - this.startedAt > Math.max(10_000, this.spec.healthIntervalMs * this.spec.failureThreshold * 4);
    if (this.misses >= this.spec.failureThreshold && (this.health === 'ready' || graceOver)) {
      this.fail('health-check-failed', `${this.spec.healthPath} failed ${this.misses} times in a row`);
    }
  }
}

/**
 * Opens the model for a workload user: read-only, and readable by the user's group (the
 * workload re-opens it through /proc/self/fd/3, which checks the file's own mode).
 */
function openModelFor(modelFile: string, user: WorkloadUser): number {
  const fd = openSync(modelFile, 'r');
  try {
    const st = fstatSync(fd);
    const readable = (st.mode & 0o004) !== 0 || (st.gid === user.gid && (st.mode & 0o040) !== 0);
    if (!readable) {
      fchownSync(fd, st.uid, user.gid);
      fchmodSync(fd, (st.mode & 0o700) | 0o040);
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

function probe(port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 300);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
