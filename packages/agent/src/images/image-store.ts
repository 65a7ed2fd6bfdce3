import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { EdgefleetError, errors, formatImageReference, type ImageReference, type RegistryAccess } from '@edgefleet/protocol';
import { type ArtifactSource, downloadArtifact } from '../artifacts/download.js';
import { LocalArtifactStore } from '../artifacts/local-store.js';
import { checkSimpleSigning, cosignSignatureTag, loadCosignPublicKey, signatureLayers } from './cosign.js';
import { writeImageLayout } from './layout.js';
import { type Descriptor, type ImageManifest, MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, type ManifestDocument, MediaTypes, parseManifest } from './manifest.js';
import { formatPlatform, parsePlatform, selectPlatform } from './platform.js';
import { RegistryClient, type RegistryEndpoint, RegistryRequestError } from './registry-client.js';
import { ImageError, type ImageRequest, type ImageSource, type Platform, type PreparedImage } from './types.js';

/** Options of an {@link ImageStore}. */
export interface ImageStoreOptions {
  /** The agent's data dir; the store lives in `<dataDir>/images`. */
  dataDir: string;
  /** Attempts per blob before a transient failure is given up on (default 5, as artifacts). */
  maxAttempts?: number;
  /** Waits between attempts; injected in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

const MAX_SIGNATURE_PAYLOAD_BYTES = 256 * 1024;

/**
 * The node's image store (issue 16): pulls images itself over the OCI distribution API,
 * verifies every manifest and blob against its digest before use, and hands the engine an
 * OCI image layout of verified content. Layout of `<dataDir>/images`:
 *
 *     blobs/sha256/<hex>          manifests, indexes, configs and layers, each once
 *     blobs/partial/<hex>.part    downloads in progress, resumed after a restart or power cut
 *     layouts/<manifest hex>/     OCI image layouts for the engine, blobs hard-linked
 *
 * Blobs go through the artifact store's partial-verify-rename path
 * (`artifacts/local-store.ts`, `artifacts/download.ts`), so a power cut leaves either no
 * blob or a whole verified one, and layers two images share are stored and fetched once.
 * Registry credentials are used only in request headers: no error or message carries them.
 */
export class ImageStore implements ImageSource {
  /** `<dataDir>/images`. */
  readonly root: string;
  /** The content-addressed blobs (shared code with artifacts). */
  readonly blobs: LocalArtifactStore;
  private readonly layoutsDir: string;
  /** Blob downloads in flight, so two images sharing a layer fetch it once. */
  private readonly inflight = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: ImageStoreOptions) {
    this.root = join(opts.dataDir, 'images');
    this.blobs = new LocalArtifactStore(join(this.root, 'blobs'));
    this.layoutsDir = join(this.root, 'layouts');
  }

  async prepare(request: ImageRequest): Promise<PreparedImage> {
    const { reference, signal } = request;
    const image = formatImageReference(reference);
    const platform = formatPlatform(parsePlatform(request.platform));
    const client = new RegistryClient(endpointFor(reference, request.access));
    try {
      const pinned = await this.manifest(client, reference.digest, image, signal);
      if (request.cosignPublicKey !== undefined) await verifyCosign(client, reference.digest, request.cosignPublicKey, image, signal);
      let manifestDescriptor: Pick<Descriptor, 'mediaType' | 'digest' | 'size' | 'platform'>;
      let manifest: ImageManifest;
      if (pinned.doc.kind === 'index') {
        const entry = selectPlatform(pinned.doc.index.manifests, platform);
        if (entry === undefined) {
          const offered = pinned.doc.index.manifests.flatMap((m) =>
            m.platform ? [formatPlatform({ ...m.platform, variant: m.platform.variant || undefined })] : [],
          );
          throw new ImageError('platform-unavailable', `image ${image} has no manifest for ${platform} (it offers ${offered.join(', ') || 'no platforms'})`);
        }
        const child = await this.manifest(client, entry.digest, image, signal);
        if (child.doc.kind !== 'manifest')
          throw new ImageError('image-pull-failed', `image ${image}: the ${platform} entry of the index is another index, which the agent does not follow`);
        manifestDescriptor = entry;
        manifest = child.doc.manifest;
      } else {
        manifestDescriptor = { mediaType: pinned.doc.mediaType, digest: reference.digest, size: pinned.size };
        manifest = pinned.doc.manifest;
      }
      const parts = [manifest.config, ...manifest.layers];
      const bytesTotal = parts.reduce((sum, d) => sum + d.size, 0);
      let bytesDone = 0;
      for (const part of parts) {
        const before = bytesDone;
        await this.blob(client, part, image, signal, (received) => request.onProgress?.({ bytesDone: before + received, bytesTotal }));
        bytesDone += part.size;
        request.onProgress?.({ bytesDone, bytesTotal });
      }
      return this.layout(reference.digest, manifestDescriptor, manifest, platform);
    } catch (err) {
      throw asImageError(err, image, signal);
    } finally {
      client.close();
    }
  }

