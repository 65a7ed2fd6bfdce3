/**
 * Enrollment storm: a whole site powers on and N agents enroll at the same moment.
 *
 *   npm run bench:enroll [-- --nodes 500 --timeout-seconds 600 --cli PATH]
 *
 * The server is the built CLI (`edgefleet server`, SQLite) in a process of its own. The
 * agents are the real agent code (`new Agent(…)` from @edgefleet/agent) in this process,
 * each with its own generated Pi 5 + Hailo-8L hardware root and data dir: each fetches and
 * pins the CA, makes its key and CSR, and enrolls with one many-use token, retrying as it
 * would in the field (backoff with jitter, honouring 429 `Retry-After`). Each agent is
 * stopped as soon as it has its node id. Agents and server share this machine's cores, so
 * key generation competes with certificate issuance: the time is a lower bound.
 *
 * Prints time until all are enrolled, enrollment latency p50/p99 (start to node id, retries
 * included), the 429s the agents saw, and a final JSON line `{"nodes":N,"seconds":x,"errors":N}`
 * where errors are agents that did not enroll. --cli PATH runs another `edgefleet` CLI as
 * the server (an older build, for A/B). Not a test: nothing here passes or fails.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Agent } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { pino } from 'pino';
import { benchArgs } from './lib/args.js';
import { cpuStallMicros, machineLine, percentile, round } from './lib/proc-stats.js';
import { buildCli, startServerProcess } from './lib/server-process.js';

const values = benchArgs('npm run bench:enroll [-- --nodes 500 --timeout-seconds 600 --cli PATH]', {
  nodes: { type: 'string', default: '500' },
  'timeout-seconds': { type: 'string', default: '600' },
  cli: { type: 'string' },
});
const NODES = Number(values.nodes);
const TIMEOUT_MS = Number(values['timeout-seconds']) * 1000;
if (!(Number.isInteger(NODES) && NODES > 0)) {
  console.error(`--nodes must be a whole number above 0, not "${values.nodes}"`);
  process.exit(2);
}
if (!(TIMEOUT_MS > 0)) {
  console.error(`--timeout-seconds must be a positive number, not "${values['timeout-seconds']}"`);
  process.exit(2);
}

/** A small seeded generator per agent, so a run's jitter is repeatable. */
function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

console.log(`enrollment storm: ${NODES} real agents enrolling at the same moment`);
console.log(
  `machine: ${machineLine()}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; server and agents share the cores`,
);
buildCli();
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-enroll-'));
const server = await startServerProcess({ dataDir: join(dir, 'server'), ...(values.cli === undefined ? {} : { cli: values.cli }) });
const admin = new EdgefleetClient({ server: server.url, ca: server.caPem, token: server.adminToken });
const { token } = await admin.createBootstrapToken({ uses: NODES, ttlSeconds: 3600, site: 'storm' });

// Hardware roots first: writing fixtures is the bench's setup, not part of the storm.
for (let i = 0; i < NODES; i++) {
  mkdirSync(join(dir, `hw-${i}`));
  await writeHardwareFixture(join(dir, `hw-${i}`), 'pi5-hailo8l', { serial: (0x20000000 + i).toString(16).padStart(16, '0') });
}

// What the agents log at warn and up: retries, and why.
let overloaded = 0;
let otherRetries = 0;
const retryReasons = new Map<string, number>();
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.includes('enrollment failed, will retry')) continue;
      if (line.includes('at its limit')) overloaded++;
      else {
        otherRetries++;
        const reason = /will retry: ([^"]{0,80})/.exec(line)?.[1] ?? 'unknown';
        retryReasons.set(reason, (retryReasons.get(reason) ?? 0) + 1);
      }
    }
    done();
  },
});
const log = pino({ level: 'warn' }, sink);

