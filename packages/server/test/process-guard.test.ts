import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { type GuardedProcess, guardProcess } from '../src/process-guard.js';

/** A logger whose lines the test reads, and a process-shaped emitter whose exit is recorded. */
function setup(heap?: () => { used: number; limit: number }) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const exits: number[] = [];
  const emitter = new EventEmitter();
  const proc = Object.assign(emitter, { exit: (code: number) => exits.push(code) }) as unknown as GuardedProcess & EventEmitter;
  const stop = guardProcess(log, { proc, ...(heap === undefined ? {} : { heap, intervalMs: 5 }) });
  return { lines, exits, proc, stop };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('the server process guard', () => {
  it('logs an uncaught exception with its stack before exiting 1', async () => {
    const { lines, exits, proc, stop } = setup();
    proc.emit('uncaughtException', new Error('boom in a handler'), 'uncaughtException');
    await flush();
    stop();
    expect(exits).toEqual([1]);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 60,
        msg: expect.stringMatching(/exiting: uncaught exception: boom in a handler/),
        err: expect.objectContaining({ stack: expect.stringContaining('boom') }),
      }),
    );
  });

  it('logs an unhandled rejection and keeps the process running', async () => {
    const { lines, exits, proc, stop } = setup();
    proc.emit('unhandledRejection', new Error('nobody awaited me'));
    proc.emit('unhandledRejection', 'a string reason');
    await flush();
    stop();
    expect(exits).toEqual([]);
    expect(lines.map((l) => l.msg)).toEqual([
      'unhandled promise rejection (the server goes on): nobody awaited me',
      'unhandled promise rejection (the server goes on): a string reason',
    ]);
  });

  it('logs the exit code', async () => {
    const { lines, proc, stop } = setup();
    proc.emit('exit', 3);
    await flush();
    stop();
    expect(lines).toContainEqual(expect.objectContaining({ level: 50, code: 3, msg: 'the server process exits with code 3' }));
  });

  it('warns once when the heap nears its limit, and again only after it fell back', () => {
    vi.useFakeTimers();
    try {
      let used = 500;
      const { lines, stop } = setup(() => ({ used, limit: 1000 }));
      const warnings = () => lines.filter((l) => String(l.msg).includes('of its limit')).length;
      const sample = () => vi.advanceTimersByTime(5);
      sample();
      expect(warnings()).toBe(0);
      used = 900;
      sample();
      sample();
      expect(warnings()).toBe(1);
      used = 700;
      sample();
      used = 950;
      sample();
      stop();
      expect(warnings()).toBe(2);
      expect(lines.find((l) => String(l.msg).includes('of its limit'))).toMatchObject({
        level: 40,
        msg: expect.stringMatching(/heap is at 90 % of its limit/),
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it('removes its handlers when stopped', () => {
    const { proc, stop } = setup();
    stop();
    expect(proc.listenerCount('uncaughtException') + proc.listenerCount('unhandledRejection') + proc.listenerCount('exit')).toBe(0);
  });
});
