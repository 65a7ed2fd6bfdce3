import { sleep } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { WakeableSleep } from '../src/wakeable-sleep.js';

/** A sleep that never ends by itself: only an abort ends it, so the tests need no clock. */
const forever = (_ms: number, signal: AbortSignal): Promise<void> => sleep(2 ** 31 - 1, signal);

describe('a wakeable sleep', () => {
  it('ends early when woken', async () => {
    const wait = new WakeableSleep(forever);
    const done = wait.wait(60_000, new AbortController().signal);
    wait.wake();
    await expect(done).resolves.toBeUndefined();
  });

  it('ends when the loop is stopped', async () => {
    const stop = new AbortController();
    const done = new WakeableSleep(forever).wait(60_000, stop.signal);
    stop.abort();
    await expect(done).resolves.toBeUndefined();
  });

  it('does not start a wait once the loop was stopped (a stop during a beat, before the wait)', async () => {
    const stop = new AbortController();
    stop.abort();
    // The 'abort' event has already fired: a sleep started now would never be cut short
    // (at the retry cap, minutes during which the agent does not stop).
    const asked: number[] = [];
    await new WakeableSleep(async (ms, signal) => {
      asked.push(ms);
      await forever(ms, signal);
    }).wait(60_000, stop.signal);
    expect(asked).toEqual([]);
  });

  it('a wake with no wait running does not cut the next wait short', async () => {
    const seen: boolean[] = [];
    const wait = new WakeableSleep(async (_ms, signal) => {
      seen.push(signal.aborted);
    });
    wait.wake();
    await wait.wait(1_000, new AbortController().signal);
    expect(seen).toEqual([false]);
  });

  it('passes the wait on to the injected sleep', async () => {
    const asked: number[] = [];
    await new WakeableSleep(async (ms) => {
      asked.push(ms);
    }).wait(1_234, new AbortController().signal);
    expect(asked).toEqual([1_234]);
  });
});
