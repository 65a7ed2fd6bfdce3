import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { LogEntry } from '@edgefleet/protocol';
import { MemoryQueue, SegmentQueue } from '@edgefleet/queues';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeLogQueueRecord, LogCollector, type LogCollectorOptions } from '../../../src/telemetry/logs/collector.js';
import { logCollectorDestination } from '../../../src/telemetry/logs/pino-destination.js';
import { LogSampler } from '../../../src/telemetry/logs/sample.js';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

function collector(opts: Partial<LogCollectorOptions> & { burst?: number } = {}) {
  const clock = { now: T0 };
  const queue = opts.queue ?? new MemoryQueue({ maxBytes: 16 * 1024 * 1024 });
  const c = new LogCollector({
    queue,
    clock: () => clock.now,
    sampler: opts.sampler ?? new LogSampler({ burst: opts.burst ?? 10_000, ratePerSecond: 5, clock: () => clock.now }),
    ...opts,
  });
  /** Every entry in the queue, oldest first. */
  const entries = (): LogEntry[] => {
    c.flush();
    return queue.peek(Number.MAX_SAFE_INTEGER).flatMap((r) => decodeLogQueueRecord(r.data)?.entries ?? []);
  };
  return { c, queue, clock, entries };
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('LogCollector: lines from workload output', () => {
  it('joins lines split across chunks and keeps the partial last line until its newline', () => {
    const { c, entries } = collector();
    c.workloadOutput('detector', 3, 'stdout', 'model lo');
    c.workloadOutput('detector', 3, 'stdout', 'aded\nserving on :80');
    expect(entries().map((e) => e.line)).toEqual(['model loaded']);
    c.workloadOutput('detector', 3, 'stdout', '00\r\nready\r');
    c.workloadOutput('detector', 3, 'stdout', '\nprogress 10%\rprogress 20%\r');
    expect(entries().map((e) => e.line)).toEqual(['model loaded', 'serving on :8000', 'ready', 'progress 10%', 'progress 20%']);
  });

  it('keeps a UTF-8 character whole when a chunk boundary cuts through it', () => {
    const { c, entries } = collector();
    const bytes = Buffer.from('température 61 °C ✓\n', 'utf8');
    for (let i = 0; i < bytes.length; i += 3) c.workloadOutput('detector', 1, 'stdout', bytes.subarray(i, i + 3));
    expect(entries().map((e) => e.line)).toEqual(['température 61 °C ✓']);
  });

  it('keeps separate partial lines per deployment, revision and stream', () => {
    const { c, entries } = collector();
    c.workloadOutput('detector', 1, 'stdout', 'out-a ');
    c.workloadOutput('detector', 1, 'stderr', 'err-a ');
    c.workloadOutput('detector', 2, 'stdout', 'new-revision\n');
    c.workloadOutput('detector', 1, 'stderr', 'end\n');
    c.workloadOutput('detector', 1, 'stdout', 'end\n');
    expect(entries().map((e) => [e.source, e.revision, e.stream, e.line])).toEqual([
      ['detector', 2, 'stdout', 'new-revision'],
      ['detector', 1, 'stderr', 'err-a end'],
      ['detector', 1, 'stdout', 'out-a end'],
    ]);
  });

  it('takes the unterminated last line when the stream ends', () => {
    const { c, entries } = collector();
    c.workloadOutput('detector', 1, 'stderr', 'Killed');
    expect(entries()).toEqual([]);
    c.endStream('detector', 1, 'stderr');
    expect(entries().map((e) => e.line)).toEqual(['Killed']);
  });

  it('stamps nanosecond timestamps that keep the order of lines within one millisecond, even when the clock steps back', () => {
    const { c, clock, entries } = collector();
    c.workloadOutput('detector', 1, 'stdout', 'a\nb\nc\n');
    clock.now += 1;
    c.workloadOutput('detector', 1, 'stdout', 'd\n');
    clock.now -= 5_000;
    c.workloadOutput('detector', 1, 'stdout', 'e\n');
    const ts = entries().map((e) => e.tsNs);
    const base = BigInt(T0) * 1_000_000n;
    expect(ts).toEqual([base, base + 1n, base + 2n, base + 1_000_000n, base + 1_000_001n].map(String));
  });

  it('levels the lines, keeping a whole traceback as errors even when info lines are being suppressed', () => {
    const { c, entries } = collector({ burst: 1 });
    c.workloadOutput(
      'detector',
      1,
      'stderr',
      [
        'INFO:     Started server process [1]',
        'INFO:     Waiting for application startup.',
        'Traceback (most recent call last):',
        '  File "/app/main.py", line 9, in <module>',
        '    import hailo_platform',
        "ModuleNotFoundError: No module named 'hailo_platform'",
        'WARNING: falling back to CPU',
        'plain chatter',
        '',
      ].join('\n'),
    );
    expect(entries().map((e) => [e.level, e.line])).toEqual([
      ['info', 'INFO:     Started server process [1]'],
      ['error', 'Traceback (most recent call last):'],
      ['error', '  File "/app/main.py", line 9, in <module>'],
      ['error', '    import hailo_platform'],
      ['error', "ModuleNotFoundError: No module named 'hailo_platform'"],
      ['warn', 'WARNING: falling back to CPU'],
    ]);
  });

  it('writes a workload line with an e-mail address and a bearer token to the disk queue scrubbed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefleet-logs-'));
    dirs.push(dir);
    const queue = SegmentQueue.open({ dir, maxBytes: 1024 * 1024 });
    const { c } = collector({ queue });
    c.workloadOutput('detector', 7, 'stdout', 'notify ops@example.com with header "Authorization: Bearer sk-9f8e7d6c5b4a39281706"\n');
    const batch = c.readBatch(100);
    queue.close();
    expect(batch?.entries).toEqual([
      {
        tsNs: `${T0}000000`,
        source: 'detector',
        revision: 7,
        stream: 'stdout',
        level: 'info',
        line: 'notify [email] with header "Authorization: Bearer [bearer]"',
      },
    ]);
    const onDisk = readdirSync(dir)
      .map((f) => readFileSync(join(dir, f), 'latin1'))
      .join('');
    expect(onDisk).toContain('[bearer]');
    expect(onDisk).not.toContain('ops@example.com');
    expect(onDisk).not.toContain('sk-9f8e7d6c5b4a39281706');
  });

  it('hides a private key printed line by line, and goes on after its END line', () => {
    const { c, entries } = collector();
    c.workloadOutput(
      'detector',
      1,
      'stdout',
      [
        'writing key:',
        '-----BEGIN RSA PRIVATE KEY-----',
        'Proc-Type: 4,ENCRYPTED',
        'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun',
        'VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK',
        'LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo',
        '-----END RSA PRIVATE KEY-----',
        'key written',
        '',
      ].join('\n'),
    );
    expect(entries().map((e) => e.line)).toEqual(['writing key:', '[private-key]', 'key written']);
  });

  it('cuts a long line at maxLineBytes with a marker saying how much was cut', () => {
    const { c, entries } = collector({ maxLineBytes: 1024 });
    c.workloadOutput('detector', 1, 'stdout', `${'é'.repeat(3000)}\nshort\n`);
    const [long, short] = entries();
    expect(Buffer.byteLength(long?.line ?? '')).toBeLessThanOrEqual(1024);
    const m = /^(é+)…\[truncated (\d+) bytes\]$/.exec(long?.line ?? '');
    expect(m).not.toBeNull();
    // Cut at a character boundary, and the numbers add up to the original 6,000 bytes.
    expect(Buffer.byteLength(m?.[1] ?? '') + Number(m?.[2])).toBe(6000);
    expect(short?.line).toBe('short');
    expect(c.stats().truncatedLines).toBe(1);
  });

  it('emits a never-ending line cut once and discards the rest of it up to its newline', () => {
    const { c, entries } = collector({ maxLineBytes: 1024 });
    for (let i = 0; i < 100; i++) c.workloadOutput('detector', 1, 'stdout', 'x'.repeat(1000));
    c.workloadOutput('detector', 1, 'stdout', 'yyy\nnext line\n');
    const lines = entries().map((e) => e.line);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^x+…\[truncated \d+ bytes\]$/);
    expect(Buffer.byteLength(lines[0] as string)).toBeLessThanOrEqual(1024);
    expect(lines[1]).toBe('next line');
  });
});

