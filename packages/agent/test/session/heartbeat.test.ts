import type { HardwareFacts } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { changedSince, digestsOf } from '../../src/session/heartbeat.js';

describe('changedSince: what a heartbeat carries', () => {
  const facts = { board: { model: 'raspberrypi5' } } as unknown as HardwareFacts;
  const labels = { 'ai.accelerator': 'hailo8l' };
  const workloads = [{ deployment: 'detect', revision: 1, state: 'running' }] as never;
  const parts = { facts, labels, workloads };
  const now = digestsOf(facts, labels, workloads);

  it.each([
    ['nothing accepted yet (first report, or the hourly full one): everything', {}, ['facts', 'labels', 'workloads']],
    ['all accepted and unchanged: nothing', now, []],
    ['labels changed since: labels alone', { ...now, labels: digestsOf(facts, {}, workloads).labels }, ['labels']],
    ['facts and workloads changed since', { labels: now.labels, facts: 'old', workloads: 'old' }, ['facts', 'workloads']],
  ])('%s', (_what, accepted, expected) => {
    expect(Object.keys(changedSince(accepted, now, parts)).sort()).toEqual(expected);
  });

  it('digests by content, not identity', () => {
    expect(digestsOf({ ...facts }, { ...labels }, [...(workloads as unknown[])])).toEqual(now);
  });
});
