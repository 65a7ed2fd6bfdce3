import { describe, expect, it } from 'vitest';
import { type UploadAnswerPart, uploadAnswerDigest } from '../../../src/node/telemetry/upload-answer.js';

const LAN: UploadAnswerPart = {
  telemetry: { profile: 'lan', resolutionMs: 15_000, uploadIntervalMs: 60_000, foldHeartbeats: false },
  heartbeatIntervalSeconds: 60,
};

describe('uploadAnswerDigest', () => {
  it('is 16 hex digits, the same for the same values whatever the order of their keys', () => {
    const digest = uploadAnswerDigest(LAN);
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    const reordered = {
      heartbeatIntervalSeconds: 60,
      telemetry: { foldHeartbeats: false, uploadIntervalMs: 60_000, resolutionMs: 15_000, profile: 'lan' as const },
    };
    expect(uploadAnswerDigest(reordered)).toBe(digest);
    // An absent desired version and an undefined one are the same answer.
    expect(uploadAnswerDigest({ ...LAN, desiredVersion: undefined })).toBe(digest);
  });

  it.each([
    ['the profile', { ...LAN, telemetry: { ...LAN.telemetry, profile: 'metered' as const } }],
    ['the resolution', { ...LAN, telemetry: { ...LAN.telemetry, resolutionMs: 1_000 } }],
    ['the upload interval', { ...LAN, telemetry: { ...LAN.telemetry, uploadIntervalMs: 1_000 } }],
    ['folding heartbeats', { ...LAN, telemetry: { ...LAN.telemetry, foldHeartbeats: true } }],
    ['the heartbeat interval', { ...LAN, heartbeatIntervalSeconds: 30 }],
    ['the desired version', { ...LAN, desiredVersion: 'v2' }],
  ])('changes with %s', (_what, changed) => {
    expect(uploadAnswerDigest(changed)).not.toBe(uploadAnswerDigest(LAN));
  });
});
