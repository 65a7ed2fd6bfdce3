import { describe, expect, it } from 'vitest';
import { startMetricsEndpoint } from '../../../src/telemetry/metrics/http.js';
import { MetricsRegistry } from '../../../src/telemetry/metrics/registry.js';

function registry(): MetricsRegistry {
  const r = new MetricsRegistry();
  r.gauge('demo_temperature_celsius', 'SoC temperature.').set({}, 52.3);
  return r;
}

describe('local /metrics endpoint', () => {
  it('serves the exposition on GET /metrics and 404 elsewhere', async () => {
    const endpoint = await startMetricsEndpoint({ listen: '127.0.0.1:0', registry: registry() });
    try {
      expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(endpoint.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await res.text()).toBe('# HELP demo_temperature_celsius SoC temperature.\n# TYPE demo_temperature_celsius gauge\ndemo_temperature_celsius 52.3\n');

      const base = endpoint.url.replace(/\/metrics$/, '');
      for (const p of ['/', '/metrics/extra', '/healthz']) expect((await fetch(`${base}${p}`)).status, p).toBe(404);
      expect((await fetch(endpoint.url, { method: 'POST', body: 'x' })).status).toBe(405);
    } finally {
      await endpoint.close();
    }
  });

  it('refreshes readings before each scrape, and fails the scrape visibly when that fails', async () => {
    const r = new MetricsRegistry();
    const scrapes = r.counter('demo_scrapes_total', 'Scrapes.');
    let fail = false;
    const endpoint = await startMetricsEndpoint({
      listen: '127.0.0.1:0',
      registry: r,
      beforeScrape: async () => {
        if (fail) throw new Error('thermal zone unreadable');
        scrapes.inc();
      },
    });
    try {
      await fetch(endpoint.url);
      expect(await (await fetch(endpoint.url)).text()).toContain('\ndemo_scrapes_total 2\n');
      fail = true;
      const res = await fetch(endpoint.url);
      expect(res.status).toBe(500);
      expect(await res.text()).toContain('thermal zone unreadable');
    } finally {
      await endpoint.close();
    }
  });

  it('refuses a non-loopback address unless allowed, naming the fix', async () => {
    await expect(startMetricsEndpoint({ listen: '0.0.0.0:0', registry: registry() })).rejects.toThrow(
      /0\.0\.0\.0:0 is not a loopback address.*allowRemote: true/,
    );
    await expect(startMetricsEndpoint({ listen: '[::]:0', registry: registry() })).rejects.toThrow(/not a loopback address/);
    const allowed = await startMetricsEndpoint({ listen: '0.0.0.0:0', registry: registry(), allowRemote: true });
    try {
      expect((await fetch(allowed.url.replace('0.0.0.0', '127.0.0.1'))).status).toBe(200);
    } finally {
      await allowed.close();
    }
  });

  it('rejects a malformed listen address and a port in use with a clear message', async () => {
    await expect(startMetricsEndpoint({ listen: '9464', registry: registry() })).rejects.toThrow(/must be host:port/);
    await expect(startMetricsEndpoint({ listen: '127.0.0.1:70000', registry: registry() })).rejects.toThrow(/must be host:port/);
    const first = await startMetricsEndpoint({ listen: '127.0.0.1:0', registry: registry() });
    try {
      const port = new URL(first.url).port;
      await expect(startMetricsEndpoint({ listen: `127.0.0.1:${port}`, registry: registry() })).rejects.toThrow(/already in use/);
    } finally {
      await first.close();
    }
  });
});
