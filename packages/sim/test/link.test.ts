import { EdgefleetError } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { type LinkProfile, SimulatedLink } from '../src/link.js';
import { ManualClock, sequence } from './manual-clock.js';

const HEARTBEAT = { method: 'POST', path: '/v1/agent/status', bodyBytes: 256 };

function setup(profile: LinkProfile | undefined, random = sequence(0.5)) {
  const time = new ManualClock();
  let down: string | undefined;
  const link = new SimulatedLink({ random, sleep: time.sleep, down: () => down, profile: () => profile, artifactBytes: 1_000_000 });
  return {
    time,
    link,
    setDown: (reason: string | undefined) => {
      down = reason;
    },
  };
}

/** Settles `p`, recording when (on the manual clock) it did. */
function track(p: Promise<void>, time: ManualClock): { done: boolean; at: number | undefined; error: Error | undefined } {
  const t = { done: false, at: undefined as number | undefined, error: undefined as Error | undefined };
  p.then(
    () => {
      t.done = true;
      t.at = time.now;
    },
    (e: Error) => {
      t.done = true;
      t.at = time.now;
      t.error = e;
    },
  );
  return t;
}

describe('simulated link', () => {
  it('passes requests at once on a clean LAN', async () => {
    const { link } = setup(undefined);
    await expect(link.beforeRequest(HEARTBEAT)).resolves.toBeUndefined();
  });

  it('refuses every request while the node or its site is offline', async () => {
    const { link, setDown } = setup(undefined);
    setDown('site-03 is cut off');
    await expect(link.beforeRequest(HEARTBEAT)).rejects.toThrow('no route to the server: site-03 is cut off (simulated)');
    expect(link.refused).toBe(1);
    setDown(undefined);
    await expect(link.beforeRequest(HEARTBEAT)).resolves.toBeUndefined();
  });

  it('waits the latency (with jitter) on the injected clock', async () => {
    // random 0.75 → jitter +50 % of 20 ms: 80 + 10 = 90 ms.
    const { time, link } = setup({ latencyMs: 80, jitterMs: 20, loss: 0, bandwidthBytesPerSecond: undefined }, sequence(0.75));
    const t = track(link.beforeRequest(HEARTBEAT), time);
    await time.advance(89);
    expect(t.done).toBe(false);
    await time.advance(1);
    expect(t).toMatchObject({ done: true, at: 90, error: undefined });
  });

  it('charges the transfer at the link’s bandwidth: the body, or a nominal model for a download', async () => {
    const { time, link } = setup({ latencyMs: 0, jitterMs: 0, loss: 0, bandwidthBytesPerSecond: 100_000 });
    const upload = track(link.beforeRequest({ method: 'POST', path: '/v1/agent/telemetry', bodyBytes: 50_000 }), time);
    const download = track(link.beforeRequest({ method: 'GET', path: `/v1/artifacts/sha256:${'a'.repeat(64)}`, bodyBytes: 0 }), time);
    await time.advance(20_000);
    expect(upload.at).toBe(500);
    expect(download.at).toBe(10_000);
  });

  it('loses the given share of requests', async () => {
    let s = 7;
    const random = (): number => {
      s = (s * 16807) % 2147483647;
      return s / 2147483647;
    };
    const { link } = setup({ latencyMs: 0, jitterMs: 0, loss: 0.2, bandwidthBytesPerSecond: undefined }, random);
    const results = await Promise.allSettled(Array.from({ length: 2_000 }, () => link.beforeRequest(HEARTBEAT)));
    const lost = results.filter((r) => r.status === 'rejected').length;
    expect(lost).toBe(link.lost);
    expect(lost).toBeGreaterThan(320);
    expect(lost).toBeLessThan(480);
  });

  it('fails a request whose link went down while it was on its way, and one caught by a power cut', async () => {
    const { time, link, setDown } = setup({ latencyMs: 100, jitterMs: 0, loss: 0, bandwidthBytesPerSecond: undefined });
    const a = track(link.beforeRequest(HEARTBEAT), time);
    setDown('node is offline');
    await time.advance(100);
    expect(a.error?.message).toMatch(/no route/);
    setDown(undefined);
    const b = track(link.beforeRequest(HEARTBEAT), time);
    link.powerCut();
    await time.advance(0);
    expect(b.error?.message).toBe('the node lost power (simulated)');
    expect(b.at).toBe(100);
    // The next boot's requests go through.
    const c = track(link.beforeRequest(HEARTBEAT), time);
    await time.advance(100);
    expect(c).toMatchObject({ done: true, error: undefined });
  });

  it('reaches the agent’s client as an unreachable server', async () => {
    const { link, setDown } = setup(undefined);
    setDown('site-01 is cut off');
    const client = new EdgefleetClient({ server: 'https://127.0.0.1:9', network: link });
    const err = await client.serverInfo().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgefleetError);
    expect((err as EdgefleetError).code).toBe('unreachable');
    expect((err as EdgefleetError).message).toMatch(/site-01 is cut off/);
    await client.close();
  });
});
