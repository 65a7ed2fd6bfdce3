/**
 * `npm run bench:fleet -- --nodes N [--replicas R --db postgres] [--workers W --steady 2m]`:
 * the whole system at scale. N simulated real agents (`edgefleet sim`'s engine over W worker
 * processes, default one per core: enrollment, heartbeats, desired-state long polls,
 * telemetry and log uploads on the lan profile, inference traffic) against the built server
 * in its own process (SQLite, or with `--db postgres` a throwaway PostgreSQL 15); then a
 * release everywhere, a steady window, and a rollout of one new revision through
 * 1 → 10 → 50 → 100 % (zero bake, gates that pass, evaluated every 5 s: the figure is the
 * machinery's speed).
 *
 * Figures, last line:
 * {"nodes":N,"enrollSeconds":x,"p99Ms":x,"serverCpuPerNodeMinuteMs":x,"serverRssMb":x,"rolloutSeconds":x}
 * - enrollSeconds: from starting the simulator to the server listing all N nodes online.
 * - p99Ms: of every agent request after that (the enrollment burst left out) to the end of
 *   the rollout, timed in the agents' processes from the request's creation to its response
 *   headers (request-timer.ts; long polls left out: they wait on purpose).
 * - serverCpuPerNodeMinuteMs: the server process's CPU over the steady window (every node on
 *   revision 1, nothing changing) per node and minute.
 * - serverRssMb: the server's peak resident memory after enrollment.
 * The simulator's own memory per node (the workers' RSS over N) is printed above it, and
 * where the tail is: each kind's percentiles, and the requests over 250 ms by when they started.
 * `--heap-snapshot` has the first server write a V8 heap snapshot after the rollout (every node
 * still connected) and prints what its heap holds by constructor (bench/lib/heap-snapshot.ts).
 * `--server-node-args="…"` gives every server process these Node/V8 options (to measure a
 * tuning such as `--max-semi-space-size=32` against the default).
 * `--profile` runs the (first) server under `--cpu-prof` and prints its busiest 10 s after
 * enrollment, its steady window and its rollout. A probe node heartbeating every 200 ms from
 * its own thread times the server apart from the workers' backlog.
 *
 * `--replicas R` > 1 (with `--db postgres`) runs R server processes on one PostgreSQL with one
 * `--cluster-secret-file`, behind HAProxy in TCP mode (test-support/haproxy.ts, Debian's
 * `haproxy`), as docs/OPERATIONS.md sets them up; agents and operator calls all go through
 * it. Then serverCpuPerNodeMinuteMs sums the replicas' CPU, serverRssMb is the largest
 * replica's peak, and perReplicaRssMb lists each one.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration, sleep } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { defaultWorkers, type FleetSummary, REQUEST_KINDS, startWorkerFleet, type WorkerFleet } from '@edgefleet/sim';
import { type RunningHaproxy, startHaproxy } from '../test-support/haproxy.js';
import { freePort } from '../test-support/ports.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../test-support/postgres.js';
import { benchArgs } from './lib/args.js';
import { printProfile, summariseProfile } from './lib/cpu-profile.js';
import { type HeapSummary, printHeapSummary, summariseHeapSnapshot } from './lib/heap-snapshot.js';
import { startHeartbeatProber } from './lib/heartbeat-prober.js';
import { enrollNodes } from './lib/node-identities.js';
import { patiently as patientlyFor } from './lib/patiently.js';
import { machineLine, percentile, postgresCpuSeconds, round, rssMb } from './lib/proc-stats.js';
import { buildCli, REPO_ROOT, type ServerProcess, startServerProcess } from './lib/server-process.js';
import { simDeployment } from './lib/sim-deployment.js';

const flags = benchArgs(
  'npm run bench:fleet -- --nodes N [--sites S] [--replicas R --db postgres] [--workers W --steady 2m] [--profile] [--heap-snapshot] [--server-node-args=--max-semi-space-size=32]',
  {
    nodes: { type: 'string' },
    sites: { type: 'string' },
    replicas: { type: 'string' },
    workers: { type: 'string' },
    steady: { type: 'string' },
    db: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'heap-snapshot': { type: 'boolean', default: false },
    'server-node-args': { type: 'string' },
  },
);
function arg(name: Exclude<keyof typeof flags, 'profile' | 'heap-snapshot' | 'server-node-args'>): string | undefined {
  return flags[name];
}
function whole(name: Exclude<keyof typeof flags, 'profile' | 'heap-snapshot' | 'server-node-args'>, fallback: number): number {
  const text = arg(name);
  const v = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a whole number of at least 1, got "${text}"`);
  return v;
}

const NODES = whole('nodes', 1000);
const SITES = whole('sites', Math.max(1, Math.round(NODES / 100)));
const REPLICAS = whole('replicas', 1);
const WORKERS = whole('workers', defaultWorkers(NODES));
const STEADY_MS = parseDuration(arg('steady') ?? '2m', '--steady');
const DB = arg('db') ?? 'sqlite';
if (DB !== 'sqlite' && DB !== 'postgres') throw new Error(`--db must be sqlite or postgres, got "${DB}"`);

const ROLLOUT = {
  steps: [
    { percent: 1, bake: '0s' },
    { percent: 10, bake: '0s' },
    { percent: 50, bake: '0s' },
    { percent: 100, bake: '0s' },
  ],
  maxParallel: 100_000,
  maxUnavailablePerSite: '100%',
  // Gates evaluated every 5 s after a 1 s warm-up (defaults: 30 s each), that pass: the
  // figure is the machinery's speed at this size, not a bake time.
  gates: {
    minRequests: 1,
    p95LatencyRatio: 100,
    maxErrorRate: 1,
    maxFallbackRate: 1,
    maxRestarts: 1000,
    interval: '5s',
    warmup: { requests: 1, duration: '1s' },
  },
  offline: { deferAfter: '30s', minReachedPercent: 90 },
};

/** Operator calls on a starved server (a shared machine) may take minutes: tried for up to 5. */
const patiently = <T>(what: string, call: () => Promise<T>): Promise<T> => patientlyFor(what, call, 300_000);
const elapsed = (t0: number): string => `${round((performance.now() - t0) / 1000, 0)} s`.padStart(6);
const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** Requests over 250 ms (the issue's p99 bound), counted per 10 s of the run and by kind. */
class SlowTimeline {
  private readonly slots = new Map<number, Map<string, number>>();
  constructor(private readonly t0Wall: number) {}
  add(at: number, ms: number, kind: string): void {
    if (ms <= 250) return;
    const slot = Math.floor((at - this.t0Wall) / 10_000);
    const kinds = this.slots.get(slot) ?? new Map<string, number>();
    this.slots.set(slot, kinds.set(kind, (kinds.get(kind) ?? 0) + 1));
  }
  toString(): string {
    const lines = [...this.slots]
      .sort((a, b) => a[0] - b[0])
      .map(([slot, k]) => `${slot * 10}–${slot * 10 + 10} s: ${[...k].map(([kind, n]) => `${n} ${kind}`).join(', ')}`);
    return lines.length === 0 ? 'none' : lines.join('; ');
  }
}

/** This process's hard limit on open files (what HAProxy, its child, can raise its own to). */
function openFilesHardLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const hard = Number(line?.slice('Max open files'.length).trim().split(/\s+/)[1]);
  return Number.isInteger(hard) && hard > 0 ? hard : 20_000;
}

