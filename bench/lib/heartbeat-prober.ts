/**
 * A probe node that measures the server: one enrolled identity sending a heartbeat every
 * `intervalMs`, timed from send to answer, in a worker thread of its own. In a bench that
 * also runs thousands of simulated agents in its main thread, a probe there would time
 * that thread's backlog, not the server; the worker has its own event loop (and the machine
 * a second core for it).
 *
 * `startHeartbeatProber(...)` starts it; `stop()` ends it and returns every latency (ms,
 * failed requests included: an answer a node waits for is the figure, whatever it says).
 */

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { StatusRequest } from '@edgefleet/protocol';
import { sleep } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';

interface ProbeConfig {
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  status: StatusRequest;
  intervalMs: number;
}

export interface ProbeResult {
  latencies: number[];
  /** When each request was sent, epoch ms (same order as `latencies`). */
  at: number[];
  failures: number;
}

export interface HeartbeatProber {
  /** Stops probing; resolves every latency measured, in ms, when each was sent (epoch ms), and how many requests failed. */
  stop(): Promise<ProbeResult>;
}

export function startHeartbeatProber(config: ProbeConfig): HeartbeatProber {
  // tsx-worker.mjs registers tsx in the worker and loads this file there (`probe` below).
  const worker = new Worker(new URL('./tsx-worker.mjs', import.meta.url), { workerData: { ...config, entry: import.meta.url } });
  const done = new Promise<ProbeResult>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the heartbeat prober ended (exit ${code}) before reporting`)));
  });
  return {
    stop: async () => {
      worker.postMessage('stop');
      return done;
    },
  };
}

async function probe(config: ProbeConfig): Promise<void> {
  const client = new EdgefleetClient({ server: config.server, ca: config.caPem, cert: config.certPem, key: config.keyPem });
  const latencies: number[] = [];
  const at: number[] = [];
  let failures = 0;
  let running = true;
  parentPort?.once('message', () => {
    running = false;
  });
  while (running) {
    const t = performance.now();
    at.push(Date.now());
    try {
      await client.reportStatus(config.status);
    } catch {
      failures++;
    }
    latencies.push(performance.now() - t);
    await sleep(config.intervalMs);
  }
  await client.close();
  parentPort?.postMessage({ latencies, at, failures });
}

if (!isMainThread && parentPort !== null) {
  // A failure ends the worker with an 'error' event, which rejects `stop()`.
  void probe(workerData as ProbeConfig);
}
