/**
 * `npm run bench:gates -- --real [--runs 10] [--agents 8]`: the gates on this machine, with
 * a real server and real agents (one process, loopback TLS, `test-support/fleet.ts`), each
 * agent running its workload as a child process (the OIP stub runtime, a tiny model plus a
 * fixed `EDGEFLEET_STUB_DELAY_MS`), and a traffic driver sending inference requests to
 * every node all the time — the issue's "six agents on one busy two-core machine".
 *
 * Each run applies a new revision on top of the one the fleet runs:
 * - A/A: the same release with a new version (byte-identical model, same delay);
 * - A/B 3×: the model's time three times as long (`EDGEFLEET_STUB_DELAY_MS` × 3; the
 *   request's total latency, with the proxy and the loaded machine, rises a little less).
 * and waits for the rollout to succeed or roll back. Runs alternate A/A and A/B.
 *
 * Gates are realistic (`p95LatencyRatio: 1.5`, every other threshold at its default) but
 * time is shortened so that a rollout takes about a minute: steps 25 % / 50 % / 100 % with
 * 20 s bakes (2 then 4 canaries of 8), `interval: 5s`, `warmup: {requests: 50, duration:
 * 5s}`, `maxAnalysisTime: 1m`; heartbeats every 2 s, a planner pass every 500 ms.
 *
 * An A/A run that does not succeed (rolled back, or not ended within 5 minutes) counts as a
 * false rollback; an A/B run counts as caught when it is rolled back.
 *
 * Prints the same JSON fields as the simulated bench, the 3× figures in their own keys:
 * {"runs":N,"falseRollbackRate":x,"detection1_3x":null,"detection2x":null,
 *  "medianSecondsToDetect2x":null,"detection3x":y,"medianSecondsToDetect3x":t}
 */
import { createReadStream, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DeploymentManifestInput, RolloutStatus } from '@edgefleet/protocol';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { machineLine } from '../lib/proc-stats.js';
import { median, wilson } from './figures.js';

const ROOT = resolve(import.meta.dirname, '../..');
const STUB = join(ROOT, 'examples/models/mlp-4-8-3.stub.json');
/**
 * The model's time per inference in ms. Under 10 ms the latency the agents measure on this
 * machine is mostly the machine's (one process runs the server, the agents' proxies and the
 * traffic driver: a P95 of 80 ms for an 8 ms model when other work shares the two cores),
 * and a 3× model is not 1.5× slower end to end, so no gate set at 1.5 can tell.
 */
const BASE_MS = 20;
const SLOW_FACTOR = 3;
/** Traffic: this many clients, each sending one request after another with `PAUSE_MS` between (about 10 requests/s per node). */
const CLIENTS = 4;
const PAUSE_MS = 20;
const RUN_TIMEOUT_MS = 5 * 60_000;
const FAST_WORKLOADS = { crashLoopThreshold: 3, primaryRetryDelayMs: () => 2_000, desiredWaitSeconds: 5, reconcileIntervalMs: 100 };

/** The realistic gates, with times shortened (see the module comment). */
export const REAL_STRATEGY = {
  steps: [
    { percent: 25, bake: '20s' },
    { percent: 50, bake: '20s' },
    { percent: 100, bake: '0s' },
  ],
  cohortBy: ['geolocation.site'],
  maxUnavailablePerSite: 2,
  gates: { p95LatencyRatio: 1.5, interval: '5s', warmup: { requests: 50, duration: '5s' }, maxAnalysisTime: '1m' },
  offline: { deferAfter: '30s', minReachedPercent: 90 },
  onFailure: 'rollback',
  progressDeadline: '3m',
};

