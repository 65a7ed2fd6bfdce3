import { gzipSync } from 'node:zlib';
import { MemoryQueue } from '@edgefleet/queues';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LokiReceiver, startLokiReceiver } from '../../../../../test-support/loki-receiver.js';
import { type LokiEntry, LokiForwarder, type LokiForwarderOptions, lokiPushUrl } from '../../../src/telemetry/loki/push.js';

const HOUR = 3_600_000;
const NOW = Date.now();
const ns = (ms: number, extra = 0): string => (BigInt(ms) * 1_000_000n + BigInt(extra)).toString();
const app = { node: 'pi-1', site: 'depot', source: 'detector', stream: 'stdout' };
const agent = { node: 'pi-1', site: 'depot', source: 'agent', stream: 'agent' };
const entry = (labels: Record<string, string>, ms: number, line: string, extra = 0): LokiEntry => ({ labels, tsNs: ns(ms, extra), line });

describe('LokiForwarder against a receiver with Loki’s push rules', () => {
  let loki: LokiReceiver;
  let forwarder: LokiForwarder;
  let queue: MemoryQueue;
  let sleeps: number[];

  const make = (opts: Partial<LokiForwarderOptions> = {}): LokiForwarder => {
    forwarder = new LokiForwarder({
      url: loki.url,
      queue,
      log: pino({ level: 'silent' }),
      clock: () => NOW,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...opts,
    });
    return forwarder;
  };

  beforeEach(async () => {
    loki = await startLokiReceiver({ clock: () => NOW });
    queue = new MemoryQueue({ maxBytes: 16 * 1024 * 1024 });
    sleeps = [];
  });
  afterEach(async () => {
    await forwarder?.stop();
    queue.close();
    await loki.stop();
  });

  it('pushes gzip JSON, one stream per label set, each sorted by time, with the tenant header', async () => {
    make({ tenant: 'fleet-a' }).enqueue([
      entry(app, NOW - 1_000, 'second', 5),
      entry(agent, NOW - 500, 'agent line'),
      entry(app, NOW - 1_000, 'first'),
      entry(app, NOW - 2 * HOUR, 'two hours ago'),
    ]);
    forwarder.start();
    await forwarder.drained();
    expect(loki.pushes).toHaveLength(1);
    expect(loki.pushes[0]).toMatchObject({ status: 204, contentType: 'application/json', contentEncoding: 'gzip', tenant: 'fleet-a', accepted: 4 });
    expect(loki.accepted.map((e) => [e.labels.source, e.line])).toEqual([
      ['detector', 'two hours ago'],
      ['detector', 'first'],
      ['detector', 'second'],
      ['agent', 'agent line'],
    ]);
    expect(forwarder.stats()).toMatchObject({ sentRequests: 1, sentEntries: 4, droppedEntries: 0 });
  });

  it('keeps a stream in order across pushes when a batch is split', async () => {
    const lines = Array.from({ length: 7 }, (_, i) => entry(app, NOW - 10_000 + i, `line ${i}`));
    make({ maxEntriesPerRequest: 3 }).enqueue([...lines].reverse());
    forwarder.start();
    await forwarder.drained();
    expect(loki.pushes.map((p) => [p.status, p.accepted])).toEqual([
      [204, 3],
      [204, 3],
      [204, 1],
    ]);
    expect(loki.accepted.map((e) => e.line)).toEqual(lines.map((l) => l.line));
  });

  it('drops and counts a line more than an hour behind its stream’s newest, and sends the rest', async () => {
    make().enqueue([entry(app, NOW, 'now')]);
    forwarder.enqueue([entry(app, NOW - 2 * HOUR, 'stale'), entry(app, NOW - 30 * 60_000, 'half an hour late'), entry(agent, NOW - 2 * HOUR, 'other stream')]);
    forwarder.start();
    await forwarder.drained();
    expect(loki.pushes.map((p) => p.status)).toEqual([204, 204]);
    expect(loki.accepted.map((e) => e.line)).toEqual(['now', 'half an hour late', 'other stream']);
    expect(forwarder.stats().droppedEntriesByReason['out-of-order']).toBe(1);
    expect(forwarder.stats().droppedEntries).toBe(1);
  });

  it('drops and counts lines older than 7 days or too far in the future instead of making Loki refuse the push', async () => {
    make().enqueue([entry(app, NOW - 8 * 24 * HOUR, 'last week'), entry(app, NOW - 1_000, 'fresh'), entry(app, NOW + HOUR, 'from the future')]);
    forwarder.start();
    await forwarder.drained();
    expect(loki.pushes.map((p) => p.status)).toEqual([204]);
    expect(loki.accepted.map((e) => e.line)).toEqual(['fresh']);
    expect(forwarder.stats().droppedEntriesByReason).toMatchObject({ 'too-old': 1, 'too-new': 1, rejected: 0 });
  });

  it('retries 500 and 429 (honouring Retry-After) and delivers once', async () => {
    loki.failNext(500, 2);
    loki.failNext(429, 1, '3');
    make().enqueue([entry(app, NOW - 1_000, 'eventually')]);
    forwarder.start();
    await forwarder.drained();
    expect(loki.pushes.map((p) => p.status)).toEqual([500, 500, 429, 204]);
    expect(loki.accepted.map((e) => e.line)).toEqual(['eventually']);
    expect(sleeps[2]).toBe(3_000);
    expect(forwarder.stats()).toMatchObject({ retries: 3, sentEntries: 1, droppedEntries: 0 });
  });

  it('does not retry a 400: the push is dropped and counted, the next one goes', async () => {
    loki.failNext(400, 1);
    make().enqueue([entry(app, NOW - 2_000, 'refused'), entry(app, NOW - 1_500, 'refused too')]);
    forwarder.start();
    await forwarder.drained();
    forwarder.enqueue([entry(app, NOW - 1_000, 'accepted')]);
    await forwarder.drained();
    expect(loki.pushes.map((p) => p.status)).toEqual([400, 204]);
    expect(loki.accepted.map((e) => e.line)).toEqual(['accepted']);
    expect(forwarder.stats()).toMatchObject({ droppedRequests: 1, droppedEntries: 2, retries: 0 });
    expect(forwarder.stats().droppedEntriesByReason.rejected).toBe(2);
    expect(forwarder.stats().lastError).toContain('HTTP 400');
  });

  it('makes label names valid for Loki', async () => {
    make().enqueue([entry({ node: 'pi-1', 'ai.accelerator': 'hailo8', empty: '' }, NOW, 'x')]);
    forwarder.start();
    await forwarder.drained();
    expect(loki.accepted[0]?.labels).toEqual({ node: 'pi-1', ai_accelerator: 'hailo8' });
  });

  it('adds the push path to a base URL only', () => {
    expect(lokiPushUrl('http://loki:3100')).toBe('http://loki:3100/loki/api/v1/push');
    expect(lokiPushUrl('https://logs.example/custom/push')).toBe('https://logs.example/custom/push');
  });
});

