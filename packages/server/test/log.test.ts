import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createServerLogger } from '../src/log.js';

describe('createServerLogger', () => {
  it('scrubs secrets from every line it writes: message, fields and errors', async () => {
    let out = '';
    const log = createServerLogger(
      'info',
      new Writable({
        write(chunk, _enc, cb) {
          out += chunk.toString();
          cb();
        },
      }),
    );
    log.info({ headers: { authorization: 'Bearer abcdef.123456', cookie: 'sid=abc123' } }, 'request');
    log.warn('cloning with ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 failed');
    log.error({ err: new Error('bad key -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----') }, 'oops');
    await new Promise((r) => setImmediate(r));
    expect(out).not.toContain('abcdef.123456');
    expect(out).not.toContain('sid=abc123');
    expect(out).not.toContain('ghp_A1b2');
    expect(out).not.toContain('MHcCAQEEIB');
    expect(out).toContain('[github-token]');
    expect(out).toContain('[private-key]');
    // Still one JSON object a line.
    for (const line of out.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });
});
