import type { HardwareFacts, StatusResponse, TelemetrySettings } from '@edgefleet/protocol';
import { uploadAnswerDigest } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { changedSince, digestsOf, Heartbeat } from '../../src/session/heartbeat.js';

describe('changedSince: what a heartbeat carries', () => {
  const facts = { board: { model: 'raspberrypi5' } } as unknown as HardwareFacts;
  const labels = { 'ai.accelerator': 'hailo8l' };
  const workloads = [{ deployment: 'detect', revision: 1, state: 'running' }] as never;
  const parts = { facts, labels, workloads };
  const now = digestsOf(facts, labels, workloads);

  it.each([
    ['nothing accepted yet (first report, or the hourly full one): everything', {}, ['facts', 'labels', 'workloads']],
    ['all accepted and unchanged: nothing', now, []],
    ['labels changed since: labels alone', { ...now, labels: digestsOf(facts, {}, workloads).labels }, ['labels']],
    ['facts and workloads changed since', { labels: now.labels, facts: 'old', workloads: 'old' }, ['facts', 'workloads']],
  ])('%s', (_what, accepted, expected) => {
    expect(Object.keys(changedSince(accepted, now, parts)).sort()).toEqual(expected);
  });

  it('digests by content, not identity', () => {
    expect(digestsOf({ ...facts }, { ...labels }, [...(workloads as unknown[])])).toEqual(now);
  });
});

describe('Heartbeat: the answers the node already holds (issue 18)', () => {
  /** The real heartbeat loop against a recording client; `answers` are what the server replies, in turn. */
  async function beats(answers: (StatusResponse | undefined)[]) {
    const sent: { known: string; settings: TelemetrySettings; intervalMs: number }[] = [];
    const settings: TelemetrySettings = { profile: 'lan', resolutionMs: 10_000, uploadIntervalMs: 60_000, foldHeartbeats: false };
    const telemetry = {
      settings,
      applySettings(next: TelemetrySettings) {
        telemetry.settings = next;
      },
    };
    const state = { heartbeatIntervalMs: 30_000, workloads: [], consecutiveFailures: 0 } as Record<string, unknown>;
    const stop = new AbortController();
    const heartbeat = new Heartbeat(
      { clock: () => 1_000, random: () => 0.5, log: { info() {}, warn() {}, error() {} }, state } as never,
      {
        session: {
          identity: { notBefore: 0, notAfter: 1e12 },
          followProfile() {},
          client: {
            async reportStatusHolding(_req: unknown, known: string) {
              sent.push({ known, settings: { ...telemetry.settings }, intervalMs: state.heartbeatIntervalMs as number });
              return answers.shift();
            },
          },
        },
        telemetry,
        observer: { observe: async () => ({ facts: {}, labels: {} }) },
        stats: { drain: () => [], restore() {} },
        wait: { wait: async () => (answers.length === 0 ? stop.abort() : undefined) },
      } as never,
    );
    await heartbeat.run(stop.signal);
    return { sent, state, telemetry };
  }

  it('sends the digest of the settings and interval it holds; a 204 keeps them, a full answer replaces them', async () => {
    const metered: TelemetrySettings = { profile: 'metered', resolutionMs: 60_000, uploadIntervalMs: 900_000, foldHeartbeats: false };
    const { sent, state, telemetry } = await beats([undefined, { heartbeatIntervalSeconds: 45, telemetry: metered } as StatusResponse, undefined]);
    expect(sent).toHaveLength(3);
    const held = (s: (typeof sent)[number]) => uploadAnswerDigest({ telemetry: s.settings, heartbeatIntervalSeconds: s.intervalMs / 1000 });
    // Every beat names exactly what the node held when it sent it.
    for (const s of sent) expect(s.known).toBe(held(s));
    // The 204 changed nothing; the full answer did, and the next beat says so.
    expect(sent[1]).toMatchObject({ known: sent[0]?.known, intervalMs: 30_000 });
    expect(sent[2]).toMatchObject({ intervalMs: 45_000, settings: metered });
    expect(sent[2]?.known).not.toBe(sent[0]?.known);
    expect(state.heartbeatIntervalMs).toBe(45_000);
    expect(telemetry.settings).toEqual(metered);
  });
});
