import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ImageReference, parseImageReference } from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError, ImageStore } from '../../packages/agent/src/images/index.js';
import {
  buildOipImage,
  cosignKeyPair,
  pushCosignSignature,
  pushImage,
  startRegistry,
  startTcpProxy,
  type TcpProxy,
  type TestRegistry,
} from '../../test-support/oci/index.js';

/**
 * The node's image store against a real registry (Debian's docker-registry, Distribution
 * 2.8, TLS and basic auth on), with images built by test-support/oci (issue 16).
 */
let registry: TestRegistry;
let proxy: TcpProxy;
const dirs: string[] = [];

function freshStore(): ImageStore {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgefleet-images-'));
  dirs.push(dataDir);
  // No waiting between attempts: a retried blob tries again at once.
  return new ImageStore({ dataDir, sleep: async () => undefined, maxAttempts: 3 });
}

/** The registry entry with its address moved to the relay (same certificate: 127.0.0.1). */
function viaProxy() {
  return registry.access({ server: `https://${proxy.host}` });
}

function refAt(host: string, repository: string, digest: string) {
  return parseImageReference(`${host}/${repository}@${digest}`);
}

async function pullError(promise: Promise<unknown>): Promise<ImageError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageError);
  return err as ImageError;
}

function blobCount(store: ImageStore): number {
  return store.blobs.list().length;
}

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startTcpProxy(registry.host);
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('pulling by digest', () => {
  it('resolves an index to linux/amd64 through TLS and basic auth and writes an OCI layout of verified blobs', async () => {
    const image = buildOipImage({ c: 1 });
    await pushImage(registry, 'team/adder', image);
    const store = freshStore();
    const reference = refAt(registry.host, 'team/adder', image.digest);
    const progress: number[] = [];
    const prepared = await store.prepare({
      reference,
      access: registry.access(),
      platform: 'linux/amd64',
      onProgress: (p) => progress.push(p.bytesDone / p.bytesTotal),
    });
    const amd64 = image.platforms.find((p) => p.platform === 'linux/amd64');
    const arm64 = image.platforms.find((p) => p.platform === 'linux/arm64/v8');
    expect(prepared).toMatchObject({
      pinnedDigest: image.digest,
      manifestDigest: amd64?.manifestDigest,
      configDigest: amd64?.configDigest,
      platform: 'linux/amd64',
      bytes: image.amd64Bytes,
    });
    expect(progress.at(-1)).toBe(1);

    const layout = prepared.layoutDir;
    expect(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    expect(index.manifests).toEqual([expect.objectContaining({ digest: amd64?.manifestDigest, platform: { architecture: 'amd64', os: 'linux' } })]);
    const inLayout = readdirSync(join(layout, 'blobs', 'sha256')).sort();
    expect(inLayout).toEqual([amd64?.manifestDigest, amd64?.configDigest, ...(amd64?.layerDigests ?? [])].map((d) => d?.slice(7)).sort());
    // Hard links into the store: the layout costs no second copy of a layer.
    const layer = amd64?.layerDigests[0] as string;
    expect(statSync(join(layout, 'blobs', 'sha256', layer.slice(7))).ino).toBe(statSync(store.blobs.pathOf(layer)).ino);
    // The arm64 manifest's layer was never fetched.
    expect(store.blobs.has(arm64?.layerDigests[0] as string)).toBe(false);

    // Held now: ready without the network, and a second prepare moves no blob.
    expect(store.prepared(reference, 'linux/amd64')).toEqual(prepared);
    expect(store.prepared(reference, 'linux/arm64')).toBeUndefined();
  });

  it('pulls a bare image manifest (no index) pinned by digest', async () => {
    const image = buildOipImage({ c: 2, amd64Only: true, noIndex: true });
    await pushImage(registry, 'team/bare', image);
    const prepared = await freshStore().prepare({
      reference: refAt(registry.host, 'team/bare', image.digest),
      access: registry.access(),
      platform: 'linux/amd64',
    });
    expect(prepared.manifestDigest).toBe(image.digest);
    expect(prepared.pinnedDigest).toBe(image.digest);
  });

  it('resolves linux/arm64 to the index entry written with variant v8', async () => {
    const image = buildOipImage({ c: 1 });
    const prepared = await freshStore().prepare({
      reference: refAt(registry.host, 'team/adder', image.digest),
      access: registry.access(),
      platform: 'linux/arm64',
    });
    expect(prepared.manifestDigest).toBe(image.platforms.find((p) => p.platform === 'linux/arm64/v8')?.manifestDigest);
  });

  it('reports platform-unavailable when the index has no manifest for the node', async () => {
    const image = buildOipImage({ c: 3, amd64Only: true });
    await pushImage(registry, 'team/amd64-only', image);
    const store = freshStore();
    const err = await pullError(
      store.prepare({ reference: refAt(registry.host, 'team/amd64-only', image.digest), access: registry.access(), platform: 'linux/arm64' }),
    );
    expect(err.reason).toBe('platform-unavailable');
    expect(err.message).toContain('linux/amd64');
  });
});

describe('verification', () => {
  it('refuses a blob the registry serves tampered, with digest-mismatch, and keeps nothing of it', async () => {
    const image = buildOipImage({ c: 40 });
    await pushImage(registry, 'team/tampered', image);
    const amd64 = image.platforms[0];
    const modelLayer = amd64?.layerDigests.at(-1) as string;
    const stored = registry.blobDataPath(modelLayer);
    const bytes = readFileSync(stored);
    const at = bytes.length - 700;
    bytes[at] = (bytes[at] as number) ^ 0xff;
    writeFileSync(stored, bytes);

    const store = freshStore();
    const err = await pullError(
      store.prepare({ reference: refAt(registry.host, 'team/tampered', image.digest), access: registry.access(), platform: 'linux/amd64' }),
    );
    expect(err.reason).toBe('digest-mismatch');
    expect(err.message).toContain(modelLayer);
    expect(store.blobs.has(modelLayer)).toBe(false);
    expect(store.blobs.listPartials()).toEqual([]);
  });

  it('refuses a manifest the registry serves tampered, with digest-mismatch, and keeps nothing', async () => {
    const image = buildOipImage({ c: 41 });
    await pushImage(registry, 'team/tampered-manifest', image);
    const manifest = image.platforms[0]?.manifestDigest as string;
    const stored = registry.blobDataPath(manifest);
    writeFileSync(stored, readFileSync(stored, 'utf8').replace('"schemaVersion":2', '"schemaVersion": 2'));

    const store = freshStore();
    const err = await pullError(
      store.prepare({ reference: refAt(registry.host, 'team/tampered-manifest', image.digest), access: registry.access(), platform: 'linux/amd64' }),
    );
    expect(err.reason).toBe('digest-mismatch');
    expect(err.message).toContain(manifest);
    expect(store.blobs.has(manifest)).toBe(false);
    expect(store.blobs.has(image.platforms[0]?.configDigest as string)).toBe(false);
  });

  it('refuses wrong credentials with image-pull-failed and never shows the password', async () => {
    const image = buildOipImage({ c: 1 });
    const secret = 'hunter2-never-shown';
    const err = await pullError(
      freshStore().prepare({
        reference: refAt(registry.host, 'team/adder', image.digest),
        access: registry.access({ password: secret }),
        platform: 'linux/amd64',
      }),
    );
    expect(err.reason).toBe('image-pull-failed');
    expect(err.message).toContain('refused the credentials');
    const everything = JSON.stringify([err.message, err.stack, String((err as Error).cause ?? '')]);
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(Buffer.from(`${registry.username}:${secret}`).toString('base64'));
    expect(everything).not.toContain(registry.password);
  });

  it('refuses a registry that needs credentials when the node has none', async () => {
    const image = buildOipImage({ c: 1 });
    const err = await pullError(
      freshStore().prepare({
        reference: refAt(registry.host, 'team/adder', image.digest),
        access: registry.access({ username: null, password: null }),
        platform: 'linux/amd64',
      }),
    );
    expect(err.reason).toBe('image-pull-failed');
    expect(err.message).toContain('requires credentials');
  });

  it('refuses a registry whose certificate the registry entry does not trust', async () => {
    const image = buildOipImage({ c: 1 });
    const err = await pullError(
      freshStore().prepare({ reference: refAt(registry.host, 'team/adder', image.digest), access: registry.access({ caPem: null }), platform: 'linux/amd64' }),
    );
    expect(err.reason).toBe('image-pull-failed');
  });
});

describe('cosign signatures', () => {
  const key = cosignKeyPair();
  const other = cosignKeyPair();
  let signedDigest: string;

  beforeAll(async () => {
    const image = buildOipImage({ c: 7 });
    signedDigest = image.digest;
    await pushImage(registry, 'team/signed', image);
    await pushCosignSignature(registry, 'team/signed', image.digest, key.privateKeyPem);
    const unsigned = buildOipImage({ c: 8 });
    await pushImage(registry, 'team/signed', unsigned, { tag: 'unsigned' });
  });

  it('accepts an image whose digest is signed by the pinned key', async () => {
    const prepared = await freshStore().prepare({
      reference: refAt(registry.host, 'team/signed', signedDigest),
      access: registry.access(),
      platform: 'linux/amd64',
      cosignPublicKey: key.publicKeyPem,
    });
    expect(prepared.pinnedDigest).toBe(signedDigest);
  });

  it('refuses an image without a signature, before fetching its layers', async () => {
    const unsigned = buildOipImage({ c: 8 });
    const store = freshStore();
    const err = await pullError(
      store.prepare({
        reference: refAt(registry.host, 'team/signed', unsigned.digest),
        access: registry.access(),
        platform: 'linux/amd64',
        cosignPublicKey: key.publicKeyPem,
      }),
    );
    expect(err.reason).toBe('image-signature-invalid');
    expect(err.message).toContain(`${unsigned.digest.replace(':', '-')}.sig`);
    expect(store.blobs.has(unsigned.platforms[0]?.layerDigests[0] as string)).toBe(false);
  });

  it('refuses a signature made by another key', async () => {
    const err = await pullError(
      freshStore().prepare({
        reference: refAt(registry.host, 'team/signed', signedDigest),
        access: registry.access(),
        platform: 'linux/amd64',
        cosignPublicKey: other.publicKeyPem,
      }),
    );
    expect(err.reason).toBe('image-signature-invalid');
    expect(err.message).toContain('does not verify');
  });

  it("refuses a valid signature of another digest stored under this digest's tag", async () => {
    const image = buildOipImage({ c: 9 });
    await pushImage(registry, 'team/signed', image, { tag: 'nine' });
    await pushCosignSignature(registry, 'team/signed', image.digest, key.privateKeyPem, { signedDigest });
    const err = await pullError(
      freshStore().prepare({
        reference: refAt(registry.host, 'team/signed', image.digest),
        access: registry.access(),
        platform: 'linux/amd64',
        cosignPublicKey: key.publicKeyPem,
      }),
    );
    expect(err.reason).toBe('image-signature-invalid');
    expect(err.message).toContain(`covers ${signedDigest}`);
  });
});

describe('what moves over the link', () => {
  it('fetches layers two images share once', async () => {
    const first = buildOipImage({ c: 10 });
    const second = buildOipImage({ c: 11 });
    await pushImage(registry, 'team/shared', first, { tag: 'one' });
    await pushImage(registry, 'team/shared', second, { tag: 'two' });
    const store = freshStore();
    await store.prepare({ reference: refAt(proxy.host, 'team/shared', first.digest), access: viaProxy(), platform: 'linux/amd64' });
    const held = blobCount(store);
    proxy.resetCounters();
    await store.prepare({ reference: refAt(proxy.host, 'team/shared', second.digest), access: viaProxy(), platform: 'linux/amd64' });
    // New: index, manifest, config and the model layer; the busybox layer (hundreds of kB) is shared.
    expect(blobCount(store)).toBe(held + 4);
    const runtimeLayer = first.blobs.get(first.platforms[0]?.layerDigests[0] as string)?.bytes.length ?? 0;
    expect(runtimeLayer).toBeGreaterThan(300_000);
    expect(proxy.bytesDown).toBeLessThan(runtimeLayer / 4);
  });

  it('fetches a layer two images share once when both are pulled at the same time', async () => {
    const first = buildOipImage({ c: 13 });
    const second = buildOipImage({ c: 14 });
    await pushImage(registry, 'team/together', first, { tag: 'one' });
    await pushImage(registry, 'team/together', second, { tag: 'two' });
    const store = freshStore();
    proxy.resetCounters();
    const both = await Promise.all(
      [first, second].map((image) =>
        store.prepare({ reference: refAt(proxy.host, 'team/together', image.digest), access: viaProxy(), platform: 'linux/amd64' }),
      ),
    );
    expect(both.map((p) => p.pinnedDigest)).toEqual([first.digest, second.digest]);
    const runtimeLayer = first.blobs.get(first.platforms[0]?.layerDigests[0] as string)?.bytes.length ?? 0;
    expect(proxy.bytesDown).toBeLessThan(runtimeLayer * 1.5);
  });

  it('pulls one image asked for twice at the same time once', async () => {
    const image = buildOipImage({ c: 15 });
    await pushImage(registry, 'team/twice', image);
    const store = freshStore();
    const reference = refAt(proxy.host, 'team/twice', image.digest);
    proxy.resetCounters();
    const both = await Promise.all([1, 2].map(() => store.prepare({ reference, access: viaProxy(), platform: 'linux/amd64' })));
    expect(both[0]).toEqual(both[1]);
    expect(proxy.bytesDown).toBeLessThan(image.amd64Bytes * 1.5);
  });

  it('resumes an interrupted pull from the bytes it kept', async () => {
    const image = buildOipImage({ c: 12, amd64Only: true, bulkLayers: [{ mb: 3, seed: 'resume' }] });
    await pushImage(registry, 'team/resume', image);
    const store = freshStore();
    const reference = refAt(proxy.host, 'team/resume', image.digest);
    const bulkLayer = image.platforms[0]?.layerDigests[1] as string;
    const bulkSize = image.blobs.get(bulkLayer)?.bytes.length ?? 0;
    proxy.throttle(1024 * 1024);
    const abort = new AbortController();
    const interrupted = store.prepare({
      reference,
      access: viaProxy(),
      platform: 'linux/amd64',
      signal: abort.signal,
      onProgress: (p) => {
        // Well into the bulk layer (the busybox layer before it is about 1 MB).
        if (p.bytesDone > p.bytesTotal * 0.6) abort.abort(new Error('power cut'));
      },
    });
    await expect(interrupted).rejects.toThrow('power cut');
    proxy.throttle(undefined);
    const kept = store.blobs.partialSize(bulkLayer);
    expect(kept).toBeGreaterThan(512 * 1024);
    expect(store.blobs.has(bulkLayer)).toBe(false);

    proxy.resetCounters();
    // A new store on the same data dir: the agent after a restart.
    const restarted = new ImageStore({ dataDir: store.root.replace(/\/images$/, ''), sleep: async () => undefined });
    const prepared = await restarted.prepare({ reference, access: viaProxy(), platform: 'linux/amd64' });
    expect(prepared.bytes).toBe(image.amd64Bytes);
    expect(restarted.blobs.has(bulkLayer)).toBe(true);
    // Only what was missing crossed the link again (plus TLS and HTTP overhead).
    expect(proxy.bytesDown).toBeLessThan(image.amd64Bytes - kept + 64 * 1024);
    expect(proxy.bytesDown).toBeGreaterThan(bulkSize - kept);
  });
});

describe('garbage collection', () => {
  it('keeps what kept images need and deletes the rest, oldest first, within the budget', async () => {
    const first = buildOipImage({ c: 20 });
    const second = buildOipImage({ c: 21 });
    await pushImage(registry, 'team/gc', first, { tag: 'one' });
    await pushImage(registry, 'team/gc', second, { tag: 'two' });
    const store = freshStore();
    const one = refAt(registry.host, 'team/gc', first.digest);
    const two = refAt(registry.host, 'team/gc', second.digest);
    const p1 = await store.prepare({ reference: one, access: registry.access(), platform: 'linux/amd64' });
    await store.prepare({ reference: two, access: registry.access(), platform: 'linux/amd64' });
    const before = store.heldBytes();

    // Within budget: nothing goes.
    expect(await store.collect([two], before)).toEqual({ freedBytes: 0 });
    expect(store.prepared(one, 'linux/amd64')).toBeDefined();

    // Over budget: the first image's own blobs go, the shared busybox layer stays.
    const { freedBytes } = await store.collect([two], 0);
    expect(freedBytes).toBeGreaterThan(0);
    expect(store.heldBytes()).toBe(before - freedBytes);
    expect(store.prepared(one, 'linux/amd64')).toBeUndefined();
    expect(existsSync(p1.layoutDir)).toBe(false);
    expect(store.prepared(two, 'linux/amd64')).toBeDefined();
    expect(store.blobs.has(first.platforms[0]?.layerDigests[0] as string)).toBe(true);

    await store.collect([], 0);
    expect(store.heldBytes()).toBe(0);
  });

  it('deletes the least recently used image first', async () => {
    const images = [22, 23, 24].map((c) => buildOipImage({ c }));
    for (const [i, image] of images.entries()) await pushImage(registry, 'team/lru', image, { tag: `t${i}` });
    const store = freshStore();
    const refs = images.map((image) => refAt(registry.host, 'team/lru', image.digest));
    for (const reference of refs) await store.prepare({ reference, access: registry.access(), platform: 'linux/amd64' });
    // Used again: the first image is now the most recently used, the second the least.
    expect(store.prepared(refs[0] as ImageReference, 'linux/amd64')).toBeDefined();
    const second = images[1] as (typeof images)[number];
    const amd64 = second.platforms[0];
    const own = [second.digest, amd64?.manifestDigest, amd64?.configDigest, amd64?.layerDigests.at(-1)].map(
      (d) => second.blobs.get(d as string)?.bytes.length ?? 0,
    );
    const ownBytes = own.reduce((a, b) => a + b, 0);
    const { freedBytes } = await store.collect([], store.heldBytes() - ownBytes);
    expect(freedBytes).toBe(ownBytes);
    expect(store.prepared(refs[1] as ImageReference, 'linux/amd64')).toBeUndefined();
    expect(store.prepared(refs[0] as ImageReference, 'linux/amd64')).toBeDefined();
    expect(store.prepared(refs[2] as ImageReference, 'linux/amd64')).toBeDefined();
  });
});
