import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ArtifactStore } from '../../src/artifacts/store.js';
import type { ServerContext } from '../../src/context.js';
import type { DataDir } from '../../src/data-dir.js';
import { labelsKeyOf } from '../../src/deployments/desired-inputs.js';
import { type DesiredSubscription, DesiredWatch } from '../../src/deployments/desired-watch.js';
import { pollDesiredState } from '../../src/deployments/node-desired.js';
import type { RolloutState } from '../../src/rollouts/state.js';
import { type NodeRecord, openStore, type Store } from '../../src/store/index.js';
import { writeRevision } from '../support/revisions.js';

function node(id: string, operatorLabels: Record<string, string> = {}): NodeRecord {
  return {
    id,
    name: id,
    hardwareSerial: null,
    detectedLabels: { 'cpu.arch': 'arm64' },
    operatorLabels,
    facts: {},
    certSerial: `cert-${id}`,
    certNotAfter: 2_000_000_000_000,
    lastSeen: null,
    createdAt: 1,
  };
}

/** A deployment at `revision` (each with its own release), staged by a rollout when `rollout`. */
function rolloutState(over: Partial<RolloutState>): RolloutState {
  return {
    v: 1,
    deployment: 'detect',
    specRevision: 2,
    revision: 2,
    fromRevision: 1,
    scope: null,
    phase: 'Progressing',
    reason: 'NodesUpdating',
    message: 'step 1 of 2',
    stepIndex: 0,
    startedAt: 10,
    stepStartedAt: 10,
    reachedAt: null,
    windowStart: 10,
    lastProgressAt: 10,
    updatedCount: 0,
    picked: ['n1'],
    assigned: [],
    deferred: [],
    rolledBack: [],
    promote: 'none',
    hold: null,
    gate: null,
    events: 1,
    finishedAt: null,
    ...over,
  };
}

/** Counts calls of a store method from now on. */
function counted(store: Store, name: 'listDeployments' | 'getNode'): { calls: number } {
  const counter = { calls: 0 };
  const original = store[name].bind(store) as (...args: unknown[]) => Promise<unknown>;
  (store as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
    counter.calls++;
    return original(...args);
  };
  return counter;
}

