/** Telemetry on the wire: types, the binary metrics batch codec, the log batch codec. */
export * from './codec.js';
export * from './log-batch.js';
export * from './types.js';