  prepared(reference: ImageReference, platform: Platform): PreparedImage | undefined {
    try {
      const wanted = formatPlatform(parsePlatform(platform));
      const pinned = this.localManifest(reference.digest);
      if (pinned === undefined) return undefined;
      let descriptor: Pick<Descriptor, 'mediaType' | 'digest' | 'size' | 'platform'>;
      let manifest: ImageManifest;
      if (pinned.doc.kind === 'index') {
        const entry = selectPlatform(pinned.doc.index.manifests, wanted);
        const child = entry === undefined ? undefined : this.localManifest(entry.digest);
        if (entry === undefined || child?.doc.kind !== 'manifest') return undefined;
        descriptor = entry;
        manifest = child.doc.manifest;
      } else {
        descriptor = { mediaType: pinned.doc.mediaType, digest: reference.digest, size: pinned.size };
        manifest = pinned.doc.manifest;
      }
      if (![manifest.config, ...manifest.layers].every((d) => this.blobs.has(d.digest))) return undefined;
      return this.layout(reference.digest, descriptor, manifest, wanted);
    } catch {
      return undefined;
    }
  }

  async collect(keep: readonly ImageReference[], budgetBytes: number): Promise<{ freedBytes: number }> {
    const needed = new Set<string>();
    for (const ref of keep) for (const digest of this.closure(ref.digest)) needed.add(digest);
    // Layouts of images no one keeps go first: their hard links would keep blobs on disk.
    for (const name of names(this.layoutsDir)) {
      if (!needed.has(`sha256:${name.replace(/\.building$/, '')}`) || name.endsWith('.building'))
        rmSync(join(this.layoutsDir, name), { recursive: true, force: true });
    }
    const held = [...this.blobs.list().map((digest) => ({ digest, ...this.stat(this.blobs.pathOf(digest)) })), ...this.partials()];
    let total = held.reduce((sum, b) => sum + b.size, 0);
    let freedBytes = 0;
    const candidates = held.filter((b) => !needed.has(b.digest)).sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const blob of candidates) {
      if (total <= budgetBytes) break;
      if (this.blobs.remove(blob.digest)) {
        total -= blob.size;
        freedBytes += blob.size;
      }
    }
    return { freedBytes };
  }

  /** Bytes held in blobs and partial downloads. */
  heldBytes(): number {
    return [...this.blobs.list().map((d) => this.stat(this.blobs.pathOf(d))), ...this.partials()].reduce((sum, b) => sum + b.size, 0);
  }

  /** Every held digest an image pinned by `digest` needs (all platforms it holds). */
  private closure(digest: string): string[] {
    const out = [digest];
    const doc = this.localManifest(digest)?.doc;
    if (doc?.kind === 'index') {
      for (const entry of doc.index.manifests) if (this.blobs.has(entry.digest)) out.push(...this.closure(entry.digest));
    } else if (doc?.kind === 'manifest') {
      out.push(doc.manifest.config.digest, ...doc.manifest.layers.map((l) => l.digest));
    }
    return out;
  }

  private partials(): { digest: string; size: number; mtimeMs: number }[] {
    return this.blobs.listPartials().map((digest) => ({ digest, ...this.stat(join(this.blobs.root, 'partial', `${digest.slice(7)}.part`)) }));
  }

  private stat(path: string): { size: number; mtimeMs: number } {
    try {
      const s = statSync(path);
      return { size: s.size, mtimeMs: s.mtimeMs };
    } catch {
      return { size: 0, mtimeMs: 0 };
    }
  }

  /** A held manifest, read and parsed (it was verified when it arrived). */
  private localManifest(digest: string): { doc: ManifestDocument; size: number } | undefined {
    if (!this.blobs.has(digest)) return undefined;
    const bytes = readFileSync(this.blobs.pathOf(digest));
    return { doc: parseManifest(bytes), size: bytes.length };
  }

  /** The manifest or index `digest`: from the store, or fetched, verified and stored. */
  private async manifest(
    client: RegistryClient,
    digest: string,
    image: string,
    signal: AbortSignal | undefined,
  ): Promise<{ doc: ManifestDocument; size: number }> {
    // Wait out a pull fetching it now; the check and the registration below share one tick.
    for (let running = this.inflight.get(digest); running !== undefined; running = this.inflight.get(digest)) await running.catch(() => undefined);
    const held = this.localManifest(digest);
    if (held !== undefined) return held;
    return this.registerInflight(digest, this.fetchManifest(client, digest, image, signal));
  }

  private async fetchManifest(
    client: RegistryClient,
    digest: string,
    image: string,
    signal: AbortSignal | undefined,
  ): Promise<{ doc: ManifestDocument; size: number }> {
    const res = await client.get(`manifests/${digest}`, { accept: MANIFEST_ACCEPT }, signal);
    if (res.status !== 200) {
      res.body.destroy();
      throw new ImageError(
        'image-pull-failed',
        `the registry answered HTTP ${res.status} for manifest ${digest} of ${image}${res.status === 404 ? ' (not in the repository: push it, or fix the digest)' : ''}`,
      );
    }
    const bytes = await RegistryClient.readBody(res, MAX_MANIFEST_BYTES);
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest) {
      throw new ImageError('digest-mismatch', `manifest ${digest} of ${image} failed verification: the registry's bytes hash to ${actual}; nothing was kept`);
    }
    let doc: ManifestDocument;
    try {
      doc = parseManifest(bytes, headerValue(res.headers['content-type']));
    } catch (err) {
      throw new ImageError('image-pull-failed', `manifest ${digest} of ${image}: ${(err as Error).message}`);
    }
    const partial = await this.blobs.openPartial(digest);
    try {
      await partial.write(bytes);
      await partial.commit();
    } finally {
      await partial.close().catch(() => undefined);
    }
    return { doc, size: bytes.length };
  }

  /** One config or layer blob, fetched once even when two images want it at the same time. */
  private async blob(
    client: RegistryClient,
    part: Descriptor,
    image: string,
    signal: AbortSignal | undefined,
    progress: (received: number) => void,
  ): Promise<void> {
    for (let running = this.inflight.get(part.digest); running !== undefined; running = this.inflight.get(part.digest)) await running.catch(() => undefined);
    if (this.blobs.has(part.digest)) return;
    const task = downloadArtifact({
      source: blobSource(client, part.size),
      digest: part.digest,
      store: this.blobs,
      ...(signal ? { signal } : {}),
      ...(this.opts.maxAttempts !== undefined ? { maxAttempts: this.opts.maxAttempts } : {}),
      ...(this.opts.sleep ? { sleep: this.opts.sleep } : {}),
      ...(this.opts.random ? { random: this.opts.random } : {}),
      onProgress: (received) => progress(received),
    }).then((done) => {
      if (done.bytes !== part.size) {
        // Verified by digest, so the manifest's size was wrong: harmless, but say so.
        throw new ImageError('image-pull-failed', `blob ${part.digest} of ${image} has ${done.bytes} bytes; its manifest says ${part.size}`);
      }
    });
    try {
      await this.registerInflight(part.digest, task);
    } catch (err) {
      // Bytes that failed verification can never become the blob: keep nothing of them.
      if (err instanceof EdgefleetError && err.code === 'digest_mismatch') this.blobs.discardPartial(part.digest);
      throw err;
    }
  }

  /** Marks `digest` as being fetched until `task` settles, so a concurrent pull waits for it. */
  private async registerInflight<T>(digest: string, task: Promise<T>): Promise<T> {
    this.inflight.set(digest, task);
    try {
      return await task;
    } finally {
      this.inflight.delete(digest);
    }
  }

  /** Writes (or reuses) the layout for a held image and marks its blobs as just used. */
  private layout(
    pinnedDigest: string,
    descriptor: Pick<Descriptor, 'mediaType' | 'digest' | 'size' | 'platform'>,
    manifest: ImageManifest,
    platform: Platform,
  ): PreparedImage {
    const digests = [descriptor.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
    const layoutDir = join(this.layoutsDir, descriptor.digest.slice('sha256:'.length));
    const complete = existsSync(join(layoutDir, 'index.json')) && digests.every((d) => existsSync(join(layoutDir, 'blobs', 'sha256', d.slice(7))));
    if (!complete)
      writeImageLayout(
        layoutDir,
        descriptor,
        digests.map((digest) => ({ digest, path: this.blobs.pathOf(digest) })),
      );
    // Garbage collection deletes the least recently used blobs first.
    const now = new Date();
    for (const digest of [pinnedDigest, ...digests]) {
      try {
        utimesSync(this.blobs.pathOf(digest), now, now);
      } catch {
        // A blob's time only orders garbage collection.
      }
    }
    return {
      pinnedDigest,
      manifestDigest: descriptor.digest,
      configDigest: manifest.config.digest,
      platform,
      bytes: manifest.config.size + manifest.layers.reduce((sum, l) => sum + l.size, 0),
      layoutDir,
    };
  }
}

