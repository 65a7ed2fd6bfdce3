import { describe, expect, it } from 'vitest';
import { parseContentRange, planArtifactResponse, type ResponsePlan } from '../../src/artifacts/response.js';

describe('planArtifactResponse', () => {
  const cases: Array<[string, number, Record<string, string | string[] | undefined>, number, ResponsePlan['action'], number | undefined]> = [
    ['200 from the start', 200, { 'content-length': '300' }, 0, 'restart', 300],
    ['200 to a Range request (Range ignored)', 200, { 'content-length': '300' }, 100, 'restart', 300],
    ['200 without a length', 200, {}, 0, 'restart', undefined],
    ['206 from our offset', 206, { 'content-range': 'bytes 100-299/300', 'content-length': '200' }, 100, 'append', 300],
    ['206 with an unknown total', 206, { 'content-range': 'bytes 100-299/*' }, 100, 'append', 300],
    ['206 as an array header', 206, { 'content-range': ['bytes 100-299/300'] }, 100, 'append', 300],
    ['206 from another offset', 206, { 'content-range': 'bytes 0-299/300' }, 100, 'discard-partial', undefined],
    ['206 without Content-Range', 206, {}, 100, 'discard-partial', undefined],
    ['416', 416, { 'content-range': 'bytes */300' }, 400, 'discard-partial', undefined],
    ['500', 500, {}, 0, 'retry', undefined],
    ['503', 503, {}, 100, 'retry', undefined],
    ['429', 429, {}, 0, 'retry', undefined],
    ['408', 408, {}, 0, 'retry', undefined],
    ['404', 404, {}, 0, 'fail', undefined],
    ['403', 403, {}, 0, 'fail', undefined],
    ['304', 304, {}, 0, 'fail', undefined],
  ];

  it.each(cases)('%s', (_name, status, headers, offset, action, total) => {
    const plan = planArtifactResponse(status, headers, offset);
    expect(plan.action).toBe(action);
    if (plan.action === 'append' || plan.action === 'restart') expect(plan.total).toBe(total);
  });
});

describe('parseContentRange', () => {
  it('reads satisfied byte ranges', () => {
    expect(parseContentRange('bytes 0-9/10')).toEqual({ start: 0, end: 9, total: 10 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9, total: undefined });
  });

  it('refuses anything else', () => {
    for (const value of [undefined, '', 'bytes */10', 'bytes 9-5/10', 'bytes 0-10/10', 'items 0-9/10', 'bytes 0-9/10, 20-29/30']) {
      expect(parseContentRange(value)).toBeUndefined();
    }
  });
});
