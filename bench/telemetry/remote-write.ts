/**
 * The comparison the issue asks for: the same samples the server accepted from a node, sent
 * as plain Prometheus remote_write 1.0 (protobuf + snappy), one request per 60 s of
 * simulated time, over one kept-alive HTTPS connection through a counting proxy to a small
 * sink that answers 204 as Prometheus does. The conversion and the encoding are the server's
 * own (`toPromSeries` with `CounterTotals`, `encodeWriteRequest`); only the batching differs
 * from the server's forwarder, which sends whatever has queued up.
 */
import { createServer, type Server } from 'node:https';
import { EDGEFLEET_VERSION, type TelemetrySeries } from '@edgefleet/protocol';
import { Agent, request } from 'undici';
import { encodeWriteRequest, REMOTE_WRITE_HEADERS } from '../../packages/server/src/telemetry/remote-write/encode.js';
import { CounterTotals, type PromSample, type PromSeries, toPromSeries } from '../../packages/server/src/telemetry/remote-write/samples.js';
import { CountingProxy } from './counting-proxy.js';

const MINUTE = 60_000;

/** A remote_write sender and its sink, with the counts the benchmark prints. */
export class RemoteWriteLink {
  readonly totals = new CounterTotals();
  /** POSTs made, samples and series-in-requests they carried, snappy bodies' bytes. */
  requests = 0;
  samples = 0;
  bodyBytes = 0;

  private constructor(
    private readonly sink: Server,
    readonly proxy: CountingProxy,
    private readonly agent: Agent,
  ) {}

  /** Starts the sink (HTTPS with `tls.cert`/`tls.key`) and the proxy in front of it. */
  static async start(tls: { ca: string; cert: string; key: string }): Promise<RemoteWriteLink> {
    const sink = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(204);
        res.end();
      });
    });
    // 0: no idle timeout, and no `Keep-Alive: timeout=…` header, which Prometheus does not send either.
    sink.keepAliveTimeout = 0;
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const address = sink.address();
    if (address === null || typeof address === 'string') throw new Error('the remote_write sink did not get a TCP port');
    const proxy = await CountingProxy.start({ host: '127.0.0.1', port: address.port });
    // As the server's forwarder: one pooled connection, kept alive between requests.
    const agent = new Agent({ connect: { ca: tls.ca }, keepAliveTimeout: 30_000, connections: 1 });
    return new RemoteWriteLink(sink, proxy, agent);
  }

  /**
   * Converts what arrived to Prometheus series and sends one request per minute `(t − 60 s, t]`
   * that holds samples, oldest first. Minutes without samples send nothing.
   */
  async send(arrived: readonly TelemetrySeries[]): Promise<void> {
    if (arrived.length === 0) return;
    const byMinute = new Map<number, PromSeries[]>();
    for (const s of toPromSeries(arrived, this.totals)) {
      const split = new Map<number, PromSample[]>();
      for (const sample of s.samples) listIn(split, Math.ceil(sample.t / MINUTE)).push(sample);
      for (const [minute, samples] of split) listIn(byMinute, minute).push({ labels: s.labels, samples });
    }
    for (const minute of [...byMinute.keys()].sort((a, b) => a - b)) {
      const series = byMinute.get(minute) as PromSeries[];
      const body = encodeWriteRequest(series);
      const res = await request(`https://127.0.0.1:${this.proxy.port}/api/v1/write`, {
        method: 'POST',
        headers: { ...REMOTE_WRITE_HEADERS, 'User-Agent': `edgefleet-server/${EDGEFLEET_VERSION}` },
        body,
        dispatcher: this.agent,
      });
      await res.body.dump();
      if (res.statusCode !== 204) throw new Error(`the remote_write sink answered ${res.statusCode}`);
      this.requests++;
      this.bodyBytes += body.byteLength;
      for (const s of series) this.samples += s.samples.length;
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
    await this.proxy.idle();
    await this.proxy.close();
    await new Promise<void>((resolve) => this.sink.close(() => resolve()));
  }
}

/** The list under `key`, created empty if absent. */
function listIn<T>(map: Map<number, T[]>, key: number): T[] {
  let list = map.get(key);
  if (list === undefined) {
    list = [];
    map.set(key, list);
  }
  return list;
}