describe('LogCollector: the queue and the batches it feeds', () => {
  it('reads many lines into one batch in order, with the sampler counts, and removes them on ack', () => {
    const { c, queue } = collector({ burst: 3 });
    for (let i = 0; i < 10; i++) c.workloadOutput('detector', 1, 'stdout', `frame ${i}\n`);
    c.workloadOutput('detector', 1, 'stderr', 'ERROR camera lost\n');
    const batch = c.readBatch(1000);
    expect(batch?.entries.map((e) => e.line)).toEqual(['frame 0', 'frame 1', 'frame 2', 'ERROR camera lost']);
    expect(batch?.suppressed).toEqual([{ source: 'detector', stream: 'stdout', count: 7 }]);
    expect(batch?.dropped).toBeUndefined();
    c.ack(batch?.lastId as number);
    expect(queue.stats().records).toBe(0);
    expect(c.readBatch(1000)).toBeUndefined();
  });

  it('reports lines the full queue dropped as a running total, exact in lines', () => {
    const queue = new MemoryQueue({ maxBytes: 4096 });
    const { c } = collector({ queue });
    for (let i = 0; i < 200; i++) c.workloadOutput('detector', 1, 'stdout', `line ${String(i).padStart(3, '0')}\n`);
    const batch = c.readBatch(1000);
    const kept = batch?.entries.length ?? 0;
    expect(batch?.dropped).toEqual({ 'queue-full': 200 - kept });
    expect(batch?.entries.at(-1)?.line).toBe('line 199');
    expect(batch?.entries[0]?.line).toBe(`line ${String(200 - kept).padStart(3, '0')}`);
  });

  it('counts lines the queue refused instead of throwing at the workload', () => {
    const queue = new MemoryQueue({ maxBytes: 200 });
    const { c } = collector({ queue });
    c.workloadOutput('detector', 1, 'stdout', `${'z'.repeat(500)}\n`);
    c.flush();
    expect(c.stats().writeFailedLines).toBe(1);
    expect(c.lastWriteError?.message).toMatch(/larger than the whole queue/);
    c.workloadOutput('detector', 1, 'stdout', 'ok\n');
    expect(c.readBatch(10)?.entries.map((e) => e.line)).toEqual(['ok']);
    expect(c.lastWriteError).toBeUndefined();
  });

  it('flushes on its own once batchLines entries are pending', () => {
    const { c, queue } = collector({ batchLines: 5 });
    c.workloadOutput('detector', 1, 'stdout', 'a\nb\nc\nd\n');
    expect(queue.stats().records).toBe(0);
    c.workloadOutput('detector', 1, 'stdout', 'e\n');
    expect(queue.stats().records).toBe(5);
  });
});

