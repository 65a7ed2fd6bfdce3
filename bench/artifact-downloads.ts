/**
 * A release's downloads from the artifact store, alone: many nodes fetching the same model
 * at once, the herd every release on a fleet makes.
 *
 *   npm run bench:downloads -- [--db postgres|sqlite --mb 16 --clients 50 --downloads 300 --cli PATH]
 *
 * Starts the built server (or --cli PATH, an older build to compare) in a process of its own
 * (with `--db postgres` on a throwaway PostgreSQL 15, where artifacts live in the database as
 * 1 MiB chunks), pushes --mb MiB of random bytes, then has --clients concurrent downloaders
 * (each its own TLS client) fetch the artifact --downloads times in all, reading every byte.
 * Prints what the server (and PostgreSQL) spent per downloaded MiB and how long a download took:
 * `{"db","mb","clients","downloads","mibPerSecond","serverCpuMsPerMib","postgresCpuMsPerMib","downloadMsP50","downloadMsP99","serverRssMb"}`.
 * Not a test: nothing here passes or fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../test-support/postgres.js';
import { benchArgs, wholeFlag } from './lib/args.js';
import { machineLine, percentile, postgresCpuSeconds, round } from './lib/proc-stats.js';
import { buildCli, startServerProcess } from './lib/server-process.js';

const USAGE = 'npm run bench:downloads -- [--db postgres|sqlite --mb 16 --clients 50 --downloads 300 --cli PATH]';
const values = benchArgs(USAGE, {
  db: { type: 'string', default: 'postgres' },
  mb: { type: 'string' },
  clients: { type: 'string' },
  downloads: { type: 'string' },
  cli: { type: 'string' },
});
const DB = values.db;
if (DB !== 'postgres' && DB !== 'sqlite') {
  console.error(`--db must be postgres or sqlite, got "${DB}"\n\nusage: ${USAGE}`);
  process.exit(2);
}
const MIB = wholeFlag('mb', values.mb, 16);
const CLIENTS = wholeFlag('clients', values.clients, 50);
const DOWNLOADS = wholeFlag('downloads', values.downloads, 300);

console.log(
  `artifact downloads: ${DOWNLOADS} downloads of one ${MIB} MiB artifact by ${CLIENTS} concurrent clients, ${DB}; ${machineLine()}; load average ${loadavg()[0]?.toFixed(1)}`,
);
buildCli();
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-downloads-'));
let pg: ThrowawayPostgres | undefined;
process.once('exit', () => {
  pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});
process.once('SIGINT', () => process.exit(130));
if (DB === 'postgres') pg = await startThrowawayPostgres();
const server = await startServerProcess({
  dataDir: join(dir, 'server'),
  serverArgs: pg === undefined ? [] : ['--db', pg.url],
  ...(values.cli === undefined ? {} : { cli: values.cli }),
});
process.once('exit', () => server.child.kill('SIGKILL'));
try {
  const admin = new EdgefleetClient({ server: server.url, ca: server.caPem, token: server.adminToken });
  const bytes = randomBytes(MIB * 1024 * 1024);
  const { digest } = await admin.pushArtifact(Readable.from([bytes]), bytes.byteLength);

  const pgCpu = (): number => (pg === undefined ? 0 : postgresCpuSeconds(join(pg.dir, 'data')));
  const cpu0 = server.cpuSeconds();
  const pgCpu0 = pgCpu();
  let peakRss = server.rssMb();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, server.rssMb() || 0);
  }, 200);
  const took: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const client = new EdgefleetClient({ server: server.url, ca: server.caPem, token: server.adminToken });
      while (next < DOWNLOADS) {
        next++;
        const started = performance.now();
        const res = await client.openArtifact(digest);
        let got = 0;
        for await (const chunk of res.body) got += (chunk as Buffer).byteLength;
        if (got !== bytes.byteLength) throw new Error(`a download read ${got} of ${bytes.byteLength} bytes`);
        took.push(performance.now() - started);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const cpuMs = (server.cpuSeconds() - cpu0) * 1000;
  const pgCpuMs = (pgCpu() - pgCpu0) * 1000;
  const mib = DOWNLOADS * MIB;
  took.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      db: DB,
      mb: MIB,
      clients: CLIENTS,
      downloads: DOWNLOADS,
      mibPerSecond: round(mib / seconds),
      serverCpuMsPerMib: round(cpuMs / mib, 2),
      postgresCpuMsPerMib: round(pgCpuMs / mib, 2),
      downloadMsP50: round(percentile(took, 50)),
      downloadMsP99: round(percentile(took, 99)),
      serverRssMb: round(peakRss),
    }),
  );
} finally {
  await server.stop();
}
