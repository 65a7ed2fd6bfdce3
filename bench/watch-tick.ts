/**
 * `npm run bench:watch [-- --nodes 7500 --ticks 30]`: what one tick of the dashboard's watch
 * (`GET /v1/watch`, watch/fleet-watch.ts) costs the server at a fleet's size. While anyone
 * has the dashboard open, one shared poller reads the store every 1.5 s (or ten times as long
 * as its last tick took, if that is more) and sends what changed; this times that read and
 * the comparison, over a real SQLite store in a temporary folder, in this process.
 *
 * The fleet: N nodes with about a kilobyte of facts each (bench/lib/seeded-fleet.ts), all
 * running revision 1 of one deployment, and revision 2 rolling out (its first step picked),
 * so the tick builds a deployment view and a rollout view as well as the node list. Between
 * ticks 1.5 s pass on the injected clock and a twentieth of the nodes heartbeat (each node
 * once in 30 s), with unchanged facts and labels, as a steady fleet does. Prints the tick
 * time's median, p90 and max, the nodes each tick sent, the garbage collector's pauses during
 * the ticks, and a last line `{"nodes":N,"tickMsP50":x,"tickMsMax":x,"gcMsPerTick":x}`.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ServerContext } from '../packages/server/src/context.js';
import { RolloutController } from '../packages/server/src/controller/rollout-controller.js';
import { openStore } from '../packages/server/src/store/index.js';
import { diffSnapshots, readSnapshot } from '../packages/server/src/watch/fleet-watch.js';
import { runningStatus, writeRevision } from '../packages/server/test/support/revisions.js';
import { benchArgs, wholeFlag } from './lib/args.js';
import { machineLine } from './lib/proc-stats.js';
import { seedFleet, sitesOf } from './lib/seeded-fleet.js';
import { printTimedRuns, timedRuns } from './lib/timed-runs.js';

const flags = benchArgs('npm run bench:watch [-- --nodes 7500 --ticks 30]', { nodes: { type: 'string' }, ticks: { type: 'string' } });
const NODES = wholeFlag('nodes', flags.nodes, 7500);
const TICKS = wholeFlag('ticks', flags.ticks, 30);
const T0 = Date.parse('2026-12-01T08:00:00Z');
const HEARTBEAT_MS = 30_000;
const TICK_MS = 1_500;

async function main(): Promise<void> {
  console.log(`dashboard watch tick: ${NODES} nodes in ${sitesOf(NODES)} sites, ${TICKS} ticks; ${machineLine()}`);
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-watch-'));
  const store = await openStore(`sqlite:${join(dir, 'fleet.db')}`, '');
  let now = T0;
  // The watch reads only these of the server's context.
  const ctx = { store, clock: () => now, heartbeatIntervalMs: HEARTBEAT_MS } as ServerContext;
  try {
    const ids = await seedFleet(store, NODES, T0);
    await writeRevision(store, 'detect', 1);
    for (const id of ids) await store.replaceNodeWorkloads(id, [runningStatus('detect', 1)], now);
    await writeRevision(store, 'detect', 2, { steps: [{ percent: 10, bake: '1h' }, { percent: 100 }] });
    const controller = new RolloutController({
      store,
      clock: () => now,
      log: pino({ level: 'warn' }),
      heartbeatIntervalMs: HEARTBEAT_MS,
      events: new EventEmitter(),
    });
    await controller.pass();

    let snapshot = await readSnapshot(ctx);
    const sent: number[] = [];
    const share = HEARTBEAT_MS / TICK_MS;
    const ticks = await timedRuns(
      TICKS,
      async (i) => {
        now += TICK_MS;
        const beats: Promise<void>[] = [];
        for (let j = i % share; j < ids.length; j += share) beats.push(store.recordHeartbeat(ids[j] as string, undefined, undefined, now));
        await Promise.all(beats);
      },
      async () => {
        const next = await readSnapshot(ctx, snapshot);
        const nodes = diffSnapshots(snapshot, next).find((m) => m.event === 'nodes')?.data as { upserted: unknown[] } | undefined;
        snapshot = next;
        sent.push(nodes?.upserted.length ?? 0);
      },
    );
    console.log(`  nodes sent a tick: ${Math.min(...sent)}–${Math.max(...sent)}`);
    printTimedRuns('tick', NODES, ticks);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
