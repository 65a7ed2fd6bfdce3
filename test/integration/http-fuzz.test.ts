/**
 * The CI part of the fuzzing campaign (issue 14): 2,000 fuzzed requests to every route of
 * the route table as each kind of caller (none, viewer, operator, admin, a node's client
 * certificate), against a real server over TLS. No answer may be a 5xx, no request may hang,
 * every 4xx under /v1 must carry our error shape, and the server must still be healthy.
 * The long campaign is the same code: `npm run fuzz -- --runs 1000000` (scripts/fuzz.ts).
 * The count of inputs is fixed and the seed too, so the run does not depend on machine speed;
 * only the per-request timeout is a time, and it is generous.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Agent as Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { ensureDashboardBuild, type FuzzTarget, prepareFuzzTarget, runHttpFuzz } from '../../test-support/http-fuzz.js';

describe('HTTP fuzzing of every route (short campaign)', () => {
  let fleet: TestFleet;
  let target: FuzzTarget;
  /** What the server logged at error level. */
  const errorLog: string[] = [];
  beforeAll(async () => {
    ensureDashboardBuild();
    // Errors only: 2,000 requests of debug lines are not worth keeping in memory.
    const sink = new Writable({
      write(chunk, _enc, cb) {
        errorLog.push(chunk.toString());
        cb();
      },
    });
    fleet = await startTestFleet({ logger: pino({ level: 'error' }, sink) });
    target = await prepareFuzzTarget(fleet);
  }, 120_000);
  afterAll(async () => {
    await target?.close();
    await fleet?.close();
  });

  it('answers 2,000 malformed and half-valid requests without a 5xx, a hang or a crash', async () => {
    const report = await runHttpFuzz(target, { runs: 2000, seed: 14, concurrency: 4, timeoutMs: 60_000 });
    expect(report.findings.map((f) => `${f.kind} ${f.route} as ${f.caller}: ${f.summary.slice(0, 500)}`)).toEqual([]);
    expect(report).toMatchObject({ inputs: 2000, failures: 0, serverErrors: 0, hangs: 0, crashes: 0 });
    // The campaign reached the handlers, not only the authentication: some answers succeed.
    expect((report.statuses['200'] ?? 0) + (report.statuses['201'] ?? 0)).toBeGreaterThan(100);
    expect(report.statuses['400'] ?? 0).toBeGreaterThan(100);
  }, 600_000);

  it('logs no error when a node goes away during its long poll (found by the fuzzer: a Fastify reply is a thenable)', async () => {
    const dispatcher = new Dispatcher({ connect: { ca: target.ca, cert: target.node.certPem, key: target.node.keyPem } });
    try {
      const first = await request(`${target.url}/v1/agent/desired`, { dispatcher });
      const { version } = (await first.body.json()) as { version: string };
      errorLog.length = 0;
      const poll = request(`${target.url}/v1/agent/desired?since=${encodeURIComponent(version)}&wait=30`, { dispatcher, signal: AbortSignal.timeout(500) });
      await expect(poll).rejects.toThrow();
      // The server notices the closed connection and ends the poll; give it a moment.
      const until = Date.now() + 5_000;
      while (Date.now() < until && errorLog.length === 0) await new Promise((r) => setTimeout(r, 100));
      expect(errorLog.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([]);
    } finally {
      await dispatcher.close();
    }
  }, 60_000);
});
