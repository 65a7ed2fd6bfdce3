import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { histogramOf, type WorkloadStats } from '@edgefleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServerContext } from '../../../src/context.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { HISTORY_RETENTION_MS, HISTORY_ROWS_PER_DEPLOYMENT, pruneLatencyHistory } from '../../../src/telemetry/latency-history/retention.js';
import { latencyHistoryOf } from '../../../src/telemetry/latency-history/view.js';
import { recordStatus } from '../../../src/telemetry/status-report.js';

const H = 3_600_000;
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % H);

let dir: string;
let store: Store;
let now: number;
let ctx: ServerContext;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgefleet-history-'));
  store = await openStore(`sqlite:${join(dir, 'fleet.db')}`, '');
  now = T0;
  ctx = { store, clock: () => now, events: new EventEmitter(), heartbeatIntervalMs: 60_000 } as unknown as ServerContext;
  for (const [id, site] of [
    ['n1', 'site-a'],
    ['n2', 'site-b'],
    ['n3', undefined],
  ] as const) {
    await store.createNode({
      id,
      name: id,
      hardwareSerial: null,
      detectedLabels: {},
      operatorLabels: site === undefined ? {} : { 'geolocation.site': site },
      facts: {},
      certSerial: '',
      certNotAfter: 0,
      lastSeen: null,
      createdAt: 1,
    });
  }
  for (const [name, selector] of [
    ['detect', 'cpu.arch=arm64'],
    ['local', 'geolocation.site in (site-a)'],
  ] as const) {
    await store.writeDeployments(
      [
        {
          deployment: { name, spec: { selector } as never, generation: 1, revision: 2, source: null, createdAt: 1, updatedAt: 1 },
          newRevision: { deployment: name, revision: 2, release: { version: '2' } as never, releaseDigest: name, commit: null, createdAt: 1 },
        },
      ],
      [],
    );
  }
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A node's heartbeat at `at` (server time) carrying one minute of stats with these latencies (node clock ahead by an hour). */
async function report(nodeId: string, at: number, latencies: number[], over: Partial<WorkloadStats> = {}): Promise<void> {
  now = at;
  const node = await store.getNode(nodeId);
  if (node === undefined) throw new Error(nodeId);
  const skew = H;
  await recordStatus(ctx, node, {
    stats: [
      {
        deployment: 'detect',
        revision: 2,
        intervalStart: at + skew - 60_000,
        intervalEnd: at + skew,
        requests: latencies.length,
        errors: 0,
        restarts: 0,
        fallback: false,
        latency: histogramOf(latencies),
        ...over,
      },
    ],
  });
}

describe('latency history through the heartbeat ingest', () => {
  it('keeps hours by the re-anchored time, per revision, merged over sites unless asked per site', async () => {
    await report('n1', T0 + 10 * 60_000, [10, 10, 10, 10]);
    await report('n2', T0 + 20 * 60_000, [20, 20, 20, 20], { errors: 1 });
    await report('n1', T0 + H + 5 * 60_000, [30, 30]);
    await report('n3', T0 + H + 6 * 60_000, [40, 40], { revision: 1 });
    now = T0 + 2 * H;
    const merged = await latencyHistoryOf(ctx, 'detect', { since: '7d', bySite: 'false' });
    expect(merged.revision).toBe(2);
    expect(merged.hours.map((h) => [h.hour, h.revision, h.site, h.requests, h.errors])).toEqual([
      [new Date(T0).toISOString(), 2, null, 8, 1],
      [new Date(T0 + H).toISOString(), 1, null, 2, 0],
      [new Date(T0 + H).toISOString(), 2, null, 2, 0],
    ]);
    // Quantiles of the merged histogram (1 % accuracy): half the hour's requests took 10 ms, half 20 ms.
    expect(Math.abs((merged.hours[0]?.p50Ms ?? 0) - 10)).toBeLessThan(0.2);
    expect(Math.abs((merged.hours[0]?.p99Ms ?? 0) - 20)).toBeLessThan(0.3);
    expect(merged.revisions.map((r) => [r.revision, r.hours, r.requests, r.sites])).toEqual([
      [1, 1, 2, ['']],
      [2, 2, 10, ['site-a', 'site-b']],
    ]);
    const bySite = await latencyHistoryOf(ctx, 'detect', { since: '7d', bySite: 'true', revision: 2 });
    expect(bySite.hours.map((h) => [h.site, h.requests])).toEqual([
      ['site-a', 4],
      ['site-b', 4],
      ['site-a', 2],
    ]);
    const one = await latencyHistoryOf(ctx, 'detect', { since: '1h', bySite: 'false', site: 'site-a' });
    expect(one.hours.map((h) => h.requests)).toEqual([2]);
  });

  it('shows a site-scoped caller only deployments and sites in its scope', async () => {
    now = T0;
    const node = await store.getNode('n1');
    await recordStatus(ctx, node as never, {
      stats: [
        {
          deployment: 'local',
          revision: 2,
          intervalStart: T0 - 1000,
          intervalEnd: T0,
          requests: 1,
          errors: 0,
          restarts: 0,
          fallback: false,
          latency: histogramOf([5]),
        },
      ],
    });
    const scope = { sites: ['site-a'] };
    await expect(latencyHistoryOf(ctx, 'detect', { since: '7d', bySite: 'false' }, scope)).rejects.toMatchObject({ code: 'not_found' });
    const local = await latencyHistoryOf(ctx, 'local', { since: '7d', bySite: 'true' }, scope);
    expect(local.hours.map((h) => h.site)).toEqual(['site-a']);
  });

  it('refuses a window it cannot answer with a clear error', async () => {
    await expect(latencyHistoryOf(ctx, 'detect', { since: '45d', bySite: 'false' })).rejects.toMatchObject({ code: 'bad_request', field: 'since' });
    await expect(latencyHistoryOf(ctx, 'detect', { since: 'a week', bySite: 'false' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(latencyHistoryOf(ctx, 'nope', { since: '7d', bySite: 'false' })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('stores the stats and their history in one unit of work', async () => {
    const failing = Object.create(store) as Store;
    // The transaction's own store fails to add history: the stats must not be kept either.
    failing.transaction = (work) =>
      store.transaction((tx) => {
        const broken = Object.create(tx) as Store;
        broken.addLatencyHistory = async () => {
          throw new Error('disk full');
        };
        return work(broken);
      });
    ctx.store = failing;
    await expect(report('n1', T0, [1])).rejects.toThrow('disk full');
    ctx.store = store;
    expect(await store.listWorkloadStats('detect', 0)).toEqual([]);
  });

  it('is kept 30 days, and capped per deployment', async () => {
    const row = (hour: number) => ({ deployment: 'detect', revision: 2, site: 'site-a', hour, requests: 1, errors: 0, latency: histogramOf([5]) });
    await store.addLatencyHistory([row(T0 - 31 * 24 * H), row(T0 - 29 * 24 * H), row(T0)]);
    expect(HISTORY_RETENTION_MS).toBe(30 * 24 * H);
    expect(HISTORY_ROWS_PER_DEPLOYMENT).toBe(20_000);
    expect(await pruneLatencyHistory(store, T0 + H)).toBe(1);
    expect((await store.listLatencyHistory('detect', 0)).map((r) => (T0 - r.hour) / (24 * H))).toEqual([29, 0]);
  });
});
