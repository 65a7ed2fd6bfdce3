/**
 * What telemetry costs a node on the wire, per month: one simulated node with the standard
 * metric set and steady inference traffic, 30 days of simulated time, per profile.
 *
 *   npm run bench:telemetry [-- --days 30] [--profile lan|metered] [--serial]
 *   npm run bench -- telemetry …
 *
 * Everything real but the clock: a server in-process, nodes enrolled by the agent, the agent's
 * metrics, edge aggregation, batch codec and uplink, mTLS over loopback. Bytes are counted on
 * the socket by a TCP proxy (TLS records: HTTP and TLS overhead included), in both directions.
 * Per profile it prints:
 * - bytes per node per month on one kept-alive TLS connection (the design), and with a new
 *   TLS connection per upload (what a carrier NAT that drops idle TCP forces); for metered
 *   also kept-alive with a folded heartbeat of labels only;
 * - where an upload's bytes go: batch body (heartbeat, histograms, other series), HTTP, TLS;
 * - the same samples as Prometheus remote_write 1.0, one request per 60 s, also counted on
 *   the socket of a kept-alive HTTPS connection, and the ratio;
 * - the fleet P95/P99 from the histograms that arrived vs the exact ones from raw latencies.
 * Last line: `{"metered":{"bytesPerMonth":…,"remoteWriteBytesPerMonth":…,"p95RelError":…,
 * "p99RelError":…},"lan":{…}}` (kept-alive figures; a shorter `--days` is scaled to 30 days).
 * Each lan link runs in a child process of its own, the metered links in a third, as many at
 * a time as there are CPUs (`--serial`: everything in this process). 30 days of lan take
 * about 25 CPU minutes, most of it 43,200 mTLS handshakes and 86,400 batch encodings.
 * Not a test: nothing here passes or fails, but it says which targets are met.
 *
 *   npm run bench:telemetry -- --real-agent [--minutes 5] [--profile lan|metered]
 *
 * What one real agent really does on its socket (issue 18), in real time rather than the
 * design figure above: one `Agent` behind a byte-counting TCP proxy with inference traffic,
 * heartbeats, long polls, telemetry and logs, TLS included (telemetry/real-agent.ts). Per
 * profile it prints bytes both ways and new connections in the window, extrapolated to 30
 * days; last line `{"lan":{"mbPerMonth":…,"connectionsPerMonth":…,…},"metered":{…}}`.
 *
 *   npm run bench:telemetry -- --kept-connections 1000
 *
 * The server's memory per idle kept-alive node connection, what keeping lan agents'
 * connections costs it (telemetry/kept-connections.ts).
 */
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import type { TelemetryProfileName } from '@edgefleet/protocol';
import { benchArgs } from './lib/args.js';
import type { ProxyCount } from './telemetry/counting-proxy.js';
import { type BenchNode, startBenchFleet } from './telemetry/fleet.js';
import { measureKeptConnections } from './telemetry/kept-connections.js';
import { measureRealAgent, type RealAgentResult } from './telemetry/real-agent.js';
import { DEFAULT_TRAFFIC, type LinkMode, type ProfileResult, type RunPlan, simulateProfile } from './telemetry/simulate.js';

const values = benchArgs('npm run bench:telemetry [-- --days 30 --profile lan|metered --serial] | [-- --real-agent --minutes 5 --profile lan|metered]', {
  days: { type: 'string', default: '30' },
  profile: { type: 'string' },
  serial: { type: 'boolean', default: false },
  // Internal: a child process runs one job and prints its result as one JSON line.
  child: { type: 'boolean', default: false },
  modes: { type: 'string', default: 'keep-alive,new-connection' },
  'remote-write': { type: 'boolean', default: false },
  'real-agent': { type: 'boolean', default: false },
  minutes: { type: 'string', default: '5' },
  'kept-connections': { type: 'string' },
});
const DAYS = Number(values.days);
if (!(Number.isInteger(DAYS) && DAYS >= 1)) throw new Error(`--days must be a whole number of days ≥ 1, got "${values.days}"`);
if (values.profile !== undefined && values.profile !== 'lan' && values.profile !== 'metered')
  throw new Error(`--profile must be lan or metered, got "${values.profile}"`);
