/**
 * The server process's last words. A server that exits must say why in its own log, before
 * it goes: in a 5,000-node reconnect storm the server process was found gone after minutes
 * of overload, and nothing it had written said why.
 *
 * - An uncaught exception is logged (fatal, with its stack) and the process exits 1: its
 *   state may be half-changed, and a supervisor restarts it.
 * - An unhandled promise rejection is logged (error, with its stack) and the server goes on
 *   serving: a rejection nobody awaited has already unwound, and Node's default (crash the
 *   process) would turn one forgotten `catch` under load into an outage of the whole fleet.
 * - Memory: when the JavaScript heap passes 85 % of its limit the log says so (once until
 *   it falls below 75 % again), since V8 ends a process out of heap with a message on
 *   stderr only.
 * - A stop signal and the process's exit code are logged.
 */
import { getHeapStatistics } from 'node:v8';
import type { Logger } from 'pino';

/** Heap share above which the log warns, and the share it must fall below to warn again. */
export const HEAP_WARN_RATIO = 0.85;
export const HEAP_CLEAR_RATIO = 0.75;

/** What the guard watches: the process by default, something test-shaped in unit tests. */
export interface GuardedProcess {
  on(event: 'uncaughtException', listener: (err: Error, origin: string) => void): unknown;
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  exit(code: number): void;
}

/**
 * Installs the handlers; returns a function that removes them. `heap` and `intervalMs` are
 * for tests; the heap is sampled every 10 s by default (an unref'd timer).
 */
export function guardProcess(log: Logger, opts: { proc?: GuardedProcess; heap?: () => { used: number; limit: number }; intervalMs?: number } = {}): () => void {
  const proc = opts.proc ?? (process as unknown as GuardedProcess);
  const heap =
    opts.heap ??
    (() => {
      const h = getHeapStatistics();
      return { used: h.used_heap_size, limit: h.heap_size_limit };
    });
  const onException = (err: Error, origin: string): void => {
    log.fatal({ err, origin }, `the server is exiting: uncaught exception: ${err?.message ?? String(err)}`);
    proc.exit(1);
  };
  const onRejection = (reason: unknown): void => {
    const err = reason instanceof Error ? reason : new Error(String(reason));
    log.error({ err }, `unhandled promise rejection (the server goes on): ${err.message}`);
  };
  const onExit = (code: number): void => {
    (code === 0 ? log.info.bind(log) : log.error.bind(log))({ code }, `the server process exits with code ${code}`);
  };
  let warned = false;
  const checkHeap = (): void => {
    const { used, limit } = heap();
    const ratio = used / limit;
    if (!warned && ratio >= HEAP_WARN_RATIO) {
      warned = true;
      log.warn(
        { heapUsedMb: Math.round(used / 1048576), heapLimitMb: Math.round(limit / 1048576) },
        `the JavaScript heap is at ${Math.round(ratio * 100)} % of its limit: the process ends if it reaches it (raise it with NODE_OPTIONS=--max-old-space-size=MiB, or find what holds memory)`,
      );
    } else if (warned && ratio < HEAP_CLEAR_RATIO) warned = false;
  };
  proc.on('uncaughtException', onException);
  proc.on('unhandledRejection', onRejection);
  proc.on('exit', onExit);
  const timer = setInterval(checkHeap, opts.intervalMs ?? 10_000);
  timer.unref();
  return () => {
    clearInterval(timer);
    proc.off('uncaughtException', onException);
    proc.off('unhandledRejection', onRejection);
    proc.off('exit', onExit);
  };
}
