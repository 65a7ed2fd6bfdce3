/**
 * SQLite's WAL checkpoints, off the request path.
 *
 * In WAL mode every commit appends pages to the log, and by default the commit that takes
 * the log past 1,000 pages (`wal_autocheckpoint`) also copies the log back into the
 * database and fsyncs it, before it returns. The server's driver is synchronous and runs on
 * its only thread, so that one status report held every other request for the length of a
 * checkpoint: a stall every few hundred reports (docs/BENCHMARKS.md, control-plane capacity).
 *
 * Instead the server's connection never checkpoints (`wal_autocheckpoint = 0`), and a worker
 * thread with a connection of its own looks at the log's size four times a second and runs a
 * PASSIVE checkpoint once it holds 4 MiB (about SQLite's own 1,000 pages). PASSIVE never
 * waits for, nor blocks, the server's readers and writer: it copies what it can, and SQLite
 * starts the log over at the next write once all of it is copied. That next write syncs the
 * new log header on the server's thread (one small fsync per cycle), which is why the cycle
 * follows the log's size and not the clock: checkpointing every second made that fsync
 * come every second (strace, docs/BENCHMARKS.md). `journal_size_limit` then gives the file
 * back to the disk. Closing the store stops the worker first; the server's connection, the
 * last one, checkpoints at close as usual.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';

/** The worker's code: CommonJS, given the driver's resolved path (works from src/ and dist/). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { statSync } = require('node:fs');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 0');
let failures = 0;
const timer = setInterval(() => {
  let walBytes = 0;
  try {
    walBytes = statSync(workerData.path + '-wal').size;
  } catch {
    return; // no log yet
  }
  if (walBytes < workerData.walBytes) return;
  const t = performance.now();
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ms: performance.now() - t, busy: r.busy, log: r.log, checkpointed: r.checkpointed });
    failures = 0;
  } catch (err) {
    // One failure is a busy moment; the next tick tries again. Told to the server each time.
    failures++;
    parentPort.postMessage({ error: String(err && err.message || err), failures });
  }
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/** The log size at which the worker checkpoints: about SQLite's own 1,000 pages of 4 KiB. */
export const CHECKPOINT_WAL_BYTES = 4 * 1024 * 1024;

/** What one checkpoint did: log pages in the WAL, how many are now in the database, its time. */
export interface CheckpointReport {
  ms: number;
  busy: number;
  log: number;
  checkpointed: number;
}

/** A running checkpointer. */
export interface Checkpointer {
  /** The last checkpoint's report, for diagnostics and tests. */
  readonly last: CheckpointReport | undefined;
  /** Stops the worker (after any checkpoint in progress) and closes its connection. */
  stop(): Promise<void>;
}

/**
 * Starts the worker for the database at `path`, which must be in WAL mode: every `intervalMs`
 * (default 250) it checkpoints when the log holds `walBytes` (default 4 MiB) or more.
 */
export function startCheckpointer(path: string, opts: { intervalMs?: number; walBytes?: number; log?: Logger } = {}): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver, path, intervalMs: opts.intervalMs ?? 250, walBytes: opts.walBytes ?? CHECKPOINT_WAL_BYTES },
  });
  // The server's own work keeps the process alive; a checkpointer alone must not.
  worker.unref();
  let last: CheckpointReport | undefined;
  let warnedAt = 0;
  worker.on('message', (m: CheckpointReport | { error: string; failures: number }) => {
    if ('error' in m) {
      // Logged at most once a minute: the WAL grows meanwhile, which the disk will show.
      if (Date.now() - warnedAt > 60_000) {
        warnedAt = Date.now();
        opts.log?.warn({ error: m.error, failures: m.failures }, `SQLite WAL checkpoint failed (${m.failures} in a row): ${m.error}`);
      }
      return;
    }
    last = m;
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (err) => opts.log?.error({ err }, `SQLite checkpoint worker failed: ${err.message}; the WAL is checkpointed when the server closes`));
  return {
    get last() {
      return last;
    },
    async stop() {
      // Held by the process until it has gone: unreferenced, its exit was never awaited when
      // nothing else was left (a server stopping on SIGTERM), so the process ended before the
      // store closed its connection and checkpointed the WAL.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
