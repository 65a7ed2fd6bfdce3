/**
 * Test support for the model server: temporary model files, a small HTTP client for the
 * protocol, and child processes whose JSON log lines can be awaited.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** A temporary folder, removed by `cleanup`. */
export async function tempDir(): Promise<{ dir: string; file(name: string, content: string | Uint8Array): Promise<string>; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgefleet-model-server-'));
  return {
    dir,
    async file(name, content) {
      const p = path.join(dir, name);
      await writeFile(p, content);
      return p;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** An HTTP answer with its parsed JSON body. */
export interface JsonAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** GETs or POSTs (when `body` is given; strings are sent as they are) and parses the JSON answer. */
export async function call(base: string, route: string, body?: unknown, method?: string): Promise<JsonAnswer> {
  const init: RequestInit =
    body === undefined
      ? { method: method ?? 'GET' }
      : { method: method ?? 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) };
  const res = await fetch(`${base}${route}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** An FP32 [batch, width] inference request for the dense test models. */
export function inferBody(rows: readonly (readonly number[])[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const width = rows[0]?.length ?? 0;
  return { inputs: [{ name: 'input', shape: [rows.length, width], datatype: 'FP32', data: rows.flat() }], ...extra };
}

/** The first output's flat data from an inference answer. */
export function firstOutputData(answer: JsonAnswer): number[] {
  const outputs = answer.body.outputs as { data: number[] }[] | undefined;
  const first = outputs?.[0];
  if (first === undefined) throw new Error(`no outputs in ${JSON.stringify(answer.body)}`);
  return first.data;
}

/** A JSON log line a child wrote to stdout. */
export type LogLine = Record<string, unknown> & { event?: string };

/** A child process whose stdout is JSON lines. */
export interface LoggingChild {
  child: ChildProcess;
  lines: LogLine[];
  /** Resolves with the first line whose `event` matches; rejects if the child exits first. */
  event(name: string, timeoutMs?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Spawns a child and follows its JSON log lines; non-JSON stdout lines are kept as `{ text }`. */
export function spawnLogging(command: string, args: readonly string[], env: Record<string, string>): LoggingChild {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const waiters: (() => void)[] = [];
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      lines.push({ text });
    }
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => {
      // Let stderr drain before reporting it.
      setImmediate(() => resolve({ code, signal, stderr }));
    });
  });
  const event = (name: string, timeoutMs = 20_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no '${name}' event within ${timeoutMs} ms; lines: ${JSON.stringify(lines)}; stderr: ${stderr}`)),
        timeoutMs,
      );
      const check = () => {
        const hit = lines.find((l) => l.event === name);
        if (hit !== undefined) {
          clearTimeout(timer);
          resolve(hit);
          return;
        }
        waiters.push(check);
      };
      check();
      void exited.then((e) => {
        clearTimeout(timer);
        reject(new Error(`child exited (${e.code ?? e.signal}) before '${name}': ${e.stderr}`));
      });
    });
  return { child, lines, event, exited };
}

/** Stops a child by its PID if it is still running (tests clean up after a failed assertion too). */
export async function stopChild(c: LoggingChild): Promise<void> {
  if (c.child.exitCode === null && c.child.signalCode === null) {
    c.child.kill('SIGKILL');
    await c.exited;
  }
}