describe('the agent’s own lines', () => {
  it('takes pino lines through a multistream destination, scrubbed, and passes them on unchanged', async () => {
    const { c, entries } = collector();
    const terminal = new PassThrough();
    const printed: string[] = [];
    terminal.on('data', (d: Buffer) => printed.push(d.toString()));
    const log = pino({ base: undefined, timestamp: false }, pino.multistream([{ stream: logCollectorDestination(c, terminal) }]));
    log.info({ password: 'hunter2', peer: '192.168.1.20' }, 'enrolled');
    log.warn('queue 85% full');
    const got = entries();
    expect(got.map((e) => [e.source, e.stream, e.revision, e.level])).toEqual([
      ['agent', 'agent', undefined, 'info'],
      ['agent', 'agent', undefined, 'warn'],
    ]);
    expect(JSON.parse(got[0]?.line ?? '')).toEqual({ level: 30, password: '[secret]', peer: '[ipv4]', msg: 'enrolled' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(printed.join('')).toContain('"password":"hunter2"');
  });

  it('takes objects and strings directly', () => {
    const { c, entries } = collector();
    c.agentLine({ level: 50, msg: 'upload failed', err: 'ECONNRESET' });
    c.agentLine('{"level":20,"msg":"tick"}\n');
    expect(entries().map((e) => [e.level, e.line])).toEqual([
      ['error', '{"level":50,"msg":"upload failed","err":"ECONNRESET"}'],
      ['debug', '{"level":20,"msg":"tick"}'],
    ]);
  });
});
