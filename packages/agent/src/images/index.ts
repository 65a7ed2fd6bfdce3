/** The node's image store (issue 16): OCI distribution client, verified blobs, layouts for the engine. */
export { type AuthChallenge, parseAuthChallenges, tokenUrl } from './auth-challenge.js';
export { COSIGN_SIGNATURE_ANNOTATION, checkSimpleSigning, cosignSignatureTag } from './cosign.js';
export { endpointFor, ImageStore, type ImageStoreOptions } from './image-store.js';
export { layoutIndexJson, OCI_LAYOUT_FILE, writeImageLayout } from './layout.js';
export { MANIFEST_ACCEPT, MediaTypes, parseManifest } from './manifest.js';
export { formatPlatform, hostPlatform, parsePlatform, platformMatches, selectPlatform } from './platform.js';
export { RegistryClient, type RegistryEndpoint, RegistryRequestError } from './registry-client.js';
export * from './types.js';
