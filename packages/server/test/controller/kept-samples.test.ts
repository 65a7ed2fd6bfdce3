/**
 * The controller's kept samples over a real SQLite store: across passes they are what a
 * fresh load gives (a server started now), a pass reads only nodes that reported, and the
 * gate judgement over the kept aggregates equals one from scratch — as samples arrive,
 * nodes leave, the rollout restarts and the server restarts mid-rollout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { histogramOf, mulberry32, RolloutGatesSchema, type WorkloadStats } from '@edgefleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeptSamples, type PassSamples, SETTLE_MS } from '../../src/controller/kept-samples.js';
import { GateAggregates, judgeGates, type RolloutNode, type RolloutState } from '../../src/rollouts/index.js';
import { openStore, type Store } from '../../src/store/index.js';

const T0 = Date.parse('2026-03-01T08:00:00Z');
const MIN = 60_000;
const D = 'detect';
const IDS = Array.from({ length: 12 }, (_, i) => `n${String(i).padStart(2, '0')}`);
/** The first four nodes switch to revision 2 at T0. */
const CANARIES = new Set(IDS.slice(0, 4));

function rollout(o: Partial<RolloutState> = {}): RolloutState {
  return {
    v: 1,
    deployment: D,
    specRevision: 2,
    revision: 2,
    fromRevision: 1,
    scope: null,
    phase: 'Progressing',
    reason: 'Baking',
    message: '',
    stepIndex: 0,
    startedAt: T0,
    stepStartedAt: T0,
    reachedAt: T0,
    windowStart: T0,
    lastProgressAt: T0,
    updatedCount: 4,
    picked: [...CANARIES],
    assigned: [...CANARIES],
    deferred: [],
    rolledBack: [],
    promote: 'none',
    hold: null,
    gate: null,
    gateStreaks: {},
    events: 0,
    finishedAt: null,
    ...o,
  };
}

