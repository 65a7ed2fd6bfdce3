/**
 * Container image references as releases name them: always pinned by digest, always with
 * the registry spelled out, so what a node runs is exactly what was signed and the agent
 * knows which registry (and which pull credentials) to use. The grammar follows the
 * distribution reference grammar (github.com/distribution/reference), narrowed to what a
 * fleet should deploy: `HOST[:PORT]/PATH[:TAG]@sha256:HEX`. A tag alongside the digest is
 * kept for people to read and ignored for pulling.
 */

/** A parsed, digest-pinned image reference. */
export interface ImageReference {
  /** `host` or `host:port`: the registry the agent pulls from. */
  registry: string;
  /** The repository path inside the registry (`team/detector`). */
  repository: string;
  /** The tag written beside the digest, if any (informational). */
  tag: string | null;
  /** `sha256:` and 64 hex digits: the manifest or image index the release pins. */
  digest: string;
}

const HOST = /^(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Why a reference was refused, and how to write it instead. */
export class ImageReferenceError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'ImageReferenceError';
  }
}

const EXAMPLE = 'registry.example:5000/team/detector@sha256:<64 hex digits>';

/**
 * Parses `HOST[:PORT]/PATH[:TAG]@sha256:HEX`. Throws {@link ImageReferenceError} for a
 * reference without a digest (a tag can move; a fleet must run what was signed), without a
 * registry host (edgefleet never guesses Docker Hub) or with a malformed part.
 */
export function parseImageReference(text: string): ImageReference {
  if (text.length > 512) throw new ImageReferenceError('the image reference is longer than 512 characters', `write it as ${EXAMPLE}`);
  const at = text.indexOf('@');
  if (at < 0)
    throw new ImageReferenceError(
      `image "${text}" is not pinned by digest`,
      `a tag can move after the release is signed; pin the digest, e.g. "${text.replace(/:[^/:]*$/, '')}@sha256:…" (find it with \`skopeo inspect docker://IMAGE\`, \`crane digest IMAGE\` or \`podman inspect --format '{{.Digest}}' IMAGE\`)`,
    );
  const name = text.slice(0, at);
  const digest = text.slice(at + 1);
  if (!DIGEST.test(digest))
    throw new ImageReferenceError(`image digest "${digest}" is not "sha256:" followed by 64 lowercase hex digits`, `write it as ${EXAMPLE}`);
  const slash = name.indexOf('/');
  if (slash < 0) throw new ImageReferenceError(`image "${text}" names no registry`, `name the registry host first, e.g. ${EXAMPLE}`);
  const registry = name.slice(0, slash);
  let path = name.slice(slash + 1);
  // A first component without '.', ':' or "localhost" is a Docker Hub namespace, not a host.
  if (!HOST.test(registry) || !(registry.includes('.') || registry.includes(':') || registry === 'localhost' || registry.startsWith('[')))
    throw new ImageReferenceError(
      `"${registry}" in image "${text}" is not a registry host`,
      `name the registry host (with a dot or a port) first, e.g. ${EXAMPLE}`,
    );
  let tag: string | null = null;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag))
      throw new ImageReferenceError(`tag "${tag}" in image "${text}" is malformed`, 'tags are letters, digits, "_", "." and "-", at most 128 characters');
  }
  if (path === '' || !path.split('/').every((c) => PATH_COMPONENT.test(c)))
    throw new ImageReferenceError(
      `repository "${path}" in image "${text}" is malformed`,
      'repository paths are lowercase letters and digits separated by "/", ".", "_" or "-"',
    );
  return { registry, repository: path, tag, digest };
}

/** The reference as written canonically (`registry/repository@digest`, the tag dropped). */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}@${ref.digest}`;
}

/** The registry host (and port) of a registry address `https://HOST[:PORT]`. */
export function registryHostOf(server: string): string {
  return new URL(server).host;
}

/** Why a registry address was refused, and how to write it instead (see {@link parseRegistryServer}). */
export class RegistryServerError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'RegistryServerError';
  }
}

/**
 * Parses a registry address as `edgefleet registry add --server` takes it:
 * `https://HOST[:PORT]` and nothing else. Plain http is refused (pull credentials and
 * image bytes would cross the network in the clear), so are a path (the distribution API
 * lives at `/v2/` of the host), credentials in the URL (they would be stored and shown
 * unencrypted: use username and password) and a query or fragment. Answers the address in
 * its one canonical spelling (the URL's origin, lower-case host, default port dropped) and
 * the `HOST[:PORT]` that image references name (see {@link registryHostOf}).
 */
export function parseRegistryServer(text: string): { server: string; host: string } {
  const example = 'https://registry.example:5000';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RegistryServerError(`registry address "${text}" is not a URL`, `write it as ${example}`);
  }
  if (url.protocol !== 'https:')
    throw new RegistryServerError(
      `registry address "${text}" is not https`,
      `nodes pull only over TLS; write https://${url.host || 'HOST:PORT'} (for a private CA, also pass its certificate: --ca-file)`,
    );
  if (url.username !== '' || url.password !== '')
    throw new RegistryServerError('the registry address carries credentials', 'give them as --username and --password-file, never inside the URL');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || /[?#]/.test(text))
    throw new RegistryServerError(
      `registry address "${text}" has a path, query or fragment`,
      `write only the scheme, host and port (${example}); image references give the repository path`,
    );
  if (url.host === '') throw new RegistryServerError(`registry address "${text}" names no host`, `write it as ${example}`);
  return { server: url.origin, host: url.host };
}
