/**
 * The rollout controller over a real SQLite store, an injected clock and simulated agents
 * (no sockets, no child processes): one deployment's broken rollout must not stop another's.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { histogramOf } from '@edgefleet/protocol';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RolloutController } from '../../src/controller/rollout-controller.js';
import { stalledCondition } from '../../src/controller/stall.js';
import { desiredRevisions, parseRolloutState, type RolloutState } from '../../src/rollouts/state.js';
import { type NodeRecord, openStore, type Store } from '../../src/store/index.js';
import { runningStatus, writeRevision } from '../support/revisions.js';

const T0 = Date.parse('2026-03-01T08:00:00Z');
const NODES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
const ROLLOUT = { steps: [{ percent: 50 }, { percent: 100 }], gates: { minRequests: 1 } };

function node(id: string): NodeRecord {
  return {
    id,
    name: id,
    hardwareSerial: null,
    detectedLabels: { 'cpu.arch': 'arm64' },
    operatorLabels: {},
    facts: {},
    certSerial: `cert-${id}`,
    certNotAfter: 2_000_000_000_000,
    lastSeen: T0,
    createdAt: 1,
  };
}

/** Applies revision `revision` of a deployment over every node, with a staged rollout (null: without). */
const apply = (store: Store, name: string, revision: number, rollout: object | null = ROLLOUT): Promise<void> =>
  writeRevision(store, name, revision, rollout ?? undefined);

/** A valid state of a rollout of revision 1 that has just started. */
function startedState(deployment: string): RolloutState {
  return {
    v: 1,
    deployment,
    specRevision: 1,
    revision: 1,
    fromRevision: null,
    scope: null,
    phase: 'Progressing',
    reason: 'NodesUpdating',
    message: 'step 1 of 2',
    stepIndex: 0,
    startedAt: T0,
    stepStartedAt: T0,
    reachedAt: null,
    windowStart: T0,
    lastProgressAt: T0,
    updatedCount: 0,
    picked: [],
    assigned: [],
    deferred: [],
    rolledBack: [],
    promote: 'none',
    hold: null,
    gate: null,
    events: 0,
    finishedAt: null,
  };
}