interface Outcome {
  ms: number;
  error?: string;
}
let rss = 0;
const rssTimer = setInterval(() => {
  rss = Math.max(rss, server.rssMb());
}, 250);
const cpu0 = server.cpuSeconds();
const agentsCpu0 = process.cpuUsage();
const stall0 = cpuStallMicros();
const t0 = performance.now();
const outcomes = await Promise.all(
  Array.from({ length: NODES }, (_, i): Promise<Outcome> => {
    const agent = new Agent({
      server: server.url,
      token,
      dataDir: join(dir, `agent-${i}`),
      hwRoot: join(dir, `hw-${i}`),
      random: seeded(i + 1),
      log,
    });
    // Stop the moment the node has its id: the storm is enrollment only.
    let enrolledAt: number | undefined;
    let nodeId: string | undefined;
    Object.defineProperty(agent.state, 'nodeId', {
      get: () => nodeId,
      set: (v: string | undefined) => {
        nodeId = v;
        if (v !== undefined && enrolledAt === undefined) {
          enrolledAt = performance.now();
          agent.stop();
        }
      },
    });
    const deadline = setTimeout(() => agent.stop(), TIMEOUT_MS);
    return agent.run().then(
      () => {
        clearTimeout(deadline);
        return enrolledAt === undefined ? { ms: Number.NaN, error: 'not enrolled before --timeout-seconds' } : { ms: enrolledAt - t0 };
      },
      (err: unknown) => {
        clearTimeout(deadline);
        return { ms: Number.NaN, error: (err as Error).message };
      },
    );
  }),
);
clearInterval(rssTimer);
const enrolled = outcomes.filter((o) => o.error === undefined);
const seconds = Math.max(...enrolled.map((o) => o.ms), 0) / 1000;
const serverCpu = server.cpuSeconds() - cpu0;
const agentsCpu = process.cpuUsage(agentsCpu0);
const pressure = ((cpuStallMicros() - stall0) / 1e6 / ((performance.now() - t0) / 1000)) * 100;
const listed = (await admin.listNodes('geolocation.site=storm')).items.length;
await admin.close();
await server.stop();
rmSync(dir, { recursive: true, force: true });

const latencies = enrolled.map((o) => o.ms).sort((a, b) => a - b);
const errors = outcomes.filter((o) => o.error !== undefined);
console.log(
  `${enrolled.length}/${NODES} agents enrolled in ${seconds.toFixed(1)} s (${(enrolled.length / seconds).toFixed(0)}/s); the server lists ${listed} nodes`,
);
console.log(
  `enrollment latency (start to node id, retries included): p50 ${(percentile(latencies, 50) / 1000).toFixed(2)} s, p99 ${(percentile(latencies, 99) / 1000).toFixed(2)} s`,
);
console.log(`429 overloaded answers seen by agents: ${overloaded}; other retried failures: ${otherRetries}`);
for (const [reason, n] of retryReasons) console.log(`  ${n}× ${reason}`);
console.log(
  `server: ${serverCpu.toFixed(1)} CPU seconds (${((serverCpu / seconds) * 100).toFixed(0)} % of one core over the storm), peak RSS ${rss.toFixed(0)} MiB`,
);
const agentsCpuSeconds = (agentsCpu.user + agentsCpu.system) / 1e6;
console.log(
  `agents (this process: keys, CSRs, probes, TLS): ${agentsCpuSeconds.toFixed(1)} CPU seconds (${((agentsCpuSeconds / seconds) * 100).toFixed(0)} % of one core); CPU pressure ${pressure.toFixed(0)} % (share of the storm some task waited for a core)`,
);
if (errors.length > 0) {
  const first = new Map<string, number>();
  for (const e of errors) first.set(e.error as string, (first.get(e.error as string) ?? 0) + 1);
  for (const [message, n] of first) console.log(`  not enrolled: ${n}× ${message}`);
}
console.log(JSON.stringify({ nodes: NODES, seconds: round(seconds), errors: errors.length }));
process.exit(0);
