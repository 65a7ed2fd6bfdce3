import { describe, expect, it } from 'vitest';
import { ApiClient, buildPath, encodeQuery, retryAfter, type Transport, type TransportRequest, type TransportResponse } from '../../src/api/client-core.js';
import { routeList, routerPath, routes } from '../../src/api/routes.js';
import { EdgefleetError, retryClassOf } from '../../src/errors.js';

/** A transport that records requests and answers from a script. */
function fakeTransport(answers: Array<{ status: number; body?: string; headers?: Record<string, string> }>) {
  const sent: TransportRequest[] = [];
  const transport: Transport<string> = {
    async send(request) {
      sent.push(request);
      const a = answers.shift();
      if (a === undefined) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      const res: TransportResponse<string> = {
        status: a.status,
        headers: a.headers ?? {},
        text: async () => a.body ?? '',
        discard: async () => {},
        stream: () => a.body ?? '',
      };
      return res;
    },
  };
  return { transport, sent };
}

const NODE = {
  id: 'n1',
  name: 'edge-1',
  site: null,
  labels: {},
  detectedLabels: {},
  operatorLabels: {},
  status: 'online',
  lastSeen: null,
  facts: {},
  certificate: { serial: 'aa', notAfter: '2030-01-01T00:00:00.000Z' },
  createdAt: '2025-01-01T00:00:00.000Z',
};

