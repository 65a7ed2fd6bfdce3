/**
 * Simulated container images (issue 16): what an image weighs, which platforms its index
 * has, how long it takes to start and whether it crashes — from a per-image table in the
 * simulation's options (no registry, no protocol change) — and each node's image store,
 * which pulls layers over the node's simulated link.
 *
 * The store keeps what the real one (packages/agent/src/images/image-store.ts) guarantees,
 * as far as timing and bytes go:
 * - a layer is moved in parts; a part that arrived is kept, so a pull cut by the link or a
 *   power cut resumes where it stopped (the store outlives the agent, as the disk does);
 * - layers are held once per node: a second revision that shares the base moves only the
 *   layers it changed;
 * - the node's platform is looked up in the image's index: one it lacks is refused with
 *   `platform-unavailable` (the agent's planner then serves the release's fallback);
 * - with `verify.cosign` set, an image the table marks unsigned is refused with
 *   `image-signature-invalid`.
 * Digests are not checked (there is no content): that is the real store's job, tested there.
 */
import { createHash } from 'node:crypto';
import { ImageError, type ImageRequest, type ImageSource, type Platform, type PreparedImage, parsePlatform, platformMatches } from '@edgefleet/agent';
import { type EdgefleetError, errors, formatImageReference, type ImageReference } from '@edgefleet/protocol';

/** 1 MB as the table writes sizes (decimal, as registries and `podman images` show them). */
export const MB = 1_000_000;

/** One layer: layers with the same `id` are the same blob (shared between images). */
export interface SimulatedLayer {
  id: string;
  bytes: number;
}

/** An image as the table describes it (every field optional; see {@link DEFAULT_IMAGE}). */
export interface SimulatedImageSpec {
  /** Its layers; default: the repository's shared base (`baseMb`) and one layer of its own (`changedLayerMb`). */
  layers?: { id: string; mb: number }[];
  /** Size of the base shared by every image of the repository when `layers` is not given (default 45). */
  baseMb?: number;
  /** Size of the layer this image alone has when `layers` is not given (default 5). */
  changedLayerMb?: number;
  /** Platforms of its index (default linux/arm64 and linux/amd64). */
  platforms?: Platform[];
  /** From `podman run` to ready, seconds (default 1). */
  startSeconds?: number;
  /** Chance that a start crashes inside the health window (default 0; 1: every start). */
  crashProbability?: number;
  /** Whether a cosign signature of it is in the registry (default true). */
  signed?: boolean;
}

/**
 * The simulation's images: by full reference (`host/team/detector@sha256:…`) or by digest
 * (`sha256:…`); `default` applies to every image the table does not name.
 */
export interface ImageTable {
  default?: SimulatedImageSpec;
  images?: Record<string, SimulatedImageSpec>;
}

/** What an image is in the simulation, resolved from the table. */
export interface SimulatedImage {
  reference: string;
  layers: readonly SimulatedLayer[];
  platforms: readonly Platform[];
  startMs: number;
  crashProbability: number;
  signed: boolean;
}

/** Defaults: a 50 MB image of which a new revision changes one 5 MB layer. */
export const DEFAULT_IMAGE = {
  baseMb: 45,
  changedLayerMb: 5,
  platforms: ['linux/arm64', 'linux/amd64'],
  startSeconds: 1,
  crashProbability: 0,
  signed: true,
} as const;

/** Bytes of an image index, a platform manifest and a config together (fetched before the layers). */
const METADATA_BYTES = 4_096;

function tableError(path: string, message: string): EdgefleetError {
  return errors.config(`--images: ${path}: ${message}`, 'see "Container releases" in the README for the image table format', { field: 'images' });
}

function checkSpec(path: string, v: unknown): SimulatedImageSpec {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw tableError(path, 'must be a mapping');
  const known = ['layers', 'baseMb', 'changedLayerMb', 'platforms', 'startSeconds', 'crashProbability', 'signed'];
  for (const k of Object.keys(v)) if (!known.includes(k)) throw tableError(`${path}.${k}`, `unknown field (known: ${known.join(', ')})`);
  const s = v as Record<string, unknown>;
  const num = (k: string, min: number, max: number): void => {
    if (s[k] !== undefined && !(typeof s[k] === 'number' && (s[k] as number) >= min && (s[k] as number) <= max))
      throw tableError(`${path}.${k}`, `must be a number from ${min} to ${max}, got ${JSON.stringify(s[k])}`);
  };
  num('baseMb', 0, 100_000);
  num('changedLayerMb', 0, 100_000);
  num('startSeconds', 0, 3_600);
  num('crashProbability', 0, 1);
  if (s.signed !== undefined && typeof s.signed !== 'boolean') throw tableError(`${path}.signed`, 'must be true or false');
  if (s.platforms !== undefined) {
    if (!Array.isArray(s.platforms) || s.platforms.length === 0) throw tableError(`${path}.platforms`, 'must be a list such as [linux/arm64, linux/amd64]');
    for (const p of s.platforms) {
      try {
        parsePlatform(String(p));
      } catch (err) {
        throw tableError(`${path}.platforms`, (err as Error).message);
      }
    }
  }
  if (s.layers !== undefined) {
    if (!Array.isArray(s.layers) || s.layers.length === 0) throw tableError(`${path}.layers`, 'must be a list of {id, mb}');
    for (const [i, l] of (s.layers as unknown[]).entries()) {
      const layer = l as Record<string, unknown>;
      if (typeof l !== 'object' || l === null || typeof layer.id !== 'string' || layer.id === '' || !(typeof layer.mb === 'number' && layer.mb >= 0))
        throw tableError(`${path}.layers[${i}]`, 'must be {id: NAME, mb: SIZE} (layers with the same id are shared)');
    }
  }
  return s as SimulatedImageSpec;
}

