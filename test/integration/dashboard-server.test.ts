import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent as Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseParser } from '../../packages/web/src/sse.js';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/**
 * What the server adds for the dashboard: the built files at `/` (history routing, content
 * types, caching, no way out of the dist folder), `GET /v1/whoami`, the bulk latest-value
 * read, and the `GET /v1/watch` event stream.
 */
describe('the server side of the dashboard', () => {
  let fleet: TestFleet;
  let dist: string;
  let dispatcher: Dispatcher;
  let viewerToken: string;
  let nodeId: string;
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${fleet.server.url}${path}`, { dispatcher, headers });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };

  beforeAll(async () => {
    // A stand-in build, so this test does not depend on (or wait for) the real one.
    dist = mkdtempSync(join(tmpdir(), 'edgefleet-web-'));
    mkdirSync(join(dist, 'assets'));
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>edgefleet</title><div id="root"></div>');
    writeFileSync(join(dist, 'assets', 'index-abc123.js'), 'console.log("dashboard")');
    writeFileSync(join(dist, 'assets', 'index-abc123.css'), 'body{}');
    writeFileSync(join(dist, '.secret'), 'never served');
    writeFileSync(join(tmpdir(), 'edgefleet-outside.txt'), 'outside the dist folder');
    process.env.EDGEFLEET_WEB_DIST = dist;
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    dispatcher = new Dispatcher({ connect: { ca: fleet.ca } });
    viewerToken = (await fleet.admin.createApiToken({ role: 'viewer' })).token;
    const a = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken({ site: 'lab' }) });
    nodeId = await eventually(() => a.agent.state.lastHeartbeatAt !== undefined && a.agent.state.nodeId, 20_000);
  });
  afterAll(async () => {
    await dispatcher?.close();
    await fleet?.close();
    delete process.env.EDGEFLEET_WEB_DIST;
    rmSync(dist, { recursive: true, force: true });
  });

  it('serves the dashboard at / and its pages by history routing, with the right types and caching', async () => {
    const index = await get('/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(String(index.headers['content-security-policy'])).toContain("default-src 'self'");
    expect(index.body).toContain('<div id="root">');
    // A page path is the same index.html: the browser's router takes it from there.
    const page = await get('/nodes/edge-0001');
    expect(page.status).toBe(200);
    expect(page.body).toBe(index.body);
    const js = await get('/assets/index-abc123.js');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.headers['x-content-type-options']).toBe('nosniff');
    expect((await get('/assets/index-abc123.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    // A repeat visit revalidates instead of downloading again.
    expect((await get('/', { 'if-none-match': String(index.headers.etag) })).status).toBe(304);
  });

  it('answers a missing script with 404, never with the page, and keeps /v1 the API’s', async () => {
    const missing = await get('/assets/index-old999.js');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).error.code).toBe('not_found');
    const api = await get('/v1/no-such-route');
    expect(api.status).toBe(404);
    expect(JSON.parse(api.body).error.message).toContain('no route GET /v1/no-such-route');
    expect((await get('/healthz')).body).toBe('{"ok":true}');
    // Load balancers (HAProxy's `option httpchk HEAD /healthz`) check with HEAD: 200, no body.
    const head = await request(`${fleet.server.url}/healthz`, { dispatcher, method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    expect(await head.body.text()).toBe('');
  });

  it('never serves a file outside the dist folder, or a dotfile', async () => {
    // undici normalises "..", so send the raw request line ourselves.
    const raw = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const url = new URL(fleet.server.url);
        const socket = connect({ host: url.hostname, port: Number(url.port), ca: fleet.ca, servername: 'localhost' }, () => {
          socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
        });
        let text = '';
        socket.on('data', (d) => {
          text += d.toString();
        });
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
    for (const path of [
      '/../edgefleet-outside.txt',
      '/assets/../../edgefleet-outside.txt',
      '/%2e%2e/edgefleet-outside.txt',
      '/.secret',
      '/assets/%2e%2e%2f..%2fedgefleet-outside.txt',
    ]) {
      const answer = await raw(path);
      expect(answer, path).not.toContain('outside the dist folder');
      expect(answer, path).not.toContain('never served');
      expect(answer.split('\r\n')[0], path).toMatch(/ (400|404) /);
    }
  });

  it('tells a token its role', async () => {
    const who = await get('/v1/whoami', { authorization: `Bearer ${viewerToken}` });
    expect(JSON.parse(who.body)).toMatchObject({ role: 'viewer' });
    expect(JSON.parse((await get('/v1/whoami', { authorization: `Bearer ${fleet.adminToken}` })).body).role).toBe('admin');
    expect((await get('/v1/whoami')).status).toBe(401);
  });

  it('reads one metric of every node in one request', async () => {
    const latest = await eventually(
      async () => {
        const r = JSON.parse((await get('/v1/telemetry/latest?name=edgefleet_node_temperature_celsius', { authorization: `Bearer ${viewerToken}` })).body);
        return r.items.length > 0 && r;
      },
      20_000,
      'a temperature from the agent',
    );
    expect(latest.items[0]).toMatchObject({ nodeId });
    expect(latest.items[0].value).toBeGreaterThan(0);
    const bad = await get('/v1/telemetry/latest?name=not%20a%20metric', { authorization: `Bearer ${viewerToken}` });
    expect(bad.status).toBe(400);
  });

  it('streams changes as server-sent events: hello first, then what changed', async () => {
    expect((await get('/v1/watch')).status).toBe(401);
    const res = await request(`${fleet.server.url}/v1/watch`, { dispatcher, headers: { authorization: `Bearer ${viewerToken}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const parser = new SseParser();
    const seen: Array<{ event: string; data: unknown }> = [];
    const reading = (async () => {
      for await (const chunk of res.body) {
        for (const m of parser.push(chunk.toString()).messages) seen.push({ event: m.event, data: JSON.parse(m.data) });
      }
    })().catch(() => undefined);
    await eventually(() => seen.some((m) => m.event === 'hello'), 10_000, 'hello');
    expect(seen[0]).toMatchObject({ event: 'hello', data: { role: 'viewer' } });
    // An operator labels the node: the stream carries the node with its new label.
    await fleet.admin.labelNode(nodeId, { set: { rack: 'r7' } });
    const change = await eventually(
      () =>
        seen.find(
          (m) =>
            m.event === 'nodes' &&
            (m.data as { upserted: Array<{ id: string; labels: Record<string, string> }> }).upserted.some((n) => n.id === nodeId && n.labels.rack === 'r7'),
        ),
      10_000,
      'the label change on the stream',
    );
    expect(change).toBeDefined();
    // The audit log is for operators (GET /v1/audit needs one): a viewer's stream never
    // carries it. A second change goes out a tick later than the first one's audit entry.
    await fleet.admin.labelNode(nodeId, { set: { rack: 'r8' } });
    await eventually(
      () =>
        seen.some(
          (m) => m.event === 'nodes' && (m.data as { upserted: Array<{ labels: Record<string, string> }> }).upserted.some((n) => n.labels.rack === 'r8'),
        ),
      10_000,
      'the second label change on the stream',
    );
    expect(seen.filter((m) => m.event === 'audit')).toEqual([]);
    res.body.destroy();
    await reading;
  });

  it('closes open streams when the server stops, instead of hanging its shutdown', async () => {
    // A client of its own, so no other kept-alive connection of this test is in play.
    const own = new Dispatcher({ connect: { ca: fleet.ca } });
    await dispatcher.close();
    const res = await request(`${fleet.server.url}/v1/watch`, { dispatcher: own, headers: { authorization: `Bearer ${viewerToken}` } });
    const ended = new Promise<void>((resolve) => {
      res.body.on('end', resolve);
      res.body.on('error', () => resolve());
      res.body.resume();
    });
    // Were the stream left open, the restart would wait on its socket until the test times out.
    await fleet.restartServer();
    await ended;
    await own.close();
    dispatcher = new Dispatcher({ connect: { ca: fleet.ca } });
    expect((await get('/healthz')).status).toBe(200);
  });
});