describe('the test receiver refuses what Loki refuses', () => {
  let loki: LokiReceiver;
  beforeEach(async () => {
    loki = await startLokiReceiver();
  });
  afterEach(() => loki.stop());

  const post = (body: unknown, gzip = false): Promise<Response> =>
    fetch(loki.pushUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
      body: gzip ? gzipSync(JSON.stringify(body)) : JSON.stringify(body),
    });

  it.each([
    ['no streams', {}],
    ['a numeric timestamp', { streams: [{ stream: { a: 'b' }, values: [[Number(ns(NOW)), 'x']] }] }],
    ['a timestamp that is not digits', { streams: [{ stream: { a: 'b' }, values: [['1.5e18', 'x']] }] }],
    ['no labels', { streams: [{ stream: {}, values: [[ns(NOW), 'x']] }] }],
    ['an invalid label name', { streams: [{ stream: { 'a.b': 'c' }, values: [[ns(NOW), 'x']] }] }],
  ])('400 for %s', async (_what, body) => {
    const res = await post(body, true);
    expect(res.status).toBe(400);
    expect(loki.accepted).toHaveLength(0);
  });

  it('takes plain and gzip JSON, and within a push refuses only the entries too far behind, too old or too new', async () => {
    expect((await post({ streams: [{ stream: { a: 'b' }, values: [[ns(NOW), 'plain']] }] })).status).toBe(204);
    const res = await post(
      {
        streams: [
          {
            stream: { a: 'b' },
            values: [
              [ns(NOW - 2 * HOUR), 'behind'],
              [ns(NOW - 8 * 24 * HOUR), 'old'],
              [ns(NOW + HOUR), 'future'],
              [ns(NOW - 1_000), 'fine'],
            ],
          },
        ],
      },
      true,
    );
    expect(res.status).toBe(400);
    const message = await res.text();
    expect(message).toContain('entry too far behind');
    expect(message).toContain('timestamp too old');
    expect(message).toContain('timestamp too new');
    expect(loki.accepted.map((e) => e.line)).toEqual(['plain', 'fine']);
  });

  it('takes a push spanning hours when its values are sorted, not when they are not', async () => {
    const values = [0, 1, 2, 3].map((h) => [ns(NOW - (3 - h) * HOUR), `hour ${h}`]);
    expect((await post({ streams: [{ stream: { a: 'sorted' }, values }] })).status).toBe(204);
    expect((await post({ streams: [{ stream: { a: 'unsorted' }, values: [...values].reverse() }] })).status).toBe(400);
  });
});
