/**
 * How long the node waits before retrying its own workload work: a crashed instance, a
 * crash-looping primary, an artifact download, an image. All of it is protocol's one
 * backoff rule without jitter (`jitter: 'none'`): these retries are local to one node (no
 * fleet retries in lockstep against them) and the planner must stay deterministic.
 */
import { backoffDelay } from '@edgefleet/protocol';
import type { ImageFailureReason } from '../images/types.js';

/** Self-healing restarts of a failed instance: 1 s, 2 s, 4 s … up to a minute. */
export function restartDelayMs(failures: number): number {
  return backoffDelay(failures - 1, { baseMs: 1_000, capMs: 60_000, jitter: 'none' });
}

/**
 * Trying a crash-looping primary again (the fallback serves meanwhile): 30 s once the
 * failures reach `threshold`, doubling up to 10 minutes.
 */
export function primaryRetryDelayMs(failures: number, threshold: number): number {
  return backoffDelay(failures - threshold, { baseMs: 30_000, capMs: 600_000, jitter: 'none' });
}

/** A failed download: 2 s doubling up to 5 minutes; a tampered artifact (digest mismatch) from 30 s. */
export function downloadRetryDelayMs(failures: number, tampered: boolean): number {
  return backoffDelay(failures - 1, { baseMs: tampered ? 30_000 : 2_000, capMs: 300_000, jitter: 'none' });
}

/**
 * Backoff per image failure reason. A missing platform will not appear (the planner serves
 * the fallback for good), so it waits an hour every time; bad content waits longer than a
 * network failure. Every reason must have an entry: a new reason, or a typo, does not compile.
 */
const IMAGE_RETRY = {
  'image-pull-failed': { baseMs: 2_000, capMs: 300_000 },
  'digest-mismatch': { baseMs: 30_000, capMs: 300_000 },
  'image-signature-invalid': { baseMs: 30_000, capMs: 300_000 },
  'platform-unavailable': { baseMs: 3_600_000, capMs: 3_600_000 },
} as const satisfies Record<ImageFailureReason, { baseMs: number; capMs: number }>;

/** Waiting before preparing an image again after its `failures`-th failure for `reason`. */
export function imageRetryDelayMs(failures: number, reason: ImageFailureReason): number {
  return backoffDelay(failures - 1, { ...IMAGE_RETRY[reason], jitter: 'none' });
}
