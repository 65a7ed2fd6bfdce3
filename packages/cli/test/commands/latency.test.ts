import type { LatencyHistory } from '@edgefleet/protocol';
import { suggestGates } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { checkWindow, renderLatency, renderSuggestion } from '../../src/commands/latency.js';

const H = 3_600_000;
const START = Date.UTC(2026, 10, 1);

function history(hours: number, bySite = false): LatencyHistory {
  return {
    deployment: 'detect',
    revision: 2,
    since: new Date(START).toISOString(),
    until: new Date(START + hours * H).toISOString(),
    bucketSeconds: 3600,
    site: null,
    bySite,
    hours: Array.from({ length: hours }, (_, i) => ({
      hour: new Date(START + i * H).toISOString(),
      revision: 2,
      site: bySite ? 'site-01' : null,
      requests: 1000,
      errors: i === 0 ? 5 : 0,
      p50Ms: 4.2,
      p95Ms: i % 2 === 0 ? 9.5 : 10.4,
      p99Ms: 31.25,
    })),
    revisions: [{ revision: 2, hours, sites: ['site-01'], requests: hours * 1000, errors: 5, p50Ms: 4.2, p95Ms: 10, p99Ms: 31 }],
  };
}

describe('edgefleet deployments latency', () => {
  it('prints one line per hour with quantiles and error rate, then the revisions over the window', () => {
    expect(renderLatency(history(2))).toBe(
      [
        'HOUR (UTC)         REVISION   REQUESTS   P50 MS   P95 MS   P99 MS   ERRORS',
        '2026-11-01 00:00   2          1000       4.20     9.50     31.3     0.50%',
        '2026-11-01 01:00   2          1000       4.20     10.4     31.3     0.00%',
        '',
        'Since 2026-11-01 00:00 UTC:',
        'REVISION      HOURS   REQUESTS   P50 MS   P95 MS   P99 MS   ERRORS',
        '2 (current)   2       2000       4.20     10.0     31.0     0.25%',
      ].join('\n'),
    );
  });

  it('adds a site column per site, and says when there is nothing yet', () => {
    expect(renderLatency(history(1, true)).split('\n')[0]).toContain('SITE');
    expect(renderLatency(history(0))).toMatch(/^No latency history for detect since 2026-11-01 00:00 UTC/);
  });

  it.each([
    ['7d', true],
    ['1h', true],
    ['30d', true],
    ['31d', /outside the latency history/],
    ['10m', /outside the latency history/],
    ['a week', /invalid --since "a week"/],
    ['7', /invalid --since "7"/],
  ])('--since %s', (value, want) => {
    if (want === true) expect(checkWindow(value, '--since')).toBe(value);
    else expect(() => checkWindow(value, '--since')).toThrow(want);
  });
});

describe('edgefleet slo suggest', () => {
  it('explains every number and ends with a gates block to paste', () => {
    const s = suggestGates(history(48));
    if (!s.ok) throw new Error(s.missing.join('; '));
    const text = renderSuggestion(s);
    for (const setting of ['minRequests', 'p95LatencyRatio', 'p99LatencyRatio', 'maxP95LatencyMs', 'minLatencyDeltaMs', 'maxErrorRate', 'steps[0].bake'])
      expect(text).toContain(`  ${setting}: `);
    expect(text).toContain(`gates:\n  minRequests: ${s.gates.minRequests}\n  p95LatencyRatio: ${s.gates.p95LatencyRatio}\n`);
  });
});