const PROFILES: TelemetryProfileName[] = values.profile === undefined ? ['metered', 'lan'] : [values.profile as TelemetryProfileName];
const MONTH_DAYS = 30;
const MB = 1_000_000;
const TARGET_METERED_BYTES = 4 * MB;
const TARGET_QUANTILE_ERROR = 0.01;
const TARGET_LAN_RATIO = 10;

/** Runs the plans in this process, against one server. */
async function runHere(plans: RunPlan[]): Promise<ProfileResult[]> {
  const fleet = await startBenchFleet();
  try {
    const enrolled: { plan: RunPlan; nodes: Partial<Record<LinkMode, BenchNode>> }[] = [];
    let serial = 0;
    for (const plan of plans) {
      // One node per link, fed the same data.
      const nodes: Partial<Record<LinkMode, BenchNode>> = {};
      for (const mode of plan.modes) nodes[mode] = await fleet.enroll((++serial).toString(16).padStart(16, 'b'), plan.profile);
      enrolled.push({ plan, nodes });
    }
    await fleet.applyDeployment();
    const results: ProfileResult[] = [];
    for (const { plan, nodes } of enrolled) results.push(await simulateProfile(fleet, nodes, plan, (line) => console.error(line)));
    return results;
  } finally {
    await fleet.close();
  }
}

