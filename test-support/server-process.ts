import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';

/**
 * `edgefleet server` as a real process started from the built CLI (packages/cli/bin), so a
 * test can `kill -9` it as a crash would. Its log (pino JSON on stdout, errors on stderr)
 * goes to `logFile`.
 */
export interface ServerProcess {
  readonly child: ChildProcess;
  /** `https://127.0.0.1:PORT`, from the line the server prints once it listens. */
  readonly url: string;
  readonly port: number;
  /** SIGKILL, resolving once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (the server hands its lease over), then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const CLI = resolve(import.meta.dirname, '../packages/cli/bin/edgefleet.js');

/** Starts `edgefleet server ARGS…` and resolves once it prints that it listens. */
export async function startServerProcess(args: string[], logFile: string, timeoutMs = 120_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile, { flags: 'a' });
  let head = '';
  const exited = new Promise<string>((done) => child.once('exit', (code, signal) => done(signal ?? `exit ${code}`)));
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const url = await new Promise<string>((done, reject) => {
    const timer = setTimeout(() => reject(new Error(`edgefleet server did not listen within ${timeoutMs} ms; see ${logFile}`)), timeoutMs);
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      log.write(c);
      if (head.length < 100_000) head += c;
      const m = /edgefleet server listening on (https:\/\/\S+)/.exec(head);
      if (m !== null) {
        clearTimeout(timer);
        done(m[1] as string);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      log.write(c);
      head += c;
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`edgefleet server exited (${how}) before listening: ${head.slice(-2_000)}`));
    });
  });
  return {
    child,
    url,
    port: Number(new URL(url).port),
    async kill() {
      if (!gone()) child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 10_000) {
      if (gone()) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}
