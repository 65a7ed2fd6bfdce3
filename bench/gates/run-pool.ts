/**
 * Runs simulated rollouts on worker threads (`--workers K`), or in this thread for one.
 * Every run is a pure function of its options (`runRollout`), so splitting them over
 * threads changes nothing but the wall time: worker w takes the jobs w, w + K, w + 2K, ….
 * This file is also the workers' entry (through ../lib/tsx-worker.mjs, which registers tsx).
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type RunOptions, type RunResult, runRollout } from './rollout-run.js';

/** One run to do: its options and where its result goes. */
export interface RunJob {
  scenario: number;
  index: number;
  options: RunOptions;
}

interface WorkerInput {
  entry: string;
  jobs: RunJob[];
}

/** Runs every job; `onResult` sees each result as it comes (in job order with one worker). */
export async function runJobs(jobs: readonly RunJob[], workers: number, onResult: (job: RunJob, result: RunResult) => void): Promise<void> {
  if (workers <= 1) {
    for (const job of jobs) onResult(job, runRollout(job.options));
    return;
  }
  const entry = new URL('../lib/tsx-worker.mjs', import.meta.url);
  await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const mine = jobs.filter((_, k) => k % workers === w);
      if (mine.length === 0) return Promise.resolve();
      const worker = new Worker(entry, { workerData: { entry: import.meta.url, jobs: mine } satisfies WorkerInput });
      return new Promise<void>((resolve, reject) => {
        let done = 0;
        worker.on('message', (m: { k: number; result: RunResult }) => {
          onResult(mine[m.k] as RunJob, m.result);
          if (++done === mine.length) resolve();
        });
        worker.once('error', reject);
        worker.once('exit', (code) => {
          if (done < mine.length) reject(new Error(`a bench worker ended (exit ${code}) after ${done} of its ${mine.length} runs`));
        });
      });
    }),
  );
}

// In a worker: run the jobs handed over, post each result.
if (!isMainThread && (workerData as Partial<WorkerInput> | null)?.jobs !== undefined) {
  const { jobs } = workerData as WorkerInput;
  for (const [k, job] of jobs.entries()) parentPort?.postMessage({ k, result: runRollout(job.options) });
}
