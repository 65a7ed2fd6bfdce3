import { loadIdentity } from '@edgefleet/agent';
import { type ErrorBody, ErrorBodySchema, type LogEntry, type TelemetrySeries } from '@edgefleet/protocol';
import { encodeLogBatch, encodeTelemetryBatch } from '@edgefleet/protocol/node';
import { Agent as Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';

/** Small quotas, so the attack needs a few requests, not gigabytes. */
const QUOTAS = { logBytesPerDay: 64 * 1024, alertsPerNode: 20, seriesPerNode: 50 };

/**
 * Issue 14, finding 10: one node must not exhaust the server (storage, Prometheus/Loki
 * cardinality, connections). The attacks run with a real node certificate against a real
 * server. Before the fix every log batch was stored, every distinct series and alert kept
 * and forwarded, and every long poll held.
 */
describe('per-node quotas', () => {
  let fleet: TestFleet;
  let a: TestAgent;
  let nodeId: string;
  let dispatcher: Dispatcher;
  const forwardedSeries = new Set<string>();
  const forwardedLogLines: string[] = [];

  const asNode = (method: 'GET' | 'POST', path: string, body?: Uint8Array, contentType?: string, signal?: AbortSignal) =>
    request(`${fleet.server.url}${path}`, {
      method,
      dispatcher,
      ...(body === undefined ? {} : { body, headers: { 'content-type': contentType ?? '' } }),
      ...(signal === undefined ? {} : { signal }),
    });

  beforeAll(async () => {
    fleet = await startTestFleet({
      heartbeatIntervalMs: 500,
      requireSigned: false,
      quotas: QUOTAS,
      forwarding: {
        metrics(series) {
          for (const s of series) forwardedSeries.add(`${s.name}${JSON.stringify(s.labels)}`);
        },
        logs(lines) {
          for (const l of lines) forwardedLogLines.push(l.line);
        },
      },
    });
    a = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken() });
    await eventually(() => a.agent.state.nodeId, 20_000, 'node enrolled');
    nodeId = a.agent.state.nodeId as string;
    // The attacker holds the node's key; the real agent is quiet, so only the attack speaks.
    a.agent.stop();
    await a.done.catch(() => {});
    const identity = loadIdentity(a.dataDir);
    if (identity === undefined) throw new Error('no identity');
    // Many connections: each long poll gets its own.
    dispatcher = new Dispatcher({ connect: { ca: fleet.ca, cert: identity.certPem, key: identity.keyPem }, connections: 20, pipelining: 0 });
  }, 60_000);
  afterAll(async () => {
    await dispatcher?.destroy();
    await fleet?.close();
  });

  it('scrubs secrets from node log lines again before storing and forwarding them (an agent that did not)', async () => {
    const secret = 'ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
    const entries: LogEntry[] = [
      { tsNs: `${BigInt(Date.now()) * 1_000_000n}`, source: 'agent', stream: 'agent', level: 'info', line: `git clone with ${secret}` },
    ];
    const res = await asNode('POST', '/v1/agent/logs', encodeLogBatch({ v: 1, stream: 'scrub', seq: 1, entries }), 'application/vnd.edgefleet.logs.v1+json');
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const stored = await fleet.server.store.listLogs({ nodeId, limit: 10 });
    expect(stored.map((l) => l.line)).toEqual(['git clone with [github-token]']);
    expect(forwardedLogLines).toEqual(['git clone with [github-token]']);
  });

  it('a node pushing logs beyond its daily budget gets 429 quota_exceeded and storage stays bounded', async () => {
    const line = 'x'.repeat(1000);
    let refused: { statusCode: number; body: ErrorBody } | undefined;
    const t0 = Date.now();
    for (let seq = 1; seq <= 200 && refused === undefined; seq++) {
      const entries: LogEntry[] = Array.from({ length: 10 }, (_, i) => ({
        tsNs: `${BigInt(t0 + seq) * 1_000_000n + BigInt(i)}`,
        source: 'agent',
        stream: 'agent',
        level: 'info',
        line,
      }));
      const res = await asNode('POST', '/v1/agent/logs', encodeLogBatch({ v: 1, stream: 'attack', seq, entries }), 'application/vnd.edgefleet.logs.v1+json');
      if (res.statusCode === 429) refused = { statusCode: res.statusCode, body: ErrorBodySchema.parse(await res.body.json()) };
      else {
        expect(res.statusCode).toBe(200);
        await res.body.dump();
      }
    }
    // 200 batches of 10 KB were sent (2 MB) against a 64 KiB budget.
    expect(refused?.body.error).toMatchObject({ code: 'quota_exceeded', message: expect.stringContaining('log'), hint: expect.any(String) });
    const stored = await fleet.server.store.listLogs({ nodeId, limit: 100_000 });
    const bytes = stored.reduce((n, l) => n + Buffer.byteLength(l.line), 0);
    expect(bytes).toBeLessThanOrEqual(QUOTAS.logBytesPerDay);
    expect(forwardedLogLines.length).toBe(stored.length);
    expect(fleet.serverLog()).toMatch(/node quota exceeded: .*log budget/);
  });

  it('a node sending many distinct series gets them bounded (stored and forwarded)', async () => {
    const t = Date.now();
    for (let seq = 1; seq <= 4; seq++) {
      const series: TelemetrySeries[] = Array.from({ length: 100 }, (_, i) => ({
        kind: 'gauge',
        name: 'edgefleet_attack',
        labels: { request_id: `r-${seq}-${i}` },
        points: [{ t, min: 1, max: 1, last: 1 }],
      }));
      const alerts = Array.from({ length: 50 }, (_, i) => ({
        name: 'Attack',
        state: 'firing' as const,
        severity: 'warning' as const,
        since: t,
        message: 'flood',
        labels: { id: `a-${seq}-${i}` },
      }));
      const body = encodeTelemetryBatch({ stream: 'attack', seq, resolutionMs: 1000, series, meta: { alerts } });
      const res = await asNode('POST', '/v1/agent/telemetry', body, 'application/vnd.edgefleet.telemetry.v1');
      // The batch is taken (the node's good series still count); what is over the bound is named in `rejected`.
      expect(res.statusCode).toBe(200);
      const answer = (await res.body.json()) as { rejected?: Array<{ series: string; reason: string }> };
      if (seq > 1) expect(answer.rejected?.[0]?.reason).toContain('distinct series');
    }
    const latest = (await fleet.server.store.getNodeTelemetry(nodeId))?.latest ?? [];
    expect(latest.filter((s) => s.name === 'edgefleet_attack').length).toBeLessThanOrEqual(QUOTAS.seriesPerNode);
    expect([...forwardedSeries].filter((s) => s.startsWith('edgefleet_attack')).length).toBeLessThanOrEqual(QUOTAS.seriesPerNode);
    expect((await fleet.server.store.listAlerts({ nodeId })).length).toBeLessThanOrEqual(QUOTAS.alertsPerNode);
    expect(fleet.serverLog()).toMatch(/node quota exceeded: .*distinct series/);
    expect(fleet.serverLog()).toMatch(/node quota exceeded: .*distinct alerts/);
  });

  it('a node opening many long polls holds at most one: each new one ends the older with 429', async () => {
    const first = await asNode('GET', '/v1/agent/desired?wait=0');
    expect(first.statusCode).toBe(200);
    const { version } = (await first.body.json()) as { version: string };
    const aborts = new AbortController();
    const polls: Array<Promise<{ statusCode: number; code?: string }>> = [];
    for (let i = 0; i < 5; i++) {
      polls.push(
        asNode('GET', `/v1/agent/desired?since=${encodeURIComponent(version)}&wait=60`, undefined, undefined, aborts.signal).then(async (res) => {
          const text = await res.body.text();
          return { statusCode: res.statusCode, code: res.statusCode === 200 || text === '' ? undefined : ErrorBodySchema.parse(JSON.parse(text)).error.code };
        }),
      );
      // Let the server take this poll before the next arrives.
      await new Promise((r) => setTimeout(r, 300));
    }
    const settled = (p: Promise<unknown>) =>
      Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3_000))]).catch(() => true);
    const older = await Promise.all(polls.slice(0, 4).map((p) => settled(p)));
    expect(older).toEqual([true, true, true, true]);
    for (const p of polls.slice(0, 4)) expect(await p).toEqual({ statusCode: 429, code: 'quota_exceeded' });
    // The newest is still held.
    expect(await settled(polls[4] as Promise<unknown>)).toBe(false);
    aborts.abort();
    await Promise.allSettled(polls);
  });
});
