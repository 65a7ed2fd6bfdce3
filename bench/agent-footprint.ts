/**
 * Agent footprint: memory and CPU of one idle real agent process, as it runs on a node.
 *
 *   npm run bench:agent [-- --minutes 10 --warmup-seconds 30 --heartbeat-interval 60s]
 *
 * Builds the sources (`tsc -b`), starts the built `edgefleet server` (separate process),
 * creates a bootstrap token, and starts the built agent as an operator would:
 * `node packages/cli/bin/edgefleet.js agent --server URL --token T --data DIR --hw-root
 * FIXTURE --metrics-listen off`, with a generated Pi 5 + Hailo-8L hardware root and no
 * deployment (so no workload). After the warm-up it samples the agent's VmRSS and
 * utime+stime from /proc every 5 s. At the end it lists the modules the agent has loaded
 * (native add-ons, from /proc/PID/maps) and prints mean and max
 * RSS and the mean CPU share of one core. `--probe` loads bench/lib/module-probe.mjs into the
 * agent and prints its heap breakdown and every module it loaded, by package (the probe's
 * hook thread costs memory itself: take the footprint figures without it). `--restarted`
 * measures the agent after a restart (identity on disk, so the enrollment-only X.509 code is
 * never loaded), as on a node that rebooted; `--node-args "…"` passes V8/Node flags to
 * the agent's `node` to compare tunings. `--bundle` runs the agent as the Debian package
 * does: the esbuild bundle of `npm run package:agent` (`node dist/bundle/agent.js …`, built
 * here into the temp folder, without onnxruntime-node) instead of the CLI's dist/.
 *
 * Final JSON line `{"rssMb":x,"cpuPercent":x}` (mean RSS, mean CPU). Target ≤ 50 MB.
 * Not a test: nothing here passes or fails.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { sleep } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { readAgentLauncher } from '../test-support/agent-launcher.js';
import { benchArgs } from './lib/args.js';
import { cpuSeconds, machineLine, round, rssMb } from './lib/proc-stats.js';
import { buildCli, CLI, REPO_ROOT, startServerProcess } from './lib/server-process.js';

const values = benchArgs('npm run bench:agent [-- --minutes 10 --warmup-seconds 30 --heartbeat-interval 60s --probe --restarted --bundle --node-args ARGS]', {
  minutes: { type: 'string', default: '10' },
  'warmup-seconds': { type: 'string', default: '30' },
  'sample-seconds': { type: 'string', default: '5' },
  'heartbeat-interval': { type: 'string', default: '60s' },
  probe: { type: 'boolean', default: false },
  restarted: { type: 'boolean', default: false },
  'node-args': { type: 'string', default: '' },
  bundle: { type: 'boolean', default: false },
});
const MINUTES = Number(values.minutes);
const WARMUP_MS = Number(values['warmup-seconds']) * 1000;
const SAMPLE_MS = Number(values['sample-seconds']) * 1000;
for (const [flag, v] of [
  ['--minutes', MINUTES],
  ['--warmup-seconds', WARMUP_MS + 1],
  ['--sample-seconds', SAMPLE_MS],
] as const) {
  if (!(Number.isFinite(v) && v > 0)) {
    console.error(`${flag} must be a positive number`);
    process.exit(2);
  }
}

console.log(`agent footprint: one idle agent (no workload) for ${MINUTES} min after a ${WARMUP_MS / 1000} s warm-up, sampled every ${SAMPLE_MS / 1000} s`);
console.log(
  `machine: ${machineLine()}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
buildCli();
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-agent-footprint-'));
// The packaged agent: `edgefleet-agent ARGS` is `node /usr/lib/edgefleet/agent.js ARGS`.
const agentCommand = values.bundle ? [bundleAgent(join(dir, 'package'))] : [CLI, 'agent'];
if (values.bundle) {
  // agent.js and the files esbuild split off at dynamic imports (agent-*.js beside it).
  const bundleDir = dirname(agentCommand[0] as string);
  const files = readdirSync(bundleDir).filter((f) => f === 'agent.js' || (f.startsWith('agent-') && f.endsWith('.js')));
  const mib = files.reduce((sum, f) => sum + statSync(join(bundleDir, f)).size, 0) / 1024 / 1024;
  console.log(`running the bundle ${agentCommand[0]} (${files.length} files of the agent, ${mib.toFixed(1)} MiB in all)`);
}
const server = await startServerProcess({ dataDir: join(dir, 'server'), serverArgs: ['--heartbeat-interval', values['heartbeat-interval'] as string] });
const admin = new EdgefleetClient({ server: server.url, ca: server.caPem, token: server.adminToken });
const { token } = await admin.createBootstrapToken({ uses: 1, ttlSeconds: 3600 });
await writeHardwareFixture(join(dir, 'hw'), 'pi5-hailo8l');

const probeOut = join(dir, 'probe.json');
// The packaged agent runs with the Node flags and environment of its launcher (/usr/bin/edgefleet-agent).
const launcher = values.bundle ? readAgentLauncher(join(REPO_ROOT, 'packaging/deb/scripts/edgefleet-agent')) : { nodeFlags: [], env: {} };
const nodeArgs = [
  ...launcher.nodeFlags,
  ...(values['node-args'] as string).split(' ').filter((a) => a !== ''),
  ...(values.probe ? ['--import', join(REPO_ROOT, 'bench/lib/module-probe.mjs')] : []),
];
if (nodeArgs.length > 0) console.log(`node flags: ${nodeArgs.join(' ')}`);
if (Object.keys(launcher.env).length > 0)
  console.log(
    `launcher environment: ${Object.entries(launcher.env)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
let agentOut = '';
function startAgent(): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      ...agentCommand,
      '--server',
      server.url,
      '--token',
      token,
      '--data',
      join(dir, 'agent'),
      '--hw-root',
      join(dir, 'hw'),
      '--metrics-listen',
      'off',
    ],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...launcher.env,
        EDGEFLEET_LOG_LEVEL: 'info',
        EDGEFLEET_PROBE_OUT: probeOut,
      },
    },
  );
  const keep = (c: string): void => {
    if (agentOut.length < 200_000) agentOut += c;
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  return child;
}
let agent = startAgent();
process.once('exit', () => agent.kill('SIGKILL'));

// The agent enrolls, then is idle: heartbeats, a desired-state long poll, telemetry uploads.
const enrollDeadline = Date.now() + 60_000;
while ((await admin.listNodes()).items.length === 0) {
  if (Date.now() > enrollDeadline || agent.exitCode !== null) {
    console.error(`the agent did not enroll within 60 s:\n${agentOut}`);
    agent.kill('SIGKILL');
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  }
  await sleep(200);
}
if (values.restarted) {
  // As after a reboot: the identity is on disk, so the agent starts without enrolling.
  await sleep(2000);
  const gone = new Promise<void>((r) => agent.once('exit', () => r()));
  agent.kill('SIGTERM');
  await gone;
  agent = startAgent();
  console.log('agent enrolled, stopped and started again (identity on disk)');
}
const pid = agent.pid as number;
const exited = new Promise<void>((r) => agent.once('exit', () => r()));
console.log(`agent pid ${pid} running; RSS ${rssMb(pid).toFixed(1)} MiB; warming up…`);
await sleep(WARMUP_MS);

const samples: number[] = [];
const anonSamples: number[] = [];
/** Private (anonymous) resident memory in MiB: what the agent costs beyond the shared Node binary pages. */
const anonMb = (): number => {
  try {
    return Number(/^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
  } catch {
    return Number.NaN;
  }
};
const start = { at: performance.now(), cpu: cpuSeconds(pid) };
const end = start.at + MINUTES * 60_000;
let lastPrint = start.at;
while (performance.now() < end && agent.exitCode === null) {
  samples.push(rssMb(pid));
  anonSamples.push(anonMb());
  if (performance.now() - lastPrint >= 60_000) {
    lastPrint = performance.now();
    const elapsed = (lastPrint - start.at) / 1000;
    console.log(
      `  ${(elapsed / 60).toFixed(0)} min: RSS ${samples.at(-1)?.toFixed(1)} MiB, CPU ${(((cpuSeconds(pid) - start.cpu) / elapsed) * 100).toFixed(2)} %`,
    );
  }
  await sleep(Math.min(SAMPLE_MS, Math.max(0, end - performance.now())));
}
const wall = (performance.now() - start.at) / 1000;
const cpu = cpuSeconds(pid) - start.cpu;
// Native add-ons mapped into the agent: onnxruntime-node must not be among them when no
// model server runs (the model server is a child process of its own).
const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
const addons = [...new Set([...maps.matchAll(/\S+\.node$/gm)].map((m) => m[0].replace(/^.*node_modules\//, '')))];
const status = readFileSync(`/proc/${pid}/status`, 'utf8');
const field = (name: string): string => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '?';
const smaps = smapsBreakdown(pid);
const nodes = (await admin.listNodes()).items;
let probe: { memory: NodeJS.MemoryUsage; heapSpaces: Array<{ name: string; usedKb: number }>; modules: string[] } | undefined;
if (values.probe) {
  agent.kill('SIGUSR2');
  for (let i = 0; i < 50 && probe === undefined; i++) {
    await sleep(100);
    try {
      probe = JSON.parse(readFileSync(probeOut, 'utf8'));
    } catch {
      probe = undefined;
    }
  }
}
agent.kill('SIGTERM');
const killTimer = setTimeout(() => agent.kill('SIGKILL'), 10_000);
await exited;
clearTimeout(killTimer);
await admin.close();
await server.stop();
rmSync(dir, { recursive: true, force: true });

const mean = samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length);
const anonMean = anonSamples.reduce((a, b) => a + b, 0) / Math.max(1, anonSamples.length);
const max = Math.max(...samples);
const cpuPercent = (cpu / wall) * 100;
console.log(`${samples.length} samples over ${(wall / 60).toFixed(1)} min; the node was ${nodes[0]?.status ?? 'missing'} at the end`);
console.log(
  `RSS mean ${mean.toFixed(1)} MiB, max ${max.toFixed(1)} MiB, of which private (anonymous) mean ${anonMean.toFixed(1)} MiB; at the end VmRSS ${field('VmRSS')}: anon ${field('RssAnon')}, file ${field('RssFile')}, shmem ${field('RssShmem')}; threads ${field('Threads')}`,
);
console.log(`CPU ${cpu.toFixed(2)} s over ${wall.toFixed(0)} s: ${cpuPercent.toFixed(2)} % of one core`);
console.log(`smaps at the end (resident MiB by mapping): ${smaps}`);
console.log(`native add-ons loaded: ${addons.length === 0 ? 'none' : addons.join(', ')}`);
if (probe !== undefined) {
  const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
  const m = probe.memory;
  console.log(
    `probe: rss ${mb(m.rss)}, V8 heap ${mb(m.heapUsed)} used of ${mb(m.heapTotal)}, external ${mb(m.external)} (array buffers ${mb(m.arrayBuffers)})`,
  );
  console.log(`  heap spaces: ${probe.heapSpaces.map((h) => `${h.name} ${(h.usedKb / 1024).toFixed(1)}`).join(', ')} (MiB)`);
  const byPackage = new Map<string, number>();
  for (const url of probe.modules) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? /packages\/([^/]+)\//.exec(url)?.[1] ?? (url.startsWith('node:') ? 'node:*' : 'other');
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + 1);
  }
  console.log(
    `  ${probe.modules.length} modules loaded: ${[...byPackage.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([p, n]) => `${p} ${n}`)
      .join(', ')}`,
  );
  console.log(`  onnxruntime-node loaded: ${probe.modules.some((u) => u.includes('onnxruntime')) ? 'YES' : 'no'}`);
}
// The floor: Node itself, idle, with nothing loaded.
const bare = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 3000)'], { stdio: 'ignore' });
await sleep(1500);
console.log(`for scale, an idle bare \`node\` process here: ${rssMb(bare.pid as number).toFixed(1)} MiB RSS`);
bare.kill();
console.log(
  `target ≤ 50 MB: ${mean <= 50 ? 'met' : 'NOT met'} (anchors: OpenYurt YurtHub 30–40 MB, KubeEdge EdgeCore ~70 MB, balena-supervisor 45–85 MB, k3s agent 268 MB)`,
);
console.log(JSON.stringify({ rssMb: round(mean), cpuPercent: round(cpuPercent, 2) }));

/** Builds the agent bundle as `npm run package:agent` does (no onnxruntime: no model server runs here). */
function bundleAgent(out: string): string {
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts/package-agent.mjs'), '--out', out, '--without-onnxruntime', '--compression', 'none'], {
    stdio: 'inherit',
  });
  return join(out, 'bundle/agent.js');
}

/**
 * Where the resident memory is, from /proc/PID/smaps: the `node` binary's pages (file-backed,
 * shared with every Node process), other files (libraries, the bundle), the V8 heap and
 * malloc arenas (anonymous), and the rest. The figure to lower is the anonymous part; the
 * binary's pages are the floor of any Node process.
 */
function smapsBreakdown(pid: number): string {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return 'unavailable';
  }
  const kb = new Map<string, number>();
  let bucket = 'other';
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header !== null) {
      const name = header[1] ?? '';
      if (name === process.execPath || name.endsWith('/node')) bucket = 'node binary';
      else if (name === '[heap]') bucket = 'brk heap';
      else if (name === '') bucket = 'anonymous (V8 heap, arenas)';
      else if (name.startsWith('[')) bucket = 'other';
      else bucket = 'other files';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) kb.set(bucket, (kb.get(bucket) ?? 0) + Number(rss[1]));
  }
  return [...kb.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([name, k]) => `${name} ${(k / 1024).toFixed(1)}`)
    .join(', ');
}
