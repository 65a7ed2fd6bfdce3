/**
 * Preloaded into a benchmarked server (`node --import ./bench/lib/stall-probe.mjs`): measures
 * what stalls the server's event loop, from inside, without changing the server.
 *
 * - event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution): how late timers
 *   ran, i.e. how long the loop was blocked by synchronous work (SQLite commits and their
 *   fsyncs, checkpoints, JSON, TLS) or paused by the collector;
 * - garbage-collection pauses (PerformanceObserver 'gc'): count, total and longest, by kind;
 * - heap used.
 *
 * On SIGUSR2 it writes what it saw since the last SIGUSR2 as one JSON object to the file
 * named by EDGEFLEET_STALL_PROBE_FILE (written whole, then renamed) and starts afresh, so a
 * benchmark brackets each step with two signals.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const file = process.env.EDGEFLEET_STALL_PROBE_FILE;
if (file !== undefined && file !== '') {
  const KINDS = { 1: 'major', 2: 'minor', 4: 'incremental', 8: 'weakcb' };
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
  process.on('SIGUSR2', () => {
    const ms = (ns) => Math.round(ns / 1e4) / 100;
    const snapshot = {
      seq: ++seq,
      loopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max), mean: ms(delay.mean) },
      gc: { ...gc, totalMs: Math.round(gc.totalMs), maxMs: Math.round(gc.maxMs * 10) / 10 },
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
    };
    delay.disable();
    delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    gc = fresh();
    writeFileSync(`${file}.tmp`, JSON.stringify(snapshot));
    renameSync(`${file}.tmp`, file);
  });
}
