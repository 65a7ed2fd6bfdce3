/** The node's artifact store and verified, resumable downloader. */
export { artifactDigestHex, isArtifactDigest } from './digest.js';
export { type ArtifactSource, DEFAULT_DOWNLOAD_ATTEMPTS, type DownloadOptions, type DownloadResult, downloadArtifact } from './download.js';
export { LocalArtifactStore, type LocalArtifactStoreOptions } from './local-store.js';
export type { OpenPartialFile, PartialArtifact, PartialFileHandle } from './partial.js';
