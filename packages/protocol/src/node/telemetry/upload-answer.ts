import type { TelemetrySettings } from '../../telemetry/api.js';
import { sha256Hex } from '../sha256.js';

/** What an upload answer tells a node beyond the fate of its batch: it holds these between answers. */
export interface UploadAnswerPart {
  telemetry: TelemetrySettings;
  heartbeatIntervalSeconds: number;
  /** Only in answers to nodes that fold their heartbeats (metered). */
  desiredVersion?: string | undefined;
}

/**
 * The digest an agent sends as `known` with its uploads, and the server compares with the
 * answer it would give: equal, it answers 204 with no body (issue 18: the same ~150 bytes of
 * settings in every answer were a tenth of a lan node's bytes). 16 hex digits of SHA-256
 * over the values in a fixed order, so both sides agree whatever the key order of their objects.
 */
export function uploadAnswerDigest(part: UploadAnswerPart): string {
  const t = part.telemetry;
  const canonical = [t.profile, t.resolutionMs, t.uploadIntervalMs, t.foldHeartbeats, part.heartbeatIntervalSeconds, part.desiredVersion ?? null];
  return sha256Hex(JSON.stringify(canonical)).slice(0, 16);
}