/** Where to pull `reference` from: its registry entry, or https to the host with no credentials. */
export function endpointFor(reference: ImageReference, access: RegistryAccess | undefined): RegistryEndpoint {
  return {
    server: access?.server ?? `https://${reference.registry}`,
    repository: reference.repository,
    caPem: access?.caPem ?? undefined,
    username: access?.username ?? null,
    password: access?.password ?? null,
  };
}

/**
 * The registry as an artifact source for the shared downloader: `GET blobs/<digest>` with
 * `Range` to resume. The body is cut off past the descriptor's size, so a registry that
 * streams forever cannot fill the disk.
 */
function blobSource(client: RegistryClient, size: number): ArtifactSource {
  return {
    async open(digest, offset, signal) {
      let res: Awaited<ReturnType<RegistryClient['get']>>;
      try {
        res = await client.get(`blobs/${digest}`, offset > 0 ? { range: `bytes=${offset}-` } : {}, signal);
      } catch (err) {
        if (err instanceof RegistryRequestError && err.status !== undefined) {
          // Refused credentials: no retry will change that.
          throw errors.unauthenticated(err.message, "check the registry entry's username and password");
        }
        throw err;
      }
      let seen = offset;
      if (res.status === 200) seen = 0;
      const limit = new Transform({
        transform(chunk: Buffer, _enc, done) {
          seen += chunk.length;
          // Not a transient failure: a retry would stream the same excess again.
          if (seen > size)
            return done(
              errors.digestMismatch(
                `blob ${digest} is longer than the ${size} bytes its manifest gives`,
                'the registry serves other bytes than the manifest names; the partial download was deleted',
              ),
            );
          done(null, chunk);
        },
      });
      res.body.on('error', (err) => limit.destroy(err));
      return { status: res.status, headers: res.headers, body: res.body.pipe(limit) };
    },
  };
}

