import { loadIdentity } from '@edgefleet/agent';
import { ErrorBodySchema } from '@edgefleet/protocol';
import { Agent as Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/**
 * Issue 14, low items: HSTS and `nosniff` on every response (not only the dashboard's, where
 * helmet set them), and a bound on the live streams one API token holds open.
 */
describe('response headers and watch streams per token', () => {
  let fleet: TestFleet;
  let dispatcher: Dispatcher;
  let nodeDispatcher: Dispatcher;
  let viewerToken: string;
  const streams: Array<{ destroy(): void }> = [];

  const openWatch = async (token: string) => {
    const ac = new AbortController();
    const res = await request(`${fleet.server.url}/v1/watch`, { dispatcher, headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
    streams.push({ destroy: () => ac.abort() });
    return { res, close: () => ac.abort() };
  };

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500, watchStreamsPerToken: 2 });
    dispatcher = new Dispatcher({ connect: { ca: fleet.ca }, connections: 20 });
    viewerToken = (await fleet.admin.createApiToken({ role: 'viewer' })).token;
    const a = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken() });
    await eventually(() => a.agent.state.nodeId, 20_000, 'node enrolled');
    const identity = loadIdentity(a.dataDir);
    if (identity === undefined) throw new Error('no identity');
    nodeDispatcher = new Dispatcher({ connect: { ca: fleet.ca, cert: identity.certPem, key: identity.keyPem } });
  }, 60_000);
  afterAll(async () => {
    for (const s of streams) s.destroy();
    await dispatcher?.destroy();
    await nodeDispatcher?.destroy();
    await fleet?.close();
  });

  it('sends HSTS and nosniff on every kind of response', async () => {
    const auth = { authorization: `Bearer ${viewerToken}` };
    const cases: Array<{ path: string; headers?: Record<string, string>; via?: Dispatcher; status: number }> = [
      { path: '/v1/ca', status: 200 },
      { path: '/healthz', status: 200 },
      { path: '/v1/nodes', headers: auth, status: 200 },
      { path: '/v1/nodes', status: 401 },
      { path: '/v1/no-such-route', status: 404 },
      { path: '/v1/nodes/nobody', headers: auth, status: 404 },
      { path: '/v1/agent/desired?wait=0', via: nodeDispatcher, status: 200 },
      // The dashboard (200, or 503 when packages/web is not built): helmet's scope, same two headers.
      { path: '/', status: 0 },
    ];
    for (const c of cases) {
      const res = await request(`${fleet.server.url}${c.path}`, { dispatcher: c.via ?? dispatcher, headers: c.headers ?? {} });
      await res.body.dump();
      if (c.status !== 0) expect(res.statusCode, c.path).toBe(c.status);
      expect(res.headers['strict-transport-security'], c.path).toBe('max-age=31536000; includeSubDomains');
      expect(res.headers['x-content-type-options'], c.path).toBe('nosniff');
    }
    const { res, close } = await openWatch(viewerToken);
    expect(res.statusCode).toBe(200);
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    close();
  });

  it('bounds the live streams one token holds: beyond it 429 quota_exceeded; other tokens unaffected; a closed stream frees its place', async () => {
    // The stream the previous case closed must be gone from the server's count.
    await new Promise((r) => setTimeout(r, 200));
    const first = await openWatch(viewerToken);
    const second = await openWatch(viewerToken);
    expect([first.res.statusCode, second.res.statusCode]).toEqual([200, 200]);
    const third = await openWatch(viewerToken);
    expect(third.res.statusCode).toBe(429);
    const body = ErrorBodySchema.parse(await third.res.body.json());
    expect(body.error).toMatchObject({ code: 'quota_exceeded', message: expect.stringContaining('2 live streams'), hint: expect.stringContaining('token') });
    // Another token has its own share.
    const admin = await openWatch(fleet.adminToken);
    expect(admin.res.statusCode).toBe(200);
    first.close();
    await eventually(
      async () => {
        const again = await openWatch(viewerToken);
        if (again.res.statusCode === 200) return true;
        await again.res.body.dump();
        return false;
      },
      5_000,
      'a place freed by the closed stream',
    );
  });
});
