/**
 * What one real agent sends and receives on its socket, in real time (issue 18): the
 * server in this process, a {@link CountingProxy} in front of it, and one `Agent` (real
 * clock, real client, real keep-alive and TLS sessions) enrolled through the proxy on a
 * `pi5-hailo8l` fixture, serving Deployment `detect` (a real model-server workload) while
 * inference requests are recorded at the benchmark's rate (5/s, log-normal latencies) through
 * `Agent.recordInference`, the path the agent's proxy takes for real traffic. Everything the
 * agent does on the wire is counted: enrollment aside, heartbeats, the desired-state long
 * poll, telemetry and log uploads, TLS handshakes and records, both directions.
 *
 * After a warm-up (enrolled, workload running, one upload done) the proxy's counts are taken
 * over `minutes` and extrapolated to 30 days. The proxy counts TCP payload (TLS records), not
 * TCP/IP headers, ACKs or TCP keep-alive probes, which the kernel sends without it seeing them.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { mulberry32, sleep, type TelemetryProfileName } from '@edgefleet/protocol';
import { pino } from 'pino';
import { CountingProxy, type ProxyCount } from './counting-proxy.js';
import { DEPLOYMENT, SITE, startBenchFleet } from './fleet.js';
import { DEFAULT_TRAFFIC, gaussian } from './simulate.js';

/** What one real-agent run measured. */
export interface RealAgentResult {
  profile: TelemetryProfileName;
  /** Minutes counted after the warm-up. */
  minutes: number;
  /** Bytes counted in that window, client → server and back (TLS records). */
  upBytes: number;
  downBytes: number;
  /** TCP connections the agent opened in that window. */
  newConnections: number;
  /** Inference requests recorded in that window. */
  inferenceRequests: number;
  /** (up + down) × 30 days / window, in MB (10^6 bytes). */
  mbPerMonth: number;
  /** New connections × 30 days / window. */
  connectionsPerMonth: number;
  /**
   * Where the window's bytes went, by request kind (heartbeat, long poll, telemetry, logs,
   * other) and `handshake` (a new connection's bytes before its first request): up and down
   * bytes, and MB per month of both.
   */
  byKind: Record<string, { up: number; down: number; mbPerMonth: number }>;
}

/** The kind of an agent request, by its path. */
function requestKind(path: string): string {
  const p = path.split('?')[0];
  if (p === '/v1/agent/status') return 'heartbeat';
  if (p === '/v1/agent/desired') return 'long poll';
  if (p === '/v1/agent/telemetry') return 'telemetry';
  if (p === '/v1/agent/logs') return 'logs';
  return 'other';
}

const MONTH_MS = 30 * 24 * 3600_000;

