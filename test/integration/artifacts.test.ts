import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadIdentity } from '@edgefleet/agent';
import { EdgefleetError } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { Agent as Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

async function errorOf(p: Promise<unknown>): Promise<EdgefleetError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EdgefleetError) return err;
    throw err;
  }
  throw new Error('expected the request to fail');
}

async function readAll(body: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Yields `data` in 64 KiB chunks, as a file read would. */
function streamOf(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += 65_536) yield data.subarray(i, i + 65_536);
    })(),
  );
}

const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('artifact store over HTTPS', () => {
  let fleet: TestFleet;
  let dispatcher: Dispatcher;
  // A few MiB and an odd size, so ranges cross chunk boundaries.
  const data = randomBytes(3 * 1024 * 1024 + 12_345);
  const digest = sha(data);
  const etag = `"${digest}"`;

  /** A raw request with the admin token unless `headers.authorization` says otherwise. */
  const raw = (method: 'GET' | 'HEAD' | 'POST', path: string, headers: Record<string, string> = {}, body?: Readable | Buffer | string) =>
    request(`${fleet.server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${fleet.adminToken}`, ...headers },
      dispatcher,
      ...(body === undefined ? {} : { body }),
    });

  beforeAll(async () => {
    // Unsigned releases: the node test below needs a deployment that names the artifact.
    fleet = await startTestFleet({ heartbeatIntervalMs: 500, requireSigned: false });
    dispatcher = new Dispatcher({ connect: { ca: fleet.ca } });
  });
  afterAll(async () => {
    await dispatcher?.close();
    await fleet?.close();
  });

  it('stores a pushed file under the digest the server computes, once', async () => {
    const info = await fleet.admin.pushArtifact(streamOf(data), data.length);
    expect(info).toMatchObject({ digest, size: data.length });
    expect(Date.parse(info.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    // Pushing the same bytes again (without a Content-Length this time) changes nothing.
    expect(await fleet.admin.pushArtifact(streamOf(data))).toEqual(info);

    const small = await fleet.admin.pushArtifact(Readable.from([Buffer.from('fallback model')]));
    expect(small).toMatchObject({ digest: sha(Buffer.from('fallback model')), size: 14 });
    const items = await fleet.admin.listArtifacts();
    expect(items.map((i) => i.digest)).toEqual([digest, small.digest].sort());
    expect(items.find((i) => i.digest === digest)).toEqual(info);
    expect(readdirSync(join(fleet.dir, 'server', 'artifacts', 'tmp'))).toEqual([]);
    expect(fleet.serverLog()).toContain('artifact stored');
    const audit = await fleet.admin.request('audit', {});
    expect(audit.items.filter((e) => e.action === 'artifact.push' && e.target === digest)).toHaveLength(2);
  });

  it('serves the whole artifact with its length, ETag and cache headers', async () => {
    const res = await raw('GET', `/v1/artifacts/${digest}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject({
      'content-length': String(data.length),
      'content-type': 'application/octet-stream',
      etag,
      'accept-ranges': 'bytes',
      'cache-control': 'public, max-age=31536000, immutable',
    });
    const body = await readAll(res.body);
    expect(body.length).toBe(data.length);
    expect(sha(body)).toBe(digest);
  });

  it('serves a range from the middle, a bounded range and a suffix range', async () => {
    const from = 1_500_001;
    const mid = await raw('GET', `/v1/artifacts/${digest}`, { range: `bytes=${from}-` });
    expect(mid.statusCode).toBe(206);
    expect(mid.headers['content-range']).toBe(`bytes ${from}-${data.length - 1}/${data.length}`);
    expect(mid.headers['content-length']).toBe(String(data.length - from));
    expect((await readAll(mid.body)).equals(data.subarray(from))).toBe(true);

    const bounded = await raw('GET', `/v1/artifacts/${digest}`, { range: 'bytes=65530-65545' });
    expect(bounded.statusCode).toBe(206);
    expect(bounded.headers['content-range']).toBe(`bytes 65530-65545/${data.length}`);
    expect((await readAll(bounded.body)).equals(data.subarray(65_530, 65_546))).toBe(true);

    const suffix = await raw('GET', `/v1/artifacts/${digest}`, { range: 'bytes=-1000' });
    expect(suffix.statusCode).toBe(206);
    expect(suffix.headers['content-range']).toBe(`bytes ${data.length - 1000}-${data.length - 1}/${data.length}`);
    expect((await readAll(suffix.body)).equals(data.subarray(data.length - 1000))).toBe(true);

    // The client's resume path uses the same Range request.
    const resumed = await fleet.admin.openArtifact(digest, data.length - 10);
    expect(resumed.status).toBe(206);
    expect((await readAll(resumed.body)).equals(data.subarray(data.length - 10))).toBe(true);
  });

  it('answers a range past the end with 416 and the size', async () => {
    const res = await raw('GET', `/v1/artifacts/${digest}`, { range: `bytes=${data.length}-` });
    expect(res.statusCode).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${data.length}`);
    expect(await res.body.json()).toMatchObject({ error: { code: 'range_not_satisfiable' } });
  });

  it('answers If-None-Match with 304 and honours If-Range', async () => {
    const cached = await raw('GET', `/v1/artifacts/${digest}`, { 'if-none-match': etag });
    expect(cached.statusCode).toBe(304);
    expect(cached.headers.etag).toBe(etag);
    expect((await readAll(cached.body)).length).toBe(0);

    const stale = await raw('GET', `/v1/artifacts/${digest}`, { 'if-none-match': `"sha256:${'0'.repeat(64)}"` });
    expect(stale.statusCode).toBe(200);
    await stale.body.dump();

    const same = await raw('GET', `/v1/artifacts/${digest}`, { range: 'bytes=-5', 'if-range': etag });
    expect(same.statusCode).toBe(206);
    expect((await readAll(same.body)).equals(data.subarray(data.length - 5))).toBe(true);
    const changed = await raw('GET', `/v1/artifacts/${digest}`, { range: 'bytes=-5', 'if-range': `"sha256:${'0'.repeat(64)}"` });
    expect(changed.statusCode).toBe(200);
    expect((await readAll(changed.body)).length).toBe(data.length);
  });

  it('answers HEAD with the headers of a GET and no body', async () => {
    const head = await raw('HEAD', `/v1/artifacts/${digest}`);
    expect(head.statusCode).toBe(200);
    expect(head.headers).toMatchObject({ 'content-length': String(data.length), etag, 'accept-ranges': 'bytes' });
    expect((await readAll(head.body)).length).toBe(0);
    const ranged = await raw('HEAD', `/v1/artifacts/${digest}`, { range: 'bytes=100-' });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.headers['content-length']).toBe(String(data.length - 100));
    await ranged.body.dump();
    const missing = await raw('HEAD', `/v1/artifacts/sha256:${'0'.repeat(64)}`);
    expect(missing.statusCode).toBe(404);
    await missing.body.dump();
  });

  it('refuses a malformed digest with 400 naming the field, and an unknown one with 404', async () => {
    for (const bad of [
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'a'.repeat(63)}`,
      `md5:${'a'.repeat(32)}`,
      'sha256:..%2F..%2Fca.key',
      'latest',
      `sha256:${'a'.repeat(200)}`,
    ]) {
      const err = await errorOf(fleet.admin.openArtifact(bad));
      expect(err).toMatchObject({ status: 400, code: 'bad_request', field: 'digest' });
    }
    const unknown = `sha256:${'0'.repeat(64)}`;
    const err = await errorOf(fleet.admin.openArtifact(unknown));
    expect(err).toMatchObject({ status: 404, code: 'not_found' });
    expect(err.message).toContain(unknown);
  });

  it('lets a viewer read but not push, and refuses requests without credentials', async () => {
    const viewer = fleet.client((await fleet.admin.createApiToken({ role: 'viewer' })).token);
    expect((await viewer.listArtifacts()).map((a) => a.digest)).toContain(digest);
    const read = await viewer.openArtifact(digest, data.length - 3);
    expect((await readAll(read.body)).equals(data.subarray(data.length - 3))).toBe(true);
    const denied = await errorOf(viewer.pushArtifact(Readable.from([Buffer.from('not allowed')]), 11));
    expect(denied).toMatchObject({ status: 403, code: 'forbidden' });
    expect(denied.message).toContain('needs the operator role');

    const operator = fleet.client((await fleet.admin.createApiToken({ role: 'operator' })).token);
    expect((await operator.pushArtifact(Readable.from([Buffer.from('allowed')]), 7)).size).toBe(7);

    const anonymous = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca });
    try {
      expect(await errorOf(anonymous.openArtifact(digest))).toMatchObject({ status: 401, code: 'unauthenticated' });
      expect(await errorOf(anonymous.listArtifacts())).toMatchObject({ status: 401 });
      expect(await errorOf(anonymous.pushArtifact(Readable.from([Buffer.from('x')]), 1))).toMatchObject({ status: 401 });
    } finally {
      await anonymous.close();
    }
    const badToken = await errorOf(fleet.client('efa_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').openArtifact(digest));
    expect(badToken).toMatchObject({ status: 401, code: 'unauthenticated' });
  });

  it('serves an enrolled node over mTLS, and stops when the node is decommissioned', async () => {
    const a = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken({ labels: { role: 'artifact-reader' } }) });
    const nodeId = await eventually(() => a.agent.state.nodeId);
    // A node fetches only what its desired state names (artifact-scope.test.ts has the refusals).
    await fleet.admin.apply([
      {
        apiVersion: 'edgefleet.dev/v1',
        kind: 'Deployment',
        metadata: { name: 'reader' },
        spec: { selector: 'role=artifact-reader', release: { version: '1', model: { artifact: digest, format: 'other' } } as never },
      },
    ]);
    const identity = loadIdentity(a.dataDir)!;
    const node = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca, cert: identity.certPem, key: identity.keyPem });
    try {
      const whole = await node.openArtifact(digest);
      expect(whole.status).toBe(200);
      expect(sha(await readAll(whole.body))).toBe(digest);
      const resumed = await node.openArtifact(digest, 2_000_000);
      expect(resumed.status).toBe(206);
      expect((await readAll(resumed.body)).equals(data.subarray(2_000_000))).toBe(true);
      // Agents may download, not list or push.
      expect(await errorOf(node.listArtifacts())).toMatchObject({ status: 401 });

      await fleet.admin.deleteNode(nodeId);
      const fresh = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca, cert: identity.certPem, key: identity.keyPem });
      try {
        expect(await errorOf(fresh.openArtifact(digest))).toMatchObject({ status: 403, code: 'certificate_revoked' });
      } finally {
        await fresh.close();
      }
    } finally {
      await node.close();
    }
  });

  it('accepts only octet-stream uploads, and keeps the 1 MiB JSON limit everywhere else', async () => {
    const json = await raw('POST', '/v1/artifacts', { 'content-type': 'application/json' }, JSON.stringify({ a: 1 }));
    expect(json.statusCode).toBe(415);
    expect(await json.body.json()).toMatchObject({ error: { code: 'unsupported_media_type', field: 'content-type' } });

    const big = { set: { a: 'x'.repeat(2 * 1024 * 1024) } };
    const tooBig = await errorOf(fleet.admin.send('POST', '/v1/tokens', big));
    expect(tooBig).toMatchObject({ status: 413, code: 'payload_too_large' });
    // An octet-stream body is still refused where no route expects one.
    const elsewhere = await raw('POST', '/v1/tokens', { 'content-type': 'application/octet-stream' }, Buffer.alloc(10));
    expect(elsewhere.statusCode).toBe(415);
    await elsewhere.body.dump();
  });

  it('refuses an upload that declares more than 8 GiB before reading it', async () => {
    const res = await raw(
      'POST',
      '/v1/artifacts',
      { 'content-type': 'application/octet-stream', 'content-length': String(9 * 1024 ** 3) },
      Readable.from(
        (async function* () {
          yield Buffer.alloc(1024);
          // Never sends the rest: the answer must come from the declared length alone.
          await new Promise((r) => setTimeout(r, 5_000));
        })(),
      ),
    ).catch((err: unknown) => err);
    if (res instanceof Error) throw res;
    const r = res as Awaited<ReturnType<typeof raw>>;
    expect(r.statusCode).toBe(413);
    expect(await r.body.json()).toMatchObject({ error: { code: 'payload_too_large', message: expect.stringContaining('8 GiB') } });
  });

  it('leaves no temp file behind when an upload is cut off', async () => {
    const controller = new AbortController();
    const pending = request(`${fleet.server.url}/v1/artifacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fleet.adminToken}`, 'content-type': 'application/octet-stream' },
      dispatcher,
      signal: controller.signal,
      body: Readable.from(
        (async function* () {
          yield randomBytes(256 * 1024);
          await new Promise((r) => setTimeout(r, 300));
          controller.abort();
          yield randomBytes(1024);
        })(),
      ),
    });
    await expect(pending).rejects.toThrow();
    const tmp = join(fleet.dir, 'server', 'artifacts', 'tmp');
    await eventually(() => readdirSync(tmp).length === 0, 5_000, 'the temp file to be removed');
    expect((await fleet.admin.listArtifacts()).every((a) => a.size !== 256 * 1024)).toBe(true);
  });
});