describe('RolloutController: each deployment on its own', () => {
  let dir: string;
  let path: string;
  let store: Store;
  let now: number;
  let logs: Array<{ level: number; msg: string; deployment?: string }>;
  let controller: RolloutController;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-controller-'));
    path = join(dir, 'fleet.db');
    store = await openStore(`sqlite:${path}`, '');
    now = T0;
    logs = [];
    const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
    controller = new RolloutController({ store, clock: () => now, log, heartbeatIntervalMs: 60_000, events: new EventEmitter() });
    for (const id of NODES) await store.createNode(node(id));
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const state = async (name: string): Promise<RolloutState> => parseRolloutState(await store.getRollout(name));

  /** Every node does what desired state says for `name`, reports it, and serves a minute of traffic. */
  async function agentsObey(name: string): Promise<void> {
    const desired = desiredRevisions(await state(name));
    for (const id of NODES) {
      const revision = desired(id) ?? 1;
      await store.replaceNodeWorkloads(id, [runningStatus(name, revision)], now);
      await store.recordHeartbeat(id, undefined, undefined, now);
      const latency = histogramOf(Array.from({ length: 20 }, (_, i) => 20 + (i % 3)));
      await store.insertWorkloadStats(id, [
        { deployment: name, revision, intervalStart: now - 60_000, intervalEnd: now, requests: 20, errors: 0, restarts: 0, fallback: false, latency },
      ]);
    }
  }

  /** Runs passes a minute apart, agents obeying `healthy` in between, until `done` or `max` passes. */
  async function run(done: () => Promise<boolean>, max = 30): Promise<number> {
    for (let i = 1; i <= max; i++) {
      now += 60_000;
      await controller.pass();
      if (await done()) return i;
      await agentsObey('healthy');
    }
    throw new Error(`not done after ${max} passes: ${JSON.stringify(await state('healthy'))}`);
  }

  const stalledLogs = () => logs.filter((l) => l.msg.startsWith('rollout stalled'));

  it.each([
    {
      name: 'a rollout state with one field wrong',
      corrupt: (s: Store) => s.saveRollout('broken', { ...startedState('broken'), picked: 'n0' }, [], [], T0),
      cause: /^the stored rollout state cannot be read \(picked: /,
    },
    {
      name: 'text that is not JSON',
      corrupt: async (s: Store) => {
        await s.saveRollout('broken', {}, [], [], T0);
        const db = new BetterSqlite3(path);
        db.prepare('update rollouts set state = ? where deployment = ?').run('{"v": 1, "pick', 'broken');
        db.close();
      },
      cause: /JSON/,
    },
  ])('a corrupt stored state ($name) stalls its deployment only: the other goes through its steps', async ({ corrupt, cause }) => {
    await apply(store, 'healthy', 1);
    await apply(store, 'broken', 1);
    await corrupt(store);
    await apply(store, 'healthy', 2);

    const passes = await run(async () => (await state('healthy')).phase === 'Succeeded');
    const events = (await store.listRolloutEvents({ deployment: 'healthy', limit: 100 })).map((e) => (e.event as { type: string }).type);
    expect(events.filter((t) => t === 'StepStarted')).toHaveLength(2);
    expect(events.at(-1)).toBe('Succeeded');

    const stall = await store.getRolloutStall('broken');
    expect(stall).toMatchObject({ deployment: 'broken', reason: 'RolloutStateInvalid', revision: 1, since: T0 + 60_000 });
    expect(stall?.message).toMatch(cause);
    expect(stall?.message.length).toBeLessThan(400);
    expect(stalledCondition(stall)).toMatchObject({ type: 'Stalled', status: 'True', reason: 'RolloutStateInvalid', observedRevision: 1 });
    expect(await store.getRolloutStall('healthy')).toBeUndefined();
    // Logged once, not once per pass.
    expect(passes).toBeGreaterThan(2);
    expect(stalledLogs()).toHaveLength(1);
    expect(stalledLogs()[0]).toMatchObject({ deployment: 'broken', level: 50 });
  });

  it('the condition clears, once, when the stored state reads again', async () => {
    await apply(store, 'broken', 1);
    await store.saveRollout('broken', { v: 1 }, [], [], T0);
    await apply(store, 'broken', 2);
    now += 60_000;
    await controller.pass();
    await controller.pass();
    expect((await store.getRolloutStall('broken'))?.reason).toBe('RolloutStateInvalid');

    // Repaired by hand: no state, so the controller starts the rollout of revision 2.
    const db = new BetterSqlite3(path);
    db.prepare('delete from rollouts where deployment = ?').run('broken');
    db.close();
    now += 60_000;
    await controller.pass();
    await controller.pass();
    expect(await store.getRolloutStall('broken')).toBeUndefined();
    expect((await state('broken')).revision).toBe(2);
    expect(logs.filter((l) => l.msg === 'rollout no longer stalled')).toHaveLength(1);
    expect(stalledLogs()).toHaveLength(1);
  });

  it('a plan that throws stalls with PlanningFailed; a new revision that plans clears it', async () => {
    await apply(store, 'healthy', 1);
    await apply(store, 'healthy', 2);
    // Admission would refuse this strategy; the controller must survive it anyway.
    await apply(store, 'broken', 1, { steps: [{ percent: 50, bake: 'soon' }] });
    now += 60_000;
    await controller.pass();
    expect(await store.getRolloutStall('broken')).toMatchObject({ reason: 'PlanningFailed', revision: 1 });
    expect((await state('healthy')).stepIndex).toBe(0);

    await apply(store, 'broken', 2);
    now += 60_000;
    await controller.pass();
    expect(await store.getRolloutStall('broken')).toBeUndefined();
    expect((await state('broken')).revision).toBe(2);
  });

  it('a new cause is a new log line and keeps the time the rollout stalled', async () => {
    await apply(store, 'broken', 1);
    await store.saveRollout('broken', { v: 1 }, [], [], T0);
    now += 60_000;
    await controller.pass();
    const since = (await store.getRolloutStall('broken'))?.since;
    await store.saveRollout('broken', { v: 2 }, [], [], T0);
    now += 60_000;
    await controller.pass();
    await controller.pass();
    expect(stalledLogs()).toHaveLength(2);
    expect((await store.getRolloutStall('broken'))?.since).toBe(since);
  });

  it('a deployment deleted (or without a rollout strategy now) is no longer stalled', async () => {
    await apply(store, 'broken', 1);
    await store.saveRollout('broken', { v: 1 }, [], [], T0);
    now += 60_000;
    await controller.pass();
    expect(await store.getRolloutStall('broken')).toBeDefined();
    await apply(store, 'broken', 2, null);
    await controller.pass();
    expect(await store.getRolloutStall('broken')).toBeUndefined();
  });
});
