/** The agent's built-in model server and the small test models it is checked with. */
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
export { type DenseLayer, type DenseModel, denseModel, linearModel, type MlpSpec, MODEL_INPUT_NAME, MODEL_OUTPUT_NAME, mlpModel } from './onnx-model.js';
export { encodeOnnxModel, OnnxElemType, type OnnxGraph } from './onnx-proto.js';
export { type LoadedModel, type ModelServerOptions, type RunningModelServer, startModelServer } from './server.js';
export { STUB_MODEL_FORMAT, type StubModel, stubModel, stubModelJson } from './stub-model.js';
