/**
 * `@edgefleet/protocol/node`: the parts that need Node.js — the undici transport and TLS
 * handling, the `EdgefleetClient`, durable file writes (the durable queues are `@edgefleet/queues`), the zlib codecs of the
 * telemetry wire, node:crypto hashing and release signatures, and the manifest file reader.
 * Everything pure is in the package root, `@edgefleet/protocol`.
 */
export * from './client.js';
export * from './client-connection.js';
export * from './durable-file.js';
export * from './fingerprint.js';
export * from './manifest-file.js';
export * from './release-key-pin.js';
export * from './release-signature.js';
export * from './sha256.js';
export * from './telemetry/codec.js';
export * from './telemetry/log-batch.js';
export * from './telemetry/upload-answer.js';
export * from './undici-transport.js';
