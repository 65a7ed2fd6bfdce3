import { describe, expect, it } from 'vitest';
import { ago, bytes, celsius, details, ms, percent, plural, shortDigest } from '../src/format.js';
import { observe } from '../src/observations.js';

describe('formatting', () => {
  it('says how long ago in the largest whole unit', () => {
    const now = 1_000_000_000;
    expect(ago(null, now)).toBe('never');
    expect(ago(now - 500, now)).toBe('just now');
    expect(ago(now - 12_000, now)).toBe('12 s ago');
    expect(ago(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(ago(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(ago(now - 2 * 86_400_000, now)).toBe('2 d ago');
  });
  it('shortens digests but keeps short values whole', () => {
    expect(shortDigest(`sha256:${'ab'.repeat(32)}`)).toBe('sha256:abababab…abab');
    expect(shortDigest(null)).toBe('—');
  });
  it('writes numbers with units and a dash for missing ones', () => {
    expect(ms(0.42)).toBe('0.42 ms');
    expect(ms(12.34)).toBe('12.3 ms');
    expect(ms(1250.4)).toBe('1,250 ms');
    expect(ms(null)).toBe('—');
    expect(percent(0.015)).toBe('1.5 %');
    expect(celsius(51.26)).toBe('51.3 °C');
    expect(bytes(3 * 1024 * 1024)).toBe('3.0 MiB');
    expect(bytes(512)).toBe('512 B');
    expect(plural(1, 'node')).toBe('1 node');
    expect(plural(1200, 'node')).toBe('1,200 nodes');
  });
  it('writes audit details as key=value pairs with long values shortened', () => {
    expect(details({ name: 'edge-1', certSerial: 'a'.repeat(40), uses: 6, site: null })).toBe(`name=edge-1 certSerial=${'a'.repeat(16)}… uses=6 site=null`);
  });
});

describe('observed node metrics', () => {
  const sample = (name: string, t: number, value: number, labels: Record<string, string> = {}) => ({ name, labels, t, value });
  it('adds a sample only when it is newer than the last one seen, from the series with the fewest labels', () => {
    let h = observe(new Map(), [sample('temp', 1000, 99, { node: 'a', zone: 'x' }), sample('temp', 1000, 50, { node: 'a' })], ['temp']);
    h = observe(h, [sample('temp', 1000, 50)], ['temp']); // the same sample fetched again
    h = observe(h, [sample('temp', 2000, 51)], ['temp']);
    expect(h.get('temp')).toEqual({ times: [1000, 2000], values: [50, 51] });
  });
  it('returns the same map when nothing is new, and keeps at most `max` points', () => {
    const h = observe(new Map(), [sample('temp', 1000, 50)], ['temp']);
    expect(observe(h, [sample('temp', 1000, 50)], ['temp'])).toBe(h);
    let k = h;
    for (let i = 2; i <= 5; i++) k = observe(k, [sample('temp', i * 1000, i)], ['temp'], 3);
    expect(k.get('temp')?.times).toEqual([3000, 4000, 5000]);
  });
});
