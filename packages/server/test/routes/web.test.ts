import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Api } from '../../src/http/app.js';
import { installErrorHandling } from '../../src/http/errors.js';
import { registerSomeRoutes } from '../../src/http/routes.js';
import { webHandlers } from '../../src/routes/web.js';
import type { Store } from '../../src/store/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The dashboard routes over `dist` (a stand-in build), next to one API route, called with inject (no sockets). */
function appOver(dist: string) {
  const app = Fastify() as unknown as Api;
  installErrorHandling(app);
  // Public routes only: authentication never reads the store.
  registerSomeRoutes(app, { health: async () => ({ ok: true }), ...webHandlers(app, dist) }, { store: {} as Store, ca: { certPem: '' } });
  return app;
}

function builtDist(): string {
  const dist = mkdtempSync(join(tmpdir(), 'edgefleet-web-unit-'));
  dirs.push(dist);
  mkdirSync(join(dist, 'assets'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(dist, 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(dist, '.env'), 'SECRET=1');
  return dist;
}

describe('the dashboard routes', () => {
  it('answers 503 with build instructions while the dashboard is not built', async () => {
    const dist = mkdtempSync(join(tmpdir(), 'edgefleet-web-unit-'));
    dirs.push(dist);
    const res = await appOver(dist).inject({ url: '/nodes/a' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toContain('npm run build');
  });

  it('sets the security headers with helmet on dashboard responses only', async () => {
    const app = appOver(builtDist());
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toBe(
      "default-src 'self';script-src 'self';style-src 'self' 'unsafe-inline';img-src 'self' data:;connect-src 'self';frame-ancestors 'none';base-uri 'none';form-action 'self'",
    );
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    // The fleet CA may be one the browser does not trust: HSTS would lock the operator out.
    expect(page.headers['strict-transport-security']).toBeUndefined();
    const api = await app.inject({ url: '/healthz' });
    expect(api.headers['content-security-policy']).toBeUndefined();
  });

  it('serves hashed assets as text/javascript cached a year, pages by history routing, HEAD without a body', async () => {
    const app = appOver(builtDist());
    const js = await app.inject({ url: '/assets/index-abc123.js' });
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const page = await app.inject({ url: '/deployments/detector?tab=rollout' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.body).toContain('<div id="root">');
    const head = await app.inject({ method: 'HEAD', url: '/' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
  });

  it('answers 404 for missing files, dotfiles, an encoded way out of the folder and the API’s paths (raw request lines: test/e2e/dashboard-server.test.ts)', async () => {
    const app = appOver(builtDist());
    for (const url of ['/assets/gone.js', '/favicon.ico', '/.env', '/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/assets', '/v1/nothing']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(404);
      expect(JSON.parse(res.body).error.code, url).toBe('not_found');
    }
    expect((await app.inject({ url: '/%E0%A4%A' })).statusCode).toBe(400);
  });

  it('answers a path the file system cannot look up (name too long, a file used as a folder) as any other, never 500 (found by the HTTP fuzzer)', async () => {
    const app = appOver(builtDist());
    const page = await app.inject({ url: `/${'a'.repeat(3000)}` });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<div id="root">');
    for (const url of [`/assets/${'a'.repeat(3000)}.js`, '/index.html/x.js', `/${'b'.repeat(300)}/${'c'.repeat(300)}.js`]) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(404);
      expect(JSON.parse(res.body).error.code, url).toBe('not_found');
    }
    expect((await app.inject({ url: '/index.html/deeper' })).statusCode).toBe(200);
  });
});
