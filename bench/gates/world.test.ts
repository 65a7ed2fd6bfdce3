import { histogramQuantile, mergeAllHistograms, type WorkloadStats } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { BASELINE_REVISION, NEW_REVISION, T0, type TrafficLevel, World } from './world.js';

const MIN = 60_000;

function world(o: { regression?: number; traffic?: TrafficLevel; seed?: number; nodes?: number } = {}): World {
  return new World({ nodes: o.nodes ?? 20, seed: o.seed ?? 7, traffic: o.traffic ?? 'high', regression: o.regression ?? 1, horizonMs: 2 * 3_600_000 });
}

/** Switches every node to the new revision at T0 and runs `minutes`. */
function switchAll(w: World, minutes: number): void {
  for (const n of w.nodes) w.tell(n, NEW_REVISION, T0);
  w.advanceTo(T0 + minutes * MIN);
}

const p95 = (stats: WorkloadStats[]): number => histogramQuantile(mergeAllHistograms(stats.map((s) => s.latency)), 0.95) as number;
const allStats = (w: World): WorkloadStats[] => w.nodes.flatMap((n) => n.stats);

describe('World', () => {
  it('is deterministic by seed', () => {
    const a = world({ seed: 3 });
    const b = world({ seed: 3 });
    switchAll(a, 10);
    switchAll(b, 10);
    expect(JSON.stringify(allStats(a))).toBe(JSON.stringify(allStats(b)));
    const c = world({ seed: 4 });
    switchAll(c, 10);
    expect(JSON.stringify(allStats(c))).not.toBe(JSON.stringify(allStats(a)));
  });

  it.each([1.3, 2])("multiplies the new revision's P95 by the regression (%s ×), all else equal", (factor) => {
    // Same seed: the same draws, so the only difference is the regression's multiplier.
    const same = world({ seed: 9 });
    const slow = world({ seed: 9, regression: factor });
    switchAll(same, 30);
    switchAll(slow, 30);
    const onNew = (w: World) => allStats(w).filter((s) => s.revision === NEW_REVISION);
    const ratio = p95(onNew(slow)) / p95(onNew(same));
    // Within one histogram bucket (γ ≈ 1.0202) of the factor.
    expect(ratio).toBeGreaterThan(factor / 1.021);
    expect(ratio).toBeLessThan(factor * 1.021);
    // The previous revision's requests (before the switch) are untouched.
    const onOld = (w: World) => allStats(w).filter((s) => s.revision === BASELINE_REVISION);
    expect(p95(onOld(slow))).toBe(p95(onOld(same)));
  });

  it('reports on heartbeats 10–30 s apart (±10 %), what each node runs and its stats per revision', () => {
    const w = world();
    switchAll(w, 20);
    for (const n of w.nodes) {
      const ends = [...new Set(n.stats.map((s) => s.intervalEnd))];
      for (let i = 1; i < ends.length; i++) {
        const gap = (ends[i] as number) - (ends[i - 1] as number);
        expect(gap).toBeGreaterThanOrEqual(9_000);
        expect(gap).toBeLessThanOrEqual(33_000);
      }
      expect(n.reported).toEqual({ revision: NEW_REVISION, state: 'running', servingRevision: NEW_REVISION });
      for (const s of n.stats) {
        expect(s.intervalStart).toBeLessThanOrEqual(s.intervalEnd);
        expect(s.errors).toBeLessThanOrEqual(s.requests);
      }
    }
  });

  it("fills instanceStartedAt and instanceRequestsBefore as the agent does: the instance's process start, and its requests before the interval", () => {
    const w = world();
    switchAll(w, 20);
    for (const n of w.nodes) {
      const fresh = n.stats.filter((s) => s.revision === NEW_REVISION);
      expect(fresh.length).toBeGreaterThan(3);
      const started = fresh[0]?.instanceStartedAt as number;
      // Told at T0: the process starts after the nudge and the download, and answers after it loaded.
      expect(started).toBeGreaterThan(T0);
      expect(fresh[0]?.intervalStart).toBeGreaterThanOrEqual(started);
      expect(fresh[0]?.instanceRequestsBefore).toBe(0);
      for (let i = 1; i < fresh.length; i++) {
        const prev = fresh[i - 1] as WorkloadStats;
        expect(fresh[i]?.instanceStartedAt).toBe(started);
        expect(fresh[i]?.instanceRequestsBefore).toBe((prev.instanceRequestsBefore as number) + prev.requests);
      }
      // The instance that ran before the rollout is a day old.
      const old = n.stats.find((s) => s.revision === BASELINE_REVISION);
      if (old !== undefined) expect(old.instanceStartedAt).toBeLessThan(T0 - 3_600_000);
    }
  });

  it("slows a new instance's first requests and seconds (cold start), then not", () => {
    const w = world({ nodes: 40 });
    switchAll(w, 30);
    const fresh = allStats(w).filter((s) => s.revision === NEW_REVISION);
    const cold = fresh.filter((s) => s.instanceRequestsBefore === 0);
    const warm = fresh.filter((s) => s.intervalStart - (s.instanceStartedAt as number) > 10 * MIN && s.intervalEnd < T0 + 30 * MIN);
    const p50 = (stats: WorkloadStats[]) => histogramQuantile(mergeAllHistograms(stats.map((s) => s.latency)), 0.5) as number;
    expect(p50(cold) / p50(warm)).toBeGreaterThan(1.05);
  });

  it('switches nodes only when told, after a delay of seconds', () => {
    const w = world();
    const [first] = w.nodes;
    if (first === undefined) throw new Error('no node');
    w.tell(first, NEW_REVISION, T0);
    w.advanceTo(T0 + 2_000);
    expect(first.reported.servingRevision).toBe(BASELINE_REVISION);
    w.advanceTo(T0 + 10 * MIN);
    expect(first.reported.servingRevision).toBe(NEW_REVISION);
    expect(w.nodes.slice(1).every((n) => n.reported.servingRevision === BASELINE_REVISION)).toBe(true);
  });

  it.each([
    ['low', 0.5],
    ['high', 20],
  ] as const)('sends %s traffic: about %s requests per second per node', (traffic, rate) => {
    const w = world({ traffic, nodes: 60 });
    w.advanceTo(T0 + 20 * MIN);
    const requests = allStats(w).reduce((sum, s) => sum + s.requests, 0);
    // Reports cover up to each node's last heartbeat, 0–33 s before the end.
    const expected = rate * 60 * 20 * 60;
    expect(requests / expected).toBeGreaterThan(0.9);
    expect(requests / expected).toBeLessThan(1.1);
  });

  it('drifts machine load slowly and bursts it 1.5–3 × for tens of seconds', () => {
    const w = world({ nodes: 40 });
    const loads = w.nodes.map((_, i) => Array.from({ length: 2 * 60 * 12 }, (_, s) => w.loadAt(i, T0 + s * 5_000)));
    const all = loads.flat();
    // Drift: a few percent either way, correlated over minutes.
    const first = loads[0] as number[];
    expect(Math.abs((first[1] as number) / (first[0] as number) - 1)).toBeLessThan(0.1);
    expect(Math.min(...all)).toBeLessThan(0.9);
    // Bursts: over two hours, 4 sites and the fleet, some burst is there.
    expect(Math.max(...all)).toBeGreaterThan(1.5);
    expect(Math.max(...all)).toBeLessThan(3 * 3 * 1.6);
  });

  it('drops stats that end before a window (the store query)', () => {
    const w = world();
    w.advanceTo(T0 + 5 * MIN);
    w.prune(T0 + 3 * MIN);
    expect(allStats(w).every((s) => s.intervalEnd > T0 + 3 * MIN)).toBe(true);
    expect(allStats(w).length).toBeGreaterThan(0);
  });
});
