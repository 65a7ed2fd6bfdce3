import { z } from 'zod';

/** Media types of the documents the store reads (OCI image spec and Docker's schema 2). */
export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
} as const;

/** The `Accept` header of a manifest request: every index and manifest type the store reads. */
export const MANIFEST_ACCEPT = [MediaTypes.ociIndex, MediaTypes.ociManifest, MediaTypes.dockerManifestList, MediaTypes.dockerManifest].join(', ');

/** Manifests bigger than this are refused unread (the OCI distribution spec suggests 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const DigestSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'a sha256 digest');

/** An OCI content descriptor (the fields the store uses; others are kept as sent). */
export const DescriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest: DigestSchema,
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: z.looseObject({ os: z.string(), architecture: z.string(), variant: z.string().optional() }).optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

/** An image index or Docker manifest list. */
export const ImageIndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
});
export type ImageIndex = z.infer<typeof ImageIndexSchema>;

/** An image manifest (OCI or Docker schema 2). */
export const ImageManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
});
export type ImageManifest = z.infer<typeof ImageManifestSchema>;

/** A manifest document as read: an index to resolve, or a platform's image manifest. */
export type ManifestDocument = { kind: 'index'; mediaType: string; index: ImageIndex } | { kind: 'manifest'; mediaType: string; manifest: ImageManifest };

/**
 * Reads verified manifest bytes. The kind comes from the document's own `mediaType`, else
 * the response's `Content-Type`, else its shape (`manifests` vs `layers`). Throws a plain
 * Error saying what is wrong for anything that is neither (schema 1, garbage).
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ManifestDocument {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new Error('the manifest is not JSON');
  }
  const declared = (json as { mediaType?: unknown } | null)?.mediaType;
  const type = typeof declared === 'string' ? declared : (contentType?.split(';')[0]?.trim() ?? '');
  const isIndex =
    type === MediaTypes.ociIndex ||
    type === MediaTypes.dockerManifestList ||
    ((type === '' || type === 'application/json') && Array.isArray((json as { manifests?: unknown }).manifests));
  if (isIndex) {
    const index = ImageIndexSchema.safeParse(json);
    if (!index.success) throw new Error(`the image index is malformed: ${index.error.issues[0]?.message ?? 'unknown'}`);
    return { kind: 'index', mediaType: type === '' || type === 'application/json' ? MediaTypes.ociIndex : type, index: index.data };
  }
  if (type === MediaTypes.ociManifest || type === MediaTypes.dockerManifest || type === '' || type === 'application/json') {
    const manifest = ImageManifestSchema.safeParse(json);
    if (!manifest.success) throw new Error(`the image manifest is malformed: ${manifest.error.issues[0]?.message ?? 'unknown'}`);
    return { kind: 'manifest', mediaType: type === '' || type === 'application/json' ? MediaTypes.ociManifest : type, manifest: manifest.data };
  }
  throw new Error(`manifest media type ${JSON.stringify(type)} is not supported (an OCI index or manifest, or Docker schema 2)`);
}