describe('the desired-state watch of one server', () => {
  let dir: string;
  let ctx: ServerContext;
  let watch: DesiredWatch;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-desired-'));
    ctx = {
      store: await openStore(`sqlite:${join(dir, 'fleet.db')}`, ''),
      dataDir: { path: dir } as DataDir,
      clock: () => 1_700_000_000_000,
      log: pino({ level: 'silent' }),
      heartbeatIntervalMs: 60_000,
      nodeCertLifetimeMs: 86_400_000,
      artifacts: new ArtifactStore(join(dir, 'artifacts')),
      requireSigned: false,
      events: new EventEmitter(),
    };
    for (const id of ['n1', 'n2']) await ctx.store.createNode(node(id));
    await writeRevision(ctx.store, 'detect', 1);
    // A long interval: every check in these tests is one an in-process change asks for.
    watch = new DesiredWatch(ctx, 3_600_000);
    watch.start();
    await watch.current();
  });
  afterEach(async () => {
    await watch.stop();
    await ctx.store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What a change written in this process does: commit, then the event; then a new poll's read. */
  const changed = async (): Promise<void> => {
    ctx.events.emit('desired');
    await watch.current();
  };
  const answerOf = async (id: string) => {
    const labels = node(id).detectedLabels;
    return (await watch.current()).desiredFor(id, labels, labelsKeyOf(labels));
  };
  /** How a wait ends when nothing else happens: at once when a change was latched. */
  const wakeOf = (s: DesiredSubscription): Promise<string> => s.wait(Date.now() + 50, new AbortController().signal);

  it('answers a new poll from a change written just before, and reads the store only when something changed', async () => {
    const deployments = counted(ctx.store, 'listDeployments');
    expect((await answerOf('n1')).workloads).toEqual([{ deployment: 'detect', revision: 1, release: { version: '1' }, endpoint: null }]);
    expect(deployments.calls).toBe(0);
    await writeRevision(ctx.store, 'detect', 2);
    ctx.events.emit('desired');
    expect((await answerOf('n1')).workloads).toEqual([{ deployment: 'detect', revision: 2, release: { version: '2' }, endpoint: null }]);
    expect(deployments.calls).toBe(1);
  });

  it('loads the inputs once for many polls, and wakes them only when some node’s answer changed', async () => {
    await writeRevision(ctx.store, 'detect', 2, { steps: [{ percent: 50 }] });
    await ctx.store.saveRollout('detect', rolloutState({}), [], [], 20);
    await changed();
    const polls = ['n1', 'n2'].flatMap((id) => Array.from({ length: 25 }, () => watch.subscribe(id, performance.now())));
    const deployments = counted(ctx.store, 'listDeployments');

    // A pass that only evaluated gates and moved the clocks: nobody's answer changes.
    await ctx.store.saveRollout('detect', rolloutState({ message: 'baking', updatedCount: 1, lastProgressAt: 30, events: 2 }), [], [], 30);
    await changed();
    expect(deployments.calls).toBe(1);
    expect(await Promise.all(polls.map(wakeOf))).toEqual(Array(50).fill('deadline'));

    // The canary is told to move: every poll is woken to recompute from the one new load.
    await ctx.store.saveRollout('detect', rolloutState({ assigned: ['n1'], events: 3 }), [], [], 40);
    await changed();
    expect(deployments.calls).toBe(2);
    expect(await Promise.all(polls.map(wakeOf))).toEqual(Array(50).fill('changed'));
    expect(polls.some((p) => p.takeNodeChange())).toBe(false);
    expect((await answerOf('n1')).workloads[0]?.revision).toBe(2);
    expect((await answerOf('n2')).workloads[0]?.revision).toBe(1);
  });

  it('wakes only the polls of a node whose labels changed, including one that read its node just before', async () => {
    const one = watch.subscribe('n1', performance.now());
    const two = watch.subscribe('n2', performance.now());
    const readBefore = performance.now();
    await ctx.store.setOperatorLabels('n1', { line: 'l3' });
    await changed();
    expect(await wakeOf(one)).toBe('changed');
    expect(one.takeNodeChange()).toBe(true);
    expect(await wakeOf(two)).toBe('deadline');
    expect(two.takeNodeChange()).toBe(false);
    // A poll whose copy of n1 was read before that change was seen subscribes only now.
    expect(watch.subscribe('n1', readBefore).takeNodeChange()).toBe(true);
    expect(watch.subscribe('n1', performance.now()).takeNodeChange()).toBe(false);
  });

  it('has every poll re-read its node when the changes it missed were pruned', async () => {
    const polls = [watch.subscribe('n1', performance.now()), watch.subscribe('n2', performance.now())];
    await ctx.store.setOperatorLabels('n1', { line: 'l3' });
    // As the store answers once older changes are gone: the first one listed is not the next.
    const listed = await ctx.store.listNodeChanges(0);
    ctx.store.listNodeChanges = async () => listed.slice(-1).map((c) => ({ ...c, generation: c.generation + 5 }));
    await changed();
    expect(polls.map((p) => p.takeNodeChange())).toEqual([true, true]);
  });

  it('ends every wait when the server closes', async () => {
    const poll = watch.subscribe('n1', performance.now());
    const ended = poll.wait(Date.now() + 60_000, new AbortController().signal);
    await watch.stop();
    expect(await ended).toBe('closed');
  });

  it('reads a change written elsewhere (no event) when asked for fresh inputs, and not before', async () => {
    // Another replica's write: in the store, with no in-process event.
    await writeRevision(ctx.store, 'detect', 2);
    const labels = node('n1').detectedLabels;
    expect((await watch.current()).desiredFor('n1', labels, labelsKeyOf(labels)).workloads[0]?.revision).toBe(1);
    expect((await watch.fresh()).desiredFor('n1', labels, labelsKeyOf(labels)).workloads[0]?.revision).toBe(2);
  });

  it('holds a changed answer until the pacer lets it go, then sends the answer current at that moment', async () => {
    const since = (await answerOf('n1')).version;
    let letGo = (): void => {};
    const paced = new Promise<void>((r) => {
      letGo = r;
    });
    let paces = 0;
    const pollLeft: number[] = [];
    const outcome = pollDesiredState(watch, ctx, {
      node: node('n1'),
      since,
      waitSeconds: 60,
      readAt: performance.now(),
      signal: new AbortController().signal,
      closing: () => false,
      pace: (_signal, pollLeftMs) => {
        paces++;
        pollLeft.push(pollLeftMs);
        return paced;
      },
    });
    let settled = false;
    void outcome.then(() => {
      settled = true;
    });
    await writeRevision(ctx.store, 'detect', 2);
    await changed();
    // Woken, it asks the pacer (however long that takes on a loaded machine), and waits there.
    await vi.waitFor(() => expect(paces).toBe(1), { timeout: 30_000, interval: 10 });
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    // Changed again while it waited: the answer that goes is revision 3, paced once.
    await writeRevision(ctx.store, 'detect', 3);
    await changed();
    letGo();
    const result = await outcome;
    expect(result.kind === 'changed' && result.desired.workloads[0]?.revision).toBe(3);
    expect(paces).toBe(1);
    // The pacer is told the poll had most of its minute to go: its answer may wait that long.
    expect(pollLeft[0]).toBeGreaterThan(0);
    expect(pollLeft[0]).toBeLessThanOrEqual(60_000);
  });

  it('tells the pacer that a poll which came with an old version expects its answer now', async () => {
    const pollLeft: number[] = [];
    const outcome = await pollDesiredState(watch, ctx, {
      node: node('n1'),
      since: 'an-older-version',
      waitSeconds: 60,
      readAt: performance.now(),
      signal: new AbortController().signal,
      closing: () => false,
      pace: async (_signal, pollLeftMs) => {
        pollLeft.push(pollLeftMs);
      },
    });
    expect(outcome.kind).toBe('changed');
    expect(pollLeft).toEqual([0]);
  });
});
