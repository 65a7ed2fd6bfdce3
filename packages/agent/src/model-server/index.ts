/** The agent's built-in model server. The small test models it is checked with are in `@edgefleet/agent/fixtures`. */
export {
  type ModelServerCommand,
  type ModelServerConfig,
  modelServerConfigFromEnv,
  modelServerEntry,
  modelServerEnv,
} from './entry.js';
export { type DecodedRequest, decodeInferenceRequest, type ModelSignature, type TensorSignature } from './inference-request.js';
export { MAX_BODY_BYTES } from './json-body.js';
export { OipError } from './oip-error.js';
export { matchOipRoute, type OipRoute } from './oip-routes.js';
export { type LoadedModel, type ModelServerOptions, type RunningModelServer, startModelServer } from './server.js';
