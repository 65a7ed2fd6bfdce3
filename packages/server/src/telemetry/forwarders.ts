import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { errors, type TelemetrySeries } from '@edgefleet/protocol';
import { SegmentQueue } from '@edgefleet/queues';
import type { Logger } from 'pino';
import type { ForwardTotalsRepository } from '../store/index.js';
import type { ForwardingTargets, LabelledLogLine, TelemetryForwarding } from './forwarding.js';
import { LokiForwarder, type LokiStats } from './loki/push.js';
import { RemoteWriteForwarder, type RemoteWriteStats } from './remote-write/forwarder.js';
import { CounterTotals, type PromSeries, toPromSeries, toPromSeriesShared } from './remote-write/samples.js';

/** Batches waiting for their shared totals at most; beyond, batches are dropped (and logged) rather than held in memory. */
const MAX_PENDING_BATCHES = 1_000;

/**
 * The configured remote_write and Loki targets, each with its own bounded disk queue under
 * `DATA/forward/`, so an outage of one target neither loses its data (up to the bound) nor
 * slows ingest or the other targets. Counters are converted to running totals once per
 * batch and the same series go to every target.
 *
 * With `sharedTotals` (server replicas on PostgreSQL) the running totals live in the
 * database: each batch advances them in one statement, so a node's counters stay one series
 * whichever replica received its batches. Batches are converted one after another, in the
 * order they arrived, so this replica queues each series' samples in the order of its totals.
 * Without it (one server), they are kept in memory.
 */
export class ExternalForwarding implements TelemetryForwarding {
  private readonly totals = new CounterTotals();
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private droppedBatches = 0;
  private readonly log: Logger;
  private readonly remoteWrite: RemoteWriteForwarder[] = [];
  private readonly loki: LokiForwarder[] = [];
  private readonly queues: SegmentQueue[] = [];

  constructor(
    dataDir: string,
    targets: ForwardingTargets,
    log: Logger,
    private readonly sharedTotals?: ForwardTotalsRepository,
    private readonly clock: () => number = Date.now,
  ) {
    this.log = log;
    const queueBytes = targets.queueBytes ?? 256 * 1024 * 1024;
    const queueFor = (kind: string, url: string): SegmentQueue => {
      checkTargetUrl(kind, url);
      const id = createHash('sha256').update(url).digest('hex').slice(0, 12);
      const queue = SegmentQueue.open({ dir: join(dataDir, 'forward', `${kind}-${id}`), maxBytes: queueBytes });
      this.queues.push(queue);
      return queue;
    };
    for (const url of targets.remoteWrite ?? []) {
      this.remoteWrite.push(
        new RemoteWriteForwarder({
          url,
          queue: queueFor('remote-write', url),
          log: log.child({ target: url }),
          ...(targets.remoteWriteMaxAgeMs === undefined ? {} : { maxSampleAgeMs: targets.remoteWriteMaxAgeMs }),
        }),
      );
    }
    for (const url of targets.loki ?? []) {
      this.loki.push(
        new LokiForwarder({
          url,
          queue: queueFor('loki', url),
          log: log.child({ target: url }),
          ...(targets.lokiTenant === undefined ? {} : { tenant: targets.lokiTenant }),
        }),
      );
    }
  }

  get empty(): boolean {
    return this.remoteWrite.length === 0 && this.loki.length === 0;
  }

  start(): void {
    for (const f of [...this.remoteWrite, ...this.loki]) f.start();
  }

  metrics(series: readonly TelemetrySeries[]): void {
    if (this.remoteWrite.length === 0) return;
    const shared = this.sharedTotals;
    if (shared === undefined) {
      this.enqueue(toPromSeries(series, this.totals));
      return;
    }
    if (this.pending >= MAX_PENDING_BATCHES) {
      if (this.droppedBatches++ % 100 === 0)
        this.log.error(`remote_write: ${this.droppedBatches} batches dropped, the database is too slow to advance the forwarded totals`);
      return;
    }
    this.pending++;
    this.tail = this.tail
      .then(async () => this.enqueue(await toPromSeriesShared(series, (increases) => shared.advanceForwardTotals(increases, this.clock()))))
      .catch((err: unknown) => {
        this.droppedBatches++;
        this.log.error(
          { err },
          'remote_write: could not advance the forwarded totals in the database; dropped this batch (its increases are missing from the totals)',
        );
      })
      .finally(() => {
        this.pending--;
      });
  }

  /** Settles once every batch received so far is queued for its targets (tests, shutdown). */
  settled(): Promise<void> {
    return this.tail;
  }

  private enqueue(prom: PromSeries[]): void {
    for (const f of this.remoteWrite) f.enqueue(prom);
  }

  logs(lines: readonly LabelledLogLine[]): void {
    for (const f of this.loki) f.enqueue(lines);
  }

  stats(): { remoteWrite: RemoteWriteStats[]; loki: LokiStats[] } {
    return { remoteWrite: this.remoteWrite.map((f) => f.stats()), loki: this.loki.map((f) => f.stats()) };
  }

  async stop(): Promise<void> {
    await this.tail;
    await Promise.all([...this.remoteWrite, ...this.loki].map((f) => f.stop()));
    for (const q of this.queues) q.close();
  }
}

/** A target URL must be http(s); anything else is a configuration error before anything starts. */
function checkTargetUrl(kind: string, url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw errors.config(
      `invalid --${kind} URL "${url}"`,
      kind === 'loki'
        ? 'give the Loki base URL, e.g. http://loki:3100 (the push path /loki/api/v1/push is added)'
        : 'give the receiver URL, e.g. http://prometheus:9090/api/v1/write',
    );
  }
}
