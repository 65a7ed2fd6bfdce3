import { describe, expect, it } from 'vitest';
import { requestKindOf } from '../src/request-timer.js';

// bench:fleet splits its p99 by these kinds, so a slow tail says whose it is.
describe('requestKindOf: what an agent request was for', () => {
  it.each([
    ['/v1/agent/status', 'heartbeat'],
    ['/v1/agent/status?known=0123456789abcdef', 'heartbeat'],
    ['/v1/agent/desired?wait=0', 'desired'],
    ['/v1/agent/telemetry?known=0123456789abcdef', 'telemetry'],
    ['/v1/agent/logs', 'logs'],
    ['/v1/artifacts/sha256:abc', 'artifact'],
    ['/v1/agent/renew', 'other'],
    ['/v1/agent/statusx', 'other'],
    [undefined, 'other'],
  ])('%s is %s', (path, kind) => {
    expect(requestKindOf(path)).toBe(kind);
  });
});
