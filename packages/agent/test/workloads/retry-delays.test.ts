import { describe, expect, it } from 'vitest';
import type { ImageFailureReason } from '../../src/images/types.js';
import { downloadRetryDelayMs, imageRetryDelayMs, primaryRetryDelayMs, restartDelayMs } from '../../src/workloads/retry-delays.js';

// The formulas these replaced, written out once more: the move to protocol's backoffDelay
// (jitter 'none') must not change a single delay.
const before = {
  restart: (n: number) => Math.min(60_000, 1_000 * 2 ** Math.max(0, n - 1)),
  primary: (n: number, threshold: number) => Math.min(600_000, 30_000 * 2 ** Math.max(0, n - threshold)),
  download: (n: number, tampered: boolean) => Math.min(300_000, (tampered ? 30_000 : 2_000) * 2 ** (n - 1)),
  image: (n: number, reason: ImageFailureReason) => {
    const base = reason === 'platform-unavailable' ? 3_600_000 : reason === 'image-pull-failed' ? 2_000 : 30_000;
    return Math.min(reason === 'platform-unavailable' ? 3_600_000 : 300_000, base * 2 ** (n - 1));
  },
};
const counts = Array.from({ length: 40 }, (_, i) => i + 1);
const reasons: ImageFailureReason[] = ['image-pull-failed', 'digest-mismatch', 'image-signature-invalid', 'platform-unavailable'];

describe('workload retry delays', () => {
  it.each([
    [1, 1_000],
    [2, 2_000],
    [4, 8_000],
    [7, 60_000],
    [30, 60_000],
  ])('restart %d waits %d ms', (n, ms) => expect(restartDelayMs(n)).toBe(ms));

  it.each([
    [1, 3, 30_000],
    [3, 3, 30_000],
    [4, 3, 60_000],
    [8, 3, 600_000],
    [2, 1, 60_000],
  ])('primary failure %d (threshold %d) waits %d ms', (n, threshold, ms) => expect(primaryRetryDelayMs(n, threshold)).toBe(ms));

  it.each([
    [1, 'image-pull-failed', 2_000],
    [9, 'image-pull-failed', 300_000],
    [1, 'digest-mismatch', 30_000],
    [2, 'image-signature-invalid', 60_000],
    [1, 'platform-unavailable', 3_600_000],
    [5, 'platform-unavailable', 3_600_000],
  ] as const)('image failure %d (%s) waits %d ms', (n, reason, ms) => expect(imageRetryDelayMs(n, reason)).toBe(ms));

  it('equals the hand-written formulas they replaced, for every count', () => {
    for (const n of counts) {
      expect(restartDelayMs(n)).toBe(before.restart(n));
      for (const threshold of [1, 3, 5]) expect(primaryRetryDelayMs(n, threshold)).toBe(before.primary(n, threshold));
      for (const tampered of [false, true]) expect(downloadRetryDelayMs(n, tampered)).toBe(before.download(n, tampered));
      for (const reason of reasons) expect(imageRetryDelayMs(n, reason)).toBe(before.image(n, reason));
    }
  });
});
