/**
 * A real `edgefleet server` in a process of its own, started from the built CLI as an
 * operator would run it, so its CPU and memory are measured apart from the load generator.
 * (Both still share this machine's cores; the benchmarks say so.)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, rssMb } from './proc-stats.js';

/** The repository root (bench/lib/../..). */
export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
/** The built `edgefleet` command. */
export const CLI = join(REPO_ROOT, 'packages/cli/bin/edgefleet.js');

/**
 * Builds the TypeScript sources (`tsc -b`, seconds when nothing changed) so the CLI runs
 * the current code. A failing build is reported and the existing dist/ is used.
 */
export function buildCli(): void {
  try {
    execFileSync('npx', ['tsc', '-b'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '').slice(0, 2000);
    console.warn(`warning: "npx tsc -b" failed; running the last built dist/ instead:\n${out}`);
  }
}

/** A running server process. */
export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  caPem: string;
  adminToken: string;
  rssMb(): number;
  cpuSeconds(): number;
  /** SIGINT (the server closes cleanly, and a --cpu-prof profile is written), then waits. */
  stop(): Promise<void>;
}

/** Starts `edgefleet server --data DIR --listen 127.0.0.1:0` and waits for its URL. */
export async function startServerProcess(opts: {
  dataDir: string;
  /** Extra `node` flags, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** Extra `edgefleet server` flags. */
  serverArgs?: string[];
  /** Another `edgefleet` CLI to run (an older build, to compare); default the built one. */
  cli?: string;
}): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), opts.cli ?? CLI, 'server', '--data', opts.dataDir, '--listen', '127.0.0.1:0', ...(opts.serverArgs ?? [])],
    {
      cwd: REPO_ROOT,
      // Warnings and errors only: a log line per request would be the load generator's cost.
      env: { ...process.env, EDGEFLEET_LOG_LEVEL: process.env.EDGEFLEET_LOG_LEVEL ?? 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // A bench that crashes must not leave its server running.
  const reap = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', reap);
  let out = '';
  let err = '';
  let stopping = false;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  // A server that dies mid-bench says so, with its last words, instead of leaving the bench
  // polling a closed port.
  child.once('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`server: exited unexpectedly (code ${code}, signal ${signal}); its stderr ends:\n${err.slice(-4000)}\n`);
  });
  const url = await new Promise<string>((ok, fail) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (out.length < 100_000) out += chunk;
      const m = /listening on (https:\/\/\S+)/.exec(out);
      if (m !== null) ok(m[1] as string);
      // Warnings (overload refusals), errors and last words (fatal) go on to our stderr; the rest is the startup banner.
      for (const line of chunk.split('\n')) if (/"level":(40|50|60)[,}]/.test(line)) process.stderr.write(`server: ${line}\n`);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      // Kept to the last 64 KiB: what a crash prints is at the end.
      err = (err + chunk).slice(-65_536);
    });
    child.once('exit', (code) => fail(new Error(`the server exited (${code}) before listening:\n${err || out}`)));
  });
  const pid = child.pid as number;
  return {
    child,
    pid,
    url,
    caPem: readFileSync(join(opts.dataDir, 'ca.crt'), 'utf8'),
    // A replica that joined a cluster has none: the first replica wrote it.
    adminToken: existsSync(join(opts.dataDir, 'admin.token')) ? readFileSync(join(opts.dataDir, 'admin.token'), 'utf8').trim() : '',
    rssMb: () => rssMb(pid),
    cpuSeconds: () => cpuSeconds(pid),
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      process.off('exit', reap);
    },
  };
}
