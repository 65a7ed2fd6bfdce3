/**
 * What a simulated fleet costs: enrollment wall time, then RSS, heap and CPU of this
 * process (all agents) and of a separate server process, with a deployment serving and
 * synthetic traffic. The per-node constants in src/capacity.ts come from this. Not a test.
 *
 *   node packages/cli/bin/edgefleet.js server --data /tmp/x --listen 127.0.0.1:18443 --no-require-signed &
 *   node --conditions=edgefleet:source --import tsx packages/sim/bench/footprint.ts \
 *     --server https://127.0.0.1:18443 --token-file T --admin-token-file /tmp/x/admin.token \
 *     --nodes 1000 [--sites 10] [--server-pid PID] [--steady-seconds 60] [--rps 5]
 *
 * The token needs `--nodes` uses. The deployment it applies is unsigned, so the server must
 * accept unsigned releases (`--no-require-signed`). The last line is JSON.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { parseBootstrapToken, sleep } from '@edgefleet/protocol';
import { EdgefleetClient, fetchPinnedCaCertificate } from '@edgefleet/protocol/node';
import { formatSummaryLine, type Simulation, startSimulation } from '../src/index.js';

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    'token-file': { type: 'string' },
    'admin-token-file': { type: 'string' },
    nodes: { type: 'string', default: '100' },
    sites: { type: 'string', default: '10' },
    'server-pid': { type: 'string' },
    'steady-seconds': { type: 'string', default: '60' },
    rps: { type: 'string', default: '5' },
    'enroll-concurrency': { type: 'string', default: '20' },
  },
});
if (values.server === undefined || values['token-file'] === undefined || values['admin-token-file'] === undefined) {
  throw new Error('give --server, --token-file and --admin-token-file (see the header of this file)');
}
const nodes = Number(values.nodes);
const token = readFileSync(values['token-file'], 'utf8').trim();
const adminToken = readFileSync(values['admin-token-file'], 'utf8').trim();
const serverPid = values['server-pid'] === undefined ? undefined : Number(values['server-pid']);
const steadyMs = Number(values['steady-seconds']) * 1000;

/** CPU seconds (user + system) and RSS of another process, from procfs. */
function procStats(pid: number): { cpuSeconds: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, rssMb: Math.round(rssKb / 1024) };
}

function selfStats(): { cpuSeconds: number; rssMb: number; heapMb: number } {
  const u = process.cpuUsage();
  const m = process.memoryUsage();
  return { cpuSeconds: (u.user + u.system) / 1e6, rssMb: Math.round(m.rss / 2 ** 20), heapMb: Math.round(m.heapUsed / 2 ** 20) };
}

// The operator client connects before the fleet loads the server: a busy server may take
// longer than the connect timeout to accept a new connection later.
const ca = await fetchPinnedCaCertificate(values.server, parseBootstrapToken(token).caFingerprint);
const admin = new EdgefleetClient({ server: values.server, token: adminToken, ca, timeoutMs: 120_000 });
await admin.listArtifacts();
const baseline = selfStats();
const t0 = performance.now();
const serverAtStart = serverPid === undefined ? undefined : procStats(serverPid);
const sim: Simulation = await startSimulation({
  server: values.server,
  token,
  adminToken,
  nodes,
  sites: Math.min(Number(values.sites), nodes),
  rps: Number(values.rps),
  intervalMs: 10_000,
  enrollConcurrency: Number(values['enroll-concurrency']),
  force: true,
});
sim.onEvent((e) => {
  if (e.type === 'summary') console.log(formatSummaryLine(e.summary));
  if (e.type === 'fleet-started') console.log(`fleet started: ${e.started}/${e.nodes} in ${e.seconds.toFixed(1)} s (${e.failed} failed)`);
  if (e.type === 'node-failed') console.log(`${e.node}: ${e.message}`);
});
await sim.whenStarted();
const enrollSeconds = (performance.now() - t0) / 1000;
const serverAfterEnroll = serverPid === undefined ? undefined : procStats(serverPid);
global.gc?.();
const enrolled = selfStats();

// A deployment on every node (primary on the HAT, CPU fallback elsewhere), with traffic.
const push = async (text: string): Promise<string> => (await admin.pushArtifact(Readable.from(Buffer.from(text)), Buffer.byteLength(text))).digest;
const primary = await push(`footprint primary ${Date.now()}`);
const fallback = await push(`footprint fallback ${Date.now()}`);
await admin.apply([
  {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name: 'footprint' },
    spec: {
      selector: 'cpu.arch=arm64',
      release: {
        version: String(Date.now()),
        model: { artifact: primary, format: 'hef' },
        fallback: { artifact: fallback, format: 'onnx' },
        runtime: { kind: 'process', command: 'detect', accelerator: 'preferred' },
      },
    },
  },
]);
const tDeploy = performance.now();
while ((sim.summary().revisions.footprint ? Object.values(sim.summary().revisions.footprint ?? {}).reduce((a, b) => a + b, 0) : 0) < nodes * 0.99) {
  if (performance.now() - tDeploy > 600_000) break;
  await sleep(1_000);
}
const deploySeconds = (performance.now() - tDeploy) / 1000;
// Steady state: heartbeats, long polls, telemetry uploads, traffic.
const before = selfStats();
const serverBefore = serverPid === undefined ? undefined : procStats(serverPid);
await sleep(steadyMs);
global.gc?.();
const after = selfStats();
const serverAfter = serverPid === undefined ? undefined : procStats(serverPid);
const summary = sim.summary();
await sim.stop();
await admin.close();

const result = {
  nodes,
  enrollSeconds: Number(enrollSeconds.toFixed(1)),
  deploySeconds: Number(deploySeconds.toFixed(1)),
  online: summary.nodes.online,
  failed: summary.nodes.failed,
  requestsPerSecond: summary.requestsPerSecond,
  simRssMb: after.rssMb,
  simHeapMb: after.heapMb,
  simRssPerNodeKb: Math.round(((after.rssMb - baseline.rssMb) * 1024) / nodes),
  simHeapPerNodeKb: Math.round(((after.heapMb - baseline.heapMb) * 1024) / nodes),
  simRssAfterEnrollMb: enrolled.rssMb,
  simCpuPercent: Math.round(((after.cpuSeconds - before.cpuSeconds) / (steadyMs / 1000)) * 100),
  ...(serverAfter === undefined || serverBefore === undefined || serverAtStart === undefined || serverAfterEnroll === undefined
    ? {}
    : {
        serverRssMb: serverAfter.rssMb,
        serverCpuPercent: Math.round(((serverAfter.cpuSeconds - serverBefore.cpuSeconds) / (steadyMs / 1000)) * 100),
        serverCpuPercentEnrolling: Math.round(((serverAfterEnroll.cpuSeconds - serverAtStart.cpuSeconds) / enrollSeconds) * 100),
      }),
};
console.log(JSON.stringify(result));
