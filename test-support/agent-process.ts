/**
 * A real agent in a process of its own, so a test can `kill -9` it like a power cut would.
 * Run it with {@link agentProcessCommand}; it takes its options as JSON in the
 * `EDGEFLEET_TEST_AGENT` environment variable ({@link AgentProcessConfig}) and logs pino JSON
 * lines (level info) to stdout, which the test reads as events ('artifact downloaded and
 * verified', 'workload started', 'switched over').
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from '@edgefleet/agent';
import { pino } from 'pino';

/** The environment variable carrying an {@link AgentProcessConfig}. */
export const AGENT_PROCESS_CONFIG_ENV = 'EDGEFLEET_TEST_AGENT';

/** What the child needs: JSON-safe agent options (functions become plain numbers). */
export interface AgentProcessConfig {
  server: string;
  /** Needed only for the first start; later starts reuse the identity in `dataDir`. */
  token?: string;
  dataDir: string;
  hwRoot: string;
  /** `--inference-listen`: where deployments with spec.endpoint serve the site (default 0.0.0.0). */
  inferenceListen?: string;
  workloads?: {
    crashLoopThreshold?: number;
    /** A constant wait before retrying a crash-looping primary. */
    primaryRetryDelayMs?: number;
    desiredWaitSeconds?: number;
    reconcileIntervalMs?: number;
  };
  /** The container engine's options (a throwaway podman store in tests); left out: the agent's default. */
  containerEngine?: { globalArgs?: string[]; env?: Record<string, string> };
}

/**
 * The command line that runs this file as a child: Node with the TypeScript sources of the
 * workspace packages (as vitest resolves them) and tsx. Needs the repository root as cwd,
 * where Node finds tsx.
 */
export function agentProcessCommand(): { command: string; args: string[]; cwd: string } {
  const self = fileURLToPath(import.meta.url);
  return {
    command: process.execPath,
    args: ['--conditions=edgefleet:source', '--import', 'tsx', self],
    cwd: resolve(self, '../..'),
  };
}

/** One pino line the agent logged: `msg` plus whatever fields came with it. */
export type AgentLogLine = { msg: string; level: number } & Record<string, unknown>;

