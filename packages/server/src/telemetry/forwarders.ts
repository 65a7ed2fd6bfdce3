import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { errors, type TelemetrySeries } from '@edgefleet/protocol';
import { SegmentQueue } from '@edgefleet/queues';
import type { Logger } from 'pino';
import type { ForwardingTargets, LabelledLogLine, TelemetryForwarding } from './forwarding.js';
import { LokiForwarder, type LokiStats } from './loki/push.js';
import { RemoteWriteForwarder, type RemoteWriteStats } from './remote-write/forwarder.js';
import { CounterTotals, toPromSeries } from './remote-write/samples.js';

/**
 * The configured remote_write and Loki targets, each with its own bounded disk queue under
 * `DATA/forward/`, so an outage of one target neither loses its data (up to the bound) nor
 * slows ingest or the other targets. Counters are converted to running totals once per
 * batch and the same series go to every target.
 */
export class ExternalForwarding implements TelemetryForwarding {
  private readonly totals = new CounterTotals();
  private readonly remoteWrite: RemoteWriteForwarder[] = [];
  private readonly loki: LokiForwarder[] = [];
  private readonly queues: SegmentQueue[] = [];

  constructor(dataDir: string, targets: ForwardingTargets, log: Logger) {
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
    const prom = toPromSeries(series, this.totals);
    for (const f of this.remoteWrite) f.enqueue(prom);
  }

  logs(lines: readonly LabelledLogLine[]): void {
    for (const f of this.loki) f.enqueue(lines);
  }

  stats(): { remoteWrite: RemoteWriteStats[]; loki: LokiStats[] } {
    return { remoteWrite: this.remoteWrite.map((f) => f.stats()), loki: this.loki.map((f) => f.stats()) };
  }

  async stop(): Promise<void> {
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
