import { MemoryQueue } from '@edgefleet/queues';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DeliveryLoop, type FetchLike, frameRecord } from '../../../src/telemetry/remote-write/delivery.js';

/** A target that answers the scripted statuses in turn, then 204. */
function scripted(statuses: Array<{ status: number; retryAfter?: string } | 'unreachable'>): FetchLike {
  let call = 0;
  return async () => {
    const next = statuses[call++];
    if (next === 'unreachable') throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    const status = next?.status ?? 204;
    const retryAfter = next === undefined ? undefined : next.retryAfter;
    return { status, headers: { get: (name: string) => (name === 'retry-after' ? (retryAfter ?? null) : null) }, text: async () => '' };
  };
}

async function deliver(fetch: FetchLike, random: () => number): Promise<number[]> {
  const sleeps: number[] = [];
  const queue = new MemoryQueue({ maxBytes: 1 << 20 });
  queue.append(frameRecord(1, new Uint8Array([1, 2, 3])));
  const loop = new DeliveryLoop({
    target: 'remote_write',
    url: 'http://target.invalid/write',
    queue,
    log: pino({ level: 'silent' }),
    headers: {},
    fetch,
    backoff: { initialMs: 100, maxMs: 400 },
    clock: () => 0,
    random,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  loop.start();
  await loop.drained();
  await loop.stop();
  return sleeps;
}

describe('DeliveryLoop waits', () => {
  it("backs off with the fleet's full-jitter rule, capped at the target's maxMs", async () => {
    const down = scripted(['unreachable', 'unreachable', 'unreachable', { status: 503 }, { status: 429 }]);
    // A draw of 0.5 is half of each ceiling: 100, 200, 400, 400, 400 ms.
    expect(await deliver(down, () => 0.5)).toEqual([50, 100, 200, 200, 200]);
  });

  it('may retry at once: full jitter draws from zero', async () => {
    expect(await deliver(scripted(['unreachable']), () => 0)).toEqual([0]);
  });

  it("waits a target's Retry-After instead of the backoff", async () => {
    expect(await deliver(scripted([{ status: 429, retryAfter: '7' }]), () => 0.5)).toEqual([7_000]);
  });
});
