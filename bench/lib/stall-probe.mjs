/**
 * Preloaded into a benchmarked server (`node --import ./bench/lib/stall-probe.mjs`): measures
 * what stalls the server's event loop, from inside, without changing the server.
 *
 * - event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution): how late timers
 *   ran, i.e. how long the loop was blocked by synchronous work (SQLite commits and their
 *   fsyncs, checkpoints, JSON, TLS) or paused by the collector;
 * - garbage-collection pauses (PerformanceObserver 'gc'): count, total and longest, by kind;
 * - SQLite statements that held the thread ≥ 5 ms (better-sqlite3 is synchronous: its time
 *   is the loop's), by their first words: a commit that ran the WAL's automatic checkpoint
 *   shows here as a slow write;
 * - heap used.
 *
 * On SIGUSR2 it writes what it saw since the last SIGUSR2 as one JSON object to the file
 * named by EDGEFLEET_STALL_PROBE_FILE (written whole, then renamed) and starts afresh, so a
 * benchmark brackets each step with two signals.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

const file = process.env.EDGEFLEET_STALL_PROBE_FILE;
if (file !== undefined && file !== '') {
  const KINDS = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  let delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let gc = fresh();
  let seq = 0;
  function fresh() {
    return { count: 0, totalMs: 0, maxMs: 0, byKind: {} };
  }
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = KINDS[e.detail?.kind ?? e.kind] ?? 'other';
      gc.count++;
      gc.totalMs += e.duration;
      gc.maxMs = Math.max(gc.maxMs, e.duration);
      gc.byKind[kind] ??= { count: 0, totalMs: 0, maxMs: 0 };
      const k = gc.byKind[kind];
      k.count++;
      k.totalMs += e.duration;
      k.maxMs = Math.max(k.maxMs, e.duration);
    }
  });
  observer.observe({ entryTypes: ['gc'] });

  // The server's SQLite driver, the same module instance (resolved from the server's cwd).
  let slow = { count: 0, totalMs: 0, maxMs: 0, bySql: {} };
  try {
    const Database = createRequire(join(process.cwd(), 'package.json'))('better-sqlite3');
    const probe = new Database(':memory:');
    const proto = Object.getPrototypeOf(probe.prepare('select 1'));
    probe.close();
    for (const method of ['run', 'get', 'all']) {
      const original = proto[method];
      proto[method] = function timed(...args) {
        const t = performance.now();
        try {
          return original.apply(this, args);
        } finally {
          const ms = performance.now() - t;
          if (ms >= 5) {
            slow.count++;
            slow.totalMs += ms;
            slow.maxMs = Math.max(slow.maxMs, ms);
            const key = String(this.source).replace(/\s+/g, ' ').slice(0, 40);
            slow.bySql[key] ??= { count: 0, totalMs: 0, maxMs: 0 };
            const k = slow.bySql[key];
            k.count++;
            k.totalMs += ms;
            k.maxMs = Math.max(k.maxMs, ms);
          }
        }
      };
    }
  } catch {
    // No better-sqlite3 where the server runs: no statement timings.
  }
  process.on('SIGUSR2', () => {
    const ms = (ns) => Math.round(ns / 1e4) / 100;
    const snapshot = {
      seq: ++seq,
      loopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max), mean: ms(delay.mean) },
      gc: { ...gc, totalMs: Math.round(gc.totalMs), maxMs: Math.round(gc.maxMs * 10) / 10 },
      slowSql: { ...slow, totalMs: Math.round(slow.totalMs), maxMs: Math.round(slow.maxMs) },
      // heapUsed from V8 (process.memoryUsage() also reads /proc, which fails once the server is out of file descriptors).
      heapUsedMb: Math.round(getHeapStatistics().used_heap_size / 1048576),
    };
    slow = { count: 0, totalMs: 0, maxMs: 0, bySql: {} };
    delay.disable();
    delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    gc = fresh();
    writeFileSync(`${file}.tmp`, JSON.stringify(snapshot));
    renameSync(`${file}.tmp`, file);
  });
}
