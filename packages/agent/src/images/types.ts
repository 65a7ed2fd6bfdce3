/**
 * The seam between the node's image store (pulls images itself over the OCI distribution
 * API, verifies every blob, keeps layers once) and the container engine (runs only content
 * the store verified; it never pulls over the WAN itself). Written first so both sides are
 * built against it (issue 16).
 */
import type { ImageReference, RegistryAccess } from '@edgefleet/protocol';

/** `os/architecture[/variant]` as OCI image indexes write it: `linux/arm64`, `linux/amd64`. */
export type Platform = string;

/** Why an image could not be made ready; each is a `WorkloadStatus.reason` the node reports. */
export type ImageFailureReason =
  /** The registry answered an error, the network failed, or credentials were refused (retried with backoff). */
  | 'image-pull-failed'
  /** A manifest or blob did not match its digest (discarded; retried). */
  | 'digest-mismatch'
  /** The image index has no manifest for this node's platform (a fallback serves, if the release has one). */
  | 'platform-unavailable'
  /** `verify.cosign` is set and no valid cosign signature of the digest was found. */
  | 'image-signature-invalid';

/** An image failure with its reason code and a message for operators (never contains credentials). */
export class ImageError extends Error {
  constructor(
    readonly reason: ImageFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'ImageError';
  }
}

/** What to make ready: the reference as released, how to reach its registry, what to check. */
export interface ImageRequest {
  reference: ImageReference;
  /** Address, CA and credentials of the reference's registry; undefined: https to the host, system CAs, anonymous. */
  access: RegistryAccess | undefined;
  /** The node's platform; default the agent's own (`linux/arm64` on a Pi). */
  platform: Platform;
  /** PEM public key: require a cosign signature of the image digest (release `verify.cosign`). */
  cosignPublicKey?: string;
  signal?: AbortSignal;
  /** Progress for status (`downloading`) and the simulator's link model. */
  onProgress?: (p: { bytesDone: number; bytesTotal: number }) => void;
}

/** A verified image, ready for the engine. */
export interface PreparedImage {
  /** The digest the release pins (an image index or a manifest). */
  pinnedDigest: string;
  /** The platform manifest's digest (the pinned one when it is not an index). */
  manifestDigest: string;
  /** The image config's digest: what the engine calls the image ID. */
  configDigest: string;
  platform: Platform;
  /** Sum of the config and layer sizes. */
  bytes: number;
  /**
   * A directory in OCI image layout (oci-layout, index.json, blobs/sha256/…) holding exactly
   * this platform's manifest, config and layers, every blob verified; the engine imports it
   * (`podman pull oci:DIR`). Blobs are hard links into the store, so layers are stored once.
   */
  layoutDir: string;
}

/** The node's image store, as the container runtime uses it. */
export interface ImageSource {
  /** Pulls what is missing (resuming partial blobs), verifies, and returns the ready image. Throws {@link ImageError}. */
  prepare(request: ImageRequest): Promise<PreparedImage>;
  /** The ready image, if every blob is already held and verified (no network). */
  prepared(reference: ImageReference, platform: Platform): PreparedImage | undefined;
  /** Deletes blobs no kept image needs, oldest first, until the store is within `budgetBytes`. */
  collect(keep: readonly ImageReference[], budgetBytes: number): Promise<{ freedBytes: number }>;
}