async function main(): Promise<void> {
  if (REPLICAS > 1 && DB !== 'postgres') throw new Error(`--replicas ${REPLICAS} needs --db postgres: replicas share their state there`);
  console.log(
    `fleet: ${NODES} simulated nodes in ${SITES} sites over ${WORKERS} worker processes, ${DB}, ${REPLICAS} replica(s)${flags['server-node-args'] === undefined ? '' : ` (node ${flags['server-node-args']})`}; ${machineLine()}; load ${load()}`,
  );
  buildCli();
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-fleet-'));
  let pg: ThrowawayPostgres | undefined;
  // Ctrl-C: exit, so the 'exit' handlers run (the server is killed, the workers see their
  // parent gone and stop, PostgreSQL stops, the folder goes).
  const interrupted = (): void => process.exit(130);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  process.once('exit', () => {
    pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  if (DB === 'postgres') pg = await startThrowawayPostgres();
  // Replicas as an operator runs them (docs/OPERATIONS.md): one database, one cluster secret,
  // each its own data dir; the first initializes, the others join; HAProxy in TCP mode in
  // front, and every agent and operator call goes through it.
  const secretFile = join(dir, 'cluster-secret');
  writeFileSync(secretFile, randomBytes(48).toString('base64'), { mode: 0o600 });
  const serverArgs = ['--no-require-signed', ...(pg === undefined ? [] : ['--db', pg.url]), ...(REPLICAS > 1 ? ['--cluster-secret-file', secretFile] : [])];
  const servers: ServerProcess[] = [];
  let lb: RunningHaproxy | undefined;
  process.once('exit', () => {
    for (const s of servers) s.child.kill('SIGKILL');
    lb?.kill();
  });
  // --profile: the first server under the CPU profiler; its busiest 10 s are printed at the end.
  const profDir = join(dir, 'profile');
  const serverStartedAt = performance.now();
  const workerProfDir = join(dir, 'profile-worker');
  const heapDir = join(dir, 'heap');
  mkdirSync(heapDir);
  for (let i = 1; i <= REPLICAS; i++) {
    const nodeArgs = [
      ...(flags['server-node-args']?.split(/\s+/).filter((a) => a !== '') ?? []),
      ...(flags.profile && i === 1 ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []),
      ...(flags['heap-snapshot'] && i === 1 ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heapDir}`] : []),
    ];
    servers.push(await startServerProcess({ dataDir: join(dir, `server-${i}`), serverArgs, nodeArgs }));
  }
  const first = servers[0] as ServerProcess;
  if (REPLICAS > 1) {
    lb = await startHaproxy(
      dir,
      await freePort(),
      servers.map((s, i) => ({ name: `replica-${i + 1}`, port: Number(new URL(s.url).port) })),
      // A lan agent holds about 2.2 connections: at 4,096 (the tests' cap) 2,000 nodes queued
      // at the load balancer, not at the replicas. HAProxy needs two descriptors for each.
      Math.min(Math.max(4096, Math.ceil(2.5 * (NODES + 100))), Math.floor((openFilesHardLimit() - 200) / 2)),
    );
    console.log(`  ${REPLICAS} replicas (${servers.map((s) => s.url).join(', ')}) behind HAProxy at ${lb.url}`);
  }
  const url = lb?.url ?? first.url;
  const admin = new EdgefleetClient({ server: url, token: first.adminToken, ca: first.caPem });
  let sim: WorkerFleet | undefined;
  const peakRss = servers.map(() => 0);
  let sampling = false;
  const sampleRss = (): void => {
    servers.forEach((s, i) => {
      peakRss[i] = Math.max(peakRss[i] as number, s.rssMb() || 0);
    });
  };
  const sampler = setInterval(() => {
    if (sampling) sampleRss();
  }, 1_000);
  const cpuSeconds = (): number => servers.reduce((sum, s) => sum + s.cpuSeconds(), 0);
  try {
    const file = join(REPO_ROOT, 'examples/models/mlp-4-8-3.stub.json');
    const artifact = (await admin.pushArtifact(createReadStream(file), statSync(file).size)).digest;
    const token = (await admin.createBootstrapToken({ uses: NODES })).token;
    const t0 = performance.now();
    const t0Wall = Date.now();
    sim = await startWorkerFleet(
      {
        server: url,
        token,
        nodes: NODES,
        sites: SITES,
        rps: 1,
        seed: 18,
        profile: 'lan',
        intervalMs: 30_000,
        enrollConcurrency: 50,
      },
      {
        workers: WORKERS,
        measureRequests: true,
        stderr: (w, line) => console.log(`  worker ${w}! ${line}`),
        // --profile: the first worker too (its clock starts about with the bench's t0).
        ...(flags.profile ? { nodeArgs: (w: number) => (w === 0 ? ['--cpu-prof', '--cpu-prof-dir', workerProfDir] : []) } : {}),
      },
    );
    const running = sim;
    running.onEvent((e) => {
      if (e.type === 'summary') {
        const s = e.summary as FleetSummary;
        console.log(
          `${elapsed(t0)}  sim: ${s.nodes.started}/${s.nodes.total} started, ${s.nodes.online} online; workers rss ${s.workers.map((w) => w.rssMb).join(' + ')} MB (heap ${s.workers.map((w) => w.heapUsedMb).join(' + ')} MB); load ${load()}`,
        );
      }
    });
    const failed = running.finished.then(
      () => new Error('the simulator stopped early'),
      (err: Error) => err,
    );
    const orFail = async <T>(p: Promise<T>): Promise<T> =>
      Promise.race([
        p,
        failed.then((e) => {
          throw e;
        }),
      ]);
    const online = async (): Promise<number> => (await patiently('listing nodes', () => admin.listNodes())).items.filter((n) => n.status === 'online').length;
    for (let n = await orFail(online()); n < NODES; n = await orFail(online())) {
      if (performance.now() - t0 > 3_600_000) throw new Error(`${n} of ${NODES} nodes online after an hour`);
      await orFail(sleep(2_000));
    }
    const enrolledAt = Date.now();
    const enrolledPerf = performance.now();
    const enrollSeconds = (enrolledPerf - t0) / 1000;
    sampling = true;
    console.log(`${elapsed(t0)}  all ${NODES} nodes enrolled and online (${round(enrollSeconds)} s); load ${load()}`);

    // A probe node heartbeating every 200 ms from a thread of its own: the server's latency,
    // apart from the simulator workers' own backlog (which the agents' timings include).
    // Labelled cpu.arch=probe by its heartbeats, so no deployment here targets it.
    const probeToken = (await admin.createBootstrapToken({ uses: 1 })).token;
    const [probe] = await enrollNodes({ server: url, caPem: first.caPem, token: probeToken, count: 1 });
    if (probe === undefined) throw new Error('the probe node did not enroll');
    const prober = startHeartbeatProber({
      server: url,
      caPem: first.caPem,
      certPem: probe.certPem,
      keyPem: probe.keyPem,
      status: { ...probe.status, labels: { ...probe.status.labels, 'cpu.arch': 'probe' }, workloads: [] },
      intervalMs: 200,
    });

    const onRevision = async (revision: number): Promise<number> =>
      (await patiently('reading the deployment', () => admin.getDeployment('detect'))).status.nodes.filter(
        (n) => n.revision === revision && n.state === 'running',
      ).length;
    await admin.apply([simDeployment(artifact, '1.0.0')]);
    while ((await orFail(onRevision(1))) < NODES) {
      if (performance.now() - t0 > 5_400_000) throw new Error(`revision 1 runs on ${await onRevision(1)} of ${NODES} nodes after 90 minutes`);
      await orFail(sleep(2_000));
    }
    console.log(`${elapsed(t0)}  revision 1 runs on every node; steady for ${STEADY_MS / 1000} s`);

    const cpu0 = cpuSeconds();
    const pgCpu0 = pg === undefined ? 0 : postgresCpuSeconds(join(pg.dir, 'data'));
    const s0 = performance.now();
    await orFail(sleep(STEADY_MS));
    const cpuMs = (cpuSeconds() - cpu0) * 1000;
    const pgCpuMs = pg === undefined ? 0 : (postgresCpuSeconds(join(pg.dir, 'data')) - pgCpu0) * 1000;
    const steadyEnd = performance.now();
    const minutes = (steadyEnd - s0) / 60_000;
    const serverCpuPerNodeMinuteMs = cpuMs / NODES / minutes;
    const share = (ms: number): string => `${round(ms / 1000)} CPU s in ${round(minutes, 2)} min (${round((ms / 1000 / (minutes * 60)) * 100)} % of a core)`;
    // PostgreSQL's processes apart: serverCpuPerNodeMinuteMs is the server's alone, on either engine.
    const database = pg === undefined ? '' : `; postgres ${share(pgCpuMs)}, ${round(pgCpuMs / NODES / minutes, 3)} ms per node-minute`;
    console.log(`${elapsed(t0)}  steady: server ${share(cpuMs)}${database}; load ${load()}`);

    const r0 = performance.now();
    await admin.apply([simDeployment(artifact, '1.1.0', { rollout: ROLLOUT })]);
    let last = '';
    for (;;) {
      const s = await orFail(patiently('reading the rollout', () => admin.rolloutStatus('detect')));
      if (s.revision === 2) {
        const line = `${s.phase} step ${s.step}/${s.steps}, ${s.nodes.updated}/${s.nodes.total} updated`;
        if (line !== last) console.log(`${elapsed(t0)}  revision 2: ${line}`);
        last = line;
        if (s.phase === 'Succeeded') break;
        if (['RolledBack', 'Aborted', 'Failed'].includes(s.phase)) throw new Error(`the rollout ended ${s.phase}: ${s.conditions[0]?.message ?? ''}`);
      }
      if (performance.now() - r0 > 1_800_000) throw new Error('the rollout did not succeed within 30 minutes');
      await orFail(sleep(1_000));
    }
    const rolloutEnd = performance.now();
    const rolloutSeconds = (rolloutEnd - r0) / 1000;
    console.log(`${elapsed(t0)}  rollout succeeded in ${round(rolloutSeconds)} s; load ${load()}`);
    sampleRss();
    sampling = false;

    const probed = await prober.stop();
    // --heap-snapshot: what the first server's heap holds with every node still connected.
    // Writing it stops the server for a while, so it comes after the measured window (the
    // latencies stop there; the counts of refused and failed requests include it).
    const measuredUntil = Date.now();
    const heap = flags['heap-snapshot'] ? await snapshotHeap(first.child.pid as number, heapDir) : undefined;
    const final = await running.stop();
    const samples = running.requestSamples();
    const after: number[] = [];
    const byKind = new Map<string, number[]>();
    // When the tail happened: requests over 250 ms (the issue's p99 bound) per 10 s of the run, by kind.
    const slow = new SlowTimeline(t0Wall);
    for (let i = 0; i < samples.at.length; i++) {
      if ((samples.at[i] as number) < enrolledAt || (samples.at[i] as number) >= measuredUntil) continue;
      after.push(samples.ms[i] as number);
      const kind = REQUEST_KINDS[samples.kind[i] as number] ?? 'other';
      slow.add(samples.at[i] as number, samples.ms[i] as number, kind);
      const list = byKind.get(kind) ?? [];
      if (list.length === 0) byKind.set(kind, list);
      list.push(samples.ms[i] as number);
    }
    after.sort((a, b) => a - b);
    const simRss = final.workers.reduce((a, w) => a + w.rssMb, 0);
    console.log(
      `  agent requests after enrollment: ${after.length} (p50 ${round(percentile(after, 50))} ms, p99 ${round(percentile(after, 99))} ms); ${samples.refused} answered 429/5xx, ${samples.failed} failed without an answer`,
    );
    // Which requests make the tail: a slow p99 of heartbeats is the server's, of artifacts the download's.
    const kinds = [...byKind].map(([kind, ms]) => {
      ms.sort((a, b) => a - b);
      return `${kind} ${ms.length} (p50 ${round(percentile(ms, 50))}, p99 ${round(percentile(ms, 99))}, max ${round(ms.at(-1) ?? 0)} ms)`;
    });
    console.log(`  by kind: ${kinds.join('; ')}`);
    const probeMs = [...probed.latencies].sort((a, b) => a - b);
    const probeSlow = new SlowTimeline(t0Wall);
    for (let i = 0; i < probed.latencies.length; i++) probeSlow.add(probed.at[i] as number, probed.latencies[i] as number, 'heartbeat');
    console.log(
      `  server probe (a heartbeat every 200 ms from its own thread): ${probeMs.length} (${probed.failures} failed), p50 ${round(percentile(probeMs, 50))} ms, p99 ${round(percentile(probeMs, 99))} ms, max ${round(probeMs.at(-1) ?? 0)} ms; over 250 ms: ${probeSlow.toString()}`,
    );
    console.log(`  requests over 250 ms, by when they started: ${slow.toString()}`);
    console.log(
      `  simulator: ${final.workers.length} workers, rss ${final.workers.map((w) => `${w.rssMb} MB (heap ${w.heapUsedMb} MB, ${w.nodes} nodes)`).join(', ')}: ${round((simRss * 1024) / NODES)} KiB per node; server peak rss ${peakRss.map((m) => round(m)).join(' + ')} MB; load ${load()} (measured under load: a shared machine)`,
    );
    if (heap !== undefined) printHeapSummary(heap);
    if (flags.profile) {
      await first.stop(); // writes the profile
      // The busiest 10 s after enrollment (the profile's clock starts with the server).
      printProfile(summariseProfile(profDir, 20, 10, (enrolledPerf - serverStartedAt) / 1000));
      console.log('simulator worker 0 (its agents):');
      printProfile(summariseProfile(workerProfDir, 20, 10, (enrolledPerf - t0) / 1000));
      // The steady window: what each node costs when nothing changes (serverCpuPerNodeMinuteMs).
      const steady = (since: number) => ({ fromS: Math.round(s0 - since) / 1000, toS: Math.round(steadyEnd - since) / 1000 });
      console.log('server, steady window:');
      printProfile(summariseProfile(profDir, 25, steady(serverStartedAt)));
      console.log('simulator worker 0, steady window:');
      printProfile(summariseProfile(workerProfDir, 25, steady(t0)));
      // The rollout: what the server does while nodes move to the new revision.
      console.log('server, rollout window:');
      printProfile(summariseProfile(profDir, 30, { fromS: Math.round(r0 - serverStartedAt) / 1000, toS: Math.round(rolloutEnd - serverStartedAt) / 1000 }));
    }
    console.log(
      JSON.stringify({
        nodes: NODES,
        enrollSeconds: round(enrollSeconds),
        p99Ms: round(percentile(after, 99)),
        serverCpuPerNodeMinuteMs: round(serverCpuPerNodeMinuteMs, 3),
        serverRssMb: round(Math.max(...peakRss)),
        rolloutSeconds: round(rolloutSeconds),
        // With replicas: the contract's fields are over all of them (CPU summed, RSS the largest); each one's peak RSS here.
        ...(REPLICAS > 1 ? { perReplicaRssMb: peakRss.map((m) => round(m)) } : {}),
      }),
    );
  } finally {
    clearInterval(sampler);
    await sim?.stop().catch(() => {});
    await admin.close();
    await lb?.stop();
    for (const s of servers) await s.stop();
    pg?.stop();
    pg = undefined;
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(`bench:fleet failed: ${(err as Error).message}`);
    process.exit(1);
  },
);

/**
 * Makes the server (started with `--heapsnapshot-signal=SIGUSR2`) write a heap snapshot into
 * `dir` and summarises it, with the server's RSS when asked. The file is complete once its
 * size stops changing (the server writes it in one go, stopped meanwhile).
 */
async function snapshotHeap(pid: number, dir: string): Promise<HeapSummary & { rssMb: number }> {
  const rss = rssMb(pid);
  process.kill(pid, 'SIGUSR2');
  let last = -1;
  for (let stable = 0; stable < 3; ) {
    await sleep(1_000);
    if (Number.isNaN(rssMb(pid))) throw new Error('the server exited before its heap snapshot was written');
    const file = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.heapsnapshot')) : undefined;
    const size = file === undefined ? -1 : statSync(join(dir, file)).size;
    stable = size > 0 && size === last ? stable + 1 : 0;
    last = size;
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot')) as string;
  console.log(`  server heap snapshot (${round(last / 1024 / 1024)} MiB file) at RSS ${round(rss)} MB`);
  return { ...(await summariseHeapSnapshot(join(dir, file), 30)), rssMb: rss };
}