describe('the generated client', () => {
  it('builds the path from params, encoding each, and keeps a digest readable', () => {
    expect(buildPath('/v1/nodes/:ref/labels', { ref: 'edge 1/x' })).toBe('/v1/nodes/edge%201%2Fx/labels');
    expect(buildPath('/v1/artifacts/:digest', { digest: `sha256:${'a'.repeat(64)}` })).toBe(`/v1/artifacts/sha256:${'a'.repeat(64)}`);
    expect(() => buildPath('/v1/nodes/:ref', {})).toThrow('/v1/nodes/:ref needs the path parameter "ref"');
  });

  it('encodes the defined query entries only', () => {
    expect(encodeQuery({ selector: 'site in (a,b)', limit: 5, after: undefined, empty: '' })).toBe('?selector=site+in+%28a%2Cb%29&limit=5');
    expect(encodeQuery({ a: undefined })).toBe('');
    expect(encodeQuery(undefined)).toBe('');
  });

  it('sends method, path, query, token and JSON body, and answers the validated response', async () => {
    const { transport, sent } = fakeTransport([{ status: 200, body: JSON.stringify(NODE) }]);
    const client = new ApiClient({ transport, token: 'efa_x_y' });
    const node = await client.request('labelNode', { params: { ref: 'edge-1' }, body: { set: { zone: 'a' } } });
    expect(node.name).toBe('edge-1');
    expect(sent[0]).toMatchObject({
      method: 'PATCH',
      path: '/v1/nodes/edge-1/labels',
      body: '{"set":{"zone":"a"}}',
      headers: { accept: 'application/json', authorization: 'Bearer efa_x_y', 'content-type': 'application/json' },
    });
  });

  it('passes query values typed from the table', async () => {
    const { transport, sent } = fakeTransport([{ status: 200, body: '{"items":[]}' }]);
    await new ApiClient({ transport }).request('events', { query: { deployment: 'web', limit: 10 } });
    expect(sent[0]?.path).toBe('/v1/events?deployment=web&limit=10');
  });

  it('refuses an answer its schema rejects, with a clear EdgefleetError naming the field', async () => {
    const { transport } = fakeTransport([{ status: 200, body: JSON.stringify({ ...NODE, status: 'sleeping' }) }]);
    const err = await new ApiClient({ transport, server: 'https://s:1' }).request('getNode', { params: { ref: 'n1' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgefleetError);
    expect(err).toMatchObject({ code: 'unexpected_response', status: 502, hint: expect.stringContaining('different versions') });
    expect((err as Error).message).toMatch(/^unexpected response from GET \/v1\/nodes\/n1: status: /);
  });

  it('refuses a body that is not JSON', async () => {
    const { transport } = fakeTransport([{ status: 200, body: '<html>' }]);
    await expect(new ApiClient({ transport }).request('serverInfo', {})).rejects.toMatchObject({
      code: 'unexpected_response',
      message: 'unexpected response from GET /v1/info: the body is not JSON (HTTP 200)',
    });
  });

  it("turns an error answer into the server's EdgefleetError: code, status, hint, field, Retry-After", async () => {
    const body = JSON.stringify({ error: { code: 'invalid_label', message: 'bad label', hint: 'fix it', field: 'set.a b' } });
    const { transport } = fakeTransport([
      { status: 400, body },
      { status: 429, body: JSON.stringify({ error: { code: 'overloaded', message: 'busy', hint: 'later' } }), headers: { 'retry-after': '3' } },
    ]);
    const client = new ApiClient({ transport });
    const bad = await client.request('labelNode', { params: { ref: 'n' }, body: { set: {} } }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'invalid_label', status: 400, message: 'bad label', hint: 'fix it', field: 'set.a b' });
    expect(retryClassOf(bad)).toBe('terminal');
    const busy = await client.request('listNodes', {}).catch((e: unknown) => e);
    expect(busy).toMatchObject({ code: 'overloaded', status: 429, retryAfterMs: 3000 });
    expect(retryClassOf(busy)).toBe('transient');
  });

  it('keeps an error code it does not know visible in the message', async () => {
    const { transport } = fakeTransport([{ status: 418, body: JSON.stringify({ error: { code: 'teapot', message: 'short and stout', hint: 'tip' } }) }]);
    await expect(new ApiClient({ transport }).request('serverInfo', {})).rejects.toMatchObject({
      code: 'unexpected_response',
      status: 418,
      message: 'short and stout (error code "teapot", unknown to this client)',
    });
  });

  it('says what failed when an error answer is not ours', async () => {
    const { transport } = fakeTransport([{ status: 502, body: 'Bad Gateway' }]);
    await expect(new ApiClient({ transport }).request('listDeployments', {})).rejects.toMatchObject({
      code: 'unexpected_response',
      status: 502,
      message: 'GET /v1/deployments failed with HTTP 502',
    });
  });

  it('answers undefined for 204 and for a 304 long poll, text for the CA, the stream for bytes', async () => {
    const { transport, sent } = fakeTransport([
      { status: 204 },
      { status: 304 },
      { status: 200, body: '-----BEGIN CERTIFICATE-----' },
      { status: 206, body: 'bytes', headers: { 'content-range': 'bytes 5-9/10' } },
    ]);
    const client = new ApiClient({ transport });
    expect(await client.request('deleteNode', { params: { ref: 'n1' } })).toBeUndefined();
    expect(await client.request('desired', { query: { since: 'v1', wait: 30 } }, { headersTimeoutMs: 60_000 })).toBeUndefined();
    expect(sent[1]).toMatchObject({ path: '/v1/agent/desired?since=v1&wait=30', headersTimeoutMs: 60_000 });
    expect(await client.request('ca', {})).toBe('-----BEGIN CERTIFICATE-----');
    const raw = await client.request('downloadArtifact', { params: { digest: `sha256:${'b'.repeat(64)}` } }, { headers: { range: 'bytes=5-' } });
    expect(raw).toEqual({ status: 206, headers: { 'content-range': 'bytes 5-9/10' }, body: 'bytes' });
    expect(sent[3]?.headers.range).toBe('bytes=5-');
  });

  it('sends binary bodies with their content type, and counts their bytes on a simulated link', async () => {
    const { transport, sent } = fakeTransport([
      { status: 200, body: JSON.stringify({ accepted: true, telemetry: { profile: 'lan', uploadIntervalSeconds: 60 }, heartbeatIntervalSeconds: 10 }) },
    ]);
    const seen: Array<{ method: string; path: string; bodyBytes: number }> = [];
    const client = new ApiClient({ transport, network: { beforeRequest: async (r) => void seen.push(r) } });
    const batch = new Uint8Array([1, 2, 3]);
    await client.request('uploadTelemetry', { body: batch }).catch(() => undefined);
    expect(sent[0]).toMatchObject({
      method: 'POST',
      path: '/v1/agent/telemetry',
      body: batch,
      headers: { 'content-type': 'application/vnd.edgefleet.telemetry.v1' },
    });
    expect(seen).toEqual([{ method: 'POST', path: '/v1/agent/telemetry', bodyBytes: 3 }]);
  });

  it('answers undefined for an upload answered 204 (the node holds the answer), sending its digest as `known`', async () => {
    const { transport, sent } = fakeTransport([{ status: 204 }, { status: 204 }]);
    const client = new ApiClient({ transport });
    const known = '0123456789abcdef';
    expect(await client.request('uploadTelemetry', { body: new Uint8Array([1]), query: { known } })).toBeUndefined();
    expect(await client.request('uploadLogs', { body: new Uint8Array([1]), query: { known } })).toBeUndefined();
    expect(sent.map((r) => r.path)).toEqual([`/v1/agent/telemetry?known=${known}`, `/v1/agent/logs?known=${known}`]);
  });

  it('answers undefined for a heartbeat answered 204 (the node holds its settings)', async () => {
    const { transport, sent } = fakeTransport([{ status: 204 }]);
    const known = 'fedcba9876543210';
    expect(await new ApiClient({ transport }).request('reportStatus', { body: {}, query: { known } })).toBeUndefined();
    expect(sent[0]?.path).toBe(`/v1/agent/status?known=${known}`);
  });

  it('refuses a 204 from a JSON route that never answers one', async () => {
    const { transport } = fakeTransport([{ status: 204 }]);
    await expect(new ApiClient({ transport }).request('serverInfo', {})).rejects.toMatchObject({ code: 'unexpected_response' });
  });

  it('turns a failed connection into unreachable, and a TLS failure into server_untrusted', async () => {
    const { transport } = fakeTransport([]);
    await expect(new ApiClient({ transport, server: 'https://s:1' }).request('serverInfo', {})).rejects.toMatchObject({
      code: 'unreachable',
      status: 0,
      message: 'cannot reach https://s:1: connect ECONNREFUSED 127.0.0.1:1',
    });
    const tls: Transport = {
      send: async () => {
        throw Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
      },
    };
    await expect(new ApiClient({ transport: tls, server: 'https://s:1' }).request('serverInfo', {})).rejects.toMatchObject({
      code: 'server_untrusted',
      hint: expect.stringContaining('--ca'),
    });
  });

  it('reads Retry-After as seconds or as a date', () => {
    expect(retryAfter('2')).toBe(2000);
    expect(retryAfter(['1'])).toBe(1000);
    expect(retryAfter('Thu, 01 Jan 2026 00:00:10 GMT', Date.parse('2026-01-01T00:00:00Z'))).toBe(10_000);
    expect(retryAfter('soon')).toBeUndefined();
    expect(retryAfter(undefined)).toBeUndefined();
  });
});

describe('the route table', () => {
  it('names every route once per method and path, with a summary and a caller', () => {
    const keys = routeList().map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const r of routeList()) {
      expect(r.summary.length, r.name).toBeGreaterThan(10);
      expect(r.path.startsWith('/'), r.name).toBe(true);
    }
  });

  it('gives wildcard routes their router path', () => {
    expect(routerPath(routes.downloadArtifact)).toBe('/v1/artifacts/*');
    expect(routerPath(routes.getNode)).toBe('/v1/nodes/:ref');
  });

  it('declares the params its path has, and no others', () => {
    for (const r of routeList()) {
      const inPath = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]).sort();
      const declared = r.params === undefined ? [] : Object.keys(r.params.shape).sort();
      expect(declared, r.name).toEqual(inPath);
    }
  });
});
