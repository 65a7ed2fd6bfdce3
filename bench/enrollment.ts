/**
 * Control-plane throughput for the foundation: how fast one server enrolls nodes and
 * takes their heartbeats, over real TLS/mTLS on loopback.
 *
 *   npm run bench -- enrollment [--nodes 300] [--heartbeats 3000] [--concurrency 32] [--db sqlite|postgres|postgres://…]
 *
 * Prints figures and a final JSON line. Not a test: nothing here passes or fails.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labelsFromFacts, probeHardware } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import type { HardwareFacts } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { startServer } from '@edgefleet/server';
import { pino } from 'pino';
import { newKeyAndCsr } from '../packages/agent/src/identity/csr.js';
import { startThrowawayPostgres } from '../test-support/postgres.js';
import { benchArgs } from './lib/args.js';

const values = benchArgs('npm run bench -- enrollment [--nodes 300] [--heartbeats 3000] [--concurrency 32] [--db sqlite|postgres|postgres://...]', {
  nodes: { type: 'string', default: '300' },
  heartbeats: { type: 'string', default: '3000' },
  concurrency: { type: 'string', default: '32' },
  db: { type: 'string', default: 'sqlite' },
});
const nodes = Number(values.nodes);
const heartbeats = Number(values.heartbeats);
const concurrency = Number(values.concurrency);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function pool<T>(count: number, width: number, job: (i: number) => Promise<T>): Promise<{ results: T[]; ms: number; latencies: number[] }> {
  const results: T[] = new Array(count);
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < count; i = next++) {
        const t = performance.now();
        results[i] = await job(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { results, ms: performance.now() - start, latencies: latencies.sort((a, b) => a - b) };
}

const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-'));
// `--db postgres` starts a throwaway PostgreSQL 15 cluster, as the tests do.
const pg = values.db === 'postgres' ? await startThrowawayPostgres() : undefined;
const server = await startServer({
  dataDir: join(dir, 'server'),
  listen: '127.0.0.1:0',
  logger: pino({ level: 'silent' }),
  ...(values.db === 'sqlite' ? {} : { db: pg?.url ?? values.db }),
});
const ca = readFileSync(server.caCertPath, 'utf8');
const admin = new EdgefleetClient({ server: server.url, token: readFileSync(server.adminTokenFile, 'utf8').trim(), ca });
const { token } = await admin.createBootstrapToken({ uses: nodes, ttlSeconds: 3600 });

// Facts from one generated Pi 5 + Hailo-8L, with a distinct serial per node.
await writeHardwareFixture(join(dir, 'hw'), 'pi5-hailo8l');
const facts: HardwareFacts = await probeHardware(join(dir, 'hw'), { agentVersion: 'bench' });
const labels = labelsFromFacts(facts, { site: 'bench' });
// CSRs are made up front: key generation is the node's cost, not the server's.
const csrs = await Promise.all(Array.from({ length: nodes }, () => newKeyAndCsr()));

const anon = new EdgefleetClient({ server: server.url, ca });
const enroll = await pool(nodes, concurrency, async (i) => {
  const serial = i.toString(16).padStart(16, '0');
  const res = await anon.enroll({ token, csr: csrs[i]!.csrPem, facts: { ...facts, board: { ...facts.board, serial } }, labels });
  return new EdgefleetClient({ server: server.url, ca, cert: res.certificate, key: csrs[i]!.keyPem });
});
const beat = await pool(heartbeats, concurrency, async (i) => {
  await enroll.results[i % nodes]!.reportStatus({ facts, labels });
});
const list = await pool(20, 4, async () => (await admin.listNodes('ai.accelerator=hailo8l')).items.length);

const figures = {
  bench: 'enrollment',
  db: values.db === 'sqlite' ? 'sqlite' : 'postgres',
  nodes,
  concurrency,
  enrollPerSecond: Math.round((nodes / enroll.ms) * 1000),
  enrollP50Ms: +percentile(enroll.latencies, 50).toFixed(1),
  enrollP95Ms: +percentile(enroll.latencies, 95).toFixed(1),
  heartbeats,
  heartbeatsPerSecond: Math.round((heartbeats / beat.ms) * 1000),
  heartbeatP50Ms: +percentile(beat.latencies, 50).toFixed(1),
  heartbeatP95Ms: +percentile(beat.latencies, 95).toFixed(1),
  listNodesP50Ms: +percentile(list.latencies, 50).toFixed(1),
  listedNodes: list.results[0],
};
console.log(
  `enrolled ${nodes} nodes in ${(enroll.ms / 1000).toFixed(2)} s: ${figures.enrollPerSecond}/s, p50 ${figures.enrollP50Ms} ms, p95 ${figures.enrollP95Ms} ms`,
);
console.log(
  `${heartbeats} heartbeats in ${(beat.ms / 1000).toFixed(2)} s: ${figures.heartbeatsPerSecond}/s, p50 ${figures.heartbeatP50Ms} ms, p95 ${figures.heartbeatP95Ms} ms`,
);
console.log(`nodes list with a selector over ${nodes} nodes: p50 ${figures.listNodesP50Ms} ms`);
// At the default 60 s interval, heartbeats/s × 60 is how many nodes one server keeps up with.
console.log(`=> at a 60 s heartbeat interval one server keeps up with about ${figures.heartbeatsPerSecond * 60} nodes`);
console.log(JSON.stringify(figures));

await Promise.all(enroll.results.map((c) => c.close()));
await admin.close();
await anon.close();
await server.close();
pg?.stop();
rmSync(dir, { recursive: true, force: true });
