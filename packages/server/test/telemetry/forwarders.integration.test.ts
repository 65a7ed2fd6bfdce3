/**
 * Two server replicas forward one node's telemetry to one remote_write target, each
 * receiving every other batch: with the totals shared in PostgreSQL, Prometheus gets one
 * consistent, monotonic series per node (the cumulative sum of all batches), not two
 * conflicting ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { histogramOf, type TelemetrySeries } from '@edgefleet/protocol';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../../test-support/fleet.js';
import { createTestDatabase } from '../../../../test-support/pg-database.js';
import { openStore, type Store } from '../../src/store/index.js';
import { ExternalForwarding } from '../../src/telemetry/forwarders.js';
import { decodeWriteRequest } from '../../src/telemetry/remote-write/encode.js';
import type { PromSeries } from '../../src/telemetry/remote-write/samples.js';

const stamped = { node: 'pi-1', site: 'depot', deployment: 'detector', revision: '3' };

describe('forwarded counters across replicas', () => {
  let dir: string;
  let target: Server;
  let url: string;
  const received: PromSeries[] = [];
  const stores: Store[] = [];
  const forwarders: ExternalForwarding[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-forward-'));
    target = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(...decodeWriteRequest(Buffer.concat(chunks)));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(target.address() as AddressInfo).port}/api/v1/write`;
    const db = await createTestDatabase();
    for (const name of ['a', 'b']) {
      const store = await openStore(db, '');
      stores.push(store);
      const f = new ExternalForwarding(join(dir, name), { remoteWrite: [url] }, pino({ level: 'silent' }), store.forwardTotals);
      f.start();
      forwarders.push(f);
    }
  });

  afterAll(async () => {
    for (const f of forwarders) await f.stop();
    for (const s of stores) await s.close();
    await new Promise<void>((resolve) => target.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends one monotonic series per node whichever replica received each batch', async () => {
    const t0 = Date.now() - 60_000;
    const batches = 10;
    for (let i = 0; i < batches; i++) {
      const t = t0 + i * 1_000;
      const series: TelemetrySeries[] = [
        { kind: 'counter', name: 'edgefleet_inference_requests_total', labels: stamped, points: [{ t, inc: i + 1 }] },
        { kind: 'histogram', name: 'edgefleet_inference_latency_seconds', labels: stamped, points: [{ t, sumMs: 50, hist: histogramOf([20, 30]) }] },
      ];
      // Alternate batches: replica A, then B, then A… (each waits for the one before, as one node's uploads do).
      const f = forwarders[i % 2] as ExternalForwarding;
      f.metrics(series);
      await f.settled();
    }
    const samplesOf = (name: string): Array<{ t: number; v: number }> =>
      received
        .filter((s) => s.labels.__name__ === name)
        .flatMap((s) => s.samples)
        .sort((a, b) => a.t - b.t);
    await eventually(() => samplesOf('edgefleet_inference_requests_total').length === batches, 20_000, 'every batch to reach the target');
    await eventually(() => samplesOf('edgefleet_inference_latency_seconds_count').length === batches, 20_000, 'every histogram to reach the target');
    // 1, 1+2, 1+2+3, …: the running total over both replicas' batches.
    expect(samplesOf('edgefleet_inference_requests_total').map((s) => s.v)).toEqual(Array.from({ length: batches }, (_, i) => ((i + 1) * (i + 2)) / 2));
    expect(samplesOf('edgefleet_inference_latency_seconds_count').map((s) => s.v)).toEqual(Array.from({ length: batches }, (_, i) => 2 * (i + 1)));
    const sums = samplesOf('edgefleet_inference_latency_seconds_sum').map((s) => s.v);
    expect(sums).toHaveLength(batches);
    for (const [i, v] of sums.entries()) expect(v).toBeCloseTo(0.05 * (i + 1), 9);
  });
});
