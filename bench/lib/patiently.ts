import { sleep } from '@edgefleet/protocol';

/**
 * An operator call that a busy server may refuse for a moment (429 while thousands of
 * simulated agents report, a timeout, a rollout not yet started): tried again for up to a
 * minute, each failure printed, so a bench measures the fleet instead of ending on a blip.
 */
export async function patiently<T>(what: string, call: () => Promise<T>, limitMs = 60_000): Promise<T> {
  const t0 = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (performance.now() - t0 > limitMs) throw err;
      console.log(`         (${what} failed, trying again: ${(err as Error).message})`);
      await sleep(Math.min(5_000, 500 * attempt));
    }
  }
}
