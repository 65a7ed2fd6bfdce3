/**
 * The upload half of a reconnect storm, alone: what the server's memory does when many
 * returning agents upload their buffered telemetry at once.
 *
 *   node --conditions=edgefleet:source --import tsx bench/upload-storm.ts [-- --clients 400 --bytes 1048576 --seconds 20 --cli PATH]
 *
 * Starts the built server (or --cli PATH, an older build to compare), enrolls one node, and
 * has --clients connections (each its own mTLS client, as returning agents each have theirs)
 * upload --bytes of incompressible data to POST /v1/agent/telemetry back to back for
 * --seconds. The bodies are not valid batches (the server answers 400 once it has read one):
 * what is measured is what reading and holding the bodies costs before any is decoded. A
 * 429 is honoured by waiting its Retry-After. Prints the server's peak RSS and the answers:
 * `{"clients":N,"bytes":N,"peakRssMb":x,"answers":{"400":n,"429":n,...},"loadAverage":x}`.
 * Not a test: nothing here passes or fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgefleetError, sleep } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { benchArgs } from './lib/args.js';
import { enrollNodes } from './lib/node-identities.js';
import { machineLine, round } from './lib/proc-stats.js';
import { buildCli, startServerProcess } from './lib/server-process.js';

const values = benchArgs('node --conditions=edgefleet:source --import tsx bench/upload-storm.ts [--clients 400 --bytes 1048576 --seconds 20 --cli PATH]', {
  clients: { type: 'string', default: '400' },
  bytes: { type: 'string', default: String(1024 * 1024) },
  seconds: { type: 'string', default: '20' },
  cli: { type: 'string' },
});
const CLIENTS = Number(values.clients);
const BYTES = Number(values.bytes);
const SECONDS = Number(values.seconds);

console.log(
  `upload storm: ${CLIENTS} connections uploading ${BYTES} bytes each, back to back, for ${SECONDS} s; ${machineLine()}; load average ${loadavg()[0]?.toFixed(1)}`,
);
buildCli();
const dir = mkdtempSync(join(tmpdir(), 'edgefleet-upload-storm-'));
const server = await startServerProcess({ dataDir: join(dir, 'server'), ...(values.cli === undefined ? {} : { cli: values.cli }) });
const admin = new EdgefleetClient({ server: server.url, ca: server.caPem, token: server.adminToken });
try {
  const { token } = await admin.createBootstrapToken({ uses: 5 });
  const [node] = await enrollNodes({ server: server.url, caPem: server.caPem, token, count: 1 });
  if (node === undefined) throw new Error('the node did not enroll');
  const body = randomBytes(BYTES);
  const rss0 = server.rssMb();
  let peak = rss0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, server.rssMb() || 0);
  }, 100);
  const answers: Record<string, number> = {};
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const c = new EdgefleetClient({ server: server.url, ca: server.caPem, cert: node.certPem, key: node.keyPem });
      try {
        while (performance.now() < until) {
          let key = 'ok';
          let wait = 0;
          try {
            await c.uploadTelemetry(body);
          } catch (err) {
            key = err instanceof EdgefleetError ? String(err.status) : 'error';
            if (err instanceof EdgefleetError && err.status === 429) wait = err.retryAfterMs ?? 1000;
          }
          answers[key] = (answers[key] ?? 0) + 1;
          if (wait > 0) await sleep(Math.min(wait, Math.max(0, until - performance.now())));
        }
      } finally {
        await c.close();
      }
    }),
  );
  clearInterval(sampler);
  console.log(`  server RSS ${round(rss0)} MiB before, at most ${round(peak)} MiB during the storm; answers ${JSON.stringify(answers)}`);
  console.log(JSON.stringify({ clients: CLIENTS, bytes: BYTES, peakRssMb: round(peak), answers, loadAverage: round(loadavg()[0] as number) }));
} finally {
  await admin.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
