import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/**
 * A throwaway Prometheus (the Debian package, 2.42) for tests: remote_write receiver on,
 * no scrape jobs, TSDB in a temp dir, on a free loopback port; stopped by PID and its
 * directory deleted at the end. Prometheus 2.42 appends to its head block only samples at
 * most about an hour behind the newest it holds: give it recent timestamps.
 */
export interface ThrowawayPrometheus {
  /** Base URL, e.g. `http://127.0.0.1:PORT`. */
  url: string;
  /** The remote_write endpoint (`/api/v1/write`). */
  remoteWriteUrl: string;
  /** Runs an instant query (at `atMs`, default now) and returns its vector. */
  query(promql: string, atMs?: number): Promise<VectorSample[]>;
  stop(): Promise<void>;
}

/** One element of an instant vector. */
export interface VectorSample {
  metric: Record<string, string>;
  /** Evaluation time, Unix ms. */
  t: number;
  value: number;
}

const BIN = process.env.EDGEFLEET_PROMETHEUS_BIN ?? '/usr/bin/prometheus';

/** Starts Prometheus and waits until `/-/ready` answers 200 (at most 30 s). */
export async function startPrometheus(): Promise<ThrowawayPrometheus> {
  if (!existsSync(BIN)) {
    throw new Error(
      `Prometheus not found at ${BIN}: install it with \`apt-get install -y prometheus\` (Debian 12 ships 2.42), or set EDGEFLEET_PROMETHEUS_BIN`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, 'global:\n  evaluation_interval: 1h\nscrape_configs: []\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    BIN,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`Prometheus exited with code ${child.exitCode} before it was ready: ${stderr}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Prometheus did not become ready on ${url} within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    remoteWriteUrl: `${url}/api/v1/write`,
    async query(promql, atMs) {
      const params = new URLSearchParams({ query: promql, time: String((atMs ?? Date.now()) / 1000) });
      const res = await fetch(`${url}/api/v1/query?${params}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success' || body.data === undefined) throw new Error(`PromQL ${promql} failed: ${body.error ?? res.status}`);
      if (body.data.resultType !== 'vector') throw new Error(`PromQL ${promql} returned a ${body.data.resultType}, not an instant vector`);
      return body.data.result.map((r) => ({ metric: r.metric, t: r.value[0] * 1000, value: promValue(r.value[1]) }));
    },
    stop,
  };
}

/** A sample value as Prometheus' JSON API writes it (`+Inf`, `-Inf` and `NaN` included). */
function promValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}
