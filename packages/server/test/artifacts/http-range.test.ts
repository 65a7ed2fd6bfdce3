import { describe, expect, it } from 'vitest';
import { type ArtifactResponsePlan, type ConditionalHeaders, parseRange, planArtifactResponse } from '../../src/artifacts/http-range.js';

const ETAG = `"sha256:${'ab'.repeat(32)}"`;
const OTHER = `"sha256:${'cd'.repeat(32)}"`;

describe('parseRange', () => {
  const size = 1000;
  it.each([
    [undefined, { kind: 'none' }],
    ['bytes=0-', { kind: 'range', start: 0, end: 999 }],
    ['bytes=500-', { kind: 'range', start: 500, end: 999 }],
    ['bytes=999-', { kind: 'range', start: 999, end: 999 }],
    ['bytes=10-19', { kind: 'range', start: 10, end: 19 }],
    ['bytes=10-10', { kind: 'range', start: 10, end: 10 }],
    ['bytes=900-5000', { kind: 'range', start: 900, end: 999 }],
    ['bytes=-100', { kind: 'range', start: 900, end: 999 }],
    ['bytes=-5000', { kind: 'range', start: 0, end: 999 }],
    ['BYTES=1-2', { kind: 'range', start: 1, end: 2 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=1000-1200', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    // Not understood, so ignored: the whole artifact is served.
    ['bytes=20-10', { kind: 'none' }],
    ['bytes=0-1,5-6', { kind: 'none' }],
    ['items=0-1', { kind: 'none' }],
    ['bytes=-', { kind: 'none' }],
    ['bytes=a-b', { kind: 'none' }],
    ['bytes=1.5-', { kind: 'none' }],
    ['', { kind: 'none' }],
  ])('%s', (header, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  it('finds nothing satisfiable in an empty artifact', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-1', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});

describe('planArtifactResponse', () => {
  const cases: Array<[string, ConditionalHeaders, ArtifactResponsePlan]> = [
    ['no headers: the whole artifact', {}, { status: 200 }],
    ['a range', { range: 'bytes=100-' }, { status: 206, start: 100, end: 999 }],
    ['an unsatisfiable range', { range: 'bytes=5000-' }, { status: 416 }],
    ['If-None-Match with our tag', { ifNoneMatch: ETAG }, { status: 304 }],
    ['If-None-Match in a list, weak', { ifNoneMatch: `${OTHER}, W/${ETAG}` }, { status: 304 }],
    ['If-None-Match *', { ifNoneMatch: '*' }, { status: 304 }],
    ['If-None-Match with another tag', { ifNoneMatch: OTHER }, { status: 200 }],
    ['If-None-Match wins over Range', { ifNoneMatch: ETAG, range: 'bytes=0-9' }, { status: 304 }],
    ['If-None-Match misses, Range applies', { ifNoneMatch: OTHER, range: 'bytes=0-9' }, { status: 206, start: 0, end: 9 }],
    ['If-Range with our tag: the range', { range: 'bytes=-10', ifRange: ETAG }, { status: 206, start: 990, end: 999 }],
    ['If-Range with another tag: the whole artifact', { range: 'bytes=-10', ifRange: OTHER }, { status: 200 }],
    ['If-Range weak: never strong enough', { range: 'bytes=-10', ifRange: `W/${ETAG}` }, { status: 200 }],
    ['If-Range with a date: the whole artifact', { range: 'bytes=-10', ifRange: 'Wed, 21 Oct 2015 07:28:00 GMT' }, { status: 200 }],
    ['If-Range without Range', { ifRange: OTHER }, { status: 200 }],
    ['If-Range mismatch beats an unsatisfiable range', { range: 'bytes=5000-', ifRange: OTHER }, { status: 200 }],
  ];
  it.each(cases)('%s', (_name, headers, expected) => {
    expect(planArtifactResponse(headers, 1000, ETAG)).toEqual(expected);
  });
});
