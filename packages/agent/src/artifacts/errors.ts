import { type EdgefleetError, errors } from '@edgefleet/protocol';

/**
 * The artifact errors the agent reports. Their codes are stable: the agent maps
 * `digest_mismatch` to the workload state `verification-failed`, and `disk_full` to a
 * status message while it retries later.
 */

/** The downloaded bytes do not hash to the digest they were asked for. */
export function digestMismatchError(digest: string, actualHex: string, bytes: number): EdgefleetError {
  return errors.digestMismatch(
    `artifact ${digest} failed verification: the ${bytes} bytes received hash to sha256:${actualHex}`,
    'the server, or something between it and this node, served other bytes; the partial download was deleted, so the next attempt starts over',
  );
}

/** True for the errors a full disk (or an exhausted quota) raises. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** A download stopped because the disk is full; the partial has been deleted. */
export function diskFullError(digest: string, root: string, cause: unknown): EdgefleetError {
  return errors.diskFull(
    `no space left to download artifact ${digest} into ${root}`,
    `free space on the file system that holds ${root} (old artifacts go at the next garbage collection); the agent retries the download later`,
    { cause },
  );
}
