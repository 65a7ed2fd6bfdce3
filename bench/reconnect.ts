/**
 * `npm run bench:reconnect [-- --nodes 5000 --outage 6m --heartbeat 60s --workers W]`: a
 * reconnect storm. N simulated nodes (real agents, over W simulator worker processes, default
 * one per core) report to a real server (its own process); then every site loses its uplink
 * at once, long enough for the server to mark them all offline and for every agent's backoff
 * to reach its 5-minute cap — so the return looks like the return after an hour (the agents'
 * state is the same after 6 minutes as after 60) — and all links come back at the same moment.
 *
 * Figures: time until the server lists every node online again; the server's p99 for an
 * agent request during the storm (a probe node sends heartbeats every 100 ms, measured from
 * send to answer); and nodes wrongly marked offline — any node the server lists offline in
 * the three heartbeat intervals after all were back, although every link was up (the
 * failure of KubeEdge #3567). Last line:
 * {"nodes":N,"secondsToAllOnline":x,"p99Ms":x,"falselyOffline":N,"serverPeakRssMb":x,"simRssMb":x}.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration, sleep } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { defaultWorkers, startWorkerFleet } from '@edgefleet/sim';
import { benchArgs } from './lib/args.js';
import { startHeartbeatProber } from './lib/heartbeat-prober.js';
import { enrollNodes } from './lib/node-identities.js';
import { patiently } from './lib/patiently.js';
import { machineLine, percentile, round } from './lib/proc-stats.js';
import { buildCli, startServerProcess } from './lib/server-process.js';

const flags = benchArgs('npm run bench:reconnect [-- --nodes 5000 --outage 6m --heartbeat 60s --workers W]', {
  nodes: { type: 'string' },
  workers: { type: 'string' },
  outage: { type: 'string' },
  heartbeat: { type: 'string' },
});
function arg(name: keyof typeof flags, fallback: string): string {
  return flags[name] ?? fallback;
}
const NODES = Number(arg('nodes', '5000'));
const OUTAGE_MS = parseDuration(arg('outage', '6m'), '--outage');
const HEARTBEAT_MS = parseDuration(arg('heartbeat', '60s'), '--heartbeat');
if (!Number.isInteger(NODES) || NODES < 1) throw new Error('--nodes must be a whole number of at least 1');
const WORKERS = Number(arg('workers', String(defaultWorkers(NODES))));
if (!Number.isInteger(WORKERS) || WORKERS < 1) throw new Error('--workers must be a whole number of at least 1');

async function main(): Promise<void> {
  console.log(
    `reconnect storm: ${NODES} simulated nodes over ${WORKERS} worker processes, all offline for ${OUTAGE_MS / 1000} s, heartbeat ${HEARTBEAT_MS / 1000} s; ${machineLine()}`,
  );
  buildCli();
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-reconnect-'));
  const server = await startServerProcess({ dataDir: join(dir, 'server'), serverArgs: ['--heartbeat-interval', `${HEARTBEAT_MS / 1000}s`] });
  const admin = new EdgefleetClient({ server: server.url, token: server.adminToken, ca: server.caPem });
  try {
    const token = (await admin.createBootstrapToken({ uses: NODES + 10 })).token;
    const sites = Math.max(1, Math.round(NODES / 100));
    const enrollStart = performance.now();
    // Over worker processes: in this process, 5,000 agents took 17 minutes to enroll, and
    // their backlog was the figure rather than the server's.
    const sim = await startWorkerFleet(
      { server: server.url, token, nodes: NODES, sites, rps: 1, seed: 11, dataDir: join(dir, 'nodes'), enrollConcurrency: 50 },
      { workers: WORKERS, stderr: (w, line) => console.log(`  worker ${w}! ${line}`) },
    );
    await sim.whenStarted();
    let probeId: string | undefined;
    const online = async (): Promise<{ online: number; offline: string[] }> => {
      // The probe is not one of the N: counted, it made 199 of 200 look like all of them.
      const items = (await patiently('listing nodes', () => admin.listNodes())).items.filter((n) => n.id !== probeId);
      return { online: items.filter((n) => n.status === 'online').length, offline: items.filter((n) => n.status === 'offline').map((n) => n.name) };
    };
    for (let n = (await online()).online; n < NODES; n = (await online()).online) {
      if (performance.now() - enrollStart > 3_600_000) throw new Error(`${n} of ${NODES} nodes online after an hour`);
      await sleep(2_000);
    }
    console.log(`  all ${NODES} nodes online in ${sites} sites (${round((performance.now() - enrollStart) / 1000)} s); every site goes dark now`);

    // The probe: one more enrolled identity whose heartbeats measure the server during the storm.
    const probeToken = (await admin.createBootstrapToken({ uses: 1 })).token;
    const [probe] = await enrollNodes({ server: server.url, caPem: server.caPem, token: probeToken, count: 1 });
    if (probe === undefined) throw new Error('the probe did not enroll');
    probeId = probe.nodeId;

    for (const s of sim.sites) sim.setSiteOutage(s, true);
    await sleep(OUTAGE_MS);
    const dark = await online();
    console.log(`  after the outage the server lists ${dark.offline.length} nodes offline, ${dark.online} online`);

    // In a worker thread of its own: it times the server, not this process's listing loop.
    const prober = startHeartbeatProber({
      server: server.url,
      caPem: server.caPem,
      certPem: probe.certPem,
      keyPem: probe.keyPem,
      status: probe.status,
      intervalMs: 100,
    });
    // The server's memory through the return, sampled each second: it must stay bounded.
    let peakRssMb = server.rssMb();
    const rssTimer = setInterval(() => {
      peakRssMb = Math.max(peakRssMb, server.rssMb() || 0);
    }, 1000);
    const t0 = performance.now();
    for (const s of sim.sites) sim.setSiteOutage(s, false);
    let secondsToAllOnline = Number.NaN;
    let shown = performance.now();
    for (;;) {
      const o = await online();
      if (o.online === NODES) {
        secondsToAllOnline = (performance.now() - t0) / 1000;
        break;
      }
      if (performance.now() - t0 > 900_000) throw new Error(`only ${o.online} of ${NODES} back after 15 minutes`);
      if (performance.now() - shown > 30_000) {
        shown = performance.now();
        console.log(`  ${round((shown - t0) / 1000, 0)} s: ${o.online} of ${NODES} online; server RSS ${round(server.rssMb())} MB`);
      }
      await sleep(1_000);
    }
    console.log(`  every node online again ${round(secondsToAllOnline)} s after the links came back`);
    // Watch three heartbeat intervals more: a node listed offline now, with every link up, is a false offline.
    const falsely = new Set<string>();
    const watchUntil = performance.now() + 3 * HEARTBEAT_MS;
    while (performance.now() < watchUntil) {
      for (const name of (await online()).offline) falsely.add(name);
      await sleep(2_000);
    }
    const { latencies, failures } = await prober.stop();
    clearInterval(rssTimer);
    const sorted = [...latencies].sort((a, b) => a - b);
    const p99 = percentile(sorted, 99);
    console.log(
      `  probe heartbeats during the storm and after: ${sorted.length} (${failures} failed), p50 ${round(percentile(sorted, 50))} ms, p99 ${round(p99)} ms, max ${round(sorted.at(-1) ?? 0)} ms`,
    );
    console.log(
      `  nodes wrongly listed offline in the ${(3 * HEARTBEAT_MS) / 1000} s after: ${falsely.size}${falsely.size > 0 ? ` (${[...falsely].slice(0, 10).join(', ')})` : ''}`,
    );
    console.log(
      `  server RSS ${round(server.rssMb())} MB, at most ${round(peakRssMb)} MB during the return; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    const final = await sim.stop();
    const simRss = final.workers.reduce((a, w) => a + w.rssMb, 0);
    console.log(
      `  simulator: ${final.workers.length} workers, rss ${final.workers.map((w) => `${w.rssMb} MB`).join(' + ')} (${round((simRss * 1024) / NODES)} KiB per node)`,
    );
    console.log(
      JSON.stringify({
        nodes: NODES,
        secondsToAllOnline: round(secondsToAllOnline),
        p99Ms: round(p99),
        falselyOffline: falsely.size,
        serverPeakRssMb: round(peakRssMb),
        simRssMb: round(simRss),
      }),
    );
  } finally {
    await admin.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench:reconnect failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
