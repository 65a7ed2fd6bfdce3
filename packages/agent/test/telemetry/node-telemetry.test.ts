import { describe, expect, it } from 'vitest';
import { uploadRetryDelay } from '../../src/telemetry/node-telemetry.js';

describe('uploadRetryDelay', () => {
  it.each([
    // Full jitter: a draw of 0.5 is half the ceiling of 2 s · 2^failures.
    { name: 'the first failure draws up to 4 s', failures: 1, interval: 60_000, random: 0.5, delay: 2_000 },
    { name: 'it doubles', failures: 3, interval: 60_000, random: 0.5, delay: 8_000 },
    { name: 'never past the upload interval', failures: 8, interval: 60_000, random: 0.5, delay: 30_000 },
    { name: 'never past 2 s · 2^8 on a long interval', failures: 20, interval: 3_600_000, random: 0.5, delay: 256_000 },
    { name: 'may retry at once', failures: 4, interval: 60_000, random: 0, delay: 0 },
  ])('$name', ({ failures, interval, random, delay }) => {
    expect(uploadRetryDelay(failures, interval, () => random)).toBe(delay);
  });
});
