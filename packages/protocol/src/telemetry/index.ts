/** Telemetry on the wire, the pure parts: types, the API's JSON shapes, the symbol table and validation rules. The codecs (zlib) are in `@edgefleet/protocol/node`. */
export * from './api.js';
export { type DecodeFailureReason, LogDecodeError, TelemetryDecodeError } from './decode-error.js';
export { TelemetryMetaSchema } from './meta.js';
export { STANDARD_LABEL_NAMES, STANDARD_LABEL_VALUES, STANDARD_METRIC_NAMES, STATIC_SYMBOL_TABLE_VERSION, TELEMETRY_WIRE_VERSION } from './symbols.js';
export * from './types.js';
export { LABEL_NAME_PATTERN, MAX_TIMESTAMP_MS, METRIC_NAME_PATTERN } from './validate.js';
