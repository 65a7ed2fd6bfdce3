import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderExposition } from '../../../src/telemetry/metrics/exposition.js';
import { MetricsRegistry } from '../../../src/telemetry/metrics/registry.js';
import { AgentMetrics, STANDARD_METRIC_NAMES } from '../../../src/telemetry/metrics/standard.js';

const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));

/** `promtool check metrics` on `text`: its exit code and complaints. */
function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync(PROMTOOL as string, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The same small registry as exposition.test.ts: what promtool lints besides the full set. */
function smallRegistry(): MetricsRegistry {
  const r = new MetricsRegistry();
  const requests = r.counter('demo_requests_total', 'Requests served.', ['path', 'outcome']);
  const temp = r.gauge('demo_temperature_celsius', 'SoC temperature.');
  const latency = r.histogram('demo_duration_seconds', 'Request latency.', ['deployment']);
  requests.inc({ path: '/v2/models/cam', outcome: 'ok' }, 3);
  requests.inc({ path: '/v2/models/cam', outcome: 'error' });
  temp.set({}, 52.3);
  latency.observe({ deployment: 'cam' }, 0.004);
  latency.observe({ deployment: 'cam' }, 0.004);
  latency.observe({ deployment: 'cam' }, 0.25);
  latency.observe({ deployment: 'cam' }, 42);
  return r;
}

describe('Prometheus text exposition, as promtool reads it', () => {
  // Skipped, not failed, where Prometheus' own linter is missing (Debian package `prometheus`).
  it.skipIf(PROMTOOL === undefined)('passes promtool check metrics, small registry and full standard set (skipped without /usr/bin/promtool)', () => {
    const small = promtoolCheck(renderExposition(smallRegistry()));
    expect(small.output).toBe('');
    expect(small.status).toBe(0);

    const m = new AgentMetrics();
    m.inference('cam-detect', 3, 12.5, true);
    m.inference('cam-detect', 3, 900, false);
    m.restart('cam-detect', 3);
    m.modelLoadFailure('cam-detect', 3);
    m.fallback('cam-detect', 3, true);
    m.accelerator('hailo8l', true);
    m.queue({ records: 4, bytes: 8192, maxBytes: 64 * 1024 * 1024, droppedRecords: 0, droppedBytes: 0 });
    m.dropped('samples', 'queue-full', 12);
    m.dropped('logs', 'queue-full', 3);
    m.logLinesSuppressed(40);
    m.uplink(1200, 300, 1_736_942_400_000);
    m.sampleNode({
      cpu: { total: 1000, idle: 800 },
      cpuUsageRatio: 0.2,
      load1: 0.84,
      load5: 0.71,
      load15: 0.66,
      memoryUsedBytes: 1_646_632_960,
      memoryTotalBytes: 8_442_896_384,
      diskUsedBytes: 17_179_869_184,
      diskTotalBytes: 34_359_738_368,
      temperatureC: 52.3,
      throttledBits: 0x50005,
      network: [{ interface: 'eth0', receiveBytes: 1_843_219_543, transmitBytes: 289_410_233 }],
      uptimeSeconds: 22361.48,
    });
    const text = renderExposition(m.registry);
    // Every standard metric is declared (HELP and TYPE), whether or not it has samples yet.
    for (const name of STANDARD_METRIC_NAMES) expect(text).toContain(`# TYPE ${name} `);
    const full = promtoolCheck(text);
    expect(full.output).toBe('');
    expect(full.status).toBe(0);
  });
});
