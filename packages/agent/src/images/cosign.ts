import { createPublicKey, createVerify, type KeyObject } from 'node:crypto';
import { type Descriptor, MediaTypes } from './manifest.js';

/**
 * cosign's key-based signatures as they sit in a registry (sigstore/cosign, "Signature
 * specification"): for an image `repo@sha256:HEX` a manifest tagged `sha256-HEX.sig` in the
 * same repository; each of its layers is a simple-signing payload
 * (`application/vnd.dev.cosign.simplesigning.v1+json`) whose annotation
 * `dev.cosignproject.cosign/signature` holds the base64 signature of the payload's bytes
 * (ECDSA P-256 with SHA-256, ASN.1 DER, for `cosign generate-key-pair` keys). The payload's
 * `critical.image["docker-manifest-digest"]` names the signed digest.
 *
 * Only key-based verification is done here: no Fulcio certificates, no Rekor transparency
 * log (the node has no route to them, and the fleet pins the key in the release).
 */

/** The annotation holding a layer's signature. */
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** The tag cosign stores a digest's signatures under: `sha256:HEX` → `sha256-HEX.sig`. */
export function cosignSignatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** Loads a PEM public key; throws a plain Error with the fix when it is not one. */
export function loadCosignPublicKey(pem: string): KeyObject {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ed25519') throw new Error(key.asymmetricKeyType);
    return key;
  } catch {
    throw new Error('verify.cosign.publicKey is not a PEM public key (cosign.pub as written by `cosign generate-key-pair`)');
  }
}

/** The signature layers of a `.sig` manifest: simple-signing layers that carry a signature. */
export function signatureLayers(layers: readonly Descriptor[]): { layer: Descriptor; signature: string }[] {
  return layers.flatMap((layer) => {
    const signature = layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
    return layer.mediaType === MediaTypes.cosignSimpleSigning && typeof signature === 'string' && signature !== '' ? [{ layer, signature }] : [];
  });
}

/**
 * Checks one simple-signing payload: the signature over its exact bytes verifies with
 * `key`, and it names `digest` as the signed image. Returns undefined when it holds, or why
 * it does not (for the operator's message).
 */
export function checkSimpleSigning(payload: Uint8Array, signatureBase64: string, key: KeyObject, digest: string): string | undefined {
  let valid: boolean;
  try {
    const verify = createVerify('sha256');
    verify.update(payload);
    valid = verify.verify(key, Buffer.from(signatureBase64, 'base64'));
  } catch {
    valid = false;
  }
  if (!valid) return 'a signature does not verify with verify.cosign.publicKey';
  let signed: unknown;
  try {
    signed = (JSON.parse(Buffer.from(payload).toString('utf8')) as { critical?: { image?: Record<string, unknown> } }).critical?.image?.[
      'docker-manifest-digest'
    ];
  } catch {
    return 'a signed payload is not JSON';
  }
  if (signed !== digest) return `a valid signature covers ${typeof signed === 'string' ? signed : 'no digest'}, not ${digest}`;
  return undefined;
}