/** A running agent child process, as the test sees it. */
export interface AgentProcess {
  readonly child: ChildProcess;
  /** Every JSON line logged so far, oldest first. */
  readonly lines: AgentLogLine[];
  /** What the process wrote to stderr (fatal errors). */
  stderr(): string;
  /** Settles with the exit code or signal once the process is gone. */
  readonly exited: Promise<string>;
  /** Resolves with the first line from index `from` on that `match` accepts. */
  waitForLine(match: (line: AgentLogLine) => boolean, opts?: { from?: number; timeoutMs?: number }): Promise<AgentLogLine>;
  /** `kill -9`, resolving once the process is gone. Workload children it started live on. */
  kill(): Promise<void>;
  /** SIGTERM (the agent stops its workloads), then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts an agent as a child process (see {@link agentProcessCommand}). */
export function startAgentProcess(config: AgentProcessConfig): AgentProcess {
  const { command, args, cwd } = agentProcessCommand();
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, [AGENT_PROCESS_CONFIG_ENV]: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: AgentLogLine[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  let errText = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      try {
        lines.push(JSON.parse(text) as AgentLogLine);
      } catch {
        lines.push({ msg: text, level: 0 });
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    errText = (errText + chunk).slice(-20_000);
  });
  const exited = new Promise<string>((done) => {
    child.once('exit', (code, signal) => {
      for (const wake of waiters) wake();
      done(signal ?? `exit ${code}`);
    });
  });
  // What a timed-out wait reports: the agent's last lines and stderr, to tell a slow start
  // (no line yet: still compiling and loading) from a stuck or failing agent.
  const lastWords = (): string => {
    const tail = lines.slice(-8).map((l) => JSON.stringify(l).slice(0, 300));
    return `${lines.length} lines logged${tail.length > 0 ? `, the last:\n${tail.join('\n')}` : ''}${errText.trim() === '' ? '' : `\nstderr: ${errText.trim().slice(-2_000)}`}`;
  };
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const handle: AgentProcess = {
    child,
    lines,
    stderr: () => errText,
    exited,
    waitForLine(match, opts = {}) {
      const from = opts.from ?? 0;
      const timeoutMs = opts.timeoutMs ?? 30_000;
      return new Promise((resolveLine, reject) => {
        let scanned = from;
        const check = (): void => {
          for (; scanned < lines.length; scanned++) {
            const line = lines[scanned] as AgentLogLine;
            if (match(line)) {
              finish(() => resolveLine(line));
              return;
            }
          }
          if (gone()) finish(() => reject(new Error(`the agent ended (${child.signalCode ?? child.exitCode}) before the awaited line: ${errText.trim()}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`no such agent log line within ${timeoutMs} ms; ${lastWords()}`))), timeoutMs);
        function finish(settle: () => void): void {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        }
        waiters.add(check);
        check();
      });
    },
    async kill() {
      if (!gone()) child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 5_000) {
      if (gone()) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
  return handle;
}

/** A workload process (model server or runtime) some agent started, found through /proc. */
export interface WorkloadProcess {
  pid: number;
  deployment: string;
  revision: number;
  port: number;
}

/**
 * The live workload processes an agent with `dataDir` started, whether or not that agent
 * still runs: those whose environment names a deployment and a path inside `dataDir`
 * (the model path), the same test the agent applies to its own leftovers. Linux only.
 */
export function workloadProcesses(dataDir: string): WorkloadProcess[] {
  const found: WorkloadProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${name}/environ`, 'utf8');
    } catch {
      continue; // gone, or not ours to read
    }
    const env = new Map(
      environ
        .split('\0')
        .filter((kv) => kv.includes('='))
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
    );
    // A zombie's environ reads empty, so only processes that still run can match.
    const deployment = env.get('EDGEFLEET_DEPLOYMENT');
    if (deployment === undefined || !(env.get('EDGEFLEET_MODEL_PATH') ?? '').startsWith(`${dataDir}/`)) continue;
    found.push({ pid: Number(name), deployment, revision: Number(env.get('EDGEFLEET_REVISION')), port: Number(env.get('EDGEFLEET_PORT')) });
  }
  return found;
}

async function main(): Promise<void> {
  const text = process.env[AGENT_PROCESS_CONFIG_ENV];
  if (text === undefined || text === '') {
    process.stderr.write(`agent-process: ${AGENT_PROCESS_CONFIG_ENV} is not set\n`);
    process.exit(2);
  }
  const config = JSON.parse(text) as AgentProcessConfig;
  const retry = config.workloads?.primaryRetryDelayMs;
  const agent = new Agent({
    server: config.server,
    dataDir: config.dataDir,
    hwRoot: config.hwRoot,
    ...(config.token === undefined ? {} : { token: config.token }),
    ...(config.inferenceListen === undefined ? {} : { inferenceListen: config.inferenceListen }),
    ...(config.containerEngine === undefined ? {} : { containerEngine: config.containerEngine }),
    workloads: {
      ...(config.workloads?.crashLoopThreshold === undefined ? {} : { crashLoopThreshold: config.workloads.crashLoopThreshold }),
      ...(config.workloads?.desiredWaitSeconds === undefined ? {} : { desiredWaitSeconds: config.workloads.desiredWaitSeconds }),
      ...(config.workloads?.reconcileIntervalMs === undefined ? {} : { reconcileIntervalMs: config.workloads.reconcileIntervalMs }),
      ...(retry === undefined ? {} : { primaryRetryDelayMs: () => retry }),
    },
    // Synchronous writes: a line logged just before a SIGKILL must still reach the test.
    log: pino({ level: 'info', base: { component: 'agent', pid: process.pid } }, pino.destination({ dest: 1, sync: true })),
  });
  // SIGTERM is the polite way out (afterAll); the interesting exits are SIGKILLs.
  process.once('SIGTERM', () => agent.stop());
  process.once('SIGINT', () => agent.stop());
  try {
    await agent.run();
    process.exit(0);
  } catch (err) {
    process.stderr.write(`agent-process: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

// Imported by the test for its types and command line; run as a program only as the entry.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
