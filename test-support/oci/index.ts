/**
 * Test support for container images (issue 16): a real registry, test images built in
 * memory, cosign signatures in cosign's format, and a byte-counting relay. See each module.
 */

export { freePort } from '../ports.js';
export {
  buildOipImage,
  cosignKeyPair,
  type OipImageOptions,
  type PushedImage,
  pseudoRandomBytes,
  publicKeyOf,
  pushBlob,
  pushCosignSignature,
  pushImage,
  registryRequest,
  type TestBlob,
  type TestImage,
  type TestPlatformImage,
} from './image.js';
export { type StartRegistryOptions, startRegistry, type TestRegistry } from './registry.js';
export { type TarEntry, tarArchive } from './tar.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { startTokenFront, type TokenFront, type TokenFrontOptions } from './token-front.js';
