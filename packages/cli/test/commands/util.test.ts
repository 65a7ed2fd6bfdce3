import { describe, expect, it } from 'vitest';
import { untilSignalled } from '../../src/commands/util.js';

describe('untilSignalled', () => {
  it('calls stop on SIGINT or SIGTERM while the work runs, and removes its handlers after', async () => {
    const before = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
    let stopped = 0;
    let finish: () => void = () => {};
    const running = untilSignalled(
      () => {
        stopped++;
        finish();
      },
      () =>
        new Promise<string>((resolve) => {
          finish = () => resolve('done');
        }),
    );
    expect(process.listenerCount('SIGINT')).toBe(before.int + 1);
    // Call the handler it added, not process.emit: other listeners must not run in a test.
    (process.listeners('SIGTERM').at(-1) as () => void)();
    expect(await running).toBe('done');
    expect(stopped).toBe(1);
    expect({ int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') }).toEqual(before);
  });

  it('removes its handlers when the work fails too', async () => {
    const before = process.listenerCount('SIGINT');
    await expect(
      untilSignalled(
        () => {},
        async () => Promise.reject(new Error('boom')),
      ),
    ).rejects.toThrow('boom');
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
