import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIdentity, NodeTelemetry } from '@edgefleet/agent';
import type { StatusRequest, TelemetrySeries } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

const MINUTE = 60_000;
const DAY = 1440 * MINUTE;

/**
 * A metered node cut off for a week, on a simulated clock: its batches wait in the on-disk
 * queue and, once the link is back, arrive at the server complete and in order.
 */
describe('a node offline for 7 simulated days', () => {
  let fleet: TestFleet;
  const arrived: TelemetrySeries[][] = [];
  let identity: NonNullable<ReturnType<typeof loadIdentity>>;
  let labels: Record<string, string>;
  let hwRoot: string;
  const dirs: string[] = [];

  beforeAll(async () => {
    fleet = await startTestFleet({ requireSigned: false, forwarding: { metrics: (series) => arrived.push([...series]), logs: () => {} } });
    const a = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken({ site: 'quarry' }) });
    await eventually(() => a.agent.state.lastHeartbeatAt !== undefined, 20_000, 'enrolled');
    a.agent.stop();
    await a.done;
    identity = loadIdentity(a.dataDir) as NonNullable<ReturnType<typeof loadIdentity>>;
    hwRoot = a.hwRoot;
    const node = await fleet.admin.labelNode(identity.nodeId, { set: { 'telemetry.profile': 'metered' } });
    labels = node.detectedLabels;
    const model = join(import.meta.dirname, '../../examples/models/mlp-4-8-3.onnx');
    const artifact = (await fleet.admin.pushArtifact(createReadStream(model), statSync(model).size)).digest;
    await fleet.admin.apply([
      {
        apiVersion: 'edgefleet.dev/v1',
        kind: 'Deployment',
        metadata: { name: 'detect' },
        spec: {
          selector: 'geolocation.site=quarry',
          release: { version: '1.0.0', model: { artifact, format: 'onnx' }, runtime: { kind: 'model-server' } } as never,
        },
      },
    ]);
  }, 60_000);

  afterAll(async () => {
    await fleet?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** Runs a node for `days` of simulated time with the link down, then brings the link back. */
  async function offlineWeek(queueBytes: number, days: number) {
    const dataDir = mkdtempSync(join(tmpdir(), 'edgefleet-offline-'));
    dirs.push(dataDir);
    let now = Date.now() - days * DAY - 30 * MINUTE;
    const down = new EdgefleetClient({ server: 'https://127.0.0.1:1', ca: identity.caPem, cert: identity.certPem, key: identity.keyPem, timeoutMs: 2_000 });
    const up = new EdgefleetClient({ server: fleet.server.url, ca: identity.caPem, cert: identity.certPem, key: identity.keyPem });
    let client = down;
    const telemetry = new NodeTelemetry(
      { dataDir, hwRoot, clock: () => now, random: () => 0.5, sleep: async () => {}, log: pino({ level: 'silent' }) },
      { profile: 'metered', metricsListen: false, queueBytes, diskUsage: async () => ({ totalBytes: 64e9, freeBytes: 40e9 }) },
    );
    const status: StatusRequest = { labels };
    const hooks = {
      client: () => client,
      accelerators: () => ['hailo8l'],
      workloads: () => [],
      foldedStatus: async () => ({ status, delivered() {}, failed() {} }),
      onResponse: () => {},
      held: () => ({ heartbeatIntervalSeconds: 60, desiredVersion: undefined }),
    };
    const signal = new AbortController().signal;
    let requests = 0;
    let failedUploads = 0;
    const end = now + days * DAY;
    // The deployment exists from the start; the node serves 1 request every 10 s.
    for (let step = 0; now < end; step++) {
      now += 10_000;
      telemetry.inference('detect', 1, 15 + (step % 7), true);
      requests++;
      if (step % 30 === 0) await telemetry.sample(hooks);
      if (step % 90 === 89) {
        telemetry.closeBatch();
        const r = await telemetry.upload(signal, hooks);
        if (!r.done) failedUploads++;
      }
    }
    now += 5 * MINUTE;
    telemetry.closeBatch();
    const before = arrived.length;
    client = up;
    const result = await telemetry.upload(signal, hooks);
    await telemetry.close();
    await down.close();
    await up.close();
    return { requests, failedUploads, result, batches: arrived.slice(before) };
  }

  it('keeps every batch on disk and delivers all of it, oldest first, once the link is back', async () => {
    const { requests, failedUploads, result, batches } = await offlineWeek(64 * 1024 * 1024, 7);
    expect(failedUploads).toBeGreaterThan(600); // every 15 minutes for a week, none got through
    expect(result).toMatchObject({ done: true });
    // One batch per 15-minute upload, plus the last one.
    expect(batches.length).toBeGreaterThanOrEqual(7 * 96);
    const counter = batches.flatMap((b) => b.flatMap((s) => (s.kind === 'counter' && s.name === 'edgefleet_inference_requests_total' ? s.points : [])));
    const total = counter.reduce((sum, p) => sum + p.inc, 0);
    expect(total).toBe(requests);
    // In order: every point after the one before, on a 5-minute grid, no gaps over the week.
    const times = counter.map((p) => p.t);
    for (let i = 1; i < times.length; i++) expect(times[i] as number).toBeGreaterThan(times[i - 1] as number);
    expect(times.length).toBeGreaterThanOrEqual(7 * 288);
    const histograms = batches.flatMap((b) => b.filter((s) => s.name === 'edgefleet_inference_request_duration_seconds'));
    expect(histograms.every((h) => h.labels.node !== undefined && h.labels.site === 'quarry')).toBe(true);
  }, 180_000);

  it('with a queue too small for the week, drops the oldest batches and reports how many', async () => {
    const { result, batches } = await offlineWeek(24 * 1024, 2);
    expect(result).toMatchObject({ done: true });
    const dropped = batches.flatMap((b) =>
      b.flatMap((s) => (s.kind === 'counter' && s.name === 'edgefleet_agent_dropped_samples_total' && s.labels.reason === 'queue-full' ? s.points : [])),
    );
    const count = dropped.reduce((sum, p) => sum + p.inc, 0);
    expect(count).toBeGreaterThan(0);
    // What survived is the newest part of the two days, still in order.
    const times = batches.flatMap((b) => b.filter((s) => s.name === 'edgefleet_inference_requests_total').flatMap((s) => s.points.map((p) => p.t)));
    for (let i = 1; i < times.length; i++) expect(times[i] as number).toBeGreaterThan(times[i - 1] as number);
    expect(Date.now() - (times[0] as number)).toBeLessThan(2 * DAY);
    expect(times.length).toBeLessThan(2 * 288);
  }, 120_000);
});