/** Runs one agent on `profile` for `minutes` after its warm-up and counts its socket. */
export async function measureRealAgent(profile: TelemetryProfileName, minutes: number, log: (line: string) => void): Promise<RealAgentResult> {
  const fleet = await startBenchFleet();
  const proxy = await CountingProxy.start({ host: '127.0.0.1', port: fleet.server.port });
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-real-agent-'));
  const stopTraffic = new AbortController();
  // undici says which socket each request's head goes out on; the socket's local port is the
  // proxy's view of that connection, so the proxy can count its bytes by request kind.
  const onSendHeaders = (message: unknown): void => {
    const { request, socket } = message as { request: { origin?: string; path: string }; socket: { localPort?: number } };
    if (socket.localPort === undefined || !String(request.origin ?? '').endsWith(`:${proxy.port}`)) return;
    proxy.carrying(socket.localPort, requestKind(request.path));
  };
  subscribe('undici:client:sendHeaders', onSendHeaders);
  let agent: Agent | undefined;
  let done: Promise<void> | undefined;
  try {
    await fleet.applyDeployment();
    const hwRoot = join(dir, 'hw');
    const dataDir = join(dir, 'agent');
    await writeHardwareFixture(hwRoot, 'pi5-hailo8l', { serial: 'cccccccccccccccc' });
    const { token } = await fleet.admin.createBootstrapToken({ site: SITE });
    agent = new Agent({
      server: `https://127.0.0.1:${proxy.port}`,
      token,
      dataDir,
      hwRoot,
      site: SITE,
      log: pino({ level: 'silent' }),
      telemetry: { metricsListen: false, profile },
    });
    done = agent.run();
    done.catch(() => {});
    const a = agent;
    await waitFor(
      () => a.state.lastHeartbeatAt !== undefined,
      120_000,
      () => `the agent did not enroll: ${a.state.lastError ?? 'no error'}`,
    );
    await waitFor(
      () => a.state.workloads.some((w) => w.deployment === DEPLOYMENT && w.state === 'running'),
      300_000,
      () => `the workload did not start: ${JSON.stringify(a.state.workloads)}`,
    );
    // Inference traffic for the whole run, at the benchmark's rate and latency distribution.
    const traffic = DEFAULT_TRAFFIC;
    const random = mulberry32(traffic.seed);
    let requests = 0;
    const revision = a.state.workloads.find((w) => w.deployment === DEPLOYMENT)?.revision ?? 1;
    const sender = (async () => {
      const every = 1000 / traffic.requestsPerSecond;
      while (!stopTraffic.signal.aborted) {
        const latency = traffic.medianMs * Math.exp(traffic.sigma * gaussian(random));
        a.recordInference(DEPLOYMENT, revision, latency, random() >= traffic.errorRate, false);
        requests++;
        await sleep(every, stopTraffic.signal);
      }
    })();
    // Warm-up: the profile's first upload (a minute on lan; metered uploads every 15 minutes,
    // so its window starts at once and should span several of them).
    if (profile === 'lan') await sleep(70_000);
    const start = proxy.snapshot();
    const startRequests = requests;
    log(`${profile}: counting for ${minutes} min from ${new Date().toISOString()} (${start.connections} connections so far, enrollment included)`);
    await sleep(minutes * 60_000);
    const end = proxy.snapshot();
    const window = diff(end, start);
    const inferenceRequests = requests - startRequests;
    stopTraffic.abort();
    await sender;
    const ms = minutes * 60_000;
    const perMonth = (bytes: number): number => round((bytes * MONTH_MS) / ms / 1_000_000);
    const byKind = Object.fromEntries(
      Object.entries(window.byKind)
        .sort(([, a], [, b]) => b.up + b.down - (a.up + a.down))
        .map(([kind, v]) => [kind, { up: v.up, down: v.down, mbPerMonth: perMonth(v.up + v.down) }]),
    );
    return {
      profile,
      minutes,
      upBytes: window.up.bytes,
      downBytes: window.down.bytes,
      newConnections: window.connections,
      inferenceRequests,
      mbPerMonth: round(((window.up.bytes + window.down.bytes) * MONTH_MS) / ms / 1_000_000),
      connectionsPerMonth: Math.round((window.connections * MONTH_MS) / ms),
      byKind,
    };
  } finally {
    unsubscribe('undici:client:sendHeaders', onSendHeaders);
    stopTraffic.abort();
    agent?.stop();
    await done?.catch(() => {});
    await proxy.close();
    await fleet.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function diff(end: ProxyCount, start: ProxyCount): ProxyCount {
  return {
    up: { bytes: end.up.bytes - start.up.bytes, records: end.up.records - start.up.records, framing: end.up.framing - start.up.framing },
    down: { bytes: end.down.bytes - start.down.bytes, records: end.down.records - start.down.records, framing: end.down.framing - start.down.framing },
    connections: end.connections - start.connections,
    byKind: Object.fromEntries(
      Object.entries(end.byKind).map(([kind, v]) => [kind, { up: v.up - (start.byKind[kind]?.up ?? 0), down: v.down - (start.byKind[kind]?.down ?? 0) }]),
    ),
  };
}

async function waitFor(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(what());
    await sleep(200);
  }
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}