interface RealRun {
  kind: 'A/A' | 'A/B 3×';
  /** The rollout's final phase (Succeeded, RolledBack, Aborted), or why it did not end. */
  phase: string;
  seconds: number;
  message: string;
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

export async function realBench(o: { runs: number; agents: number }): Promise<void> {
  log(`bench:gates --real — ${o.runs} A/A and ${o.runs} A/B ${SLOW_FACTOR}× rollouts, ${o.agents} agents, ${CLIENTS} traffic clients; ${machineLine()}`);
  log(`  gates ${JSON.stringify(REAL_STRATEGY.gates)}, steps ${REAL_STRATEGY.steps.map((s) => `${s.percent} % (${s.bake})`).join(' → ')}`);
  let fleet: TestFleet | undefined;
  let stopTraffic = false;
  let traffic: Promise<void> = Promise.resolve();
  const cleanup = async (): Promise<void> => {
    stopTraffic = true;
    await traffic;
    await fleet?.close();
    fleet = undefined;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`  ${signal}: stopping the traffic, the agents and the server`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    fleet = await startTestFleet({ heartbeatIntervalMs: 2_000, rolloutIntervalMs: 500, requireSigned: false });
    const f = fleet;
    const artifact = (await f.admin.pushArtifact(createReadStream(STUB), statSync(STUB).size)).digest;
    const token = await f.createToken({ uses: o.agents });
    const agents = await Promise.all(
      Array.from({ length: o.agents }, (_, i) => f.startAgent('pi5-hailo8l', { token, site: `site-${i % 2 === 0 ? 'a' : 'b'}`, workloads: FAST_WORKLOADS })),
    );
    await eventually(() => agents.every((a) => a.agent.state.lastHeartbeatAt !== undefined), 60_000, 'every agent to report');
    log(`  ${o.agents} agents enrolled`);

    let version = 1;
    const apply = async (delayMs: number, rollout: boolean): Promise<void> => {
      const manifest: DeploymentManifestInput = {
        apiVersion: 'edgefleet.dev/v1',
        kind: 'Deployment',
        metadata: { name: 'detect' },
        spec: {
          selector: 'cpu.arch=arm64',
          release: {
            version: String(version++),
            model: { artifact, format: 'other' },
            runtime: { kind: 'process', command: process.execPath, args: [join(ROOT, 'examples/runtimes/oip-stub.mjs')], accelerator: 'none' },
            // A loaded machine misses health probes now and then; a restart would fail maxRestarts, which is not measured here.
            health: { interval: '500ms', failureThreshold: 6, window: '1s' },
            env: { EDGEFLEET_STUB_DELAY_MS: String(delayMs) },
          } as never,
          ...(rollout ? { rollout: REAL_STRATEGY as never } : {}),
        },
      };
      await f.admin.apply([manifest]);
    };
    // Revision 1 everywhere at once: the first baseline.
    await apply(BASE_MS, false);
    const lines = await eventually(
      async () => {
        const l = (await f.admin.getDeployment('detect')).status.nodes;
        return l.length === o.agents && l.every((x) => x.state === 'running' && x.endpoint !== null) && l;
      },
      120_000,
      'revision 1 on every node',
    );
    const endpoints = lines.map((l) => l.endpoint as string);
    const sent: Record<string, number> = {};
    const client = async (offset: number): Promise<void> => {
      let i = offset;
      while (!stopTraffic) {
        const ep = endpoints[i++ % endpoints.length] as string;
        await fetch(`${ep}/v2/models/detect/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
          signal: AbortSignal.timeout(10_000),
        }).then(
          async (r) => {
            sent[r.status] = (sent[r.status] ?? 0) + 1;
            await r.arrayBuffer();
          },
          (e: Error) => {
            sent[e.name] = (sent[e.name] ?? 0) + 1;
          },
        );
        await new Promise((r) => setTimeout(r, PAUSE_MS));
      }
    };
    traffic = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c))).then(() => undefined);
    // Traffic before the first rollout: the baseline has data and the instances are warm.
    await new Promise((r) => setTimeout(r, 30_000));
    log(`  traffic: ${JSON.stringify(sent)} in the first 30 s`);

    const results: RealRun[] = [];
    for (let run = 0; run < o.runs; run++) {
      for (const kind of ['A/A', 'A/B 3×'] as const) {
        const revision = version;
        const started = performance.now();
        await apply(kind === 'A/A' ? BASE_MS : BASE_MS * SLOW_FACTOR, true);
        const end = await eventually(
          async () => {
            const s: RolloutStatus = await f.admin.rolloutStatus('detect');
            return s.revision === revision && (s.phase === 'Succeeded' || s.phase === 'RolledBack' || s.phase === 'Aborted') && s;
          },
          RUN_TIMEOUT_MS,
          `the rollout of revision ${revision} to end`,
        ).catch(async (err: Error) => {
          // A rollout that does not end in time (stalled, held for data) is recorded as such; the runs go on.
          const s = await f.admin.rolloutStatus('detect');
          return { ...s, phase: `not ended after ${RUN_TIMEOUT_MS / 60_000} min (${s.phase}): ${err.message}` };
        });
        const r: RealRun = {
          kind,
          phase: end.phase,
          seconds: (performance.now() - started) / 1000,
          message: end.gate?.message ?? end.conditions.map((c) => c.message).join('; '),
        };
        results.push(r);
        log(`  run ${run + 1}/${o.runs} ${kind}: ${r.phase} after ${Math.round(r.seconds)} s — ${r.message}`);
        // A rolled-back release leaves its canaries switching back: wait until every node serves again.
        await eventually(
          async () => (await f.admin.getDeployment('detect')).status.nodes.every((n) => n.state === 'running'),
          120_000,
          'every node serving again',
        ).catch((err: Error) => log(`  warning: ${err.message}; going on`));
      }
    }
    const aa = results.filter((r) => r.kind === 'A/A');
    const ab = results.filter((r) => r.kind !== 'A/A');
    const falseRollbacks = aa.filter((r) => r.phase !== 'Succeeded').length;
    const caught = ab.filter((r) => r.phase === 'RolledBack');
    const pct = (k: number, n: number): string => {
      const w = wilson(k, n);
      return `${k}/${n} (95 % ${(w.low * 100).toFixed(0)}–${(w.high * 100).toFixed(0)} %)`;
    };
    log(
      `  A/A rolled back ${pct(falseRollbacks, aa.length)}; A/B ${SLOW_FACTOR}× rolled back ${pct(caught.length, ab.length)}; traffic ${JSON.stringify(sent)}`,
    );
    process.stdout.write(
      `${JSON.stringify({
        runs: o.runs,
        falseRollbackRate: round(falseRollbacks / Math.max(1, aa.length)),
        detection1_3x: null,
        detection2x: null,
        medianSecondsToDetect2x: null,
        detection3x: round(caught.length / Math.max(1, ab.length)),
        medianSecondsToDetect3x: caught.length === 0 ? null : Math.round(median(caught.map((r) => r.seconds))),
      })}\n`,
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

function round(v: number): number {
  return Math.round(v * 10_000) / 10_000;
}
