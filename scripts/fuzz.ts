/**
 * The long fuzzing campaign (issue 14), outside CI:
 *
 *   npm run fuzz -- --runs 1000000 [--seed 1] [--concurrency 8] [--timeout-ms 30000]
 *
 * Starts a real server over TLS (test-support/fleet.ts, SQLite, in this process), enrolls
 * one node for its client certificate, and sends `--runs` fuzzed requests to every route of
 * the route table as each kind of caller (test-support/http-fuzz.ts says what is sent and
 * what counts as a failure). Progress goes to stderr; stdout gets one JSON line at the end:
 * `{"inputs":N,"failures":0,"serverErrors":0}`. Exits 1 when anything failed, with the
 * first findings (each a request to replay) on stderr. The CI campaign is the same code
 * with fewer inputs: test/integration/http-fuzz.test.ts.
 */
import { cpus, loadavg } from 'node:os';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startTestFleet } from '../test-support/fleet.js';
import { ensureDashboardBuild, prepareFuzzTarget, runHttpFuzz } from '../test-support/http-fuzz.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20000' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '8' },
    'timeout-ms': { type: 'string', default: '30000' },
  },
});
const number = (name: keyof typeof values, min: number): number => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be a whole number of at least ${min}, not "${values[name]}"`);
    process.exit(2);
  }
  return n;
};
const runs = number('runs', 1);
const seed = number('seed', 0);
const concurrency = number('concurrency', 1);
const timeoutMs = number('timeout-ms', 100);

// The server logs only errors here, and only the last few are kept: a million requests'
// debug lines would fill the memory of the in-memory log the tests use.
const serverErrors: string[] = [];
const logger = pino(
  { level: 'error' },
  new Writable({
    write(chunk, _enc, cb) {
      serverErrors.push(chunk.toString());
      if (serverErrors.length > 20) serverErrors.shift();
      cb();
    },
  }),
);

ensureDashboardBuild();
const fleet = await startTestFleet({ logger });
let exitCode = 0;
try {
  const target = await prepareFuzzTarget(fleet);
  console.error(`fuzzing ${fleet.server.url}: ${runs} inputs, seed ${seed}, ${concurrency} in flight; ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`);
  const report = await runHttpFuzz(target, {
    runs,
    seed,
    concurrency,
    timeoutMs,
    onFinding: (f) => console.error(`FOUND ${f.kind} ${f.route} as ${f.caller} (#${f.input}): ${f.summary.slice(0, 1500)}`),
    progressEvery: Math.max(1000, Math.min(50_000, Math.round(runs / 100))),
    onProgress: (done, r) =>
      console.error(
        `${done}/${runs} inputs, ${Math.round(done / r.seconds)}/s, failures ${r.failures}, 5xx ${r.serverErrors}, hangs ${r.hangs}, dropped ${r.dropped}, load ${loadavg()[0]?.toFixed(1)}`,
      ),
  });
  await target.close();
  console.error(`statuses: ${JSON.stringify(report.statuses)}; dropped ${report.dropped}, long polls aborted ${report.aborted}`);
  console.error(`${report.inputs} inputs in ${report.seconds.toFixed(0)} s: ${Math.round(report.inputs / report.seconds)} inputs/s`);
  // Server errors first: they are the bugs; then the rest, one of each kind and route.
  const order = ['crash', 'server-error', 'hang', 'unhealthy', 'bad-error-body'];
  const seen = new Set<string>();
  const shown = [...report.findings]
    .sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))
    .filter((f) => !seen.has(`${f.kind} ${f.route}`) && seen.add(`${f.kind} ${f.route}`));
  for (const f of shown.slice(0, 30)) console.error(`FINDING ${f.kind} ${f.route} as ${f.caller} (#${f.input}): ${f.summary.slice(0, 1200)}`);
  if (report.failures > 0) for (const line of serverErrors) console.error(`server log: ${line.trim().slice(0, 600)}`);
  console.log(JSON.stringify({ inputs: report.inputs, failures: report.failures, serverErrors: report.serverErrors }));
  if (report.failures > 0) exitCode = 1;
} finally {
  await fleet.close();
}
process.exit(exitCode);
