import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgefleetError, mulberry32, type ResponseOf } from '@edgefleet/protocol';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { capacityProblems, capacityWarnings, estimateFootprint, RSS_PER_NODE_BYTES } from '../src/capacity.js';
import { NodeReadings } from '../src/readings.js';
import { startSimulation } from '../src/simulation.js';
import { formatElapsed, formatSummaryLine, type RolloutView, type SimulationSummary } from '../src/summary.js';

describe('RolloutView', () => {
  it('is the route table’s rollout status, not a shape of its own (checked by tsc -p tsconfig.tests.json)', () => {
    type Status = ResponseOf<'rolloutStatus'>;
    expectTypeOf<RolloutView>().toEqualTypeOf<Pick<Status, 'revision' | 'phase' | 'step' | 'steps'>>();
    expectTypeOf<RolloutView['phase']>().toEqualTypeOf<Status['phase']>();
  });
});

const TOKEN = `EF1${'a'.repeat(64)}::${'b'.repeat(12)}.${'c'.repeat(43)}`;
const GIB = 2 ** 30;

describe('summary line', () => {
  it('says what a reader needs in one line', () => {
    const s: SimulationSummary = {
      at: '2026-11-29T10:00:00.000Z',
      elapsedSeconds: 250,
      nodes: { total: 60, started: 60, online: 55, offline: 3, poweredOff: 1, acceleratorFailed: 2, failed: 0 },
      revisions: { detect: { '2': 18, '1': 40 }, count: { '5': 60 } },
      everRan: { detect: { '1': 60, '2': 20 }, count: { '5': 60 } },
      images: {},
      rollouts: { detect: { revision: 2, phase: 'Progressing', step: 2, steps: 4 } },
      requestsPerSecond: 299.96,
      errorsPerSecond: 0.4,
      requests: 70_000,
      errors: 90,
      faults: { siteOutages: ['site-03'], powerCuts: 1, acceleratorFailures: 2, offlineEpisodes: 5 },
      process: { rssMb: 410.4, heapUsedMb: 200, cpuPercent: 35.2 },
    };
    expect(formatSummaryLine(s)).toBe(
      '[4m10s] nodes 55/60 online (3 offline, 1 powered off, 2 without accelerator) · count r5:60 · detect r1:40 r2:18 · rollout detect → r2 Progressing step 2/4 · outage site-03 · 300.0 req/s · 0.4 err/s · rss 410 MB cpu 35%',
    );
  });

  it('formats elapsed time', () => {
    expect(formatElapsed(12.7)).toBe('12s');
    expect(formatElapsed(61)).toBe('1m01s');
    expect(formatElapsed(3_725)).toBe('1h02m');
  });
});

describe('node gauges', () => {
  const read = async (kind: 'hailo8l' | 'hailo8', rps: number): Promise<number> => {
    let now = 0;
    const r = new NodeReadings(
      kind,
      mulberry32(1),
      () => now,
      () => ({ requestsPerSecond: rps, onCpu: false, models: 1 }),
    );
    let last = 0;
    for (let i = 0; i < 40; i++) {
      now += 15_000;
      last = (await r.read()).temperatureC as number;
    }
    return last;
  };

  it('run hotter under load, and hotter on a Hailo-8 than on a Hailo-8L', async () => {
    expect(await read('hailo8l', 20)).toBeGreaterThan((await read('hailo8l', 0)) + 2);
    expect(await read('hailo8', 20)).toBeGreaterThan((await read('hailo8l', 20)) + 1.5);
  });

  it('count CPU ticks, bytes and uptime forward, and restart them at a reboot', async () => {
    let now = 0;
    const r = new NodeReadings(
      'none',
      mulberry32(2),
      () => now,
      () => ({ requestsPerSecond: 5, onCpu: true, models: 1 }),
    );
    now = 15_000;
    const first = await r.read();
    now = 30_000;
    const second = await r.read();
    expect(first.cpuUsageRatio).toBeNull();
    expect(second.cpuUsageRatio).toBeGreaterThan(0.5);
    expect(second.uptimeSeconds).toBe(30);
    expect(second.network[0]?.receiveBytes).toBeGreaterThan(first.network[0]?.receiveBytes as number);
    r.reboot();
    now = 45_000;
    expect((await r.read()).uptimeSeconds).toBe(15);
  });
});

describe('capacity', () => {
  const machine = { totalBytes: 24 * GIB, freeBytes: 22 * GIB, heapLimitBytes: 4 * GIB, openFilesLimit: 20_000 };

  it('fits 5,000 nodes on a 24 GiB machine, files and all in RAM', () => {
    expect(capacityProblems(5_000, machine, true)).toEqual([]);
  });

  it('refuses more than the memory or heap allow, with the estimate', () => {
    const problems = capacityProblems(60_000, machine);
    expect(problems.join('\n')).toMatch(/60000 nodes need about [\d.]+ GiB of memory/);
    expect(problems.join('\n')).toMatch(/max-old-space-size/);
    expect(estimateFootprint(100, true).rssBytes).toBeGreaterThan(estimateFootprint(100).rssBytes);
    expect(estimateFootprint(1_000).rssBytes - estimateFootprint(0).rssBytes).toBe(1_000 * RSS_PER_NODE_BYTES);
  });

  it('warns, without refusing, when the open-files limit is near', () => {
    expect(capacityWarnings(1_000, machine)).toEqual([]);
    expect(capacityWarnings(5_000, machine).join('')).toMatch(/open-files limit of 20000.*ulimit -n/);
    expect(capacityWarnings(5_000, { ...machine, openFilesLimit: 65_536 })).toEqual([]);
  });

  it('stops startSimulation before it creates anything', async () => {
    const dataDir = join(tmpdir(), `edgefleet-sim-never-${process.pid}`);
    const err = await startSimulation({ server: 'https://127.0.0.1:9', token: TOKEN, nodes: 100_000, dataDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgefleetError);
    expect((err as EdgefleetError).message).toMatch(/^this machine cannot hold 100000 simulated nodes: /);
    expect((err as EdgefleetError).hint).toMatch(/--force/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('refuses nonsense options before it creates anything', async () => {
    const dataDir = join(tmpdir(), `edgefleet-sim-never-${process.pid}-2`);
    const err = await startSimulation({ server: 'https://127.0.0.1:9', token: TOKEN, nodes: -3, dataDir }).catch((e: unknown) => e);
    expect((err as EdgefleetError).message).toBe('--nodes must be a whole number from 1 to 100000, got -3');
    const mix = await startSimulation({ server: 'https://127.0.0.1:9', token: TOKEN, nodes: 3, hatMix: { hailo8l: 0.5 }, dataDir }).catch((e: unknown) => e);
    expect((mix as EdgefleetError).message).toMatch(/^--hat-mix shares must be from 0 to 1 and add up to 1, got 0.5/);
    expect(existsSync(dataDir)).toBe(false);
  });
});
