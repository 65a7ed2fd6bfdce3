/**
 * `npm run bench:rehearsal [-- --nodes 2000 --sites 20 --multiplier 3]`: a bad release
 * rehearsed on a simulated fleet, everything as separate processes, as an operator would run
 * it: a built `edgefleet server`, and `edgefleet sim --nodes N` (real agents in one process)
 * enrolling with a bootstrap token. Revision 1 goes everywhere; revision 2 carries the
 * simulator's latency annotation (every inference N× slower) and a staged rollout 1 → 10 →
 * 50 → 100 % gated on P95 latency against revision 1.
 *
 * What must happen: the gate fails at the first step, the rollout rolls back, and only the
 * first step's nodes (1 % of the fleet, rounded up) ever ran revision 2 — the blast radius,
 * counted by the simulator from what its agents really started. Prints the timeline and a
 * final JSON line {"nodes":N,"phase":"RolledBack","failedAtStep":1,"blastRadius":x,
 * "expectedBlastRadius":x,"secondsToRollback":x,"enrollSeconds":x}. Exits 1 if the rollout
 * did not roll back at step 1 or the blast radius is wrong.
 *
 * `--container` (issue 16): the same rehearsal with a container release. Revision 1 is an
 * image pinned by digest (the simulator's default: 50 MB, pulled by every node over its
 * simulated link), revision 2 the same repository at another digest (one changed 5 MB
 * layer) and good, so it goes through every step to `Succeeded`. The final line adds
 * `imageMbPerNode` for each revision (from the simulator's pull totals: what each node moved
 * over its link). Exits 1 unless the rollout succeeded on every node and the second revision
 * moved about the changed layer, not the image.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { RolloutStatus } from '@edgefleet/protocol';
import { sleep } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { benchArgs } from './lib/args.js';
import { patiently } from './lib/patiently.js';
import { machineLine, round } from './lib/proc-stats.js';
import { buildCli, CLI, REPO_ROOT, startServerProcess } from './lib/server-process.js';
import { simContainerDeployment, simDeployment } from './lib/sim-deployment.js';

const flags = benchArgs('npm run bench:rehearsal [-- --nodes 2000 --sites 20 --multiplier 3 --container]', {
  nodes: { type: 'string' },
  sites: { type: 'string' },
  multiplier: { type: 'string' },
  container: { type: 'boolean', default: false },
});
function flag(name: 'nodes' | 'sites' | 'multiplier', fallback: number, integer = true): number {
  const text = flags[name];
  const v = text === undefined ? fallback : Number(text);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new Error(`--${name} must be a ${integer ? 'whole ' : ''}number above 0`);
  return v;
}

const NODES = flag('nodes', 2000);
const SITES = flag('sites', Math.max(1, Math.round(NODES / 100)));
const MULTIPLIER = flag('multiplier', 3, false);
const CONTAINER = flags.container;
const IMAGE = (n: number): string => `registry.example:5000/team/detector@sha256:${String(n).repeat(64)}`;
const elapsed = (t0: number): string => `${round((performance.now() - t0) / 1000, 0)} s`.padStart(6);

const ROLLOUT = {
  // Bakes long enough for the gate to see a few reports of every step's nodes (lan
  // profile: stats every 15 s), short enough for a rehearsal.
  steps: [
    { percent: 1, bake: '60s' },
    { percent: 10, bake: '60s' },
    { percent: 50, bake: '30s' },
    { percent: 100, bake: '0s' },
  ],
  maxParallel: 10_000,
  maxUnavailablePerSite: '100%',
  gates: { minRequests: 100, p95LatencyRatio: 1.5, maxErrorRate: 0.02 },
};

/** The simulator as its own process; resolves its final JSON summary when it exits. */
function startSim(args: string[]): { child: ChildProcess; final: Promise<Record<string, unknown>> } {
  const child = spawn(process.execPath, [CLI, 'sim', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let last = '';
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('{')) last = line;
    else console.log(`  sim | ${line}`);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => console.log(`  sim! ${line}`));
  const final = new Promise<Record<string, unknown>>((ok, fail) => {
    child.on('exit', (code) => {
      if (last === '') fail(new Error(`edgefleet sim exited ${code} without a final summary`));
      else ok(JSON.parse(last) as Record<string, unknown>);
    });
  });
  // Handled here too: when the bench fails and kills the simulator, the bench's own error is the one to show.
  final.catch(() => {});
  return { child, final };
}