/** Checks an image table given as data (parsed from the `--images` file or given programmatically). */
export function parseImageTable(v: unknown): ImageTable {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw tableError('the file', 'must be a mapping with "default" and/or "images"');
  const t = v as Record<string, unknown>;
  for (const k of Object.keys(t)) if (k !== 'default' && k !== 'images') throw tableError(k, 'unknown field (known: default, images)');
  const table: ImageTable = {};
  if (t.default !== undefined) table.default = checkSpec('default', t.default);
  if (t.images !== undefined) {
    if (typeof t.images !== 'object' || t.images === null || Array.isArray(t.images))
      throw tableError('images', 'must map image references (or digests) to images');
    table.images = Object.fromEntries(Object.entries(t.images).map(([k, s]) => [k, checkSpec(`images["${k}"]`, s)]));
  }
  return table;
}

/** Resolves images from the table; one catalog per simulation, shared by every node. */
export class ImageCatalog {
  private readonly resolved = new Map<string, SimulatedImage>();
  private readonly byConfig = new Map<string, SimulatedImage>();

  constructor(private readonly table: ImageTable = {}) {}

  /** The simulated image of a reference (the table's entry for it or its digest, over the default). */
  image(ref: ImageReference): SimulatedImage {
    const reference = formatImageReference(ref);
    let img = this.resolved.get(reference);
    if (img !== undefined) return img;
    const spec: SimulatedImageSpec = { ...this.table.default, ...(this.table.images?.[reference] ?? this.table.images?.[ref.digest]) };
    const layers =
      spec.layers?.map((l) => ({ id: l.id, bytes: Math.round(l.mb * MB) })) ??
      [
        // Every image of a repository shares its base; each digest brings one layer of its own.
        { id: `${ref.registry}/${ref.repository} base`, bytes: Math.round((spec.baseMb ?? DEFAULT_IMAGE.baseMb) * MB) },
        { id: `${ref.digest} top`, bytes: Math.round((spec.changedLayerMb ?? DEFAULT_IMAGE.changedLayerMb) * MB) },
      ].filter((l) => l.bytes > 0);
    img = {
      reference,
      layers,
      platforms: spec.platforms ?? [...DEFAULT_IMAGE.platforms],
      startMs: Math.round((spec.startSeconds ?? DEFAULT_IMAGE.startSeconds) * 1000),
      crashProbability: spec.crashProbability ?? DEFAULT_IMAGE.crashProbability,
      signed: spec.signed ?? DEFAULT_IMAGE.signed,
    };
    this.resolved.set(reference, img);
    return img;
  }

  /** The image config digest the simulated engine knows an image by (stable per reference and platform). */
  configDigest(img: SimulatedImage, platform: Platform): string {
    const digest = `sha256:${createHash('sha256').update(`config\u0000${img.reference}\u0000${platform}`).digest('hex')}`;
    this.byConfig.set(digest, img);
    return digest;
  }

  /** The image an engine image id (config digest) stands for, once a store prepared it. */
  byImageId(imageId: string): SimulatedImage | undefined {
    return this.byConfig.get(imageId);
  }
}

/** What a node's image store needs: the node's link and the shared catalog. */
export interface SimulatedImageStoreOptions {
  catalog: ImageCatalog;
  /** The node's link (link.ts): every part of a layer goes over it. */
  link: { transfer(bytes: number, opts?: { roundTrip?: boolean }): Promise<void> };
  /** Size of the parts a layer moves in (default 1 MB): what a cut can cost. */
  partBytes?: number;
  /** Called with the bytes of every part that arrived, for the simulation's totals. */
  onBytes?: (reference: string, bytes: number) => void;
}

