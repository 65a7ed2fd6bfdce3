import { errors } from '@edgefleet/protocol';

/**
 * `sha256:` and 64 lowercase hex digits. This is the only thing an artifact path on the
 * node is ever built from, so a name such as `../etc` or `sha256:ABC…/x` can never reach
 * the file system: content addressing only (issue 3, "Bad input").
 */
const ARTIFACT_DIGEST = /^sha256:([0-9a-f]{64})$/;

/** True when `value` is a well-formed artifact digest (`sha256:` + 64 lowercase hex). */
export function isArtifactDigest(value: string): boolean {
  return ARTIFACT_DIGEST.test(value);
}

/**
 * Returns the 64 hex digits of a well-formed artifact digest, or throws a `bad_request`
 * `EdgefleetError` naming the field `digest`. Call it before building any path.
 */
export function artifactDigestHex(digest: string): string {
  const hex = ARTIFACT_DIGEST.exec(digest)?.[1];
  if (hex === undefined) {
    // Echo only a bounded, JSON-quoted prefix: the value may be hostile or huge.
    const shown = JSON.stringify(digest.length > 80 ? `${digest.slice(0, 80)}…` : digest);
    throw errors.badRequest(`invalid artifact digest ${shown}`, 'an artifact is named by "sha256:" followed by 64 lowercase hex digits', { field: 'digest' });
  }
  return hex;
}
