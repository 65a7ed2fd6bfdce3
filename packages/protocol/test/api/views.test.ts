import { describe, expect, it } from 'vitest';
import { parseWatchEvent } from '../../src/api/views.js';

describe('watch events', () => {
  it('reads a known event with its schema', () => {
    expect(parseWatchEvent('hello', { pollMs: 1500, heartbeatMs: 15000, role: 'viewer' })).toEqual({
      kind: 'hello',
      data: { pollMs: 1500, heartbeatMs: 15000, role: 'viewer' },
    });
    expect(parseWatchEvent('nodes', { upserted: [], deleted: ['n1'] })).toEqual({ kind: 'nodes', data: { upserted: [], deleted: ['n1'] } });
  });

  it('skips an event name it does not know (a newer server), also inherited names', () => {
    expect(parseWatchEvent('gossip', {})).toBeUndefined();
    expect(parseWatchEvent('toString', {})).toBeUndefined();
  });

  it('refuses data that does not fit, naming the event', () => {
    expect(() => parseWatchEvent('hello', { pollMs: 'soon' })).toThrow(/^unexpected "hello" event from GET \/v1\/watch: /);
  });
});
