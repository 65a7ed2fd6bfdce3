/**
 * `npm run bench:rollout [-- --nodes 5000 --sites 50]`: a staged rollout at scale. A real
 * server (its own process) and N simulated nodes (real agents, one process) take a release,
 * then its next revision through 1 → 10 → 50 → 100 % with zero bake; the wall time from the
 * apply to Succeeded is the figure, next to the planner's times for 100,000 nodes (from
 * bench/plan.ts: the slowest once-a-second pass, and the slowest gate judgement pass).
 * Last line: {"nodes":N,"seconds":x,"planPassMsAt100k":x,"judgePassMsAt100k":y}.
 */

import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { startSimulation } from '@edgefleet/sim';
import { benchArgs } from './lib/args.js';
import { patiently } from './lib/patiently.js';
import { machineLine, round } from './lib/proc-stats.js';
import { buildCli, REPO_ROOT, startServerProcess } from './lib/server-process.js';
import { simDeployment } from './lib/sim-deployment.js';

const flags = benchArgs('npm run bench:rollout [-- --nodes 5000 --sites 50]', { nodes: { type: 'string' }, sites: { type: 'string' } });
function flag(name: keyof typeof flags, fallback: number): number {
  const text = flags[name];
  const v = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a whole number of at least 1`);
  return v;
}

const NODES = flag('nodes', 5000);
const SITES = flag('sites', Math.max(1, Math.round(NODES / 100)));

/** Zero bake and gates that always pass: the figure is the machinery's speed. */
const ROLLOUT = {
  steps: [
    { percent: 1, bake: '0s' },
    { percent: 10, bake: '0s' },
    { percent: 50, bake: '0s' },
    { percent: 100, bake: '0s' },
  ],
  maxParallel: 10_000,
  maxUnavailablePerSite: '100%',
  gates: { minRequests: 1, p95LatencyRatio: 100, maxErrorRate: 1, maxFallbackRate: 1, maxRestarts: 1000 },
  offline: { deferAfter: '30s', minReachedPercent: 90 },
};

async function main(): Promise<void> {
  console.log(`rollout at scale: ${NODES} simulated nodes in ${SITES} sites; ${machineLine()}`);
  buildCli();
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-rollout-'));
  const server = await startServerProcess({ dataDir: join(dir, 'server'), serverArgs: ['--no-require-signed', '--heartbeat-interval', '30s'] });
  const admin = new EdgefleetClient({ server: server.url, token: server.adminToken, ca: server.caPem });
  try {
    const file = join(REPO_ROOT, 'examples/models/mlp-4-8-3.stub.json');
    const artifact = (await admin.pushArtifact(createReadStream(file), statSync(file).size)).digest;
    const token = (await admin.createBootstrapToken({ uses: NODES + 10 })).token;
    const enrollStart = performance.now();
    const sim = await startSimulation({
      server: server.url,
      token,
      nodes: NODES,
      sites: SITES,
      rps: 1,
      seed: 7,
      dataDir: join(dir, 'nodes'),
      enrollConcurrency: 50,
    });
    await sim.whenStarted();
    console.log(`  ${NODES} nodes enrolled and reporting in ${round((performance.now() - enrollStart) / 1000)} s`);

    const servingAll = async (revision: number, timeoutMs: number): Promise<number> => {
      const t0 = performance.now();
      for (;;) {
        const d = await patiently('reading the deployment', () => admin.getDeployment('detect'));
        const on = d.status.nodes.filter((n) => n.revision === revision && (n.state === 'running' || n.state === 'degraded')).length;
        if (on >= NODES * 0.99) return on;
        if (performance.now() - t0 > timeoutMs) throw new Error(`only ${on} of ${NODES} nodes serve revision ${revision} after ${timeoutMs / 1000} s`);
        await sleep(2_000);
      }
    };
    await admin.apply([simDeployment(artifact, '1.0.0')]);
    await servingAll(1, 600_000);
    console.log('  revision 1 serves everywhere; applying revision 2 with steps 1 → 10 → 50 → 100 %, zero bake');

    const t0 = performance.now();
    await admin.apply([simDeployment(artifact, '1.1.0', { rollout: ROLLOUT })]);
    let last = '';
    for (;;) {
      const s = await patiently('reading the rollout', () => admin.rolloutStatus('detect'));
      if (s.revision === 2) {
        const line = `${s.phase} step ${s.step}/${s.steps}, ${s.nodes.updated}/${s.nodes.total} updated`;
        if (line !== last) console.log(`  ${round((performance.now() - t0) / 1000)} s: ${line}`);
        last = line;
        if (s.phase === 'Succeeded') break;
        if (s.phase === 'RolledBack' || s.phase === 'Aborted') throw new Error(`the rollout ended ${s.phase}`);
      }
      if (performance.now() - t0 > 1_800_000) throw new Error('the rollout did not finish in 30 minutes');
      await sleep(1_000);
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(`  rollout of ${NODES} nodes: ${round(seconds)} s from apply to Succeeded (${round((NODES / seconds) * 60, 0)} nodes a minute)`);
    console.log(`  server RSS ${round(server.rssMb())} MB; simulator RSS ${round(process.memoryUsage().rss / 1e6)} MB`);
    await sim.stop();

    const plan = execFileSync(process.execPath, ['--conditions=edgefleet:source', '--import', 'tsx', 'bench/plan.ts'], { cwd: REPO_ROOT, encoding: 'utf8' });
    const planLine = JSON.parse(plan.trim().split('\n').at(-1) as string) as { nodes: number; planMs: number; judgeMs: number };
    console.log(
      `  planner over ${planLine.nodes} nodes (bench/plan.ts): ${planLine.planMs} ms for the slowest once-a-second pass, ${planLine.judgeMs} ms for the slowest gate judgement pass`,
    );
    console.log(JSON.stringify({ nodes: NODES, seconds: round(seconds), planPassMsAt100k: planLine.planMs, judgePassMsAt100k: planLine.judgeMs }));
  } finally {
    await admin.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench:rollout failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
