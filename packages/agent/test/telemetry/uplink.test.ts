import type { TelemetryUploadResponse } from '@edgefleet/protocol';
import { type EdgefleetClient, type UploadAnswerPart, type UploadOptions, uploadAnswerDigest } from '@edgefleet/protocol/node';
import { MemoryQueue } from '@edgefleet/queues';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Uplink } from '../../src/telemetry/uplink.js';

const LAN: UploadAnswerPart = {
  telemetry: { profile: 'lan', resolutionMs: 15_000, uploadIntervalMs: 60_000, foldHeartbeats: false },
  heartbeatIntervalSeconds: 60,
};

/** An uplink over a client that answers each upload from `answer` and records the options it got. */
function uplinkWith(answer: (opts: UploadOptions) => TelemetryUploadResponse | undefined, held: (() => UploadAnswerPart | undefined) | undefined) {
  const sent: UploadOptions[] = [];
  const client = {
    async uploadTelemetry(_batch: Uint8Array, opts: UploadOptions = {}) {
      sent.push(opts);
      return answer(opts);
    },
  } as unknown as EdgefleetClient;
  const responses: TelemetryUploadResponse[] = [];
  const uplink = new Uplink({
    metricsQueue: new MemoryQueue({ maxBytes: 1024 * 1024 }),
    logs: { readBatch: () => undefined, ack: () => {} },
    streams: { metrics: 'm', logs: 'l' },
    client: () => client,
    clock: () => 1_000_000,
    random: () => 0.5,
    sleep: async () => {},
    log: pino({ level: 'silent' }),
    ...(held === undefined ? {} : { held }),
    onResponse: (res) => responses.push(res),
  });
  const upload = async (): Promise<void> => {
    uplink.enqueueMetrics([{ kind: 'gauge', name: 'edgefleet_node_temperature_celsius', labels: {}, points: [{ t: 1, min: 1, max: 1, last: 1 }] }], 15_000, []);
    expect(await uplink.drain(new AbortController().signal)).toEqual({ delivered: 1, done: true });
  };
  return { sent, responses, upload };
}

describe('Uplink: the answer the node holds', () => {
  it('sends the digest of what the node holds, taken at each send, and takes a 204 as nothing new', async () => {
    let held = LAN;
    const { sent, responses, upload } = uplinkWith(
      () => undefined,
      () => held,
    );
    await upload();
    held = { ...LAN, heartbeatIntervalSeconds: 30 };
    await upload();
    expect(sent.map((o) => o.known)).toEqual([uploadAnswerDigest(LAN), uploadAnswerDigest(held)]);
    // A 204 carries nothing to apply.
    expect(responses).toEqual([]);
  });

  it('hands on a full answer, and sends no digest when it holds nothing (the old answer every time)', async () => {
    const full = { accepted: true, rejected: [], ...LAN } as TelemetryUploadResponse;
    const { sent, responses, upload } = uplinkWith(() => full, undefined);
    await upload();
    expect(sent[0]?.known).toBeUndefined();
    expect(responses).toEqual([full]);
  });
});
