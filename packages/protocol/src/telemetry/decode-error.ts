/**
 * The one error a telemetry body decoder throws, so the server can map every bad upload to
 * an HTTP answer without inspecting messages: `too-large` → 413, `unsupported-version` →
 * 415 (the node is newer than the server), `malformed` → 400. The message names the
 * problem and where it is, because it travels back to the operator unchanged.
 */

/** Why a body could not be decoded. */
export type DecodeFailureReason = 'too-large' | 'malformed' | 'unsupported-version';

/** A metrics batch (`decodeTelemetryBatch`) that cannot be decoded. */
export class TelemetryDecodeError extends Error {
  readonly reason: DecodeFailureReason;

  constructor(reason: DecodeFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TelemetryDecodeError';
    this.reason = reason;
  }
}

/** A log batch (`decodeLogBatch`) that cannot be decoded. */
export class LogDecodeError extends Error {
  readonly reason: DecodeFailureReason;

  constructor(reason: DecodeFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LogDecodeError';
    this.reason = reason;
  }
}