/** Runs one plan in a child process (a server of its own) and reads its JSON result. */
function runInChild(plan: RunPlan): Promise<ProfileResult> {
  const script = new URL(import.meta.url).pathname;
  const args = [
    '--child',
    '--profile',
    plan.profile,
    '--days',
    String(plan.days),
    '--modes',
    plan.modes.join(','),
    ...(plan.remoteWrite ? ['--remote-write'] : []),
  ];
  return new Promise<ProfileResult>((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`the ${plan.profile} run (${plan.modes.join(', ')}) exited with code ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) as string) as ProfileResult);
      } catch (err) {
        reject(new Error(`the ${plan.profile} run (${plan.modes.join(', ')}) printed no result: ${(err as Error).message}`));
      }
    });
  });
}

/**
 * Runs the plans in child processes, as many at once as there are CPUs. The lan links are
 * each a job of their own (43,200 uploads each way), longest first; both metered links share one.
 */
async function runInChildren(plans: RunPlan[]): Promise<ProfileResult[]> {
  const queue = [...plans];
  const results: ProfileResult[] = [];
  const worker = async (): Promise<void> => {
    for (let plan = queue.shift(); plan !== undefined; plan = queue.shift()) results.push(await runInChild(plan));
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), plans.length) }, worker));
  return results;
}

/** The results of one profile's runs as one: links from each, the comparison and quantiles from the run that sent remote_write. */
function mergeRuns(runs: ProfileResult[]): ProfileResult {
  const main = runs.find((r) => r.remoteWrite !== undefined) ?? (runs[0] as ProfileResult);
  const links = Object.assign({}, ...runs.map((r) => r.links)) as ProfileResult['links'];
  return { ...main, links, wallMs: Math.max(...runs.map((r) => r.wallMs)), cpuMs: runs.reduce((sum, r) => sum + r.cpuMs, 0) };
}

const bytes = (c: ProxyCount): number => c.up.bytes + c.down.bytes;
const perMonth = (n: number): number => Math.round((n * MONTH_DAYS) / DAYS);
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (n: number): string => `${(n / MB).toFixed(2)} MB`;
const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;

function report(r: ProfileResult): { bytesPerMonth: number; remoteWriteBytesPerMonth: number; p95RelError: number; p99RelError: number } {
  const ka = r.links['keep-alive'];
  const nc = r.links['new-connection'];
  const rw = r.remoteWrite;
  if (ka === undefined || nc === undefined || rw === undefined) throw new Error(`the ${r.profile} runs are missing a link or the remote_write comparison`);
  const scaled = DAYS === MONTH_DAYS ? '' : ` (×${MONTH_DAYS}/${DAYS}: ${DAYS} days measured)`;
  const header =
    r.profile === 'metered'
      ? 'metered: 5 min resolution, upload every 15 min, heartbeat folded into the upload'
      : 'lan: 15 s resolution, upload every 60 s (heartbeats travel separately and are not counted)';
  console.log(`\n${header}; ${fmt(ka.uploads)} uploads, ${fmt(r.requests)} inference requests`);

  const kaMonth = perMonth(bytes(ka.total));
  const steady = ka.steadyUploads > 0 ? ka.steady : ka.total;
  const n = Math.max(1, ka.steadyUploads);
  const upMean = steady.up.bytes / n;
  const downMean = steady.down.bytes / n;
  const framing = (steady.up.framing + steady.down.framing) / n;
  const body = ka.bodyBytes / ka.uploads;
  const http = upMean + downMean - framing - body;
  console.log(
    `  one kept-alive TLS connection:  ${mb(kaMonth)} per node per month${scaled} (${fmt(bytes(ka.total))} bytes, ${ka.total.connections} connection)`,
  );
  console.log(
    `    per upload ${fmt(upMean + downMean)} B on the socket: request ${fmt(upMean)} B, answer ${fmt(downMean)} B; ` +
      `= batch body ${fmt(body)} B + HTTP heads and JSON answer ${fmt(http)} B + TLS record framing ${fmt(framing)} B (${((steady.up.records + steady.down.records) / n).toFixed(1)} records)`,
  );
  console.log(`    first upload with the TLS handshake: ${fmt(bytes(ka.first))} B`);
  const c = r.composition;
  if (c.uploads > 0) {
    const full = c.full / c.uploads;
    const noStatus = c.withoutStatus / c.uploads;
    const noLatency = c.withoutStatusAndLatency / c.uploads;
    const noStats = c.withoutStats / c.uploads;
    const parts = [`latency histograms ${fmt(noStatus - noLatency)} B`, `other series ${fmt(noLatency)} B`];
    if (r.profile === 'metered')
      parts.unshift(
        `folded heartbeat ${fmt(full - noStatus)} B (${fmt(full - noStats)} B of it the workload stats with their latency histogram; status JSON ${fmt(ka.statusJsonBytes / ka.uploads)} B before compression)`,
      );
    console.log(`    batch body ${fmt(full)} B = ${parts.join(' + ')} (re-encoded ${fmt(c.uploads)} batches without those parts)`);
  }

  const ncMonth = perMonth(bytes(nc.total));
  const ncPer = bytes(nc.total) / nc.uploads;
  console.log(
    `  new TLS connection per upload:  ${mb(ncMonth)} per node per month${scaled} (${fmt(nc.total.connections)} connections, ${fmt(ncPer)} B per upload: ` +
      `${fmt(ncPer - (upMean + downMean))} B more than kept-alive for handshake, certificates and close; no session resumption: a new client each time)`,
  );
  const lo = r.links['labels-only'];
  if (lo !== undefined) {
    const loMonth = perMonth(bytes(lo.total));
    console.log(
      `  kept-alive, heartbeat of labels only (workloads: [], stats: []): ${mb(loMonth)} per node per month${scaled} ` +
        `(${fmt(bytes(lo.steady) / Math.max(1, lo.steadyUploads))} B per upload; not what the agent sends: it adds its workloads and their stats)`,
    );
  }

  const rwMonth = perMonth(bytes(rw.total));
  console.log(
    `  remote_write 1.0, one request per 60 s:  ${mb(rwMonth)} per node per month${scaled} (${fmt(rw.requests)} requests with samples, ${fmt(rw.samples)} samples, ` +
      `${(bytes(rw.total) / Math.max(1, rw.samples)).toFixed(1)} B per sample on the socket, snappy bodies ${fmt(rw.bodyBytes / Math.max(1, rw.requests))} B per request)`,
  );
  if (r.profile === 'metered')
    console.log('    (the metered points are 5 min apart, so only one minute in five has samples; minutes without samples send nothing)');
  console.log(`  ratio remote_write / edgefleet: ${(rwMonth / kaMonth).toFixed(1)}× kept-alive, ${(rwMonth / ncMonth).toFixed(1)}× new connection per upload`);

  const q = r.quantiles;
  const e95 = Math.abs(q.arrivedP95 - q.exactP95) / q.exactP95;
  const e99 = Math.abs(q.arrivedP99 - q.exactP99) / q.exactP99;
  console.log(
    `  fleet quantiles from ${fmt(r.arrived.latencyCount)} latencies: P95 exact ${q.exactP95.toFixed(3)} ms, from what arrived ${q.arrivedP95.toFixed(3)} ms (error ${pct(e95)}); ` +
      `P99 exact ${q.exactP99.toFixed(3)} ms, arrived ${q.arrivedP99.toFixed(3)} ms (error ${pct(e99)})`,
  );
  console.log(
    `  arrived: ${fmt(r.arrived.series)} series in batches, ${fmt(r.arrived.points)} points; wall time ${(r.wallMs / 1000).toFixed(0)} s, ` +
      `CPU ${(r.cpuMs / 1000).toFixed(0)} s (node side, proxies and server, summed over its processes)`,
  );
  if (r.profile === 'metered') {
    const met = kaMonth <= TARGET_METERED_BYTES && e95 <= TARGET_QUANTILE_ERROR && e99 <= TARGET_QUANTILE_ERROR;
    console.log(
      `  target ≤ 4 MB/node/month with ≤ 1 % quantile error: ${met ? 'met' : 'MISSED'} on a kept-alive connection; ` +
        `${ncMonth <= TARGET_METERED_BYTES ? 'met' : 'MISSED'} with a new connection per upload`,
    );
  } else {
    const ratio = rwMonth / kaMonth;
    console.log(
      `  target remote_write ≥ 10× edgefleet: ${ratio >= TARGET_LAN_RATIO ? 'met' : 'MISSED'} (${ratio.toFixed(1)}×) on a kept-alive connection; ` +
        `${rwMonth / ncMonth >= TARGET_LAN_RATIO ? 'met' : 'MISSED'} (${(rwMonth / ncMonth).toFixed(1)}×) with a new connection per upload`,
    );
  }
  return { bytesPerMonth: kaMonth, remoteWriteBytesPerMonth: rwMonth, p95RelError: round(e95), p99RelError: round(e99) };
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}

if (values['kept-connections'] !== undefined) {
  const count = Number(values['kept-connections']);
  if (!(Number.isInteger(count) && count >= 1)) throw new Error(`--kept-connections must be a whole number ≥ 1, got "${values['kept-connections']}"`);
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const r = await measureKeptConnections(count, (line) => console.error(line));
  console.log(
    `telemetry --kept-connections: server RSS ${r.rssBeforeMb} MiB before, ${r.rssWithMb} MiB holding ${count} idle kept-alive node connections, ` +
      `${r.rssReleasedMb} MiB once they closed (heap ${r.heapUsedBeforeMb} → ${r.heapUsedWithMb} → ${r.heapUsedReleasedMb} MiB): ` +
      `${r.rssPerConnectionKib} KiB RSS and ${r.heapPerConnectionKib} KiB heap per connection; load average ${load} → ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}${typeof (globalThis as { gc?: unknown }).gc === 'function' ? '' : ' (run node with --expose-gc for a GC before each reading)'}`,
  );
  console.log(JSON.stringify(r));
} else if (values['real-agent']) {
  const minutes = Number(values.minutes);
  if (!(Number.isFinite(minutes) && minutes > 0)) throw new Error(`--minutes must be a number of minutes > 0, got "${values.minutes}"`);
  const load = (): string =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `telemetry --real-agent: one real agent per profile behind a byte-counting TCP proxy, ${minutes} min counted after its warm-up, ` +
      `${DEFAULT_TRAFFIC.requestsPerSecond} inference requests/s; load average ${load()} on ${availableParallelism()} CPUs, Node ${process.version}`,
  );
  // The profiles one after the other: each has the machine (and a server) to itself.
  const summary: Record<string, RealAgentResult> = {};
  // Teardown (agent, proxy, server) waits on timers that do not hold the event loop open; once
  // the server's socket closed, Node found the loop empty and exited 13 ("unsettled top-level
  // await") before printing, in 6 of 8 runs on a loaded machine. Hold it open until the end.
  const holdOpen = setInterval(() => {}, 60_000);
  for (const profile of PROFILES.slice().reverse()) {
    const r = await measureRealAgent(profile, minutes, (line) => console.error(line));
    summary[profile] = r;
    console.log(
      `  ${profile}: ${fmt(r.upBytes)} B up, ${fmt(r.downBytes)} B down, ${r.newConnections} new connections, ${fmt(r.inferenceRequests)} inference requests in ${minutes} min ` +
        `→ ${r.mbPerMonth} MB/month, ${fmt(r.connectionsPerMonth)} connections/month (load average ${load()})`,
    );
    console.log(
      `    by kind: ${Object.entries(r.byKind)
        .map(([kind, v]) => `${kind} ${fmt(v.up)} / ${fmt(v.down)} B (${v.mbPerMonth} MB/month)`)
        .join(', ')}`,
    );
  }
  console.log(JSON.stringify(summary));
  clearInterval(holdOpen);
} else if (values.child) {
  const plan: RunPlan = {
    profile: PROFILES[0] as TelemetryProfileName,
    days: DAYS,
    modes: values.modes.split(',') as LinkMode[],
    remoteWrite: values['remote-write'],
  };
  const [result] = await runHere([plan]);
  console.log(JSON.stringify(result));
} else {
  const t = DEFAULT_TRAFFIC;
  const parallel = !values.serial && availableParallelism() > 1;
  console.log(
    `telemetry: one node, ${DAYS} days of simulated time, ${t.requestsPerSecond} inference requests/s (log-normal, median ${t.medianMs} ms, σ ${t.sigma}, ` +
      `${t.errorRate * 100} % errors), node read every ${t.sampleIntervalMs / 1000} s; bytes counted on the socket (TLS records), both directions; MB = 10^6 bytes`,
  );
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${availableParallelism()} CPUs, Node ${process.version}; ` +
      (parallel ? 'runs in child processes, one per CPU at a time (each its own server)' : 'one process, one server'),
  );
  const started = performance.now();
  const both: LinkMode[] = ['keep-alive', 'new-connection'];
  let runs: ProfileResult[];
  if (parallel) {
    const plans: RunPlan[] = [];
    for (const profile of PROFILES) {
      if (profile === 'lan') {
        // The same node simulated twice, so its two links use both CPUs.
        plans.unshift(
          { profile, days: DAYS, modes: ['keep-alive'], remoteWrite: true },
          { profile, days: DAYS, modes: ['new-connection'], remoteWrite: false },
        );
      } else plans.push({ profile, days: DAYS, modes: [...both, 'labels-only'], remoteWrite: true });
    }
    runs = await runInChildren(plans);
  } else {
    runs = await runHere(
      PROFILES.map((profile) => ({ profile, days: DAYS, modes: profile === 'metered' ? [...both, 'labels-only'] : both, remoteWrite: true })),
    );
  }
  const summary: Record<string, ReturnType<typeof report>> = {};
  for (const profile of PROFILES) summary[profile] = report(mergeRuns(runs.filter((r) => r.profile === profile)));
  const cpu = runs.reduce((sum, r) => sum + r.cpuMs, 0) / 1000;
  console.log(
    `\nwall time ${((performance.now() - started) / 1000).toFixed(0)} s; CPU ${cpu.toFixed(0)} s in all (on ${availableParallelism()} idle CPUs no less than ` +
      `${(cpu / availableParallelism()).toFixed(0)} s); load average now ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  console.log(JSON.stringify(summary));
}