/** One node's image store. It outlives the node's agent (power cuts), as the disk does. */
export class SimulatedImageStore implements ImageSource {
  /** Bytes held of each layer (a layer is complete when it holds its size). */
  private readonly held = new Map<string, number>();
  /** References made ready on this node, for `collect`. */
  private readonly ready = new Set<string>();
  /** Bytes moved over the link, per image reference (what each pull cost this node). */
  readonly bytesByImage = new Map<string, number>();

  constructor(private readonly opts: SimulatedImageStoreOptions) {}

  async prepare(request: ImageRequest): Promise<PreparedImage> {
    const img = this.opts.catalog.image(request.reference);
    const { link } = this.opts;
    await this.move(img.reference, () => link.transfer(METADATA_BYTES / 2, { roundTrip: true }), METADATA_BYTES / 2, 'its image index');
    const platform = this.platformOf(img, request.platform);
    if (request.cosignPublicKey !== undefined && !img.signed)
      throw new ImageError(
        'image-signature-invalid',
        `${img.reference}: no cosign signature of the digest in the registry (simulated: the image table marks it unsigned)`,
      );
    await this.move(img.reference, () => link.transfer(METADATA_BYTES / 2, { roundTrip: true }), METADATA_BYTES / 2, 'its manifest and config');
    const part = this.opts.partBytes ?? MB;
    for (const layer of img.layers) {
      let done = this.held.get(layer.id) ?? 0;
      while (done < layer.bytes) {
        request.signal?.throwIfAborted();
        const n = Math.min(part, layer.bytes - done);
        await this.move(img.reference, () => link.transfer(n), n, `layer ${layer.id} (${done} of ${layer.bytes} bytes held; the next pull resumes there)`);
        done += n;
        this.held.set(layer.id, done);
        request.onProgress?.({ bytesDone: done, bytesTotal: layer.bytes });
      }
    }
    this.ready.add(img.reference);
    return this.preparedImage(img, platform);
  }

  prepared(reference: ImageReference, platform: Platform): PreparedImage | undefined {
    const img = this.opts.catalog.image(reference);
    if (!img.layers.every((l) => (this.held.get(l.id) ?? 0) >= l.bytes)) return undefined;
    const match = img.platforms.find((p) => platformMatches(entryOf(p), parsePlatform(platform)));
    return match === undefined ? undefined : this.preparedImage(img, match);
  }

  async collect(keep: readonly ImageReference[], budgetBytes: number): Promise<{ freedBytes: number }> {
    const kept = new Set(keep.flatMap((r) => this.opts.catalog.image(r).layers.map((l) => l.id)));
    let total = [...this.held.values()].reduce((a, b) => a + b, 0);
    let freedBytes = 0;
    for (const [id, bytes] of this.held) {
      if (total <= budgetBytes) break;
      if (kept.has(id)) continue;
      this.held.delete(id);
      total -= bytes;
      freedBytes += bytes;
    }
    for (const ref of [...this.ready]) if (!keep.some((r) => formatImageReference(r) === ref)) this.ready.delete(ref);
    return { freedBytes };
  }

  /** Bytes of layers held now (complete or partial). */
  get heldBytes(): number {
    return [...this.held.values()].reduce((a, b) => a + b, 0);
  }

  private platformOf(img: SimulatedImage, wanted: Platform): Platform {
    const match = img.platforms.find((p) => platformMatches(entryOf(p), parsePlatform(wanted)));
    if (match === undefined)
      throw new ImageError('platform-unavailable', `the image index of ${img.reference} has no manifest for ${wanted} (it has ${img.platforms.join(', ')})`);
    return match;
  }

  /** One transfer over the link; a failure becomes the pull failure the agent retries. */
  private async move(reference: string, transfer: () => Promise<void>, bytes: number, what: string): Promise<void> {
    try {
      await transfer();
    } catch (err) {
      throw new ImageError('image-pull-failed', `pulling ${reference}: ${what}: ${(err as Error).message}`);
    }
    this.bytesByImage.set(reference, (this.bytesByImage.get(reference) ?? 0) + bytes);
    this.opts.onBytes?.(reference, bytes);
  }

  private preparedImage(img: SimulatedImage, platform: Platform): PreparedImage {
    const configDigest = this.opts.catalog.configDigest(img, platform);
    const pinnedDigest = img.reference.slice(img.reference.lastIndexOf('@') + 1);
    return {
      pinnedDigest,
      manifestDigest: `sha256:${createHash('sha256').update(`manifest\u0000${img.reference}\u0000${platform}`).digest('hex')}`,
      configDigest,
      platform,
      bytes: img.layers.reduce((a, l) => a + l.bytes, METADATA_BYTES),
      // The simulated engine reads nothing from disk.
      layoutDir: '',
    };
  }
}

function entryOf(platform: Platform): { os: string; architecture: string; variant?: string } {
  const p = parsePlatform(platform);
  return p.variant === undefined ? { os: p.os, architecture: p.architecture } : { os: p.os, architecture: p.architecture, variant: p.variant };
}
