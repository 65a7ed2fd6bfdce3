/** Telemetry on the wire: types, the binary metrics batch codec, the log batch codec, the API's JSON shapes. */
export * from './api.js';
export * from './codec.js';
export * from './log-batch.js';
export * from './types.js';