describe('KeptSamples', () => {
  let dir: string;
  let store: Store;
  let now: number;
  const lastSeen = new Map<string, number>();
  const random = mulberry32(7);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-kept-'));
    store = await openStore(`sqlite:${join(dir, 'fleet.db')}`, '');
    now = T0;
    lastSeen.clear();
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Node `id` reports a minute of traffic ending now (its heartbeat, then its stats, as `recordStatus` does). */
  async function report(id: string, o: { heartbeat?: boolean; stats?: boolean } = {}): Promise<void> {
    if (o.heartbeat !== false) lastSeen.set(id, now);
    if (o.stats === false) return;
    const onNew = CANARIES.has(id) && now > T0;
    const slow = onNew ? 1.2 : 1;
    const values = Array.from({ length: 60 }, () => 20 * slow * Math.exp(0.3 * (random() - 0.5)));
    const sample: WorkloadStats = {
      deployment: D,
      revision: onNew ? 2 : 1,
      intervalStart: now - MIN,
      intervalEnd: now,
      requests: 60,
      errors: 0,
      restarts: 0,
      fallback: false,
      latency: histogramOf(values),
      ...(onNew ? { instanceStartedAt: T0 - 10 * MIN } : {}),
    };
    await store.insertWorkloadStats(id, [sample]);
  }

  const nodes = (ids: readonly string[] = IDS): RolloutNode[] =>
    ids.map((id) => ({ id, labels: {}, online: true, lastSeen: lastSeen.get(id) ?? null, workload: null, stats: undefined }));

  /** A minute passes: every node of `ids` reports. */
  async function minute(ids: readonly string[] = IDS): Promise<void> {
    now += MIN;
    for (const id of ids) await report(id);
  }

  /** The lists as plain data, by node id. */
  const lists = (p: PassSamples): Record<string, WorkloadStats[]> => Object.fromEntries([...p.byNode].map(([id, l]) => [id, [...l]]));

  /** The gates judged over `p` with its kept aggregates, and over the same samples from scratch. */
  function judgeBoth(p: PassSamples, ids: readonly string[], state: RolloutState): { kept: unknown; scratch: unknown } {
    const input = {
      deployment: D,
      gates: RolloutGatesSchema.parse({ minRequests: 100 }),
      revision: state.revision,
      baselineRevision: state.fromRevision,
      compareWithBaseline: true,
      samples: ids.map((id) => p.byNode.get(id)),
      cohortOf: ids.map(() => 0),
      window: { from: state.windowStart, to: now },
      speedFrom: state.windowStart - 15 * MIN,
      now,
      nodeKeys: ids,
    };
    return {
      kept: judgeGates({ ...input, aggregates: p.aggregates }).evaluation,
      scratch: judgeGates({ ...input, aggregates: new GateAggregates() }).evaluation,
    };
  }

  it('reads only nodes that reported, and keeps what a fresh load gives, judged alike, as samples arrive', async () => {
    for (let m = 0; m < 5; m++) await minute();
    // Past the reports' settling: the first pass's reads are final.
    now += SETTLE_MS;
    const kept = new KeptSamples(store);
    const state = rollout();
    const first = await kept.forPass(D, state, nodes(), now);
    expect(first?.nodesRead).toBe(IDS.length);
    for (let m = 0; m < 4; m++) {
      // Two nodes report; a pass a second later reads those two only.
      now += 20_000;
      await report('n01');
      await report('n07');
      now += 1_000;
      const pass = await kept.forPass(D, state, nodes(), now);
      expect(pass?.nodesRead).toBe(2);
      const fresh = await new KeptSamples(store).forPass(D, state, nodes(), now);
      expect(lists(pass as PassSamples)).toEqual(lists(fresh as PassSamples));
      const { kept: a, scratch: b } = judgeBoth(pass as PassSamples, IDS, state);
      expect(a).toEqual(b);
      // The same objects as before: the aggregates read only the new samples.
      const n03 = (pass as PassSamples).byNode.get('n03') as readonly WorkloadStats[];
      expect(n03[0]).toBe(first?.byNode.get('n03')?.[0]);
      // A node read again keeps its older sample objects too.
      const n01 = (pass as PassSamples).byNode.get('n01') as readonly WorkloadStats[];
      expect(n01.slice(0, 5)).toEqual(first?.byNode.get('n01'));
      for (let i = 0; i < 5; i++) expect(n01[i]).toBe(first?.byNode.get('n01')?.[i]);
      expect((fresh as PassSamples).byNode.get('n01')?.[0]).not.toBe(n01[0]);
    }
  });

  it('reads a node once more after SETTLE_MS: stats committed after the heartbeat the pass saw are not lost', async () => {
    for (let m = 0; m < 3; m++) await minute();
    now += SETTLE_MS;
    const kept = new KeptSamples(store);
    const state = rollout();
    await kept.forPass(D, state, nodes(), now);
    now += 10_000;
    // The heartbeat is written; the pass runs before the stats commit.
    await report('n05', { stats: false });
    const before = (await kept.forPass(D, state, nodes(), now))?.byNode.get('n05')?.length;
    await report('n05', { heartbeat: false });
    now += 1_000;
    const unchanged = await kept.forPass(D, state, nodes(), now);
    expect(unchanged?.nodesRead).toBe(0);
    now += SETTLE_MS;
    const settled = await kept.forPass(D, state, nodes(), now);
    expect(settled?.nodesRead).toBe(1);
    expect(settled?.byNode.get('n05')?.length).toBe((before as number) + 1);
    expect(lists(settled as PassSamples)).toEqual(lists((await new KeptSamples(store).forPass(D, state, nodes(), now)) as PassSamples));
  });

  it('drops a node that left the targeted set, and judges the rest as from scratch', async () => {
    for (let m = 0; m < 5; m++) await minute();
    const kept = new KeptSamples(store);
    const state = rollout();
    const first = (await kept.forPass(D, state, nodes(), now)) as PassSamples;
    judgeBoth(first, IDS, state);
    // n02 (a canary) and n06 leave: every later node's position shifts.
    const rest = IDS.filter((id) => id !== 'n02' && id !== 'n06');
    await minute(rest);
    const pass = (await kept.forPass(D, state, nodes(rest), now)) as PassSamples;
    expect(pass.byNode.has('n02')).toBe(false);
    expect(pass.byNode.has('n06')).toBe(false);
    expect(pass.aggregates).toBe(first.aggregates);
    const { kept: a, scratch: b } = judgeBoth(pass, rest, state);
    expect(a).toEqual(b);
    // Aggregates followed their nodes: only the new minute was read.
    expect(pass.aggregates.lastRead).toBe(rest.length);
  });

  it('starts over when the rollout restarts or a new revision supersedes it, and forgets a rollout that is over', async () => {
    for (let m = 0; m < 3; m++) await minute();
    const kept = new KeptSamples(store);
    const first = (await kept.forPass(D, rollout(), nodes(), now)) as PassSamples;
    now += 1_000;
    const restarted = rollout({ startedAt: now, windowStart: now - 2 * MIN, stepStartedAt: now });
    const again = (await kept.forPass(D, restarted, nodes(), now)) as PassSamples;
    expect(again.nodesRead).toBe(IDS.length);
    expect(again.aggregates).not.toBe(first.aggregates);
    // Samples before the new window are gone from the lists (they end at or before its start, less the speed lookback).
    const fresh = (await new KeptSamples(store).forPass(D, restarted, nodes(), now)) as PassSamples;
    expect(lists(again)).toEqual(lists(fresh));
    const superseded = (await kept.forPass(D, rollout({ revision: 3, specRevision: 3, fromRevision: 2 }), nodes(), now)) as PassSamples;
    expect(superseded.nodesRead).toBe(IDS.length);
    expect(await kept.forPass(D, rollout({ phase: 'Succeeded' }), nodes(), now)).toBeNull();
    expect(kept.deployments()).toEqual([]);
  });

  it('a server restarted mid-rollout (nothing kept) judges what the long-running one judges', async () => {
    const longRunning = new KeptSamples(store);
    const state = rollout({ windowStart: T0 + 2 * MIN });
    for (let m = 0; m < 8; m++) {
      await minute();
      const pass = (await longRunning.forPass(D, state, nodes(), now)) as PassSamples;
      if (m < 3) continue;
      const restarted = (await new KeptSamples(store).forPass(D, state, nodes(), now)) as PassSamples;
      expect(lists(pass)).toEqual(lists(restarted));
      expect(judgeBoth(pass, IDS, state).kept).toEqual(judgeBoth(restarted, IDS, state).kept);
    }
  });

  it('cuts samples out of the window as it moves, and samples pruned from the store', async () => {
    for (let m = 0; m < 30; m++) await minute();
    const kept = new KeptSamples(store);
    const early = rollout({ windowStart: T0 + 16 * MIN });
    await kept.forPass(D, early, nodes(), now);
    // The next step: the window moves on; same rollout, so nothing is read again.
    const later = rollout({ windowStart: T0 + 25 * MIN, stepIndex: 1 });
    const pass = (await kept.forPass(D, later, nodes(), now)) as PassSamples;
    expect(pass.nodesRead).toBe(0);
    expect(lists(pass)).toEqual(lists((await new KeptSamples(store).forPass(D, later, nodes(), now)) as PassSamples));
    // Retention: what the store prunes leaves the kept lists too.
    const before = T0 + 27 * MIN;
    await store.pruneWorkloadStats(before);
    kept.noteRetention(before);
    const pruned = (await kept.forPass(D, later, nodes(), now)) as PassSamples;
    expect(lists(pruned)).toEqual(lists((await new KeptSamples(store).forPass(D, later, nodes(), now)) as PassSamples));
    expect(Math.min(...[...pruned.byNode.values()].flat().map((s) => s.intervalEnd))).toBeGreaterThanOrEqual(before);
  });
});
