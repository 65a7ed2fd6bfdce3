import { describe, expect, it } from 'vitest';
import { isLoopback } from '../../../src/telemetry/metrics/http.js';

describe('local /metrics endpoint', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.20', false],
    ['edge-b50841.local', false],
  ])('isLoopback(%s) = %s', (host, loopback) => {
    expect(isLoopback(host)).toBe(loopback);
  });
});
