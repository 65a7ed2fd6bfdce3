/**
 * `npm run bench:controller [-- --nodes 7500 --passes 30]`: what one pass of the rollout
 * controller costs the server at a fleet's size, store reads included. The pure planner is
 * timed by bench/plan.ts; this times what the leader does every second while a rollout runs
 * (`RolloutController.pass`: the deployment, its stored state, every targeted node and its
 * workload report, the kept samples, the plan, the write), over a real SQLite store in a
 * temporary folder, in this process.
 *
 * The fleet: N nodes with about a kilobyte of facts each (as agents report them), all on
 * revision 1 of one deployment; revision 2 is applied with a staged rollout whose first
 * step bakes for an hour, and agents obey at once (their workload reports say so). The passes
 * are a second apart on the injected clock; between passes every node heartbeats. Prints the
 * pass time's median, p90 and max, the garbage collector's pauses during the passes, and a
 * last line `{"nodes":N,"passMsP50":x,"passMsMax":x,"gcMsPerPass":x}`.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { histogramOf } from '@edgefleet/protocol';
import { pino } from 'pino';
import { RolloutController } from '../packages/server/src/controller/rollout-controller.js';
import { desiredRevisions, parseRolloutState } from '../packages/server/src/rollouts/state.js';
import { openStore } from '../packages/server/src/store/index.js';
import { runningStatus, writeRevision } from '../packages/server/test/support/revisions.js';
import { benchArgs, wholeFlag } from './lib/args.js';
import { machineLine } from './lib/proc-stats.js';
import { seedFleet, sitesOf } from './lib/seeded-fleet.js';
import { printTimedRuns, timedRuns } from './lib/timed-runs.js';

const flags = benchArgs('npm run bench:controller [-- --nodes 7500 --passes 30]', { nodes: { type: 'string' }, passes: { type: 'string' } });
const NODES = wholeFlag('nodes', flags.nodes, 7500);
const PASSES = wholeFlag('passes', flags.passes, 30);
const T0 = Date.parse('2026-12-01T08:00:00Z');
const ROLLOUT = {
  steps: [
    { percent: 1, bake: '1h' },
    { percent: 10, bake: '1h' },
    { percent: 50, bake: '1h' },
    { percent: 100, bake: '0s' },
  ],
  gates: { minRequests: 1 },
};

async function main(): Promise<void> {
  console.log(`rollout controller pass: ${NODES} nodes in ${sitesOf(NODES)} sites, ${PASSES} passes; ${machineLine()}`);
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-controller-'));
  const store = await openStore(`sqlite:${join(dir, 'fleet.db')}`, '');
  let now = T0;
  const controller = new RolloutController({ store, clock: () => now, log: pino({ level: 'warn' }), heartbeatIntervalMs: 30_000, events: new EventEmitter() });
  try {
    const ids = await seedFleet(store, NODES, T0);
    await writeRevision(store, 'detect', 1);
    const latency = histogramOf(Array.from({ length: 60 }, (_, i) => 20 + (i % 7)));
    /** Agents do what desired state says at once, and report a minute of traffic. */
    const obey = async (): Promise<void> => {
      const desired = desiredRevisions(parseRolloutState(await store.getRollout('detect')));
      for (const id of ids) {
        const revision = desired(id) ?? 1;
        await store.replaceNodeWorkloads(id, [runningStatus('detect', revision)], now);
        await store.insertWorkloadStats(id, [
          { deployment: 'detect', revision, intervalStart: now - 60_000, intervalEnd: now, requests: 60, errors: 0, restarts: 0, fallback: false, latency },
        ]);
      }
    };
    for (const id of ids) await store.replaceNodeWorkloads(id, [runningStatus('detect', 1)], now);
    await writeRevision(store, 'detect', 2, ROLLOUT);
    // Into the first step: its nodes picked, assigned and reporting revision 2.
    for (let i = 0; i < 5; i++) {
      now += 1_000;
      await controller.pass();
      await obey();
    }
    const state = parseRolloutState(await store.getRollout('detect'));
    console.log(`  rollout: ${state.phase} step ${state.stepIndex + 1}, ${state.updatedCount} updated`);

    const passes = await timedRuns(
      PASSES,
      async (i) => {
        now += 1_000;
        // Every node was seen in the last second (heartbeats spread over 30 s in a real fleet; the rows are read either way).
        // Concurrent, so they are written together as the server writes a moment's heartbeats.
        const beats: Promise<void>[] = [];
        for (let j = i % 30; j < ids.length; j += 30) beats.push(store.recordHeartbeat(ids[j] as string, undefined, undefined, now));
        await Promise.all(beats);
      },
      () => controller.pass(),
    );
    printTimedRuns('pass', NODES, passes);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
