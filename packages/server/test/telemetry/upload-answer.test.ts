import type { StatusResponse, TelemetryUploadResponse } from '@edgefleet/protocol';
import { uploadAnswerDigest } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { answerIsUnchanged, statusIsUnchanged } from '../../src/telemetry/upload-answer.js';

const ANSWER = {
  accepted: true,
  telemetry: { profile: 'metered', resolutionMs: 300_000, uploadIntervalMs: 900_000, foldHeartbeats: true },
  heartbeatIntervalSeconds: 60,
  desiredVersion: 'v7',
} as TelemetryUploadResponse;
const HELD = uploadAnswerDigest(ANSWER);

describe('answerIsUnchanged', () => {
  it('is true when the node holds exactly what the answer says, replay or not', () => {
    expect(answerIsUnchanged(ANSWER, HELD)).toBe(true);
    expect(answerIsUnchanged({ ...ANSWER, accepted: false }, HELD)).toBe(true);
  });

  it('is false for a node that sends no digest (older agents get the full answer)', () => {
    expect(answerIsUnchanged(ANSWER, undefined)).toBe(false);
  });

  it('is false when the settings, interval or desired version changed since the node took them', () => {
    expect(answerIsUnchanged({ ...ANSWER, telemetry: { ...ANSWER.telemetry, uploadIntervalMs: 60_000 } }, HELD)).toBe(false);
    expect(answerIsUnchanged({ ...ANSWER, heartbeatIntervalSeconds: 30 }, HELD)).toBe(false);
    expect(answerIsUnchanged({ ...ANSWER, desiredVersion: 'v8' }, HELD)).toBe(false);
  });

  it('is false when series were rejected: the node must read why', () => {
    expect(answerIsUnchanged({ ...ANSWER, rejected: [{ series: 'x{}', reason: 'not yours' }] }, HELD)).toBe(false);
  });
});

describe('statusIsUnchanged', () => {
  const status: StatusResponse = {
    nodeId: 'n1',
    heartbeatIntervalSeconds: 60,
    certificateNotAfter: '2027-01-01T00:00:00.000Z',
    telemetry: { profile: 'lan', resolutionMs: 15_000, uploadIntervalMs: 60_000, foldHeartbeats: false },
  };
  const held = uploadAnswerDigest({ telemetry: status.telemetry as NonNullable<StatusResponse['telemetry']>, heartbeatIntervalSeconds: 60 });

  it('is true when the node holds the settings and interval, whatever the certificate and id say', () => {
    expect(statusIsUnchanged(status, held)).toBe(true);
    expect(statusIsUnchanged({ ...status, certificateNotAfter: '2028-01-01T00:00:00.000Z' }, held)).toBe(true);
  });

  it('is false without a digest, or when the settings or interval changed', () => {
    expect(statusIsUnchanged(status, undefined)).toBe(false);
    expect(statusIsUnchanged({ ...status, heartbeatIntervalSeconds: 30 }, held)).toBe(false);
    expect(
      statusIsUnchanged({ ...status, telemetry: { profile: 'metered', resolutionMs: 300_000, uploadIntervalMs: 900_000, foldHeartbeats: true } }, held),
    ).toBe(false);
  });
});
