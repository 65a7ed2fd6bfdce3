/** Commander helper for repeatable options: `--label a=1 --label b=2`. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * Runs `work` with `stop` called on SIGINT or SIGTERM, the way every long-running command
 * ends cleanly; the handlers go when `work` settles, so a second command in the same process
 * (the tests) does not inherit them.
 */
export async function untilSignalled<T>(stop: () => void, work: () => Promise<T>): Promise<T> {
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await work();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
