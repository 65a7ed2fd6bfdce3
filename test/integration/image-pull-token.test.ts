import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseImageReference } from '@edgefleet/protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImageError, ImageStore } from '../../packages/agent/src/images/index.js';
import { buildOipImage, pushImage, startRegistry, startTokenFront, type TestImage, type TestRegistry, type TokenFront } from '../../test-support/oci/index.js';

/**
 * The distribution token flow (Bearer challenge → realm?service&scope with Basic
 * credentials → token) against a token front relaying to the real registry, and a
 * registry that streams more bytes than a blob's manifest gives (issue 16).
 */
let registry: TestRegistry;
let front: TokenFront;
let image: TestImage;
let longer: string;
const dirs: string[] = [];

function freshStore(): ImageStore {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgefleet-images-'));
  dirs.push(dataDir);
  return new ImageStore({ dataDir, sleep: async () => undefined, maxAttempts: 2 });
}

beforeAll(async () => {
  registry = await startRegistry();
  image = buildOipImage({ c: 30 });
  await pushImage(registry, 'team/tokens', image);
  longer = image.platforms[0]?.layerDigests.at(-1) as string;
  front = await startTokenFront(registry, { appendTo: (path) => (path.endsWith(`/blobs/${longer}`) ? Buffer.from('trailing bytes') : undefined) });
});

afterAll(async () => {
  await front?.stop();
  await registry?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const reference = () => parseImageReference(`${front.host}/team/tokens@${image.digest}`);

it('answers a Bearer challenge through the token endpoint with the registry credentials', async () => {
  const ok = buildOipImage({ c: 31 });
  await pushImage(registry, 'team/tokens', ok, { tag: 'ok' });
  front.tokenRequests.length = 0;
  const prepared = await freshStore().prepare({
    reference: parseImageReference(`${front.host}/team/tokens@${ok.digest}`),
    access: front.access(),
    platform: 'linux/amd64',
  });
  expect(prepared.pinnedDigest).toBe(ok.digest);
  // One token for the whole pull: the client keeps it for later requests.
  expect(front.tokenRequests).toEqual([
    { service: 'edgefleet-test', scope: 'repository:team/tokens:pull', basic: `${registry.username}:${registry.password}` },
  ]);
});

it('reports refused credentials at the token endpoint without the password', async () => {
  const secret = 'token-front-wrong-password';
  const err = await freshStore()
    .prepare({ reference: reference(), access: front.access({ password: secret }), platform: 'linux/amd64' })
    .then(
      () => undefined,
      (e: unknown) => e as ImageError,
    );
  expect(err).toBeInstanceOf(ImageError);
  expect(err?.reason).toBe('image-pull-failed');
  expect(err?.message).toContain('refused a token');
  expect(JSON.stringify([err?.message, err?.stack])).not.toContain(secret);
});

it('refuses a blob streamed longer than its manifest says, as a digest mismatch, and keeps nothing of it', async () => {
  const store = freshStore();
  const err = await store.prepare({ reference: reference(), access: front.access(), platform: 'linux/amd64' }).then(
    () => undefined,
    (e: unknown) => e as ImageError,
  );
  expect(err?.reason).toBe('digest-mismatch');
  expect(err?.message).toContain('longer than');
  expect(store.blobs.has(longer)).toBe(false);
  expect(store.blobs.listPartials()).toEqual([]);
});

it('follows a blob redirect to another origin without sending the token there', async () => {
  const seen: { path: string; authorization: string | undefined; range: string | undefined }[] = [];
  // A "CDN": serves blobs from the registry to anyone holding the URL.
  const cdn = createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization, range: req.headers.range });
    const auth = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
    const up = request(
      `${registry.url}${req.url}`,
      { ca: registry.caPem, headers: { authorization: auth, ...(req.headers.range ? { range: req.headers.range } : {}) } },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    up.end();
  });
  await new Promise<void>((resolve) => cdn.listen(0, '127.0.0.1', () => resolve()));
  const redirecting = await startTokenFront(registry, { redirectBlobsTo: `http://localhost:${(cdn.address() as { port: number }).port}` });
  try {
    const ok = buildOipImage({ c: 32 });
    await pushImage(registry, 'team/tokens', ok, { tag: 'cdn' });
    const prepared = await freshStore().prepare({
      reference: parseImageReference(`${redirecting.host}/team/tokens@${ok.digest}`),
      access: redirecting.access(),
      platform: 'linux/amd64',
    });
    expect(prepared.pinnedDigest).toBe(ok.digest);
    const amd64 = ok.platforms[0];
    expect(seen.map((s) => s.path).sort()).toEqual([amd64?.configDigest, ...(amd64?.layerDigests ?? [])].map((d) => `/v2/team/tokens/blobs/${d}`).sort());
    expect(seen.every((s) => s.authorization === undefined)).toBe(true);
  } finally {
    await redirecting.stop();
    cdn.closeAllConnections();
    await new Promise((resolve) => cdn.close(resolve));
  }
});
