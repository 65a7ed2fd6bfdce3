import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * A stand-in for Grafana Loki's push endpoint in tests (Loki itself is in neither of our
 * package registries). It implements the documented behaviour of `POST /loki/api/v1/push`
 * with a JSON body, as Loki 2.x/3.x does it:
 * - the body is JSON, plain or with `Content-Encoding: gzip`; anything that is not
 *   `{"streams":[{"stream":{name:value,…},"values":[["<unix ns>","<line>"],…]}]}` — an
 *   empty label set, a label name outside `[a-zA-Z_][a-zA-Z0-9_]*`, a timestamp that is
 *   not a string of digits, a line that is not a string — is refused whole with 400 and a
 *   message, as Loki's parser does;
 * - each entry is then checked on its own, in the order sent: older than
 *   `reject_old_samples_max_age` (168 h), newer than now + `creation_grace_period`
 *   (10 min), or more than an hour (half of `max_chunk_age`) behind the newest entry its
 *   stream has accepted so far (grafana/loki #9869) is refused; the others are accepted. If
 *   any was refused the answer is 400 with one line per refusal (the rest still got in, as
 *   in Loki), otherwise 204. An exact repeat (same stream, time and line) is ignored, as
 *   Loki deduplicates it;
 * - `failNext(status, n)` makes the next n pushes answer `status` without looking at them.
 */

/** A log line the receiver accepted. */
export interface AcceptedEntry {
  labels: Record<string, string>;
  tsNs: string;
  line: string;
}

/** One push as received, with the answer it got. */
export interface ReceivedPush {
  status: number;
  /** The answer's body (the refusal message for a 400). */
  message: string;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  tenant: string | undefined;
  /** Entries accepted from this push. */
  accepted: number;
}

export interface LokiReceiverOptions {
  /** The receiver's "now" in Unix ms (default `Date.now`). */
  clock?: () => number;
  maxAgeMs?: number;
  outOfOrderWindowMs?: number;
  creationGraceMs?: number;
}

export interface LokiReceiver {
  /** Base URL, like a Loki's (`http://127.0.0.1:PORT`). */
  url: string;
  /** `url` + `/loki/api/v1/push`. */
  pushUrl: string;
  /** Every entry accepted, in the order accepted. */
  accepted: AcceptedEntry[];
  /** Every push received, in order. */
  pushes: ReceivedPush[];
  /** The next `times` pushes are answered `status` (with `Retry-After` when given) and not ingested. */
  failNext(status: number, times?: number, retryAfter?: string): void;
  stop(): Promise<void>;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NS_PER_MS = 1_000_000n;

/** Starts a receiver on a free loopback port. */
export async function startLokiReceiver(opts: LokiReceiverOptions = {}): Promise<LokiReceiver> {
  const clock = opts.clock ?? Date.now;
  const maxAgeNs = BigInt(opts.maxAgeMs ?? 168 * 3_600_000) * NS_PER_MS;
  const windowNs = BigInt(opts.outOfOrderWindowMs ?? 3_600_000) * NS_PER_MS;
  const graceNs = BigInt(opts.creationGraceMs ?? 600_000) * NS_PER_MS;
  const accepted: AcceptedEntry[] = [];
  const pushes: ReceivedPush[] = [];
  const failures: { status: number; retryAfter: string | undefined }[] = [];
  const streams = new Map<string, { newest: bigint; seen: Set<string> }>();

  const handle = (req: IncomingMessage, body: Buffer, res: ServerResponse): void => {
    const record = (status: number, message: string, count = 0): void => {
      pushes.push({
        status,
        message,
        contentType: req.headers['content-type'],
        contentEncoding: req.headers['content-encoding'],
        tenant: req.headers['x-scope-orgid'] as string | undefined,
        accepted: count,
      });
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(status === 204 ? undefined : message);
    };
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/loki/api/v1/push') {
      res.writeHead(404).end('404 page not found\n');
      return;
    }
    const failure = failures.shift();
    if (failure !== undefined) {
      if (failure.retryAfter !== undefined) res.setHeader('retry-after', failure.retryAfter);
      record(failure.status, `injected failure: HTTP ${failure.status}`);
      return;
    }
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      record(415, `unsupported Content-Type ${req.headers['content-type'] ?? '(none)'}: this receiver implements Loki's JSON push only`);
      return;
    }
    let text: string;
    try {
      const encoding = req.headers['content-encoding'];
      if (encoding === 'gzip') text = gunzipSync(body).toString('utf8');
      else if (encoding === undefined || encoding === 'identity') text = body.toString('utf8');
      else {
        record(415, `unsupported Content-Encoding ${encoding}`);
        return;
      }
    } catch (err) {
      record(400, `gzip: ${(err as Error).message}`);
      return;
    }
    let parsed: ParsedStream[];
    try {
      parsed = parsePush(JSON.parse(text));
    } catch (err) {
      record(400, `loghttp push: ${(err as Error).message}`);
      return;
    }
    const nowNs = BigInt(clock()) * NS_PER_MS;
    const refusals: string[] = [];
    let count = 0;
    for (const stream of parsed) {
      const key = JSON.stringify(Object.entries(stream.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const labelText = `{${Object.entries(stream.labels)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(', ')}}`;
      const state = streams.get(key) ?? { newest: -1n, seen: new Set<string>() };
      streams.set(key, state);
      for (const [tsNs, line] of stream.values) {
        const ts = BigInt(tsNs);
        if (ts < nowNs - maxAgeNs) {
          refusals.push(`entry for stream '${labelText}' has timestamp too old: ${tsNs}, oldest acceptable timestamp is: ${nowNs - maxAgeNs}`);
        } else if (ts > nowNs + graceNs) {
          refusals.push(`entry for stream '${labelText}' has timestamp too new: ${tsNs}`);
        } else if (state.newest >= 0n && ts < state.newest - windowNs) {
          refusals.push(
            `entry too far behind, entry timestamp is: ${tsNs}, oldest acceptable timestamp is: ${state.newest - windowNs} for stream '${labelText}'`,
          );
        } else if (!state.seen.has(`${tsNs}\n${line}`)) {
          state.seen.add(`${tsNs}\n${line}`);
          if (ts > state.newest) state.newest = ts;
          accepted.push({ labels: stream.labels, tsNs, line });
          count++;
        }
      }
    }
    if (refusals.length > 0) record(400, `${refusals.length} errors like: ${refusals.join('\n')}`, count);
    else record(204, '', count);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    pushUrl: `${url}/loki/api/v1/push`,
    accepted,
    pushes,
    failNext(status, times = 1, retryAfter) {
      for (let i = 0; i < times; i++) failures.push({ status, retryAfter });
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

interface ParsedStream {
  labels: Record<string, string>;
  values: [string, string][];
}

/** Loki's JSON push schema; throws a sentence naming the first thing wrong. */
function parsePush(body: unknown): ParsedStream[] {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { streams?: unknown }).streams))
    throw new Error('the body must be an object with a "streams" array');
  return (body as { streams: unknown[] }).streams.map((s, i) => {
    if (typeof s !== 'object' || s === null) throw new Error(`streams[${i}] must be an object`);
    const { stream, values } = s as { stream?: unknown; values?: unknown };
    if (typeof stream !== 'object' || stream === null || Array.isArray(stream)) throw new Error(`streams[${i}].stream must be an object of labels`);
    const labels: Record<string, string> = {};
    for (const [name, value] of Object.entries(stream)) {
      if (!LABEL_NAME.test(name)) throw new Error(`streams[${i}].stream: invalid label name ${JSON.stringify(name)}`);
      if (typeof value !== 'string') throw new Error(`streams[${i}].stream.${name} must be a string`);
      labels[name] = value;
    }
    if (Object.keys(labels).length === 0) throw new Error(`streams[${i}].stream: error parsing labels: at least one label pair is required`);
    if (!Array.isArray(values)) throw new Error(`streams[${i}].values must be an array`);
    const entries = values.map((v, j): [string, string] => {
      if (!Array.isArray(v) || v.length < 2 || v.length > 3) throw new Error(`streams[${i}].values[${j}] must be ["<unix ns>", "<line>"]`);
      const [ts, line] = v as unknown[];
      if (typeof ts !== 'string' || !/^\d+$/.test(ts))
        throw new Error(`streams[${i}].values[${j}][0] must be the Unix time in nanoseconds as a string of digits, got ${JSON.stringify(ts)}`);
      if (typeof line !== 'string') throw new Error(`streams[${i}].values[${j}][1] must be a string (the log line)`);
      return [ts, line];
    });
    return { labels, values: entries };
  });
}
