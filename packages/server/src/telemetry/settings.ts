import { type Labels, TELEMETRY_PROFILE_LABEL, TELEMETRY_PROFILES, type TelemetrySettings } from '@edgefleet/protocol';

/**
 * Which telemetry profile a node uses, from its effective labels (`telemetry.profile`,
 * set by the agent's `--telemetry-profile` or by an operator, who wins), and the timings
 * the server tells it. A server configured for faster heartbeats than the `lan` profile's
 * upload interval (tests, small labs) gets uploads at the heartbeat interval too.
 */
export function telemetrySettingsFor(labels: Labels, heartbeatIntervalMs: number): TelemetrySettings {
  if (labels[TELEMETRY_PROFILE_LABEL] === 'metered') {
    const p = TELEMETRY_PROFILES.metered;
    return { profile: 'metered', resolutionMs: p.resolutionMs, uploadIntervalMs: p.uploadIntervalMs, foldHeartbeats: true };
  }
  const p = TELEMETRY_PROFILES.lan;
  const uploadIntervalMs = Math.max(1_000, Math.min(p.uploadIntervalMs, Math.round(heartbeatIntervalMs)));
  return { profile: 'lan', resolutionMs: Math.min(p.resolutionMs, uploadIntervalMs), uploadIntervalMs, foldHeartbeats: false };
}

/** How often the server hears from a node: metered nodes report only with their uploads. */
export function reportIntervalMs(labels: Labels, heartbeatIntervalMs: number): number {
  const s = telemetrySettingsFor(labels, heartbeatIntervalMs);
  return s.foldHeartbeats ? Math.max(heartbeatIntervalMs, s.uploadIntervalMs) : heartbeatIntervalMs;
}