/** Checks the cosign signatures stored for `digest`; throws `image-signature-invalid` unless one holds. */
async function verifyCosign(client: RegistryClient, digest: string, publicKeyPem: string, image: string, signal: AbortSignal | undefined): Promise<void> {
  let key: ReturnType<typeof loadCosignPublicKey>;
  try {
    key = loadCosignPublicKey(publicKeyPem);
  } catch (err) {
    throw new ImageError('image-signature-invalid', (err as Error).message);
  }
  const tag = cosignSignatureTag(digest);
  const res = await client.get(`manifests/${tag}`, { accept: MANIFEST_ACCEPT }, signal);
  if (res.status === 404) {
    res.body.destroy();
    throw new ImageError(
      'image-signature-invalid',
      `image ${image} has no cosign signature (no tag ${tag} in its repository): sign it with \`cosign sign --key cosign.key ${image}\``,
    );
  }
  if (res.status !== 200) {
    res.body.destroy();
    throw new ImageError('image-pull-failed', `the registry answered HTTP ${res.status} for the cosign signature ${tag} of ${image}`);
  }
  let doc: ManifestDocument;
  try {
    doc = parseManifest(await RegistryClient.readBody(res, MAX_MANIFEST_BYTES), headerValue(res.headers['content-type']));
  } catch (err) {
    throw new ImageError('image-signature-invalid', `the cosign signature manifest ${tag} of ${image} is unreadable: ${(err as Error).message}`);
  }
  const layers = doc.kind === 'manifest' ? signatureLayers(doc.manifest.layers) : [];
  if (layers.length === 0)
    throw new ImageError(
      'image-signature-invalid',
      `the cosign signature manifest ${tag} of ${image} holds no signed payload (${MediaTypes.cosignSimpleSigning})`,
    );
  const reasons: string[] = [];
  for (const { layer, signature } of layers) {
    if (layer.size > MAX_SIGNATURE_PAYLOAD_BYTES) {
      reasons.push(`a payload of ${layer.size} bytes is too big`);
      continue;
    }
    const blob = await client.get(`blobs/${layer.digest}`, {}, signal);
    if (blob.status !== 200) {
      blob.body.destroy();
      reasons.push(`payload ${layer.digest} answered HTTP ${blob.status}`);
      continue;
    }
    const payload = await RegistryClient.readBody(blob, MAX_SIGNATURE_PAYLOAD_BYTES);
    if (`sha256:${createHash('sha256').update(payload).digest('hex')}` !== layer.digest) {
      reasons.push(`payload ${layer.digest} does not match its digest`);
      continue;
    }
    const why = checkSimpleSigning(payload, signature, key, digest);
    if (why === undefined) return;
    reasons.push(why);
  }
  throw new ImageError('image-signature-invalid', `no cosign signature of ${image} holds: ${[...new Set(reasons)].join('; ')}`);
}

/** Turns whatever a pull threw into an {@link ImageError}; an abort's reason passes through. */
function asImageError(err: unknown, image: string, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && !(err instanceof ImageError)) return signal.reason;
  if (err instanceof ImageError) return err;
  if (err instanceof EdgefleetError) {
    if (err.code === 'digest_mismatch') return new ImageError('digest-mismatch', `image ${image}: ${err.message}`);
    const hint = err.code === 'download_failed' ? `; ${err.hint}` : '';
    return new ImageError('image-pull-failed', `pulling ${image} failed: ${err.message}${hint}`);
  }
  if (err instanceof RegistryRequestError) return new ImageError('image-pull-failed', `pulling ${image} failed: ${err.message}`);
  return new ImageError('image-pull-failed', `pulling ${image} failed: ${(err as Error)?.message ?? String(err)}`);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
