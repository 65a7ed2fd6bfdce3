/**
 * Times repeated runs of one piece of the server's work in the bench's own process
 * (bench:controller's pass, bench:watch's tick), with the garbage collector's pauses that
 * started during them, and prints them the same way.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { percentile, round } from './proc-stats.js';

export interface TimedRuns {
  /** Each run's time, ms, ascending. */
  sortedMs: number[];
  /** GC pauses that started during a run, ms, per run. */
  gcMsPerRun: number;
}

/** Runs `prepare(i)` (not timed) then `run(i)` (timed) `count` times. */
export async function timedRuns(count: number, prepare: (i: number) => Promise<void>, run: (i: number) => Promise<void>): Promise<TimedRuns> {
  // The observer's entries arrive later than the pauses, with their start time.
  const gcPauses: Array<{ at: number; ms: number }> = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcPauses.push({ at: e.startTime, ms: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const ms: number[] = [];
  const windows: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    await prepare(i);
    const t = performance.now();
    await run(i);
    const end = performance.now();
    windows.push([t, end]);
    ms.push(end - t);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  observer.disconnect();
  const gcMs = gcPauses.filter((g) => windows.some(([from, to]) => g.at >= from && g.at < to)).reduce((a, g) => a + g.ms, 0);
  return { sortedMs: [...ms].sort((a, b) => a - b), gcMsPerRun: gcMs / count };
}

/**
 * Prints the runs' median, p90 and max and GC per run, then the bench's last line:
 * `{"nodes":N,"<what>MsP50":x,"<what>MsMax":x,"gcMsPer<What>":x}`.
 */
export function printTimedRuns(what: 'pass' | 'tick', nodes: number, r: TimedRuns): void {
  const p50 = round(percentile(r.sortedMs, 50));
  const max = round(r.sortedMs.at(-1) ?? 0);
  const gc = round(r.gcMsPerRun);
  console.log(`  ${what}: p50 ${p50} ms, p90 ${round(percentile(r.sortedMs, 90))} ms, max ${max} ms; GC ${gc} ms a ${what}`);
  const What = what[0]?.toUpperCase() + what.slice(1);
  console.log(JSON.stringify({ nodes, [`${what}MsP50`]: p50, [`${what}MsMax`]: max, [`gcMsPer${What}`]: gc }));
}
