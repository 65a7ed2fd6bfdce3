import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { MemoryQueue } from '@edgefleet/queues';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueServerCertificate } from '../../../src/pki/ca.js';
import { decodeWriteRequest } from '../../../src/telemetry/remote-write/encode.js';
import { RemoteWriteForwarder, type RemoteWriteForwarderOptions } from '../../../src/telemetry/remote-write/forwarder.js';
import type { PromSeries } from '../../../src/telemetry/remote-write/samples.js';

interface Received {
  headers: IncomingHttpHeaders;
  series: PromSeries[];
}

/** A remote_write target that answers from a script (then 200) and records every request. */
async function fakeTarget(
  script: { status: number; retryAfter?: string; body?: string }[] = [],
  tls?: { certPem: string; keyPem: string },
): Promise<{ url: string; requests: Received[]; accepted: Received[]; close(): Promise<void> }> {
  const requests: Received[] = [];
  const accepted: Received[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received = { headers: req.headers, series: decodeWriteRequest(Buffer.concat(chunks)) };
      requests.push(received);
      const answer = script.shift() ?? { status: 204 };
      if (answer.status < 300) accepted.push(received);
      if (answer.retryAfter !== undefined) res.setHeader('retry-after', answer.retryAfter);
      res.writeHead(answer.status).end(answer.body ?? '');
    });
  };
  const server: Server = tls === undefined ? createServer(handler) : createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`,
    requests,
    accepted,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const NOW = 1_767_225_600_000;
const series = (name: string, times: number[]): PromSeries => ({ labels: { __name__: name, node: 'pi-1' }, samples: times.map((t, i) => ({ t, v: i })) });

describe('RemoteWriteForwarder', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setup(
    script: { status: number; retryAfter?: string; body?: string }[] = [],
    opts: Partial<RemoteWriteForwarderOptions> & { queueBytes?: number } = {},
  ) {
    const target = await fakeTarget(script);
    const logs: { level: number; msg: string; body?: string }[] = [];
    const sleeps: number[] = [];
    const queue = new MemoryQueue({ maxBytes: opts.queueBytes ?? 64 * 1024 * 1024 });
    const forwarder = new RemoteWriteForwarder({
      url: target.url,
      queue,
      log: pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line)) }),
      clock: () => NOW,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      ...opts,
    });
    cleanup.push(
      target.close,
      async () => queue.close(),
      () => forwarder.stop(),
    );

    return { target, forwarder, logs, sleeps, queue };
  }

  it('POSTs a snappy protobuf with the remote_write 1.0 headers', async () => {
    const { target, forwarder } = await setup([], { headers: { Authorization: 'Bearer s3cret' } });
    forwarder.enqueue([series('up', [NOW - 1_000])]);
    forwarder.start();
    await forwarder.drained();
    const h = target.requests[0]?.headers;
    expect(h?.['content-encoding']).toBe('snappy');
    expect(h?.['content-type']).toBe('application/x-protobuf');
    expect(h?.['x-prometheus-remote-write-version']).toBe('0.1.0');
    expect(h?.['user-agent']).toMatch(/^edgefleet-server\//);
    expect(h?.authorization).toBe('Bearer s3cret');
    expect(target.requests[0]?.series).toEqual([series('up', [NOW - 1_000])]);
  });

  it('does not retry a 400: the request is dropped, counted and its answer logged once', async () => {
    const { target, forwarder, logs } = await setup([{ status: 400, body: 'out of order sample' }]);
    forwarder.enqueue([series('a', [NOW - 3_000, NOW - 2_000]), series('b', [NOW - 1_000])]);
    forwarder.start();
    await forwarder.drained();
    forwarder.enqueue([series('c', [NOW])]);
    await forwarder.drained();
    expect(target.requests).toHaveLength(2);
    expect(target.accepted.map((r) => r.series.map((s) => s.labels.__name__))).toEqual([['c']]);
    const stats = forwarder.stats();
    expect(stats).toMatchObject({ sentRequests: 1, sentSamples: 1, droppedRequests: 1, droppedSamples: 3, retries: 0 });
    expect(stats.droppedSamplesByReason.rejected).toBe(3);
    expect(stats.lastError).toContain('out of order sample');
    expect(logs.filter((l) => l.body === 'out of order sample')).toHaveLength(1);
  });

  it('retries a 503 and delivers exactly once when the target recovers', async () => {
    const { target, forwarder, sleeps } = await setup([{ status: 503 }]);
    forwarder.enqueue([series('a', [NOW - 1_000])]);
    forwarder.start();
    await forwarder.drained();
    expect(target.requests).toHaveLength(2);
    expect(target.accepted).toHaveLength(1);
    expect(forwarder.stats()).toMatchObject({ sentRequests: 1, sentSamples: 1, droppedSamples: 0, retries: 1 });
    expect(sleeps).toHaveLength(1);
  });

  it('waits as long as a 429 says in Retry-After', async () => {
    const { target, forwarder, sleeps } = await setup([{ status: 429, retryAfter: '7' }, { status: 429 }]);
    forwarder.enqueue([series('a', [NOW - 1_000])]);
    forwarder.start();
    await forwarder.drained();
    expect(target.accepted).toHaveLength(1);
    expect(sleeps[0]).toBe(7_000);
    // Without the header: the full-jitter backoff of a second failure in a row, up to 2 × 500 ms.
    expect(sleeps[1]).toBeGreaterThanOrEqual(0);
    expect(sleeps[1]).toBeLessThanOrEqual(1_000);
  });

  it('backs off exponentially up to the cap while the target is unreachable, then delivers', async () => {
    let calls = 0;
    const { target, forwarder, sleeps } = await setup([], {
      backoff: { initialMs: 100, maxMs: 400 },
      fetch: async (url, init) => {
        if (++calls <= 5) throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1' } });
        return globalThis.fetch(url, init);
      },
    });
    forwarder.enqueue([series('a', [NOW - 1_000])]);
    forwarder.start();
    await forwarder.drained();
    expect(target.accepted).toHaveLength(1);
    const steps = [100, 200, 400, 400, 400];
    expect(sleeps).toHaveLength(steps.length);
    sleeps.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThanOrEqual(steps[i] as number);
    });
    expect(forwarder.stats()).toMatchObject({ retries: 5, sentSamples: 1 });
    expect(forwarder.stats().lastError).toContain('ECONNREFUSED');
  });

  it('splits into requests of at most maxSamplesPerRequest, each series still in time order', async () => {
    const { target, forwarder } = await setup([], { maxSamplesPerRequest: 3 });
    const times = [NOW - 4_000, NOW - 3_000, NOW - 2_000, NOW - 1_000];
    forwarder.enqueue([series('a', times), series('b', times)]);
    forwarder.start();
    await forwarder.drained();
    const sizes = target.requests.map((r) => r.series.reduce((n, s) => n + s.samples.length, 0));
    expect(sizes).toEqual([3, 3, 2]);
    for (const name of ['a', 'b']) {
      const sent = target.requests.flatMap((r) => r.series.filter((s) => s.labels.__name__ === name).flatMap((s) => s.samples.map((p) => p.t)));
      expect(sent).toEqual(times);
    }
  });

  it('leaves out samples Prometheus would refuse the whole request for, and counts them', async () => {
    const { target, forwarder } = await setup();
    forwarder.enqueue([series('a', [NOW - 2_000, NOW - 1_000])]);
    // Same series: one sample not newer than what was queued, one older than an hour, one good.
    forwarder.enqueue([{ labels: { node: 'pi-1', __name__: 'a' }, samples: [{ t: NOW - 1_000, v: 9 }] }, series('a', [NOW - 3_600_001, NOW])]);
    forwarder.start();
    await forwarder.drained();
    const sent = target.accepted.flatMap((r) => r.series.flatMap((s) => s.samples.map((p) => p.t)));
    expect(sent).toEqual([NOW - 2_000, NOW - 1_000, NOW]);
    expect(forwarder.stats().droppedSamplesByReason).toEqual({ 'out-of-order': 1, 'too-old': 1, rejected: 0, 'queue-error': 0 });
    expect(forwarder.stats().droppedSamples).toBe(2);
  });

  it('queues while stopped and sends in order after start', async () => {
    const { target, forwarder } = await setup();
    forwarder.enqueue([series('a', [NOW - 2_000])]);
    forwarder.enqueue([series('a', [NOW - 1_000])]);
    expect(forwarder.stats().queue.records).toBe(2);
    forwarder.start();
    await forwarder.drained();
    expect(target.accepted.flatMap((r) => r.series.flatMap((s) => s.samples.map((p) => p.t)))).toEqual([NOW - 2_000, NOW - 1_000]);
  });

  it('keeps the newest requests when an outage outlasts the queue, and reports what the queue dropped', async () => {
    const { target, forwarder } = await setup([], { queueBytes: 400 });
    for (let i = 0; i < 10; i++) forwarder.enqueue([series(`m${i}`, [NOW - 1_000])]);
    const queued = forwarder.stats().queue;
    expect(queued.droppedRecords).toBeGreaterThan(0);
    forwarder.start();
    await forwarder.drained();
    const delivered = target.accepted.map((r) => r.series[0]?.labels.__name__);
    expect(delivered).toHaveLength(10 - queued.droppedRecords);
    expect(delivered.at(-1)).toBe('m9');
    expect(delivered[0]).toBe(`m${queued.droppedRecords}`);
  });

  it('sends to an https target it trusts through the given CA, and retries one it cannot verify', async () => {
    const ca = await createCertificateAuthority(new Date());
    const target = await fakeTarget([], await issueServerCertificate(ca, { dns: [], ips: ['127.0.0.1'] }, new Date()));
    cleanup.push(target.close);
    const make = (tls: { ca?: string }, sleep: () => Promise<void>) => {
      const queue = new MemoryQueue({ maxBytes: 1024 * 1024 });
      const forwarder = new RemoteWriteForwarder({ url: target.url, queue, log: pino({ level: 'silent' }), clock: () => NOW, tls, sleep });
      cleanup.push(
        async () => queue.close(),
        () => forwarder.stop(),
      );
      return forwarder;
    };
    const trusting = make({ ca: ca.certPem }, async () => {});
    trusting.enqueue([series('a', [NOW - 1_000])]);
    trusting.start();
    await trusting.drained();
    expect(target.accepted).toHaveLength(1);

    let failed: () => void = () => {};
    const firstRetry = new Promise<void>((resolve) => {
      failed = resolve;
    });
    const doubting = make({}, async () => failed());
    doubting.enqueue([series('b', [NOW - 1_000])]);
    doubting.start();
    await firstRetry;
    await doubting.stop();
    expect(target.requests).toHaveLength(1);
    expect(doubting.stats().lastError).toMatch(/certificate/i);
    expect(doubting.stats().queue.records).toBe(1);
  });
});
