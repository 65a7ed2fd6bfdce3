import { describe, expect, it } from 'vitest';
import { DEFAULT_CADENCE, type RunResult, runRollout } from './rollout-run.js';
import { type RunJob, runJobs } from './run-pool.js';

describe('runJobs', () => {
  it('runs every job once, in order on one thread, each result what runRollout gives for its options', async () => {
    const jobs: RunJob[] = [5, 6, 7].map((seed, index) => ({
      scenario: 0,
      index,
      options: { nodes: 20, seed, traffic: 'high', regression: 5, cadence: DEFAULT_CADENCE, stopAfterFirstBake: true, maxMs: 3_600_000 },
    }));
    const seen: [number, RunResult][] = [];
    await runJobs(jobs, 1, (job, result) => seen.push([job.index, result]));
    expect(seen.map(([i]) => i)).toEqual([0, 1, 2]);
    for (const [i, result] of seen) expect(result).toEqual(runRollout((jobs[i] as RunJob).options));
  });
});
