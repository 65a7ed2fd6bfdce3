import type { StatusResponse, TelemetryUploadResponse } from '@edgefleet/protocol';
import { uploadAnswerDigest } from '@edgefleet/protocol/node';

/**
 * Whether an upload's answer may be a 204: the node said it holds (`known`) exactly the
 * settings, heartbeat interval and desired version the answer carries, and nothing of the
 * batch was rejected (a rejection is news the node must read). An agent that sends no
 * `known` (older ones) always gets the full answer. `accepted` is not news either way: a
 * replay and a first delivery are both taken, and the agent does nothing different.
 */
export function answerIsUnchanged(answer: TelemetryUploadResponse, known: string | undefined): boolean {
  // ingest leaves an empty `rejected` out of the answer (the schema's default fills it in on the wire).
  if (known === undefined || (answer.rejected ?? []).length > 0) return false;
  return uploadAnswerDigest(answer) === known;
}

/**
 * Whether a heartbeat's answer may be a 204: the node holds the telemetry settings and
 * heartbeat interval it carries. The rest of the answer (the node's id, its certificate's
 * expiry) the agent knows on its own; without `known` (older agents) the full answer.
 */
export function statusIsUnchanged(answer: StatusResponse, known: string | undefined): boolean {
  if (known === undefined || answer.telemetry === undefined) return false;
  return uploadAnswerDigest({ telemetry: answer.telemetry, heartbeatIntervalSeconds: answer.heartbeatIntervalSeconds }) === known;
}