async function main(): Promise<void> {
  console.log(
    CONTAINER
      ? `rehearsal of a container release: ${NODES} simulated nodes in ${SITES} sites, two image digests sharing a 45 MB base; ${machineLine()}`
      : `rehearsal of a bad release: ${NODES} simulated nodes in ${SITES} sites, revision 2 ${MULTIPLIER}× slower; ${machineLine()}`,
  );
  buildCli();
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-rehearsal-'));
  const server = await startServerProcess({ dataDir: join(dir, 'server'), serverArgs: ['--no-require-signed', '--heartbeat-interval', '30s'] });
  const admin = new EdgefleetClient({ server: server.url, token: server.adminToken, ca: server.caPem });
  let sim: ReturnType<typeof startSim> | undefined;
  try {
    const file = join(REPO_ROOT, 'examples/models/mlp-4-8-3.stub.json');
    const artifact = (await admin.pushArtifact(createReadStream(file), statSync(file).size)).digest;
    writeFileSync(join(dir, 'bootstrap.token'), (await admin.createBootstrapToken({ uses: NODES + 10 })).token, { mode: 0o600 });
    writeFileSync(join(dir, 'admin.token'), server.adminToken, { mode: 0o600 });

    const t0 = performance.now();
    sim = startSim([
      ...['--server', server.url, '--token-file', join(dir, 'bootstrap.token'), '--admin-token-file', join(dir, 'admin.token')],
      ...['--nodes', String(NODES), '--sites', String(SITES), '--rps', '1', '--interval', '30s', '--enroll-concurrency', '50'],
      ...['--data', join(dir, 'nodes')],
    ]);
    for (;;) {
      const online = (await patiently('listing nodes', () => admin.listNodes())).items.filter((n) => n.status === 'online').length;
      if (online >= NODES) break;
      if (sim.child.exitCode !== null) throw new Error('edgefleet sim ended before every node was online');
      await sleep(2_000);
    }
    const enrollSeconds = (performance.now() - t0) / 1000;
    console.log(`${elapsed(t0)}  all ${NODES} nodes enrolled and online`);

    const onRevision = async (revision: number): Promise<number> =>
      (await patiently('reading the deployment', () => admin.getDeployment('detect'))).status.nodes.filter(
        (n) => n.revision === revision && n.state === 'running',
      ).length;
    // The first release goes everywhere at once (nothing to compare it with); the next one in stages.
    await admin.apply([CONTAINER ? simContainerDeployment(IMAGE(1), '1.0.0') : simDeployment(artifact, '1.0.0')]);
    while ((await onRevision(1)) < NODES) {
      if (performance.now() - t0 > 1_800_000) throw new Error(`revision 1 runs on ${await onRevision(1)} of ${NODES} nodes after 30 minutes`);
      await sleep(2_000);
    }
    const revision1Seconds = (performance.now() - t0) / 1000 - enrollSeconds;
    console.log(`${elapsed(t0)}  revision 1 runs on every node; applying revision 2 (${CONTAINER ? 'one changed layer' : `${MULTIPLIER}× slower`})`);

    const t1 = performance.now();
    await admin.apply([
      CONTAINER
        ? simContainerDeployment(IMAGE(2), '1.1.0', { rollout: ROLLOUT })
        : simDeployment(artifact, '1.1.0', { rollout: ROLLOUT, annotations: { 'sim.edgefleet.dev/latency-multiplier': String(MULTIPLIER) } }),
    ]);
    let last = '';
    let end: RolloutStatus;
    for (;;) {
      const s = await patiently('reading the rollout', () => admin.rolloutStatus('detect'));
      if (s.revision === 2) {
        const line = `${s.phase} step ${s.step}/${s.steps}, ${s.nodes.updated}/${s.nodes.total} updated${s.gate === null ? '' : `, gate ${s.gate.result}`}`;
        if (line !== last) console.log(`${elapsed(t0)}  revision 2: ${line}`);
        last = line;
        if (['RolledBack', 'Succeeded', 'Aborted'].includes(s.phase)) {
          end = s;
          break;
        }
      }
      if (performance.now() - t1 > 1_200_000) throw new Error('the rollout did not end within 20 minutes');
      await sleep(1_000);
    }
    const secondsToRollback = (performance.now() - t1) / 1000;
    console.log(`${elapsed(t0)}  gate measured: ${JSON.stringify(end.gate?.measured ?? {})}`);
    for (const e of await admin.events('detect')) if (e.revision === 2) console.log(`         event ${e.type}: ${e.message}`);
    const finalRevision = CONTAINER ? 2 : 1;
    while ((await onRevision(finalRevision)) < NODES && performance.now() - t1 < 1_500_000) await sleep(2_000);
    console.log(`${elapsed(t0)}  every node runs revision ${finalRevision}${CONTAINER ? '' : ' again'}`);

    sim.child.kill('SIGINT');
    const final = (await sim.final) as {
      everRan?: Record<string, Record<string, number>>;
      process?: { rssMb: number };
      images?: Record<string, { nodes: number; bytes: number; bytesPerNode: number }>;
    };
    const blastRadius = final.everRan?.detect?.['2'];
    if (blastRadius === undefined) throw new Error('the simulator summary has no everRan.detect["2"]');
    console.log(`  server RSS ${round(server.rssMb())} MB; simulator RSS ${final.process?.rssMb} MB`);
    if (CONTAINER) {
      const pulled = (n: number) => final.images?.[IMAGE(n)];
      const mbPerNode = (n: number): number => round((pulled(n)?.bytesPerNode ?? 0) / 1e6, 2);
      console.log(
        `  image pulls: revision 1 by ${pulled(1)?.nodes} nodes, ${mbPerNode(1)} MB each; revision 2 by ${pulled(2)?.nodes} nodes, ${mbPerNode(2)} MB each`,
      );
      const result = {
        nodes: NODES,
        phase: end.phase,
        everRanRevision2: blastRadius,
        secondsToRevision1: round(revision1Seconds),
        secondsToRollOutRevision2: round(secondsToRollback),
        imageMbPerNode: { revision1: mbPerNode(1), revision2: mbPerNode(2) },
        enrollSeconds: round(enrollSeconds),
      };
      console.log(JSON.stringify(result));
      if (end.phase !== 'Succeeded' || blastRadius !== NODES || !(mbPerNode(2) < 6)) process.exitCode = 1;
      return;
    }
    const expected = Math.ceil(NODES * 0.01);
    console.log(`  blast radius: ${blastRadius} of ${NODES} nodes ever ran revision 2 (the first step is ${expected})`);
    const result = {
      nodes: NODES,
      phase: end.phase,
      failedAtStep: end.step,
      blastRadius,
      expectedBlastRadius: expected,
      secondsToRollback: round(secondsToRollback),
      enrollSeconds: round(enrollSeconds),
    };
    console.log(JSON.stringify(result));
    if (end.phase !== 'RolledBack' || end.step !== 1 || blastRadius !== expected) process.exitCode = 1;
  } finally {
    if (sim !== undefined && sim.child.exitCode === null) sim.child.kill('SIGKILL');
    await admin.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(`bench:rehearsal failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
